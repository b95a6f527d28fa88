#!/usr/bin/env bash
# bridge plugin firewall options, in a node namespace:
#  ipMasq: ADD installs masquerade for the container's address (nftables); CHECK passes, then fails (naming
#          the masquerade rules) when the rules are gone; DEL removes them, also after the container's netns
#          was deleted first.
#  internal + isolation: no default route, no masquerade; traffic forwarded from the bridge to another
#          interface is dropped even when the container routes through the gateway and the outside has a
#          route back; with the drop rules deleted by hand the same ping passes (so the drop check can fail)
#          and CHECK fails naming the internal-network rules.
# Skips while the build has no nftables backend (ipMasq fails with "not available in this build").
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 18

if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
    skip_scenario "no bridge plugin at $CNI_BIN_DIR/bridge (run ./build.sh)"
fi
require_cmd jq nft || skip_scenario "jq and nft are needed"
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
TEST_CNI_PATH="$PLUGINS"

BR="fbr$RUN_ID"
IBR="nbr$RUN_ID"
write_conf 10-masq.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "brmasq",
  plugins: [{type: "bridge", bridge: $br, isDefaultGateway: true, ipMasq: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.11.0/24"}]]}}]}')"
write_conf 20-internal.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$IBR" '{
  cniVersion: "1.0.0", name: "brinternal",
  plugins: [{type: "bridge", bridge: $br, isGateway: true, internal: true, isolation: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.12.0/24"}]]}}]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns EXT ext || exit 1

# An "outside" network: node <-> ext over a veth, 192.0.2.0/24.
ip -n "$NODE" link add uplink type veth peer name uplink netns "$EXT"
ip -n "$NODE" addr add 192.0.2.1/24 dev uplink && ip -n "$NODE" link set uplink up
ip -n "$EXT" addr add 192.0.2.2/24 dev uplink && ip -n "$EXT" link set uplink up

ruleset() { ip netns exec "$NODE" nft list ruleset 2>/dev/null; }

if ! cni_run "$NODE" add brmasq "$C1" >"$SCENARIO_TMP/add.out" 2>&1; then
    if grep -q "not available in this build" "$SCENARIO_TMP/add.out"; then
        skip_scenario "ipMasq/internal: this build has no nftables backend yet"
    fi
    check "ADD with ipMasq succeeds" false
    cat "$SCENARIO_TMP/add.out" | sed 's/^/    | /'
    finish
fi
check "ADD with ipMasq succeeds" true
IP1="$(jq -r '.ips[0].address' <"$SCENARIO_TMP/add.out" | grep -v '^cnitool' | cut -d/ -f1)"
check "a masquerade rule names the container address" bash -c "ip netns exec $NODE nft list ruleset | grep -q 'masquerade' && ip netns exec $NODE nft list ruleset | grep -q '$IP1'"
check "c1 reaches the outside network (masqueraded)" netns_ping "$C1" 192.0.2.2
check "CHECK with ipMasq succeeds" cni_run "$NODE" check brmasq "$C1"
ip netns exec "$NODE" nft flush chain inet sharpcni postrouting
check_fails_with "CHECK with ipMasq fails when the masquerade rules are gone" 'masquerade rules are missing or changed' \
    cni_run "$NODE" check brmasq "$C1"
c1_path="$(netns_path "$C1")"
check "c1 namespace deleted before DEL" delete_netns "$C1"
check "DEL after netns gone succeeds" cni_run "$NODE" del brmasq "$c1_path"
check_lacks "no rule mentions the container address after DEL" "$IP1" ip netns exec "$NODE" nft list ruleset
check "DEL twice succeeds" cni_run "$NODE" del brmasq "$c1_path"

check "ADD internal c2 succeeds" cni_run "$NODE" add brinternal "$C2"
check_lacks "internal: no default route in the container" '^default' ip -n "$C2" route
check "internal: c2 pings its gateway" netns_ping "$C2" 10.99.12.1
# c2 routes to the outside through the gateway and the outside routes back to c2's network: only the
# internal network's drop rules stand between them.
ip -n "$C2" route add 192.0.2.0/24 via 10.99.12.1
ip -n "$EXT" route add 10.99.12.0/24 via 192.0.2.1
check_fails "internal: forwarding from the bridge to the uplink is dropped" netns_ping "$C2" 192.0.2.2
check "CHECK internal succeeds" cni_run "$NODE" check brinternal "$C2"
ip netns exec "$NODE" nft flush chain inet sharpcni forward
check "internal, drop rules deleted by hand: c2 reaches the outside (the drop check above can fail)" netns_ping "$C2" 192.0.2.2
check_fails_with "CHECK internal fails when the drop rules are gone" "internal-network rules for bridge $IBR are missing" \
    cni_run "$NODE" check brinternal "$C2"
check "DEL internal succeeds" cni_run "$NODE" del brinternal "$C2"
check "no veth left" test "$(ip -n "$NODE" -o link show type veth | grep -vc uplink)" -eq 0
finish
