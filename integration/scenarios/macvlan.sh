#!/usr/bin/env bash
# macvlan plugin (ours) with the host-local IPAM, inside a node namespace whose "physical" NIC (eth0) is one end
# of a veth to a "switch" namespace (a bridge with a host address, 10.98.0.1 and fd00:98::1):
# - two containers with macvlans on eth0 (master from the node's default route) reach each other and the host
#   in the switch namespace, IPv4 and IPv6; the node itself cannot reach them through eth0 (macvlan property);
# - the switch learns each container's MAC from the kernel's gratuitous ARP / unsolicited NA before any traffic;
# - result shape: one interface (CNI_IFNAME, mac, sandbox), ips on interface 0; same shape as the reference;
# - mac capability and MAC= CNI_ARGS; no ipam gives an up interface without addresses; linkInContainer;
# - CHECK passes, fails after the address is flushed and when the configured mode differs;
# - DEL leaves nothing (also after `ip netns del`, twice); bad configs fail with code 7 and leave nothing;
#   an IPAM failure after the link exists rolls back and passes the IPAM error code through.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 74

if [ ! -x "$CNI_BIN_DIR/macvlan" ]; then
    skip_scenario "no macvlan plugin at $CNI_BIN_DIR/macvlan (run ./build.sh)"
fi
require_cmd jq || skip_scenario "jq is needed"

new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/macvlan" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
cat >"$PLUGINS/failing-ipam" <<'EOS'
#!/bin/sh
cat >/dev/null
[ "$CNI_COMMAND" = ADD ] || exit 0
echo '{"cniVersion":"1.0.0","code":11,"msg":"no addresses today"}'
exit 1
EOS
chmod +x "$PLUGINS/failing-ipam"
TEST_CNI_PATH="$PLUGINS"

IPAM_DIR="$SCENARIO_TMP/ipam"
# conf FILE NET EXTRA-JQ-OBJECT [ipam|noipam|failipam] : one-plugin conflist with host-local on 10.98.0.0/24.
conf() {
    local file="$1" net="$2" extra="$3" ipam="${4:-ipam}"
    write_conf "$file" "$(jq -n --arg dir "$IPAM_DIR" --arg net "$net" --arg ipam "$ipam" --argjson extra "$extra" '{
      cniVersion: "1.0.0", name: $net,
      plugins: [({type: "macvlan"} + $extra
        + (if $ipam == "ipam" then {ipam: {type: "host-local", dataDir: $dir,
              ranges: [[{subnet: "10.98.0.0/24", rangeStart: "10.98.0.10", gateway: "10.98.0.1"}],
                       [{subnet: "fd00:98::/64", rangeStart: "fd00:98::10", gateway: "fd00:98::1"}]],
              routes: [{dst: "0.0.0.0/0"}, {dst: "::/0"}]}}
           elif $ipam == "failipam" then {ipam: {type: "failing-ipam"}} else {} end))]}')"
}

new_netns SW switch || exit 1
new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns C3 c3 || exit 1
new_netns C4 c4 || exit 1

# The switch: a bridge with the host address; the node's eth0 and, for linkInContainer, c4's ceth0 are ports.
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
ip -n "$SW" addr add 10.98.0.1/24 dev br0
ip -n "$SW" addr add fd00:98::1/64 dev br0 nodad
# Learn neighbours from gratuitous ARP / unsolicited NA (RFC 9131 needs forwarding for the IPv6 part).
ip netns exec "$SW" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/br0/arp_accept; echo 1 >/proc/sys/net/ipv6/conf/br0/accept_untracked_na; echo 1 >/proc/sys/net/ipv6/conf/br0/forwarding'
ip -n "$NODE" link add eth0 type veth peer name swp0 netns "$SW"
ip -n "$SW" link set swp0 master br0 up
ip -n "$NODE" link set eth0 up
ip -n "$NODE" addr add 10.98.0.2/24 dev eth0
ip -n "$NODE" route add default via 10.98.0.1
ip -n "$C4" link add ceth0 type veth peer name swp1 netns "$SW"
ip -n "$SW" link set swp1 master br0 up
ip -n "$C4" link set ceth0 up

NET=mvnet
conf 40-mvnet.conflist "$NET" '{"mode": "bridge"}'

macvlans() { ip -n "$1" -o link show type macvlan 2>/dev/null | wc -l; }
leases() { find "$IPAM_DIR/$1" -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l; }
has_addr() { ip -n "$1" -o addr show dev "$2" | grep -q "$3"; }
neigh_has() { ip -n "$SW" neigh show "$1" | grep -q "lladdr $2"; }
mac_of() { ip -n "$1" -o link show dev "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }

# --- two containers on the physical network -----------------------------------------------------------------
check "ADD c1 (master from the node's default route) succeeds" cni_run "$NODE" add "$NET" "$C1"
R1="$LAST_OUTPUT"
IP1="$(json_get "$R1" '.ips[0].address' | cut -d/ -f1)"
IP1_6="$(json_get "$R1" '.ips[1].address' | cut -d/ -f1)"
MAC1="$(json_get "$R1" '.interfaces[0].mac')"
check "result: one interface eth0 in c1's sandbox with its MAC" json_get "$R1" \
    "(.interfaces | length) == 1 and .interfaces[0].name == \"eth0\" and (.interfaces[0].sandbox | endswith(\"$C1\")) and .interfaces[0].mac == \"$(mac_of "$C1" eth0)\""
check "result: ips on interface 0 with gateways" json_get "$R1" '[.ips[] | select(.interface == 0 and .gateway != null)] | length == 2'
check "result: cniVersion of the config" json_get "$R1" '.cniVersion == "1.0.0"'
check "c1 eth0 is a bridge-mode macvlan" bash -c "ip -n $C1 -d link show dev eth0 | grep -q 'macvlan mode bridge'"
check "c1 eth0 is up" link_is_up "$C1" eth0
check "c1 has the default route via the switch host" bash -c "ip -n $C1 route show default | grep -q 'via 10.98.0.1 dev eth0'"
check "IPv6 DAD is off in c1" test "$(ip netns exec "$C1" cat /proc/sys/net/ipv6/conf/eth0/accept_dad)" = 0
check "arp_notify is on in c1" test "$(ip netns exec "$C1" cat /proc/sys/net/ipv4/conf/eth0/arp_notify)" = 1
# Before any traffic from c1: the switch learnt c1's MAC from the announcements.
check "switch learnt c1's IPv4 address from the gratuitous ARP" wait_until 3 neigh_has "$IP1" "$MAC1"
check "switch learnt c1's IPv6 address from the unsolicited NA" wait_until 3 neigh_has "$IP1_6" "$MAC1"
check "no macvlan left in the node" test "$(macvlans "$NODE")" -eq 0

check "ADD c2 succeeds" cni_run "$NODE" add "$NET" "$C2"
IP2="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
IP2_6="$(json_get "$LAST_OUTPUT" '.ips[1].address' | cut -d/ -f1)"
check "c1 pings c2 (IPv4)" netns_ping "$C1" "$IP2"
check "c2 pings c1 (IPv4)" netns_ping "$C2" "$IP1"
check "c1 pings c2 (IPv6)" netns_ping "$C1" "$IP2_6"
check "c1 pings the switch host (IPv4)" netns_ping "$C1" 10.98.0.1
check "c1 pings the switch host (IPv6)" netns_ping "$C1" fd00:98::1
check "the switch host pings c2" netns_ping "$SW" "$IP2"
check "the node reaches the switch host through eth0" netns_ping "$NODE" 10.98.0.1
check_fails "the node cannot reach c1 through its master eth0" netns_ping "$NODE" "$IP1"
check_fails "c1 cannot reach the node's address on the master" netns_ping "$C1" 10.98.0.2

# --- CHECK ------------------------------------------------------------------------------------------------------
check "CHECK c1 succeeds" cni_run "$NODE" check "$NET" "$C1"
conf 40-mvnet.conflist "$NET" '{"mode": "private"}'
check_fails_with "CHECK c1 fails when the configured mode is private" 'macvlan mode bridge does not match expected value: private' \
    cni_run "$NODE" check "$NET" "$C1"
conf 40-mvnet.conflist "$NET" '{"mode": "bridge"}'
ip -n "$C2" addr flush dev eth0 scope global
check_fails_with "CHECK c2 fails after its address is flushed" "Failed to match addr $IP2/24 on interface eth0" \
    cni_run "$NODE" check "$NET" "$C2"

# --- DEL --------------------------------------------------------------------------------------------------------
c2_path="$(netns_path "$C2")"
check "c2 namespace deleted" delete_netns "$C2"
check "DEL c2 after its netns is gone succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c2 again succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c1 succeeds" cni_run "$NODE" del "$NET" "$C1"
check "DEL c1 again succeeds" cni_run "$NODE" del "$NET" "$C1"
check "no interface left in c1" link_absent "$C1" eth0
check "no macvlan left in c1 or the node" test "$(($(macvlans "$C1") + $(macvlans "$NODE")))" -eq 0
check "all reservations released" test "$(leases "$NET")" -eq 0

# --- options ----------------------------------------------------------------------------------------------------
write_conf 41-mvcap.conflist "$(jq -n --arg dir "$IPAM_DIR" '{cniVersion: "1.0.0", name: "mvcap",
  plugins: [{type: "macvlan", master: "eth0", mode: "vepa", mtu: 1400, capabilities: {mac: true},
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.98.0.0/24", rangeStart: "10.98.0.100"}]]}}]}')"
check "ADD with the mac capability, vepa, mtu 1400 succeeds" with_env CAP_ARGS='{"mac":"02:98:00:00:00:42"}' cni_run "$NODE" add mvcap "$C1"
check "result and link carry the capability's MAC" json_get "$LAST_OUTPUT" '.interfaces[0].mac == "02:98:00:00:00:42"'
check "link MAC is the capability's" test "$(mac_of "$C1" eth0)" = 02:98:00:00:00:42
check "link is vepa with mtu 1400" bash -c "ip -n $C1 -d link show dev eth0 | grep -q 'mtu 1400' && ip -n $C1 -d link show dev eth0 | grep -q 'macvlan mode vepa'"
check "CHECK with the capability succeeds" with_env CAP_ARGS='{"mac":"02:98:00:00:00:42"}' cni_run "$NODE" check mvcap "$C1"
check "DEL succeeds" cni_run "$NODE" del mvcap "$C1"

check "ADD with MAC= in CNI_ARGS and CNI_IFNAME=net1 succeeds" with_env CNI_ARGS='IgnoreUnknown=1;MAC=02:98:00:00:00:43' CNI_IFNAME=net1 cni_run "$NODE" add "$NET" "$C1"
check "net1 has the CNI_ARGS MAC" test "$(mac_of "$C1" net1)" = 02:98:00:00:00:43
check "DEL net1 succeeds" with_env CNI_ARGS='IgnoreUnknown=1;MAC=02:98:00:00:00:43' CNI_IFNAME=net1 cni_run "$NODE" del "$NET" "$C1"

conf 42-mvl2.conflist mvl2 '{"master": "eth0"}' noipam
check "ADD without ipam succeeds" cni_run "$NODE" add mvl2 "$C1"
check "result without ips" json_get "$LAST_OUTPUT" '(.ips // []) | length == 0'
check "L2-only interface is up" link_is_up "$C1" eth0
check_lacks "L2-only interface has no global address" inet ip -n "$C1" addr show dev eth0 scope global
check "DEL without ipam succeeds" cni_run "$NODE" del mvl2 "$C1"

conf 43-mvcont.conflist mvcont '{"master": "ceth0", "linkInContainer": true}'
check "ADD with linkInContainer (master ceth0 in c4) succeeds" cni_run "$NODE" add mvcont "$C4"
IP4="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
check "c4's macvlan sits on ceth0" bash -c "ip -n $C4 -d link show dev eth0 | grep -q 'eth0@ceth0'"
check "c4 pings the switch host through its own master" netns_ping "$C4" 10.98.0.1
check "CHECK linkInContainer succeeds" cni_run "$NODE" check mvcont "$C4"
check "DEL linkInContainer succeeds" cni_run "$NODE" del mvcont "$C4"
check "c4 keeps its master and loses the macvlan" bash -c "ip -n $C4 link show dev ceth0 >/dev/null && ! ip -n $C4 link show dev eth0 2>/dev/null"

# --- the reference macvlan with the same config gives a result of the same shape --------------------------------
# shape JSON : the result with per-run values (names, MACs, sandbox paths, host numbers) replaced.
shape() {
    printf '%s' "$1" | jq -S 'walk(if type == "object" then with_entries(
        if (.key == "name" or .key == "mac" or .key == "sandbox") then .value = "<string>"
        elif (.key == "address") then .value = (.value | sub("\\.[0-9]+/"; ".N/") | sub("::[0-9a-f]+/"; "::N/"))
        else . end) else . end)'
}
if [ -x "$REF_BIN_DIR/macvlan" ] && [ -x "$REF_BIN_DIR/host-local" ]; then
    new_tmpdir REFPLUGINS || exit 1
    cp "$REF_BIN_DIR/macvlan" "$REF_BIN_DIR/host-local" "$REFPLUGINS/"
    new_netns C5 c5 || exit 1
    for impl in ours ref; do
        conf "45-mvcmp$impl.conflist" "mvcmp$impl" '{"master": "eth0", "mode": "bridge"}'
        if [ "$impl" = ref ]; then TEST_CNI_PATH="$REFPLUGINS"; else TEST_CNI_PATH="$PLUGINS"; fi
        kind=check
        if [ "$impl" = ref ]; then kind="harness check"; fi
        $kind "$impl ADD for the comparison succeeds" cni_run "$NODE" add "mvcmp$impl" "$C5"
        printf -v "CMP_$impl" '%s' "$LAST_OUTPUT"
        $kind "$impl DEL for the comparison succeeds" cni_run "$NODE" del "mvcmp$impl" "$C5"
    done
    TEST_CNI_PATH="$PLUGINS"
    ref_shape="$(shape "$CMP_ref")"
    our_shape="$(shape "$CMP_ours")"
    if ! check "our result has the reference's shape" test -n "$our_shape" -a "$ref_shape" = "$our_shape"; then
        diff <(echo "$ref_shape") <(echo "$our_shape") | sed 's/^/    | /'
    fi
    check "no macvlan left in c5" test "$(macvlans "$C5")" -eq 0
else
    skip "no reference macvlan/host-local in $REF_BIN_DIR" 6
fi

# --- bad configurations: a CNI error with the right code, nothing left behind ------------------------------------
bad() { # bad DESCRIPTION CODE EXTRA [ipam]
    local desc="$1" code="$2" extra="$3" ipam="${4:-ipam}"
    conf 50-mvbad.conflist mvbad "$extra" "$ipam"
    check_fails_with "$desc: ADD fails with CNI error code $code" "CNI error code $code\\)" cni_run "$NODE" add mvbad "$C3"
    check "$desc: nothing left in c3 or the node" test "$(($(macvlans "$C3") + $(macvlans "$NODE")))" -eq 0
    check "$desc: no reservation left" test "$(leases mvbad)" -eq 0
}
bad "missing master" 7 '{"master": "nosuch0"}'
bad "master that is not Ethernet-like (lo)" 7 '{"master": "lo"}'
bad "unknown mode" 7 '{"master": "eth0", "mode": "shared"}'
bad "MTU above the master's" 7 '{"master": "eth0", "mtu": 9000}'
bad "IPAM failure after the link exists" 11 '{"master": "eth0"}' failipam

finish
