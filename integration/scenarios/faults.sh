#!/usr/bin/env bash
# Every failure point of ADD and DEL leaves the node clean (issue 19). For each plugin and each state-changing system
# call (integration/faults.sh: socket, sendto, sendmsg, setns, write, link, rename, fsync, mkdir, unlink, ...), the
# N-th invocation is made to fail with EIO, for N = 1, 2, ... until the call no longer reaches it:
# - a failed ADD leaves the node and the container exactly as before (snapshot of links, addresses, routes,
#   permanent neighbours, static FDB entries, qdiscs and ingress filters, nftables ruleset with elements, the
#   IPv4/IPv6 conf and neigh sysctls of node and container, IPAM reservations, tuning's saved-values files);
#   a DEL afterwards (as every runtime sends) succeeds and changes nothing;
# - a failed DEL is followed by a second DEL, which succeeds and leaves the node as before the ADD;
# - an ADD that succeeds in spite of a fault (a best-effort step) is undone by DEL.
# Then the same with the process killed (SIGKILL) at each point: DEL afterwards succeeds and leaves the node as
# before the ADD. Every node already runs another container on the same network, so shared objects (bridge, nftables
# table, parent link) exist; the result's write to stdout failing is a lost result, for which the runtime's DEL is the
# remedy (checked as such). A setns that fails to bring a thread back from the container's namespace ends the
# process on purpose (NetNs.Run: a thread stuck in the wrong namespace must not go on to change the host), so that
# ADD is checked as a kill: the runtime's DEL must leave the node clean (tuning's saved values, still on disk, are
# what that DEL restores). cluster-ipam runs against a 3-member TLS etcd cluster (integration/etcd-cluster.sh, started
# only for its cases and removed at the end), alone and in-process under bridge: its snapshot adds its records in
# etcd (claims, blocks without their next-offset hint, attachments) and the temporary files of its cacheDir; a
# kill after etcd committed leaves an allocation that the runtime's DEL must remove, which is what is checked.
# FAULT_SYSCALLS, FAULT_CASES (e.g. "bridge portmap", "cluster-ipam") and FAULT_MAX_N narrow or bound a run.
# scenario-timeout: 3600
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/faults.sh"
# Every plugin is a case (bridge, portmap, host-local, loopback, macvlan, vxlan, tuning, bandwidth, firewall, dnsname,
# ptp, static, and cluster-ipam alone and in-process under bridge), each ADD and DEL, with errors and with kills, for
# every faulted system call of the case: 12 x 2 x 2 x 15 checks, and 2 x 2 x 10 (cluster-ipam) and 2 x 2 x 11
# (bridge-cluster-ipam).
# FAULT_CASES=all is the same; FAULT_SYSCALLS or FAULT_CASES naming some cases narrow a run, and then it expects
# nothing.
FAULT_DEFAULT_CASES="bridge portmap host-local loopback macvlan vxlan tuning bandwidth firewall dnsname ptp static cluster-ipam bridge-cluster-ipam"
case "${FAULT_CASES:-}" in
"" | all)
    if [ -z "${FAULT_SYSCALLS:-}" ]; then
        expected=0
        for c in $FAULT_DEFAULT_CASES; do expected=$((expected + 2 * 2 * $(wc -w <<<"$(fault_syscalls "$c")"))); done
        expect_checks "$expected"
    fi
    FAULT_CASES="$FAULT_DEFAULT_CASES" ;;
esac
# selected NAME : is the case NAME part of this run?
selected() { case " $FAULT_CASES " in *" $1 "*) return 0 ;; esac; return 1; }

require_cmd strace nsenter nft jq || finish
CLUSTER_CASES=0
if selected cluster-ipam || selected bridge-cluster-ipam; then CLUSTER_CASES=1; fi
plugins="bridge host-local portmap macvlan loopback vxlan ptp static tuning bandwidth firewall"
if [ "$CLUSTER_CASES" = 1 ]; then
    plugins+=" cluster-ipam"
    require_cmd etcd etcdctl openssl || finish
fi
for p in $plugins; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done

new_tmpdir WORK || exit 1
IPAM="$WORK/ipam"

# run_case NAME PLUGIN NODE CTR BASE_ID CONFIG_ADD [CONFIG_DEL]
# BASE_ID is a container already attached (the node's other tenant); the faulted container is "fc-<name>".
# For chained plugins CONFIG_ADD carries prevResult; CONFIG_DEL defaults to CONFIG_ADD.
run_case() {
    local name="$1" plugin="$2" node="$3" ctr="$4" config="$5" config_del="${6:-$5}"
    case " ${FAULT_CASES:-$name} " in *" $name "*) ;; *) return 0 ;; esac
    local id="fc-$name" how syscall n before after bad detail ctrpath syscalls
    syscalls="$(fault_syscalls "$name")"
    ctrpath="$(netns_path "$ctr")"
    before="$(node_snapshot "$node" "$IPAM" "$ctr")"
    for how in error kill; do
        for syscall in $syscalls; do
            bad="" detail=""
            for ((n = 1; n <= FAULT_MAX_N; n++)); do
                # shellcheck disable=SC2046
                plugin_call "$node" "$plugin" ADD "$id" eth0 "$ctrpath" "$config" $(fault_args "$how" "$syscall" "$n")
                count_injection
                if ! call_injected; then
                    # The call made fewer than n such calls: it ran clean and must have succeeded.
                    if [ "$CALL_RC" -ne 0 ]; then bad="ADD without a fault failed (exit $CALL_RC)"; detail="$CALL_OUT"; fi
                    plugin_call "$node" "$plugin" DEL "$id" eth0 "$ctrpath" "$config_del"
                    break
                fi
                if [ "$how" = error ] && [ "$CALL_RC" -ne 0 ] && ! call_injected_stdout && ! call_failed_fast_in_namespace; then
                    after="$(node_snapshot "$node" "$IPAM" "$ctr")"
                    if [ "$after" != "$before" ]; then
                        bad="failed ADD ($syscall #$n) left state behind"
                        detail="$(diff <(echo "$before") <(echo "$after"); echo "$CALL_OUT")"
                        break
                    fi
                fi
                # As a runtime does after any ADD that did not report success (and to undo one that did).
                plugin_call "$node" "$plugin" DEL "$id" eth0 "$ctrpath" "$config_del"
                if [ "$CALL_RC" -ne 0 ]; then bad="DEL after a faulted ADD ($how $syscall #$n) failed"; detail="$CALL_OUT"; break; fi
                after="$(node_snapshot "$node" "$IPAM" "$ctr")"
                if [ "$after" != "$before" ]; then
                    bad="DEL after a faulted ADD ($how $syscall #$n) left state behind"
                    detail="$(diff <(echo "$before") <(echo "$after"))"
                    break
                fi
            done
            if [ -z "$bad" ] && [ "$n" -gt "$FAULT_MAX_N" ]; then bad="still injecting after $FAULT_MAX_N calls"; fi
            report_case "$name: ADD with $syscall ${how}ed at every point leaves the node clean" "$bad" "$detail"
        done
        for syscall in $syscalls; do
            bad="" detail=""
            for ((n = 1; n <= FAULT_MAX_N; n++)); do
                plugin_call "$node" "$plugin" ADD "$id" eth0 "$ctrpath" "$config"
                if [ "$CALL_RC" -ne 0 ]; then bad="ADD without a fault failed (exit $CALL_RC)"; detail="$CALL_OUT"; break; fi
                # shellcheck disable=SC2046
                plugin_call "$node" "$plugin" DEL "$id" eth0 "$ctrpath" "$config_del" $(fault_args "$how" "$syscall" "$n")
                local injected=0
                call_injected && injected=1
                count_injection
                if [ "$injected" = 0 ] && [ "$CALL_RC" -ne 0 ]; then bad="DEL without a fault failed (exit $CALL_RC)"; detail="$CALL_OUT"; break; fi
                if [ "$CALL_RC" -ne 0 ]; then
                    plugin_call "$node" "$plugin" DEL "$id" eth0 "$ctrpath" "$config_del"
                    if [ "$CALL_RC" -ne 0 ]; then bad="second DEL after a faulted DEL ($how $syscall #$n) failed"; detail="$CALL_OUT"; break; fi
                fi
                after="$(node_snapshot "$node" "$IPAM" "$ctr")"
                if [ "$after" != "$before" ]; then
                    bad="DEL ($how $syscall #$n) left state behind"
                    detail="$(diff <(echo "$before") <(echo "$after"))"
                    break
                fi
                [ "$injected" = 1 ] || break
            done
            if [ -z "$bad" ] && [ "$n" -gt "$FAULT_MAX_N" ]; then bad="still injecting after $FAULT_MAX_N calls"; fi
            report_case "$name: DEL with $syscall ${how}ed at every point, then DEL again, leaves the node clean" "$bad" "$detail"
        done
    done
}

# Counts for the README's table: faulted calls that reached their injection point, as errors and as kills.
INJECTED_ERRORS=0 INJECTED_KILLS=0
count_injection() {
    call_injected || return 0
    if grep -q -E '\+\+\+ killed by SIGKILL' "$CALL_TRACE" 2>/dev/null; then INJECTED_KILLS=$((INJECTED_KILLS + 1)); else INJECTED_ERRORS=$((INJECTED_ERRORS + 1)); fi
}

report_case() {
    if [ -z "$2" ]; then
        PASSED=$((PASSED + 1))
        echo "PASS: $SCENARIO_NAME: $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL: $SCENARIO_NAME: $1: $2"
        _cnit_show_output "$3"
    fi
}

# attach NODE PLUGIN ID CTR CONFIG: a plain ADD that must succeed; prints the result.
attach() {
    plugin_call "$1" "$2" ADD "$3" eth0 "$(netns_path "$4")" "$5"
    if [ "$CALL_RC" -ne 0 ]; then
        echo "attach $2 $3 failed: $CALL_OUT" >&2
        return 1
    fi
    printf '%s' "$CALL_OUT"
}

with_prev() { jq -c --argjson prev "$2" '. + {prevResult: $prev}' <<<"$1"; }

# --- bridge (ipMasq, gateway, host-local in-process) and portmap chained after it.
new_netns NODE node || exit 1
new_netns C0 c0 || exit 1
new_netns C1 c1 || exit 1
BRIDGE_CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "faultnet", type: "bridge", bridge: "fbr0",
    isGateway: true, ipMasq: true, hairpinMode: true,
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.123.0.0/24"}]], routes: [{dst: "0.0.0.0/0"}]}}')
r0=$(attach "$NODE" bridge base0 "$C0" "$BRIDGE_CONF") || { check "baseline container attached" false; finish; }
PORTMAP_BASE=$(jq -c -n '{cniVersion: "1.0.0", name: "faultnet", type: "portmap", capabilities: {portMappings: true}, snat: true}')
pm0=$(jq -c '. + {runtimeConfig: {portMappings: [{hostPort: 18080, containerPort: 80, protocol: "tcp"}]}}' <<<"$PORTMAP_BASE")
attach "$NODE" portmap base0 "$C0" "$(with_prev "$pm0" "$r0")" >/dev/null || { check "baseline port mapping" false; finish; }
# The chained meta plugins, each also used by the baseline tenant (the firewall's shared chains exist then).
TUNING_CONF=$(jq -c -n --arg dir "$IPAM/tuning" '{cniVersion: "1.0.0", name: "faultnet", type: "tuning", dataDir: $dir,
    mtu: 1400, promisc: true, sysctl: {"net.ipv4.conf.IFNAME.arp_ignore": "1"}}')
BW_CONF=$(jq -c -n '{cniVersion: "1.0.0", name: "faultnet", type: "bandwidth", ingressRate: 8000000, ingressBurst: 80000,
    egressRate: 8000000, egressBurst: 80000}')
FW_CONF=$(jq -c -n '{cniVersion: "1.0.0", name: "faultnet", type: "firewall"}')
# dnsname's names file lives under the IPAM directory, so the snapshot compares it (the baseline tenant's entry is in
# it: a faulted ADD rewrites a file that has content).
DNS_CONF=$(jq -c -n --arg dir "$IPAM/dnsname" '{cniVersion: "1.0.0", name: "faultnet", type: "dnsname", dataDir: $dir}')
CALL_ARGS_dnsname="K8S_POD_NAME=tenant"
for meta in TUNING_CONF BW_CONF FW_CONF DNS_CONF; do
    plugin=$(jq -r .type <<<"${!meta}")
    attach "$NODE" "$plugin" base0 "$C0" "$(with_prev "${!meta}" "$r0")" >/dev/null || { check "baseline $plugin" false; finish; }
done

run_case bridge bridge "$NODE" "$C1" "$BRIDGE_CONF"

# portmap: the faulted container is attached by bridge first (not faulted), its result is the prevResult.
r1=$(attach "$NODE" bridge fc-portmap "$C1" "$BRIDGE_CONF") || { check "bridge for the portmap case" false; finish; }
pm1=$(jq -c '. + {runtimeConfig: {portMappings: [{hostPort: 18081, containerPort: 80, protocol: "tcp"}, {hostPort: 15353, containerPort: 53, protocol: "udp"}]}}' <<<"$PORTMAP_BASE")
run_case portmap portmap "$NODE" "$C1" "$(with_prev "$pm1" "$r1")" "$pm1"
plugin_call "$NODE" bridge DEL fc-portmap eth0 "$(netns_path "$C1")" "$BRIDGE_CONF"

# tuning, bandwidth, firewall and dnsname, chained the same way.
for meta in TUNING_CONF BW_CONF FW_CONF DNS_CONF; do
    plugin=$(jq -r .type <<<"${!meta}")
    r1=$(attach "$NODE" bridge "fc-$plugin" "$C1" "$BRIDGE_CONF") || { check "bridge for the $plugin case" false; finish; }
    run_case "$plugin" "$plugin" "$NODE" "$C1" "$(with_prev "${!meta}" "$r1")" "$(with_prev "${!meta}" "$r1")"
    plugin_call "$NODE" bridge DEL "fc-$plugin" eth0 "$(netns_path "$C1")" "$BRIDGE_CONF"
done

# host-local alone and loopback.
HL_CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "hlnet", ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.124.0.0/24"}], [{subnet: "fd00:124::/64"}]]}}')
attach "$NODE" host-local base0 "$C0" "$HL_CONF" >/dev/null || { check "baseline host-local reservation" false; finish; }
run_case host-local host-local "$NODE" "$C1" "$HL_CONF"
LO_CONF='{"cniVersion":"1.0.0","name":"lo","type":"loopback"}'
new_netns C4 c4 || exit 1
ip -n "$C4" link set lo down # as a runtime hands it over: DEL puts lo down again
run_case loopback loopback "$NODE" "$C4" "$LO_CONF"

# macvlan on a parent link of the node.
ip -n "$NODE" link add fparent type veth peer name fpeer && ip -n "$NODE" link set fparent up && ip -n "$NODE" link set fpeer up
MV_CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "mvnet", type: "macvlan", master: "fparent", mode: "bridge",
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.125.0.0/24"}]]}}')
new_netns C3 c3 || exit 1
attach "$NODE" macvlan base-mv "$C3" "$MV_CONF" >/dev/null || { check "baseline macvlan container" false; finish; }
run_case macvlan macvlan "$NODE" "$C1" "$MV_CONF"

# vxlan with one peer.
ip -n "$NODE" addr add 10.126.0.1/24 dev fpeer
VX_CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "vxnet", type: "vxlan", vni: 4242, underlayDevice: "fpeer",
    localIP: "10.126.0.1", peers: ["10.126.0.1", "10.126.0.2"], bridge: "fvx0", isGateway: true,
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.127.1.0/24"}]]}}')
new_netns C2 c2 || exit 1
attach "$NODE" vxlan base-vx "$C2" "$VX_CONF" >/dev/null || { check "baseline vxlan container" false; finish; }
run_case vxlan vxlan "$NODE" "$C1" "$VX_CONF"

# ptp (masquerade, host-local in-process) and static IPAM.
PTP_CONF=$(jq -c -n --arg dir "$IPAM" '{cniVersion: "1.0.0", name: "ptpnet", type: "ptp", ipMasq: true, mtu: 1400,
    ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.128.0.0/24"}]], routes: [{dst: "0.0.0.0/0"}]}}')
new_netns C5 c5 || exit 1
attach "$NODE" ptp base-ptp "$C5" "$PTP_CONF" >/dev/null || { check "baseline ptp container" false; finish; }
run_case ptp ptp "$NODE" "$C1" "$PTP_CONF"
STATIC_CONF=$(jq -c -n '{cniVersion: "1.0.0", name: "stnet", ipam: {type: "static",
    addresses: [{address: "10.129.0.5/24", gateway: "10.129.0.1"}], routes: [{dst: "0.0.0.0/0"}]}}')
run_case static static "$NODE" "$C1" "$STATIC_CONF"

# cluster-ipam, alone and in-process under bridge, against a 3-member etcd cluster with TLS that the node reaches on
# the etcd switch; started only for these cases, stopped and removed at the end (also when the run fails). Both use
# one pool and node name, and each has a baseline tenant, so the block exists and is not empty before every call
# (an empty block would go back to the pool after its grace period). The block hint lives under the IPAM directory.
if [ "$CLUSTER_CASES" = 1 ]; then
    source "$INTEGRATION_DIR/etcd-cluster.sh"
    # The members go first (by PID, then their namespaces), also when the run fails or is stopped; lib.sh's cleanup
    # then sees the scenario's own exit status.
    trap '_fault_rc=$?; etcd_cluster_stop; (exit "$_fault_rc"); _cnit_cleanup' EXIT
    if ! etcd_cluster_start "$WORK/etcd" "$RUN_ID"; then check "3-member etcd cluster with TLS starts" false; finish; fi
    etcd_cluster_attach "$NODE" "$ETCD_SUBNET_PREFIX.201" || { check "node attached to the etcd switch" false; finish; }
    FAULT_ETCD_PREFIX=/faults/ipam/v1/
    CL_IPAM=$(jq -c -n --argjson eps "$ETCD_ENDPOINTS_JSON" --arg ca "$ETCD_CA" --arg cert "$ETCD_CERT" --arg key "$ETCD_KEY" \
        --arg cache "$IPAM/cluster-ipam-cache" '{type: "cluster-ipam",
        etcd: {endpoints: $eps, caFile: $ca, certFile: $cert, keyFile: $key, timeoutSeconds: 5},
        prefix: "/faults", nodeName: "fnode", cacheDir: $cache,
        pools: [{subnet: "10.130.0.0/16", blockSize: 26, gateway: "10.130.0.1"}], routes: [{dst: "0.0.0.0/0"}]}')
    CL_CONF=$(jq -c -n --argjson ipam "$CL_IPAM" '{cniVersion: "1.1.0", name: "clnet", ipam: $ipam}')
    BR_CL_CONF=$(jq -c -n --argjson ipam "$CL_IPAM" '{cniVersion: "1.1.0", name: "clnet", type: "bridge", bridge: "fcl0",
        isGateway: true, ipam: $ipam}')
    new_netns C6 c6 || exit 1
    attach "$NODE" cluster-ipam base-cl "$C6" "$CL_CONF" >/dev/null || { check "baseline cluster-ipam allocation" false; finish; }
    attach "$NODE" bridge base-brcl "$C6" "$BR_CL_CONF" >/dev/null || { check "baseline bridge + cluster-ipam container" false; finish; }
    run_case cluster-ipam cluster-ipam "$NODE" "$C1" "$CL_CONF"
    run_case bridge-cluster-ipam bridge "$NODE" "$C1" "$BR_CL_CONF"
fi

echo "INFO: $SCENARIO_NAME: cases $FAULT_CASES: $INJECTED_ERRORS calls failed with an injected error, $INJECTED_KILLS killed; $FAILED checks found state left behind or a failed DEL"
finish
