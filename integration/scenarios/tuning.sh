#!/usr/bin/env bash
# tuning (ours) chained after our bridge and host-local, CNI_PATH holding only our binaries, in a node namespace:
# - sysctls inside the container (IFNAME substituted), mtu, txQLen, allmulti, the mac capability over MAC= in
#   CNI_ARGS (podman's --mac-address); the result carries the new MAC; the container still reaches its gateway;
# - the previous values are saved in dataDir; CHECK passes, fails once a tuned value changes;
# - DEL restores nothing it cannot see (the bridge DEL removes the veth) but removes the saved file; DEL again succeeds;
# - a sysctl outside net/ or one the allow-list does not admit (/etc/cni/tuning/allowlist.conf, on a tmpfs in a
#   private mount namespace) is refused, changes nothing in the container, and the DEL a runtime sends after a
#   failed ADD leaves nothing behind (libcni does not undo the plugins before the failing one: the runtime's DEL does).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 30

for p in tuning bridge host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done
require_cmd jq unshare || finish
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/tuning" "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"
IPAM_DIR="$SCENARIO_TMP/ipam"
STATE_DIR="$SCENARIO_TMP/tuning-state"
NET=tunenet

# conf SYSCTL-JSON : bridge + host-local + tuning
conf() {
    write_conf 10-tune.conflist "$(jq -n --arg dir "$IPAM_DIR" --arg state "$STATE_DIR" --arg net "$NET" --arg br "tb$RUN_ID" --argjson sysctl "$1" '{
      cniVersion: "1.0.0", name: $net,
      plugins: [{type: "bridge", bridge: $br, isGateway: true,
                 ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.96.0.0/24"}]]}},
                {type: "tuning", dataDir: $state, capabilities: {mac: true}, sysctl: $sysctl,
                 mtu: 1300, txQLen: 600, allmulti: true}]}')"
}
conf '{"net.ipv4.conf.IFNAME.rp_filter": "2", "net.core.somaxconn": "1024"}'

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
MAC=c2:96:00:00:00:01
state_files() { find "$STATE_DIR" -type f 2>/dev/null | wc -l; }
leases() { find "$IPAM_DIR/$NET" -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l; }
sysctl_in() { ip netns exec "$1" cat "/proc/sys/$2"; }

check "ADD with the mac capability and MAC= in CNI_ARGS succeeds" \
    with_env CAP_ARGS="{\"mac\":\"$MAC\"}" CNI_ARGS="IgnoreUnknown=1;MAC=c2:96:00:00:00:99" cni_run "$NODE" add "$NET" "$C1"
R1="$LAST_OUTPUT"
check "result: the container interface carries the capability's MAC" json_get "$R1" ".interfaces[2].name == \"eth0\" and .interfaces[2].mac == \"$MAC\""
check "result: ips kept from the bridge" json_get "$R1" '.ips[0].interface == 2 and .ips[0].gateway == "10.96.0.1"'
check "eth0 has the MAC, mtu 1300, qlen 600, ALLMULTI" bash -c \
    "l=\$(ip -n $C1 link show dev eth0); [[ \$l == *'link/ether $MAC'* && \$l == *'mtu 1300'* && \$l == *'qlen 600'* && \$l == *ALLMULTI* ]]"
check "rp_filter of eth0 is 2 in the container" test "$(sysctl_in "$C1" net/ipv4/conf/eth0/rp_filter)" = 2
check "somaxconn is 1024 in the container" test "$(sysctl_in "$C1" net/core/somaxconn)" = 1024
check "the node's own somaxconn is untouched" test "$(sysctl_in "$NODE" net/core/somaxconn)" != 1024
check "the previous values are saved in dataDir (one file)" test "$(state_files)" -eq 1
check "the container reaches its gateway" netns_ping "$C1" 10.96.0.1

check "CHECK succeeds" with_env CAP_ARGS="{\"mac\":\"$MAC\"}" cni_run "$NODE" check "$NET" "$C1"
ip -n "$C1" link set eth0 txqueuelen 700
check_fails "CHECK fails once txQLen changed" with_env CAP_ARGS="{\"mac\":\"$MAC\"}" cni_run "$NODE" check "$NET" "$C1"
ip -n "$C1" link set eth0 txqueuelen 600
ip netns exec "$C1" sh -c 'echo 128 > /proc/sys/net/core/somaxconn'
check_fails "CHECK fails once a sysctl changed" with_env CAP_ARGS="{\"mac\":\"$MAC\"}" cni_run "$NODE" check "$NET" "$C1"

check "DEL succeeds" with_env CAP_ARGS="{\"mac\":\"$MAC\"}" cni_run "$NODE" del "$NET" "$C1"
check "DEL again succeeds" with_env CAP_ARGS="{\"mac\":\"$MAC\"}" cni_run "$NODE" del "$NET" "$C1"
check "no saved file left" test "$(state_files)" -eq 0
check "no eth0 left in c1" link_absent "$C1" eth0
check "every lease released" test "$(leases)" -eq 0

# --- refused sysctls: nothing left behind --------------------------------------------------------------------
conf '{"kernel.hostname": "x"}'
nothing_left() {
    [ "$(leases)" -eq 0 ] && [ "$(ip -n "$NODE" -o link show type veth | wc -l)" -eq 0 ] && [ "$(state_files)" -eq 0 ] && link_absent "$C2" eth0
}
check_fails "a key outside net/ is refused" cni_run "$NODE" add "$NET" "$C2"
check "... with the reason" bash -c "grep -q 'invalid net sysctl key' <<<\"\$1\"" _ "$LAST_OUTPUT"
check "... and the runtime's DEL after the failed ADD succeeds" cni_run "$NODE" del "$NET" "$C2"
check "... and leaves no lease, veth, saved file or eth0" nothing_left

conf '{"net.ipv4.conf.IFNAME.rp_filter": "2"}'
ETC_CNI_BEFORE="$(ls -la /etc/cni 2>&1)"
# The allow-list lives at the reference's fixed path: give it one in a private mount namespace (a tmpfs over
# /etc/cni, never the real one); `ip netns exec` inside keeps that mount.
allowlisted_add() { # allowlist-line
    unshare -m --propagation private bash -c '
        mount -t tmpfs sharpcni-test /etc/cni && mkdir /etc/cni/tuning && printf "%s\n" "$1" >/etc/cni/tuning/allowlist.conf &&
        ip netns exec "$2" env NETCONFPATH="$3" CNI_PATH="$4" CNI_CACHE_DIR="$5" timeout 30 "$6" add "$7" "$8"' _ \
        "$1" "$NODE" "$NETCONFPATH_DIR" "$TEST_CNI_PATH" "$CNI_CACHE_DIR_FOR_TESTS" "$CNITOOL" "$NET" "$(netns_path "$C2")"
}
check_fails "a key the allow-list does not admit is refused" allowlisted_add '^net\.core\..*'
check "... with the reason" bash -c "grep -q 'is not allowed' <<<\"\$1\"" _ "$LAST_OUTPUT"
check "... and the runtime's DEL after the failed ADD succeeds" cni_run "$NODE" del "$NET" "$C2"
check "... and leaves no lease, veth, saved file or eth0" nothing_left
check "a key the allow-list admits is set" allowlisted_add '^net\.ipv4\.conf\.IFNAME\.rp_filter$'
check "... rp_filter of eth0 is 2 in c2" test "$(sysctl_in "$C2" net/ipv4/conf/eth0/rp_filter)" = 2
check "the real /etc/cni is as it was" test "$(ls -la /etc/cni 2>&1)" = "$ETC_CNI_BEFORE"
check "DEL c2 succeeds" cni_run "$NODE" del "$NET" "$C2"
check "no saved file, lease or veth left" \
    bash -c "[ $(state_files) -eq 0 ] && [ \$(find $IPAM_DIR/$NET -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock | wc -l) -eq 0 ] && [ \"\$(ip -n $NODE -o link show type veth | wc -l)\" -eq 0 ]"
finish
