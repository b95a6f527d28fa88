#!/usr/bin/env bash
# Hostile environment and input (issue 19): each case is a clear CNI error (JSON on stdout with code and msg, non-zero
# exit) and leaves the node, the container and the IPAM store as they were (integration/faults.sh's snapshot):
# CNI_NETNS at a regular file, a directory, a FIFO, a mount namespace's file, a dangling symlink; CNI_IFNAME already
# taken in the container; a symlink planted in the IPAM store where a reservation would go (never followed); 100 MB
# of stdin; bytes that are not UTF-8 in names; names at and past their length limits.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/faults.sh"
expect_checks 39

require_cmd nsenter jq mkfifo head || finish
for p in bridge host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done

new_tmpdir WORK || exit 1
IPAM="$WORK/ipam"
new_netns NODE node || exit 1
new_netns CTR ctr || exit 1
CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "hostile", type: "bridge", bridge: "hbr0", isGateway: true, ipMasq: true,
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.131.0.0/24", rangeStart: "10.131.0.2", rangeEnd: "10.131.0.3"}]]}}')
# A tenant already on the node, so the shared objects exist.
new_netns C0 c0 || exit 1
plugin_call "$NODE" bridge ADD base eth0 "$(netns_path "$C0")" "$CONF"
check "baseline container attached" test "$CALL_RC" -eq 0

# refused DESC CODE-ERE PLUGIN CMD ID IFNAME NETNS CONFIG: the call fails with a CNI error whose code matches and
# the node is unchanged.
refused() {
    local desc="$1" code="$2"
    shift 2
    local before after
    before="$(node_snapshot "$NODE" "$IPAM" "$CTR")"
    plugin_call "$NODE" "$@"
    after="$(node_snapshot "$NODE" "$IPAM" "$CTR")"
    check "$desc: a CNI error with code $code" bash -c '
        [ "$1" -ne 0 ] || { echo "exit 0"; exit 1; }
        jq -e --arg re "^($2)\$" "(.code | tostring | test(\$re)) and (.msg | length > 0)" <<<"$3" >/dev/null || { echo "$3"; exit 1; }' \
        _ "$CALL_RC" "$code" "$CALL_OUT"
    check "$desc: nothing changed" test "$before" = "$after"
}

mkdir -p "$WORK/dir"
printf x >"$WORK/regular"
mkfifo "$WORK/fifo"
ln -s "$WORK/nothing-here" "$WORK/dangling"
refused "CNI_NETNS is a regular file" 100 bridge ADD h1 eth0 "$WORK/regular" "$CONF"
check "the error says it is not a namespace" grep -q "not a namespace" <<<"$CALL_OUT"
refused "CNI_NETNS is a directory" 100 bridge ADD h1 eth0 "$WORK/dir" "$CONF"
refused "CNI_NETNS is a FIFO (and the call does not hang)" 100 bridge ADD h1 eth0 "$WORK/fifo" "$CONF"
refused "CNI_NETNS is a mount namespace" 100 bridge ADD h1 eth0 /proc/self/ns/mnt "$CONF"
check "the error says it is not a network namespace" grep -q "not a network namespace" <<<"$CALL_OUT"
refused "CNI_NETNS is a dangling symlink" "100|3" bridge ADD h1 eth0 "$WORK/dangling" "$CONF"

# The interface name is taken in the container by a link the plugin did not make.
ip -n "$CTR" link add eth0 type veth peer name other0
refused "CNI_IFNAME already exists in the container" 100 bridge ADD h2 eth0 "$(netns_path "$CTR")" "$CONF"
check "the container's own eth0 is still there" ip -n "$CTR" link show eth0
ip -n "$CTR" link del eth0

# A symlink where the next reservation file would go, pointing outside the store: never followed.
printf 'outside' >"$WORK/outside"
ln -s "$WORK/outside" "$IPAM/hostile/10.131.0.3"
plugin_call "$NODE" bridge ADD h3 eth0 "$(netns_path "$CTR")" "$CONF"
check "ADD with a planted symlink in the store fails: the range has no other free address" test "$CALL_RC" -ne 0
check "the file the symlink points at is untouched" test "$(cat "$WORK/outside")" = outside
check "the planted symlink is still a symlink to it" test "$(readlink "$IPAM/hostile/10.131.0.3")" = "$WORK/outside"
check "no reservation was made for h3" bash -c "! grep -rqs '^h3' '$IPAM/hostile' --include='10.*' --no-dereference; [ \$(find '$IPAM/hostile' -maxdepth 1 -type f -name '10.*' | wc -l) = 1 ]"
rm "$IPAM/hostile/10.131.0.3"

# 100 MB of stdin: refused as too large or malformed, quickly.
big_call() {
    local t0 t1
    t0=$(date +%s)
    CALL_RC=0
    CALL_OUT="$( { printf '{"cniVersion":"1.0.0","name":"hostile","type":"bridge","pad":"'; head -c 100000000 /dev/zero | tr '\0' 'a'; printf '"}'; } |
        timeout 60 nsenter --net="$(netns_path "$NODE")" env CNI_COMMAND=ADD CNI_CONTAINERID=h4 CNI_IFNAME=eth0 \
        CNI_NETNS="$(netns_path "$CTR")" CNI_PATH="$CNI_BIN_DIR" "$CNI_BIN_DIR/bridge")" || CALL_RC=$?
    t1=$(date +%s)
    secs=$((t1 - t0))
}
before="$(node_snapshot "$NODE" "$IPAM" "$CTR")"
big_call
check "100 MB of stdin is refused with a CNI error within 30 s (took ${secs}s)" bash -c '[ "$1" -lt 30 ] && [ "$2" -ne 0 ]' _ "$secs" "$CALL_RC"
check "100 MB of stdin: nothing changed" test "$before" = "$(node_snapshot "$NODE" "$IPAM" "$CTR")"
check "100 MB of stdin: the error says the input is too large (code 6)" jq -e '.code == 6 and (.msg | test("larger than"))' <<<"$CALL_OUT"

# Bytes that are not UTF-8 in the network name, the bridge name and the container ID.
BAD_NAME=$(printf 'bad\xffname')
refused "a network name with bytes that are not UTF-8" "4|6|7" bridge ADD h5 eth0 "$(netns_path "$CTR")" \
    "$(printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"hbr0","ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.131.0.0/24"}]]}}' "$BAD_NAME" "$IPAM")"
refused "a bridge name with bytes that are not UTF-8" "4|6|7" bridge ADD h5 eth0 "$(netns_path "$CTR")" "$(jq -c '.bridge = "x"' <<<"$CONF" | sed "s/\"x\"/\"$(printf 'br\xff')\"/")"
refused "a container ID with bytes that are not UTF-8" "4|6|7" bridge ADD "$BAD_NAME" eth0 "$(netns_path "$CTR")" "$CONF"

# Names at and past their limits: an interface name of 15 bytes works, 16 is refused; a network name of 255 works
# for the store (a directory name), 256 is refused.
IF15=abcdefghijklmno
plugin_call "$NODE" bridge ADD h6 "$IF15" "$(netns_path "$CTR")" "$CONF"
check "an interface name of 15 bytes works" test "$CALL_RC" -eq 0
plugin_call "$NODE" bridge DEL h6 "$IF15" "$(netns_path "$CTR")" "$CONF"
check "and is deleted" test "$CALL_RC" -eq 0
refused "an interface name of 16 bytes" 4 bridge ADD h7 abcdefghijklmnop "$(netns_path "$CTR")" "$CONF"
refused "an interface name with a slash" 4 bridge ADD h7 "eth/0" "$(netns_path "$CTR")" "$CONF"
NAME255=$(printf 'n%.0s' $(seq 255))
NAME256=$(printf 'n%.0s' $(seq 256))
HL255=$(jq -c -n --arg dir "$IPAM" --arg n "$NAME255" '{cniVersion: "1.0.0", name: $n, ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.132.0.0/24"}]]}}')
HL256=$(jq -c --arg n "$NAME256" '.name = $n' <<<"$HL255")
plugin_call "$NODE" host-local ADD h8 eth0 "$(netns_path "$CTR")" "$HL255"
check "a network name of 255 bytes works for host-local" test "$CALL_RC" -eq 0
plugin_call "$NODE" host-local DEL h8 eth0 "$(netns_path "$CTR")" "$HL255"
check "and is released" test "$CALL_RC" -eq 0
refused "a network name of 256 bytes" "4|7" host-local ADD h9 eth0 "$(netns_path "$CTR")" "$HL256"

finish
