#!/usr/bin/env bash
# bridge plugin macspoofchk, in a node namespace, through cnitool:
#  ADD of two containers with macspoofchk: true guards each host veth in `table bridge sharpcni`;
#  c1 reaches c2; after c1 changes its MAC its pings stop; restoring the MAC lets them through again;
#  CHECK passes; DEL (after the netns is gone) removes c1's guard only; a second DEL succeeds.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 15

if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
    skip_scenario "no bridge plugin at $CNI_BIN_DIR/bridge (run ./build.sh)"
fi
require_cmd jq nft || skip_scenario "jq and nft are needed"
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
TEST_CNI_PATH="$PLUGINS"

BR="sbr$RUN_ID"
write_conf 10-spoof.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "brspoof",
  plugins: [{type: "bridge", bridge: $br, isGateway: true, macspoofchk: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.21.0/24"}]]}}]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1

spoofset() { ip netns exec "$NODE" nft list set bridge sharpcni "$1" 2>/dev/null; }

check "ADD c1 with macspoofchk succeeds" cni_run "$NODE" add brspoof "$C1"
check "ADD c2 with macspoofchk succeeds" cni_run "$NODE" add brspoof "$C2"
IP2="$(ip -n "$C2" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)"
MAC1="$(ip -n "$C1" -o link show dev eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')"
check "the bridge table has the one macspoofchk rule" bash -c "ip netns exec $NODE nft list chain bridge sharpcni prerouting | grep -q 'iifname @macspoof-ports iifname . ether saddr != @macspoof-allowed drop'"
check "c1's MAC is the allowed source of its port" bash -c "ip netns exec $NODE nft list set bridge sharpcni macspoof-allowed | grep -q '$MAC1'"
check "c1 pings c2" netns_ping "$C1" "$IP2"
ip -n "$C1" link set eth0 address 02:00:de:ad:be:ef
check_fails "c1 with a changed MAC does not reach c2" netns_ping "$C1" "$IP2"
ip -n "$C1" link set eth0 address "$MAC1"
check "c1 with its own MAC again pings c2" netns_ping "$C1" "$IP2"
check "CHECK c1 succeeds" cni_run "$NODE" check brspoof "$C1"

c1_path="$(netns_path "$C1")"
check "c1 namespace deleted before DEL" delete_netns "$C1"
check "DEL c1 after netns gone succeeds" cni_run "$NODE" del brspoof "$c1_path"
check_lacks "c1's MAC is no longer allowed after DEL" "$MAC1" ip netns exec "$NODE" nft list set bridge sharpcni macspoof-allowed
check "c2 is still guarded" bash -c "test \$(ip netns exec $NODE nft list set bridge sharpcni macspoof-ports | grep -c ' eth0\"') -eq 1"
check "DEL c1 twice succeeds" cni_run "$NODE" del brspoof "$c1_path"
check "DEL c2 succeeds" cni_run "$NODE" del brspoof "$C2"
check_lacks "no element left in the index" 'eth0' ip netns exec "$NODE" nft list set bridge sharpcni macspoof-attachments
finish
