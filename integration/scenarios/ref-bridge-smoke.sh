#!/usr/bin/env bash
# HARNESS SELF-TEST - proves cnitool and lib.sh against the REFERENCE plugins
# ($REF_BIN_DIR bridge + host-local), not our product. If this fails, suspect
# the harness or the machine before suspecting our plugins.
#
# Inside a node namespace: two containers on a bridge ping each other and the
# gateway; CNI_ARGS / CAP_ARGS / CNI_IFNAME / CNI_CONTAINERID reach the
# plugins; gc sweeps cached attachments that are not listed as valid; DEL
# (also after the container netns is gone) removes veths and leases.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
harness_scenario
expect_checks 31

for p in bridge host-local; do
    if [ ! -x "$REF_BIN_DIR/$p" ]; then
        skip_scenario "reference plugin $REF_BIN_DIR/$p missing (install containernetworking-plugins)"
    fi
done
require_cmd jq || skip_scenario "jq is needed"
TEST_CNI_PATH="$REF_BIN_DIR"

NET=smoke
BR=cnitbr0
SUBNET_PREFIX=10.99.7
IPAM_DIR="$SCENARIO_TMP/ipam"
write_conf 10-smoke.conflist "$(jq -n --arg dir "$IPAM_DIR" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "smoke",
  plugins: [{
    type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
    capabilities: {ips: true},
    ipam: {type: "host-local", dataDir: $dir,
           ranges: [[{subnet: "10.99.7.0/24", gateway: "10.99.7.1"}]]}
  }]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns C3 c3 || exit 1

bridge_ports() { ip -n "$NODE" -o link show master "$BR" 2>/dev/null | wc -l; }
leases() { find "$IPAM_DIR/$NET" -maxdepth 1 -name "$SUBNET_PREFIX.*" 2>/dev/null | wc -l; }
has_addr() { ip -n "$1" -o addr show dev "$2" | grep -q "inet $3/"; }

echo "   plugins: $REF_BIN_DIR (reference)"

check "ADD c1 succeeds" cni_run "$NODE" add "$NET" "$C1"
IP1="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
check "ADD c1 result has an address in the subnet" bash -c "[[ '$IP1' == $SUBNET_PREFIX.* ]]"

check "ADD c2 with CAP_ARGS ips succeeds" \
    with_env CAP_ARGS='{"ips":["10.99.7.60/24"]}' cni_run "$NODE" add "$NET" "$C2"
check "CAP_ARGS ips reached host-local (c2 has .60)" has_addr "$C2" eth0 10.99.7.60

check "ADD c3 with CNI_ARGS IP, CNI_IFNAME=net1, CNI_CONTAINERID succeeds" \
    with_env CNI_ARGS="IgnoreUnknown=1;IP=10.99.7.50" CNI_IFNAME=net1 CNI_CONTAINERID="ctr-$RUN_ID" \
    cni_run "$NODE" add "$NET" "$C3"
check "CNI_ARGS IP reached host-local and CNI_IFNAME named the interface" has_addr "$C3" net1 10.99.7.50
lease_owner() { head -n 1 "$IPAM_DIR/$NET/$1" | tr -d '\r'; }
check "CNI_CONTAINERID used for the lease" test "$(lease_owner 10.99.7.50)" = "ctr-$RUN_ID"
check "CNI_CONTAINERID used for the cache entry" test -f "$CNI_CACHE_DIR_FOR_TESTS/results/$NET-ctr-$RUN_ID-net1"

check "bridge $BR exists in the node namespace with the gateway" has_addr "$NODE" "$BR" 10.99.7.1
check "three veths enslaved to the bridge" test "$(bridge_ports)" -eq 3
check "no bridge appeared in the root namespace" link_absent "" "$BR"
check "c1 pings c2" netns_ping "$C1" 10.99.7.60
check "c2 pings c1" netns_ping "$C2" "$IP1"
check "c3 pings c1" netns_ping "$C3" "$IP1"
check "c1 pings the gateway" netns_ping "$C1" 10.99.7.1
check "CHECK c1 succeeds" cni_run "$NODE" check "$NET" "$C1"

check "STATUS on a 1.0.0 list succeeds (nothing to ask)" cni_run "$NODE" status "$NET"

# gc: keep c2 (given as the netns argument) and c3 (listed); c1 is swept.
check "GC keeping c2 and c3 succeeds" \
    with_env CNI_VALID_ATTACHMENTS="[{\"containerID\":\"ctr-$RUN_ID\",\"ifname\":\"net1\"}]" \
    cni_run "$NODE" gc "$NET" "$C2"
check "GC removed c1's interface" link_absent "$C1" eth0
check "GC released c1's lease, kept the others" test "$(leases)" -eq 2
check "GC left two veths on the bridge" test "$(bridge_ports)" -eq 2
check "c2 still pings c3 after GC" netns_ping "$C2" 10.99.7.50

check "DEL c1 (already swept) succeeds" cni_run "$NODE" del "$NET" "$C1"
check "DEL c3 succeeds" with_env CNI_IFNAME=net1 CNI_CONTAINERID="ctr-$RUN_ID" \
    cni_run "$NODE" del "$NET" "$C3"
check "DEL c3 removed its interface" link_absent "$C3" net1

c2_path="$(netns_path "$C2")"
check "c2 namespace deleted" delete_netns "$C2"
check "DEL c2 after its netns is gone succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c2 again succeeds (idempotent)" cni_run "$NODE" del "$NET" "$c2_path"
check "all leases released" test "$(leases)" -eq 0
bridge_has_no_ports() { [ "$(bridge_ports)" -eq 0 ]; }
check "no veth left on the bridge" wait_until 5 bridge_has_no_ports
check "result cache empty" test -z "$(ls -A "$CNI_CACHE_DIR_FOR_TESTS/results" 2>/dev/null)"

finish
