#!/usr/bin/env bash
# vxlan cluster mode "routed" (ours) on the 3-member TLS etcd test cluster (integration/etcd-cluster.sh): host
# namespaces on the etcd switch (underlay 10.79.0.10N on etcd0, rp_filter 1 as distributions set it), each with its own
# conflist (vxlan, cluster mode routed, isGateway, cluster-ipam) and its own sharpcni-agent (started and stopped by PID).
# Proves: the vxlan device stands apart from the bridge, the bridge answers ARP by proxy; for each peer a route per
# block (via its underlay address, onlink), a permanent neighbour and a permanent FDB entry, and no flood entry; three
# hosts' containers ping each other; a fourth host's first ADD programs the known hosts by itself (no agent yet), and
# with its agent started it is reachable both ways within 2 s; an agent stopped: its entries go
# from the others within TTL + 2 s; kill -9 and restart reconciles (a route removed by hand comes back, the entries of
# a host that left go, an admin's route and neighbour stay); the watch's re-list after a compaction on the real
# cluster: the agents watch on member 1, member 1 is frozen, a host leaves and another joins and the store is compacted
# through the other members, member 1 is killed: the agents' resumed watch finds its revision compacted, they list again
# (their log says so) and converge; DEL never removes other hosts' entries.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/etcd-cluster.sh"
expect_checks 42

require_cmd etcd etcdctl openssl jq bridge ss || finish
VNI=$((0x$RUN_ID % 1000000 + 3000))
DEV="vxlan$VNI"
POOL=10.246
VXC_NAME=rt VXC_POOL="$POOL.0.0/16" VXC_MODE=routed VXC_GATEWAY=true
# Every host at rp_filter 1 (strict), as distributions set it.
vxc_host_setup() { ip netns exec "$1" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/rp_filter; echo 1 >/proc/sys/net/ipv4/conf/default/rp_filter'; }
source "$INTEGRATION_DIR/vxlan-cluster.sh"
reg_of() { etcd_ctl get --print-value-only "$VTEPS/$1"; } # node name

# snapshot N : host N's FDB entries, IPv4 neighbours and IPv4 routes on its vxlan device, one per line, tagged F/N/R.
snapshot() {
    local h="${HOST[$1]}"
    bridge -n "$h" fdb show dev "$DEV" | sed 's/^/F /'
    ip -n "$h" -4 neigh show dev "$DEV" | sed 's/^/N /'
    ip -n "$h" -4 route show dev "$DEV" | sed 's/^/R /'
}
# holds SNAPSHOT NODE : the snapshot has NODE's FDB entry, neighbour and a route per block, as registered.
holds() {
    local snap="$1" reg mac under block
    reg=$(reg_of "$2") && [ -n "$reg" ] || return 1
    mac=$(jq -r .vtepMac <<<"$reg"); under=$(jq -r .underlay <<<"$reg")
    grep -q "^F $mac dst $under self permanent" <<<"$snap" || return 1
    grep -q "^N $under lladdr $mac PERMANENT" <<<"$snap" || return 1
    for block in $(jq -r '.blocks[]' <<<"$reg"); do
        grep -q "^R $block via $under onlink" <<<"$snap" || return 1
    done
    [ "$(jq '.blocks | length' <<<"$reg")" -ge 1 ]
}
# has_entries N NODE : host N holds, on its vxlan device, NODE's FDB entry, neighbour and a route per block, as registered.
has_entries() { holds "$(snapshot "$1")" "$2"; }
# lacks_entries N ADDRESS : host N has no route via, neighbour for, or FDB entry to ADDRESS on its vxlan device.
lacks_entries() {
    local h="${HOST[$1]}"
    link_exists "$h" "$DEV" || return 1
    ! ip -n "$h" -4 route show dev "$DEV" | grep -q "via $2 " &&
        ! ip -n "$h" -4 neigh show dev "$DEV" | grep -q "^$2 " &&
        ! bridge -n "$h" fdb show dev "$DEV" | grep -q "dst $2 "
}
peers_programmed() { # N peers...
    local n="$1" p; shift
    for p in "$@"; do has_entries "$n" "host$p" || return 1; done
}

# ---- three hosts, agents, one container each ----------------------------------------------------------
for i in 1 2 3; do add_host "$i" || exit 1; start_agent "$i"; done
check "three agents register within 5 s" wait_until 5 registered_is 3
for i in 1 2 3; do add_ctr "$i" "ADD c$i on h$i (routed mode)"; done
check "host1's registration names its cluster-ipam block" json_get "$(reg_of host1)" "(.blocks | length) >= 1 and (.blocks[0] | startswith(\"$POOL.\"))"
check "h1 holds a route per block, a neighbour and an FDB entry for h2 and h3" wait_until 3 peers_programmed 1 2 3
check "h2 holds them for h1 and h3" wait_until 3 peers_programmed 2 1 3
check "h3 holds them for h1 and h2" wait_until 3 peers_programmed 3 1 2
check "the vxlan device is not a bridge port" bash -c "! ip -n ${HOST[1]} -d link show $DEV | grep -q 'master '"
check "the bridge answers ARP by proxy (proxy_arp 1, proxy_delay 0)" bash -c \
    "[ \"\$(ip netns exec ${HOST[1]} cat /proc/sys/net/ipv4/conf/vx$VNI/proxy_arp /proc/sys/net/ipv4/neigh/vx$VNI/proxy_delay | tr '\n' ' ')\" = '1 0 ' ]"
check_lacks "routed mode programs no flood entry" '^00:00:00:00:00:00' bridge -n "${HOST[1]}" fdb show dev "$DEV"
check "c1, c2, c3 ping each other across hosts (rp_filter 1 on every host)" wait_until 5 all_pairs_ping 1 2 3
bridge_mac() { ip netns exec "${HOST[$1]}" cat "/sys/class/net/vx$VNI/address"; }
check "c1 reached c2 through the bridge's MAC (ARP answered by proxy)" bash -c \
    "ip -n ${CTR[1]} neigh show ${IP[2]} | grep -q 'lladdr $(bridge_mac 1)'"

# ---- a fourth host joins ------------------------------------------------------------------------------
add_host 4 || exit 1
add_ctr 4 "ADD c4 on h4 (its agent not started yet)"
T0=$(date +%s%N)
# What h4's ADD programmed by itself, taken before its agent starts (its registration lapses after the TTL without one).
SNAP4=$(snapshot 4)
start_agent 4
h4_alone() { holds "$SNAP4" host1 && holds "$SNAP4" host2 && holds "$SNAP4" host3; }
check "h4's ADD alone programmed h1, h2 and h3 on h4 (no agent needed)" h4_alone
wait_until 2 all_pairs_ping 1 2 3 4; RC=$?
T1=$(date +%s%N)
echo "# fourth host: every pair reaches every other $(((T1 - T0) / 1000000)) ms after c4's ADD returned (h4's agent started meanwhile)" >&2
check "within 2 s every container reaches c4 and c4 reaches every container" test "$RC" = 0
h4_everywhere() { has_entries 1 host4 && has_entries 2 host4 && has_entries 3 host4; }
check "h1, h2, h3 hold h4's entries" wait_until 2 h4_everywhere

# ---- an agent stops: its lease expires, its entries go ------------------------------------------------
stop_agent 3
T0=$(date +%s%N)
gone3() { lacks_entries 1 "$(ul 3)" && lacks_entries 2 "$(ul 3)" && lacks_entries 4 "$(ul 3)"; }
wait_until $((TTL + 2)) gone3; RC=$?
T1=$(date +%s%N)
echo "# h3's entries gone from h1, h2, h4 $(((T1 - T0) / 1000000)) ms after its agent stopped (TTL ${TTL}s)" >&2
check "h3's agent stopped: its routes, neighbour and FDB entry are gone from h1, h2, h4 within TTL + 2 s" test "$RC" = 0
check "h3's registration is gone" registered_is 3
check "c1, c2 and c4 still reach each other" all_pairs_ping 1 2 4
start_agent 3
check "h3's agent started again: c1 and c3 reach each other" wait_until 5 all_pairs_ping 1 3

# ---- kill -9 and restart reconciles ---------------------------------------------------------------------
stop_agent 1 KILL
ADMIN=$ETCD_SUBNET_PREFIX.250
ip -n "${HOST[1]}" neigh add "$ADMIN" lladdr 02:00:00:00:02:50 dev "$DEV" nud permanent
ip -n "${HOST[1]}" route add 10.99.0.0/24 via "$ADMIN" dev "$DEV" onlink
B2=$(jq -r '.blocks[0]' <<<"$(reg_of host2)")
ip -n "${HOST[1]}" route del "$B2" dev "$DEV"
stop_agent 4
check "while h1's agent is dead, h4 leaves (its lease expires)" wait_until $((TTL + 4)) vtep_absent host4
routes_via() { ip -n "${HOST[$1]}" -4 route show dev "$DEV" | grep -q "via $2 "; }
check "h1 still has h4's routes (nobody removed them)" routes_via 1 "$(ul 4)"
start_agent 1
check "restarted agent re-adds the route removed by hand" wait_until 5 has_entries 1 host2
check "restarted agent removes the entries of the host that left" wait_until 5 lacks_entries 1 "$(ul 4)"
check "restarted agent leaves the admin's route alone" bash -c "ip -n ${HOST[1]} -4 route show dev $DEV | grep -q '^10.99.0.0/24 via $ADMIN onlink'"
check "restarted agent leaves the admin's neighbour alone" bash -c "ip -n ${HOST[1]} -4 neigh show dev $DEV | grep -q '^$ADMIN lladdr 02:00:00:00:02:50 PERMANENT'"
check "c1 reaches c2 and c3 after the restart" all_pairs_ping 1 2 3

# ---- compaction while a watch is away: the resumed watch is compacted, the agent lists again --------------
# etcdctl through members 2 and 3 only (member 1 is frozen below).
ctl23() {
    ip netns exec "${ETCD_MEMBER_NS[1]}" env ETCDCTL_API=3 etcdctl --endpoints "https://$ETCD_SUBNET_PREFIX.12:2379,https://$ETCD_SUBNET_PREFIX.13:2379" \
        --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" --command-timeout 5s "$@"
}
ghost_put() { # name last-octet block
    local lease
    lease=$(ctl23 lease grant 120 | awk '{print $2}')
    ctl23 put --lease="$lease" "$VTEPS/$1" \
        "{\"node\":\"$1\",\"vni\":$VNI,\"underlay\":\"$ETCD_SUBNET_PREFIX.$2\",\"vtepMac\":\"02:00:00:00:01:$(printf %02x "$2")\",\"port\":4789,\"blocks\":[\"$3\"]}" >/dev/null
}
route_in() { ip -n "${HOST[$1]}" -4 route show dev "$DEV" | grep -q "^$2 via"; }
route_out() { link_exists "${HOST[$1]}" "$DEV" && ! route_in "$1" "$2"; }
ghost_put ghosta 198 "$POOL.200.0/26"
check "a host registered through the store is routed by h2" wait_until 5 route_in 2 "$POOL.200.0/26"
check "h2's agent watches on member 1" bash -c "ip netns exec ${HOST[2]} ss -tn state established dst $ETCD_SUBNET_PREFIX.11 | grep -q ':2379'"
M1=$(cat "$ETCD_DIR/member-1.pid")
kill -STOP "$M1"
# Members 2 and 3 may first have to elect a leader (member 1 may have been it): retried.
changes() {
    local end=$((SECONDS + 20))
    while [ "$SECONDS" -lt "$end" ]; do
        ctl23 del "$VTEPS/ghosta" >/dev/null 2>&1 && ghost_put ghostb 199 "$POOL.201.0/26" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
check "member 1 frozen: through members 2 and 3 a host leaves and another joins" changes
REV=$(ctl23 get / -w json | jq -r '.header.revision')
check "compacted to the newest revision through members 2 and 3 while member 1 is frozen" ctl23 compact "$REV"
sleep 1
check "member 1 frozen: h2's watch has not seen the changes (its watch runs on member 1)" route_in 2 "$POOL.200.0/26"
MARK=$(wc -l <"$WORK/agent-h2.log")
etcd_member_kill 1
relisted() { tail -n +"$((MARK + 1))" "$WORK/agent-h2.log" | grep -Eq 'compacted to [0-9]+.*listing again'; }
check "member 1 killed: h2's agent resumes its watch elsewhere, finds it compacted and lists again" wait_until 15 relisted
converged() { route_in "$1" "$POOL.201.0/26" && route_out "$1" "$POOL.200.0/26" && lacks_entries "$1" "$ETCD_SUBNET_PREFIX.198"; }
check "h2 converges: the host that joined is routed, the one that left is gone" wait_until 10 converged 2
converged13() { converged 1 && converged 3; }
check "h1 and h3 converge too" wait_until 10 converged13
grep -E 'compacted to [0-9]+' "$WORK/agent-h2.log" | tail -n 2 | sed 's/^/# h2 agent: /' >&2
ctl23 del "$VTEPS/ghostb" >/dev/null
etcd_member_start 1
check "member 1 back: quorum of three" etcd_cluster_wait_healthy 30

# ---- DEL never removes other hosts' entries ---------------------------------------------------------
R2=$(ip -n "${HOST[2]}" -4 route show dev "$DEV"; ip -n "${HOST[2]}" -4 neigh show dev "$DEV")
check "DEL c1 on h1" with_env CNI_CONTAINERID=ctr-1 cni_run "${HOST[1]}" del rt1 "${CTR[1]}"
check "h1's overlay device is gone with its last container" link_absent "${HOST[1]}" "$DEV"
check "h2's routes and neighbours are unchanged by h1's DEL" test "$(ip -n "${HOST[2]}" -4 route show dev "$DEV"; ip -n "${HOST[2]}" -4 neigh show dev "$DEV")" = "$R2"
check "c2 and c3 still reach each other" all_pairs_ping 2 3
for i in 2 3; do CNI_CONTAINERID="ctr-$i" cni_run "${HOST[$i]}" del "rt$i" "${CTR[$i]}" >/dev/null 2>&1; done
finish
