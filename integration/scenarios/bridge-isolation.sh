#!/usr/bin/env bash
# bridge plugin `isolation: true` (Docker's enable_icc=false): containers on the bridge cannot reach each
# other but reach the gateway; the host veths are isolated bridge ports; CHECK passes; DEL cleans up.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 12

if [ ! -x "$CNI_BIN_DIR/bridge" ]; then
    skip_scenario "no bridge plugin at $CNI_BIN_DIR/bridge (run ./build.sh)"
fi
require_cmd jq || skip_scenario "jq is needed"
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
TEST_CNI_PATH="$PLUGINS"

NET=briso
BR="ibr$RUN_ID"
IPAM_DIR="$SCENARIO_TMP/ipam"
write_conf 10-briso.conflist "$(jq -n --arg dir "$IPAM_DIR" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "briso",
  plugins: [{
    type: "bridge", bridge: $br, isGateway: true, isolation: true,
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.9.0/24", gateway: "10.99.9.1"}]]}
  }]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1

check "ADD c1 succeeds" cni_run "$NODE" add "$NET" "$C1"
IP1="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
check "ADD c2 succeeds" cni_run "$NODE" add "$NET" "$C2"
IP2="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"

check "both host veths are isolated bridge ports" test "$(ip -n "$NODE" -d link show type veth | grep -c 'isolated on')" -eq 2
check "c1 pings the gateway" netns_ping "$C1" 10.99.9.1
check "c2 pings the gateway" netns_ping "$C2" 10.99.9.1
check_fails "c1 cannot reach c2" netns_ping "$C1" "$IP2"
check_fails "c2 cannot reach c1" netns_ping "$C2" "$IP1"
check "CHECK c1 succeeds" cni_run "$NODE" check "$NET" "$C1"
ip -n "$NODE" link set "$(ip -n "$NODE" -o link show type veth | awk -F'[ :@]+' 'NR==1{print $2}')" type bridge_slave isolated off
check_fails_with "CHECK fails once a port is no longer isolated" 'port isolation is False, config says True' bash -c \
    "$(declare -f cni_run netns_path); $(declare -p NETCONFPATH_DIR TEST_CNI_PATH CNI_CACHE_DIR_FOR_TESTS CNI_CALL_TIMEOUT CNITOOL); cni_run $NODE check $NET $C1 && cni_run $NODE check $NET $C2"

check "DEL c1 succeeds" cni_run "$NODE" del "$NET" "$C1"
check "DEL c2 succeeds" cni_run "$NODE" del "$NET" "$C2"
check "no veth left" test "$(ip -n "$NODE" -o link show type veth | wc -l)" -eq 0
finish
