#!/usr/bin/env bash
# bridge plugin (ours) with the host-local IPAM, IPv4 + IPv6, inside a node namespace:
# two containers ping each other and the gateway; CHECK passes, then fails after the address is flushed;
# DEL leaves no veth and no reservation, also after `ip netns del` of a container; DEL twice succeeds;
# an ADD that fails after the veth exists (IPAM error) leaves nothing behind; under strace an ADD starts
# only the IPAM plugin.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 36

if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
    skip_scenario "no bridge plugin at $CNI_BIN_DIR/bridge (run ./build.sh)"
fi
require_cmd jq || skip_scenario "jq is needed"

# IPAM: ours when built, else the reference host-local.
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
# An IPAM plugin that always fails, to prove rollback after the veth exists.
cat >"$PLUGINS/failing-ipam" <<'EOF'
#!/bin/sh
cat >/dev/null
[ "$CNI_COMMAND" = ADD ] || exit 0
echo '{"cniVersion":"1.0.0","code":11,"msg":"no addresses today"}'
exit 1
EOF
chmod +x "$PLUGINS/failing-ipam"
TEST_CNI_PATH="$PLUGINS"

NET=brds
BR="cbr$RUN_ID"
IPAM_DIR="$SCENARIO_TMP/ipam"
write_conf 10-brds.conflist "$(jq -n --arg dir "$IPAM_DIR" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "brds",
  plugins: [{
    type: "bridge", bridge: $br, isGateway: true, isDefaultGateway: true,
    ipam: {type: "host-local", dataDir: $dir,
           ranges: [[{subnet: "10.99.8.0/24", gateway: "10.99.8.1"}], [{subnet: "fd00:99:8::/64"}]]}
  }]}')"
write_conf 20-fail.conflist "$(jq -n --arg br "$BR" '{
  cniVersion: "1.0.0", name: "brfail",
  plugins: [{type: "bridge", bridge: $br, isGateway: true, ipam: {type: "failing-ipam"}}]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns C3 c3 || exit 1

veths() { ip -n "$NODE" -o link show type veth 2>/dev/null | wc -l; }
leases() { find "$IPAM_DIR/$NET" -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l; }
has_addr() { ip -n "$1" -o addr show dev "$2" | grep -q "$3"; }

check "ADD c1 succeeds" cni_run "$NODE" add "$NET" "$C1"
R1="$LAST_OUTPUT"
IP1="$(json_get "$R1" '.ips[0].address' | cut -d/ -f1)"
IP1_6="$(json_get "$R1" '.ips[1].address' | cut -d/ -f1)"
check "result: interfaces are [bridge, host veth, container in sandbox]" json_get "$R1" \
    "(.interfaces | length) == 3 and .interfaces[0].name == \"$BR\" and (.interfaces[1].name | startswith(\"veth\")) and .interfaces[2].name == \"eth0\" and (.interfaces[2].sandbox | endswith(\"$C1\"))"
check "result: ips point at the container interface with gateways" json_get "$R1" \
    '[.ips[] | select(.interface == 2 and .gateway != null)] | length == 2'
check "result: default routes for both families" json_get "$R1" '[.routes[].dst] | (index("0.0.0.0/0") != null and index("::/0") != null)'
check "result: cniVersion of the config" json_get "$R1" '.cniVersion == "1.0.0"'
check "ADD c2 succeeds" cni_run "$NODE" add "$NET" "$C2"
IP2="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
IP2_6="$(json_get "$LAST_OUTPUT" '.ips[1].address' | cut -d/ -f1)"

check "bridge has the IPv4 gateway" has_addr "$NODE" "$BR" "inet 10.99.8.1/24"
check "bridge has the IPv6 gateway" has_addr "$NODE" "$BR" "inet6 fd00:99:8::1/64"
check "ip_forward is on in the node" test "$(ip netns exec "$NODE" cat /proc/sys/net/ipv4/ip_forward)" = 1
check "IPv6 DAD is off in the container" test "$(ip netns exec "$C1" cat /proc/sys/net/ipv6/conf/eth0/accept_dad)" = 0
check_lacks "container IPv6 address is not tentative" tentative ip -n "$C1" -6 addr show dev eth0
check "host veth is tagged with container ID and ifname" bash -c "ip -n $NODE -d link show type veth | grep -q 'alias cnitool-.* eth0'"
check "no bridge in the root namespace" link_absent "" "$BR"
check "c1 pings c2 (IPv4)" netns_ping "$C1" "$IP2"
check "c2 pings c1 (IPv4)" netns_ping "$C2" "$IP1"
check "c1 pings the gateway (IPv4)" netns_ping "$C1" 10.99.8.1
check "c1 pings c2 (IPv6)" netns_ping "$C1" "$IP2_6"
check "c1 pings the gateway (IPv6)" netns_ping "$C1" fd00:99:8::1

check "CHECK c1 succeeds" cni_run "$NODE" check "$NET" "$C1"
ip -n "$C1" addr flush dev eth0 scope global
check_fails_with "CHECK c1 fails after its address is flushed" "Failed to match addr $IP1/24 on interface eth0" \
    cni_run "$NODE" check "$NET" "$C1"

# ADD that fails after the veth was created: nothing is left.
before="$(veths)"
check_fails_with "ADD with a failing IPAM fails with the IPAM's error" 'no addresses today' cni_run "$NODE" add brfail "$C3"
check "failed ADD left no veth in the node" test "$(veths)" -eq "$before"
check "failed ADD left no interface in the container" link_absent "$C3" eth0

# strace: ADD starts no process but the IPAM plugin (and not even that when it is our own build), and no
# process reads the node's mount table (the .NET runtime's cgroup probe, cut at link time: cmd/no-cgroup-probe.c).
if command -v strace >/dev/null 2>&1; then
    trace="$SCENARIO_TMP/strace.out"
    printf '#!/bin/sh\nexec strace -f -qq -e trace=execve,open,openat -o %s %s "$@"\n' "$trace" "$CNITOOL" >"$SCENARIO_TMP/traced-cnitool"
    chmod +x "$SCENARIO_TMP/traced-cnitool"
    plain_cnitool="$CNITOOL"
    CNITOOL="$SCENARIO_TMP/traced-cnitool"
    check "ADD c3 under strace succeeds" cni_run "$NODE" add "$NET" "$C3"
    CNITOOL="$plain_cnitool"
    started="$(grep -o 'execve("[^"]*"' "$trace" | sed 's/execve("//;s/"//' | xargs -n1 basename | grep -vx cnitool | sort -u | tr '\n' ' ')"
    # Our host-local on CNI_PATH is the same build as our bridge, so it runs in-process: nothing else starts.
    check "ADD executed only the bridge plugin, host-local ran in-process (saw: $started)" test "$started" = "bridge "
    check "no process of the ADD read /proc/self/mountinfo" test "$(grep -c 'mountinfo' "$trace")" -eq 0
    check "DEL c3 succeeds" cni_run "$NODE" del "$NET" "$C3"
else
    skip "strace not installed" 4
fi

c2_path="$(netns_path "$C2")"
check "c2 namespace deleted" delete_netns "$C2"
check "DEL c2 after its netns is gone succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c2 again succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c1 succeeds" cni_run "$NODE" del "$NET" "$C1"
check "DEL c1 again succeeds" cni_run "$NODE" del "$NET" "$C1"
check "no veth left in the node" test "$(veths)" -eq 0
check "no veth left in c1" link_absent "$C1" eth0
check "all reservations released" test "$(leases)" -eq 0
check "bridge kept its MAC through port churn" bash -c \
    "test \"\$(ip -n $NODE -o link show dev $BR | grep -o 'link/ether [0-9a-f:]*')\" = 'link/ether $(json_get "$R1" '.interfaces[0].mac')'"

finish
