# shellcheck shell=bash
# What the vxlan cluster-mode scenarios share (scenarios/vxlan-cluster.sh, layer 2; scenarios/vxlan-cluster-routed.sh,
# routed): the plugins copied, the 3-member TLS etcd cluster (etcd-cluster.sh), host namespaces on its switch with
# their conflists (vxlan in cluster mode + cluster-ipam, no "peers"), their agents (started and stopped by PID, logs
# in the work dir; AGENT_LOG_DIR=DIR keeps them), containers, pings and the registrations in etcd.
# Sourced after lib.sh and etcd-cluster.sh, with these set: VNI, VXC_NAME (the networks are VXC_NAME1, 2, ...),
# VXC_POOL (cluster-ipam's pool), VXC_MODE ("l2" or "routed"), VXC_GATEWAY (isGateway: true or false); a scenario may
# define vxc_host_setup NS, run in each new host namespace before it joins the switch.

for p in vxlan cluster-ipam sharpcni-agent; do
    [ -x "$CNI_BIN_DIR/$p" ] || skip_scenario "no $p in $CNI_BIN_DIR (run ./build.sh)"
done

new_tmpdir WORK || exit 1
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/vxlan" "$CNI_BIN_DIR/cluster-ipam" "$PLUGINS/"
AGENT="$CNI_BIN_DIR/sharpcni-agent"
TEST_CNI_PATH="$PLUGINS"
TTL=6
VTEPS="/sharpcni/vxlan/v1/vteps/$VNI"
declare -A AGENT_PID=() HOST=() CTR=() IP=()

stop_agent() { # host-index [signal]
    local pid="${AGENT_PID[$1]:-}" n
    [ -n "$pid" ] || return 0
    kill -"${2:-TERM}" "$pid" 2>/dev/null
    for ((n = 0; n < 50; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    unset "AGENT_PID[$1]"
}
_vxc_cleanup() {
    local i
    for i in "${!AGENT_PID[@]}"; do stop_agent "$i"; done
    if [ -n "${AGENT_LOG_DIR:-}" ]; then mkdir -p "$AGENT_LOG_DIR" && cp "$WORK"/agent-h*.log "$AGENT_LOG_DIR"/; fi
    etcd_cluster_stop
    rm -f /run/sharpcni/vxlan-"$VNI".lock /run/sharpcni/vxlan-"$VNI"-host*.peers
    rmdir /run/sharpcni 2>/dev/null
    _cnit_cleanup
}
trap _vxc_cleanup EXIT

if etcd_cluster_start "$WORK/etcd" "$RUN_ID"; then check "3-member etcd cluster with TLS starts" true
else check "3-member etcd cluster with TLS starts" false; finish; fi

ul() { echo "$ETCD_SUBNET_PREFIX.10$1"; }

# add_host N : host namespace on the switch, its conflist in the scenario's NETCONFPATH and in its own conf dir.
add_host() {
    local i="$1" h conf
    new_netns h "h$i" || return 1
    HOST[$i]="$h"
    if declare -F vxc_host_setup >/dev/null; then vxc_host_setup "$h" || return 1; fi
    etcd_cluster_attach "$h" "$(ul "$i")" || return 1
    conf=$(jq -n --argjson vni "$VNI" --arg node "host$i" --arg local "$(ul "$i")" --argjson eps "$ETCD_ENDPOINTS_JSON" \
        --arg ca "$ETCD_CA" --arg cert "$ETCD_CERT" --arg key "$ETCD_KEY" --argjson ttl "$TTL" --arg i "$i" \
        --arg name "$VXC_NAME" --arg pool "$VXC_POOL" --arg mode "$VXC_MODE" --argjson gw "$VXC_GATEWAY" '
      ($ARGS.named | {endpoints: $eps, caFile: $ca, certFile: $cert, keyFile: $key, timeoutSeconds: 3}) as $etcd |
      {cniVersion: "1.1.0", name: "\($name)\($i)", plugins: [{
        type: "vxlan", vni: $vni, underlayDevice: "etcd0", localIP: $local, isGateway: $gw,
        cluster: ({etcd: $etcd, nodeName: $node, ttlSeconds: $ttl} + (if $mode == "l2" then {} else {mode: $mode} end)),
        ipam: {type: "cluster-ipam", etcd: $etcd, nodeName: $node,
               pools: [{subnet: $pool, blockSize: 26}]}}]}')
    write_conf "50-$VXC_NAME$i.conflist" "$conf"
    mkdir -p "$WORK/conf-h$i"
    printf '%s\n' "$conf" >"$WORK/conf-h$i/50-$VXC_NAME$i.conflist"
}
start_agent() { # N
    # Its own names directory: the agent also serves dnsname networks, and these hosts share one machine.
    ip netns exec "${HOST[$1]}" "$AGENT" --conf-dir "$WORK/conf-h$1" --names-dir "$WORK/names-h$1" 2>>"$WORK/agent-h$1.log" &
    AGENT_PID[$1]=$!
    _cnit_pids+=("$!")
    disown "$!" 2>/dev/null || true # no job notice when it is killed
}
# add_ctr N DESCRIPTION : container cN on host N (namespace made here, in the scenario's shell; the ADD is the check).
add_ctr() {
    local c
    new_netns c "c$1" || exit 1
    CTR[$1]="$c"
    check "$2" with_env CNI_CONTAINERID="ctr-$1" cni_run "${HOST[$1]}" add "$VXC_NAME$1" "$c"
    IP[$1]=$(jq -r '.ips[0].address' <<<"$LAST_OUTPUT" 2>/dev/null | cut -d/ -f1)
}
ping1() { ip netns exec "${CTR[$1]}" ping -c 1 -W 1 "${IP[$2]}" >/dev/null 2>&1; }
all_pairs_ping() { # hosts...
    local a b
    for a in "$@"; do for b in "$@"; do
        [ "$a" = "$b" ] && continue
        ping1 "$a" "$b" || return 1
    done; done
}
registered() { etcd_count "$VTEPS/"; }
registered_is() { [ "$(registered)" = "$1" ]; }
vtep_absent() { local out; out=$(etcd_ctl get "$VTEPS/$1" --keys-only) && [ -z "$out" ]; }
