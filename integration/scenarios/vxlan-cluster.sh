#!/usr/bin/env bash
# vxlan cluster mode (ours) on the 3-member TLS etcd test cluster (integration/etcd-cluster.sh): host namespaces on
# the etcd switch (their underlay too, 10.79.0.10N on etcd0), each with its own conflist (vxlan in cluster mode +
# cluster-ipam, no "peers" anywhere) and its own sharpcni-agent (started and stopped by PID, logs in the work dir).
# Proves: three hosts' containers ping each other with no peers in any config; hosts register under leases (with
# their cluster-ipam blocks); a fourth host (agent + first container) is reachable both ways within 2 s; an agent
# stopped: its entries are gone from the others within TTL + 2 s, and come back when it starts again; one etcd member
# killed, then quorum lost: flood lists unchanged and traffic flows; a host that joined during the outage is picked
# up after quorum returns; a compaction while the agents watch changes nothing and later changes still arrive; kill -9
# of an agent and a restart reconciles (an entry removed by hand comes back, the entry of a host that left meanwhile
# goes, an entry an admin made stays); DEL never removes other hosts' entries.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/etcd-cluster.sh"
expect_checks 40

require_cmd etcd etcdctl openssl jq bridge || finish
VNI=$((0x$RUN_ID % 1000000 + 2000))
VXC_NAME=ovl VXC_POOL=10.245.0.0/16 VXC_MODE=l2 VXC_GATEWAY=false
source "$INTEGRATION_DIR/vxlan-cluster.sh"

flood_list() { bridge -n "${HOST[$1]}" fdb show dev "vxlan$VNI" 2>/dev/null | awk '/^00:00:00:00:00:00/ {print $3}' | sort | tr '\n' ' '; }
has_flood() { [[ " $(flood_list "$1")" == *" $2 "* ]]; }
lacks_flood() { link_exists "${HOST[$1]}" "vxlan$VNI" && [[ " $(flood_list "$1")" != *" $2 "* ]]; }

# ---- three hosts, agents, one container each ----------------------------------------------------------
for i in 1 2 3; do add_host "$i" || exit 1; start_agent "$i"; done
check "no config has peers" bash -c "! grep -l '\"peers\"' $NETCONFPATH_DIR/*.conflist"
check "three agents register within 5 s" wait_until 5 registered_is 3
LEASE=$(etcd_ctl get "$VTEPS/host1" -w json | jq -r '.kvs[0].lease // 0')
check "host1's registration is under a lease" test "$LEASE" != 0
for i in 1 2 3; do add_ctr "$i" "ADD c$i on h$i (no peers in the config)"; done
REG1=$(etcd_ctl get --print-value-only "$VTEPS/host1")
check "host1's registration names its underlay, VTEP MAC and cluster-ipam block" json_get "$REG1" \
    ".underlay == \"$(ul 1)\" and (.vtepMac | test(\"^[0-9a-f:]{17}$\")) and (.blocks | length) >= 1 and (.blocks[0] | startswith(\"10.245.\"))"
flood_is() { [ "$(flood_list "$1")" = "$2" ]; }
check "h1 floods to h2 and h3" wait_until 3 flood_is 1 "$(ul 2) $(ul 3) "
check "container MTU is underlay 1500 - 50" bash -c "ip -n ${CTR[1]} link show eth0 | grep -q 'mtu 1450 '"
check "c1, c2, c3 ping each other across hosts" wait_until 5 all_pairs_ping 1 2 3

# ---- a fourth host joins ------------------------------------------------------------------------------
add_host 4 || exit 1
start_agent 4
wait_until 5 registered_is 4
add_ctr 4 "ADD c4 on h4"
T0=$(date +%s%N)
wait_until 2 all_pairs_ping 1 2 3 4; RC=$?
T1=$(date +%s%N)
echo "# fourth host: every pair reaches every other $(((T1 - T0) / 1000000)) ms after c4's ADD returned" >&2
check "within 2 s every container reaches c4 and c4 reaches every container" test "$RC" = 0

# ---- an agent stops: its lease expires, its entries go ------------------------------------------------
stop_agent 3
T0=$(date +%s%N)
gone3() { lacks_flood 1 "$(ul 3)" && lacks_flood 2 "$(ul 3)" && lacks_flood 4 "$(ul 3)"; }
wait_until $((TTL + 2)) gone3; RC=$?
T1=$(date +%s%N)
echo "# h3's entries gone from h1, h2, h4 $(((T1 - T0) / 1000000)) ms after its agent stopped (TTL ${TTL}s)" >&2
check "h3's agent stopped: its entries are gone from h1, h2, h4 within TTL + 2 s" test "$RC" = 0
check "h3's registration is gone" test "$(registered)" = 3
check "c1 and c4 still reach each other" all_pairs_ping 1 4
start_agent 3
check "h3's agent started again: c1 reaches c3 again" wait_until 5 all_pairs_ping 1 3

# ---- etcd faults ------------------------------------------------------------------------------------
BEFORE1=$(flood_list 1) BEFORE2=$(flood_list 2)
etcd_member_kill 1
sleep 2
check "one member down: traffic flows" all_pairs_ping 1 2 3 4
etcd_member_kill 2
sleep $((TTL + 2))
check "quorum lost for longer than the TTL: h1's flood list unchanged" test "$(flood_list 1)" = "$BEFORE1"
check "quorum lost: h2's flood list unchanged" test "$(flood_list 2)" = "$BEFORE2"
check "quorum lost: traffic flows between all four hosts" all_pairs_ping 1 2 3 4
check "quorum lost: the agents log the store errors" grep -q 'data plane left as it is' "$WORK/agent-h1.log"
# A fifth host joins during the outage: its agent retries, its first container's ADD needs cluster-ipam (quorum),
# so only the agent runs now.
add_host 5 || exit 1
start_agent 5
sleep 1
etcd_member_start 1
etcd_member_start 2
check "members restarted: quorum back" etcd_cluster_wait_healthy 30
check "the host that joined during the outage registers" wait_until 15 registered_is 5
add_ctr 5 "ADD c5 on h5"
check "c5 and c1..c4 reach each other" wait_until 15 all_pairs_ping 1 2 3 4 5

# ---- compaction during the watch ---------------------------------------------------------------------
REV=$(etcd_ctl get / -w json | jq -r '.header.revision')
check "etcdctl compact while the agents watch" etcd_ctl compact "$REV"
GHOST=$ETCD_SUBNET_PREFIX.199
ghost_put() {
    local lease
    lease=$(etcd_ctl lease grant 4 | awk '{print $2}')
    etcd_ctl put --lease="$lease" "$VTEPS/ghost" \
        "{\"node\":\"ghost\",\"vni\":$VNI,\"underlay\":\"$GHOST\",\"vtepMac\":\"02:00:00:00:01:99\",\"port\":4789,\"blocks\":[]}" >/dev/null
}
ghost_put
ghost_in() { has_flood 1 "$GHOST" && has_flood 5 "$GHOST"; }
ghost_out() { lacks_flood 1 "$GHOST" && lacks_flood 5 "$GHOST"; }
check "after the compaction h1 and h5 add a newly registered host's flood entry" wait_until 5 ghost_in
check "its lease expires: the entry goes from h1 and h5" wait_until 8 ghost_out

# ---- kill -9 and restart reconciles ---------------------------------------------------------------------
stop_agent 1 KILL
ADMIN=$ETCD_SUBNET_PREFIX.250
bridge -n "${HOST[1]}" fdb append 00:00:00:00:00:00 dev "vxlan$VNI" dst "$ADMIN"
bridge -n "${HOST[1]}" fdb del 00:00:00:00:00:00 dev "vxlan$VNI" dst "$(ul 2)"
stop_agent 5
check "while h1's agent is dead, h5 leaves (its lease expires)" wait_until $((TTL + 4)) vtep_absent host5
check "h1 still has h5's entry (nobody removed it)" has_flood 1 "$(ul 5)"
start_agent 1
check "restarted agent re-adds the entry removed by hand" wait_until 5 has_flood 1 "$(ul 2)"
check "restarted agent removes the entry of the host that left" wait_until 5 lacks_flood 1 "$(ul 5)"
check "restarted agent leaves the admin's entry alone" has_flood 1 "$ADMIN"
check "h1's flood list: h2, h3, h4 and the admin's" test "$(flood_list 1)" = "$(ul 2) $(ul 3) $(ul 4) $ADMIN "
check "c1 reaches c2, c3, c4 after the restart" all_pairs_ping 1 2 3 4

# ---- DEL never removes other hosts' entries ---------------------------------------------------------
B2=$(flood_list 2)
check "DEL c1 on h1" with_env CNI_CONTAINERID=ctr-1 cni_run "${HOST[1]}" del ovl1 "${CTR[1]}"
check "h1's overlay device is gone with its last container" link_absent "${HOST[1]}" "vxlan$VNI"
check "h2's flood list is unchanged by h1's DEL" test "$(flood_list 2)" = "$B2"
check "c2, c3, c4 still reach each other" all_pairs_ping 2 3 4
for i in 2 3 4 5; do CNI_CONTAINERID="ctr-$i" cni_run "${HOST[$i]}" del "ovl$i" "${CTR[$i]}" >/dev/null 2>&1; done
finish
