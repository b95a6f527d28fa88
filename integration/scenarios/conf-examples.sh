#!/usr/bin/env bash
# Every example in conf/*.conflist, as shipped, through cnitool on our plugins: ADD, CHECK, DEL (and DEL
# again) in throwaway namespaces, so the examples cannot rot. The only changes made to a file are moving
# host-local's and tuning's dataDir into the scenario's temp dir (and, while $CNI_BIN_DIR/portmap is missing,
# leaving portmap out of the chain, with a printed skip). Each example gets the surroundings it names:
#   bridge lists      a node namespace; the container reaches every gateway of its ranges
#   ptp (kind)        a node namespace; the container reaches its gateway, the node reaches the container
#   macvlan           the node's "eth0" is a veth to a LAN namespace holding the range's gateway; with static
#                     IPAM (Multus' example) the runtime's ips and mac capabilities give the address and the
#                     MAC (tuning), the gateway is the one of the default route
#   vxlan host1..3    three nodes whose "eth0" carries the example's localIP on one underlay switch;
#                     containers on different nodes reach each other across the overlay
#   loopback          lo is up in the container
#   cluster-ipam      a 3-member TLS etcd cluster (integration/etcd-cluster.sh) on the example's endpoint subnet
#                     and three nodes on its switch, each with its nodeName (they share this machine's host name)
#                     and the test certificates in place of /etc/sharpcni/etcd/*: one container per node, addresses
#                     distinct and in different nodes' blocks, nothing left in etcd after DEL. Skipped, saying so,
#                     when etcd, etcdctl or openssl are not installed. A vxlan list in cluster mode (55-vxlan-cluster)
#                     gets the same, with the test certificates and the node name in its cluster object too, the
#                     switch port renamed to the example's underlayDevice, and a sharpcni-agent per node (by PID):
#                     the three nodes register and their containers reach each other across the overlay.
# After DEL the dataDir holds no lease. A list of a type this scenario does not know fails, so a new
# example has to be given its surroundings here.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/runtimes.sh"
expect_checks 158

require_cmd jq nft || skip_scenario "jq and nft are needed"
TEST_CNI_PATH="$CNI_BIN_DIR"

lease_count() { # ipam-dir
    find "$1" -mindepth 2 -maxdepth 2 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l
}

# prepare FILE DIR : copies FILE into the NETCONFPATH DIR with the dataDir moved; sets NET, IPAM.
# Returns 1 (after a skip) when a plugin the list needs is not built.
prepare() {
    local file="$1" dir="$2" t missing=() filter
    NET="$(jq -r .name "$file")"
    IPAM="$dir.ipam"
    filter='(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir | (.plugins[] | select(.type == "tuning") | .dataDir) = $dir + "/tuning"'
    for t in $(jq -r '.plugins[].type' "$file"); do
        if [ "$t" = portmap ] && [ ! -x "$CNI_BIN_DIR/portmap" ]; then
            skip "$(basename "$file"): portmap left out of the chain: no portmap plugin at $CNI_BIN_DIR/portmap yet"
            filter="$filter | .plugins |= map(select(.type != \"portmap\"))"
        elif [ ! -x "$CNI_BIN_DIR/$t" ]; then
            missing+=("$t")
        fi
    done
    for t in $(jq -r '.plugins[].ipam.type // empty' "$file" | sort -u); do
        [ -x "$CNI_BIN_DIR/$t" ] || missing+=("$t")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        skip "$(basename "$file"): plugins not built at $CNI_BIN_DIR: ${missing[*]} (run ./build.sh)"
        NOT_BUILT=$((NOT_BUILT + 1))
        return 1
    fi
    mkdir -p "$dir" "$IPAM"
    jq --arg dir "$IPAM" "$filter" "$file" >"$dir/$(basename "$file")"
}

# in_conf DIR command... : runs a command with NETCONFPATH_DIR pointing at DIR
in_conf() {
    local NETCONFPATH_DIR="$1"
    shift
    "$@"
}

ping_from() { # ns addr
    case "$2" in
    *:*) ip netns exec "$1" ping -6 -c 1 -W 2 "$2" ;;
    *) ip netns exec "$1" ping -c 1 -W 2 "$2" ;;
    esac
}

result_has_leases() { # result-json ipam-dir net : every address of the result is leased
    local a n=0
    for a in $(json_get "$1" '.ips[].address' | cut -d/ -f1); do
        [ -e "$3/$2/$a" ] || return 1
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]
}

# check_check LABEL command... : CHECK, which spec versions before 0.4.0 do not have (libcni refuses it there).
check_check() {
    local label="$1" v
    shift
    v="$(jq -r '.cniVersion' "$file")"
    case "$v" in
    0.1.* | 0.2.* | 0.3.*) echo "NOTE: $SCENARIO_NAME: $label: no CHECK (cniVersion $v has none; the plugins' own scenarios check them)" ;;
    *) check "$label: CHECK" "$@" ;;
    esac
}

del_and_release() { # label conf-dir node ctr ipam
    local label="$1" dir="$2" node="$3" ctr="$4" ipam="$5"
    check "$label: DEL" in_conf "$dir" cni_run "$node" del "$NET" "$ctr"
    check "$label: DEL releases every lease" test "$(lease_count "$ipam")" = 0
    check "$label: DEL again succeeds" in_conf "$dir" cni_run "$node" del "$NET" "$ctr"
}

COVERED=0 NOT_BUILT=0
VXLAN_FILES=() CLUSTER_FILES=()
i=0
for file in "$REPO_ROOT"/conf/*.conflist; do
    [ -e "$file" ] || continue
    base="$(basename "$file")"
    types=" $(jq -r '[.plugins[].type] | join(" ")' "$file") "
    i=$((i + 1))
    if [ "$(jq -r '[.plugins[].ipam.type // empty] | unique | join(" ")' "$file")" = cluster-ipam ]; then
        CLUSTER_FILES+=("$file")
        continue
    fi
    case "$types" in
    *" vxlan "*)
        VXLAN_FILES+=("$file")
        continue
        ;;
    *" macvlan "*)
        prepare "$file" "$SCENARIO_TMP/ex$i" || continue
        dir="$SCENARIO_TMP/ex$i"
        master="$(jq -r '.plugins[] | select(.type == "macvlan") | .master' "$file")"
        ipam_type="$(jq -r '.plugins[] | select(.type == "macvlan") | .ipam.type' "$file")"
        caps=""
        if [ "$ipam_type" = static ]; then
            # The runtime (Multus) hands the address and the MAC through the ips and mac capabilities.
            gw="$(jq -r '.plugins[] | select(.type == "macvlan") | .ipam.routes[] | select(.dst == "0.0.0.0/0") | .gw' "$file")"
            prefix=24
            static_ip="${gw%.*}.101"
            caps="{\"ips\":[\"$static_ip/$prefix\"],\"mac\":\"c2:45:00:00:00:01\"}"
        else
            gw="$(jq -r '.plugins[] | select(.type == "macvlan") | .ipam.ranges[0][0].gateway' "$file")"
            prefix="$(jq -r '.plugins[] | select(.type == "macvlan") | .ipam.ranges[0][0].subnet' "$file" | cut -d/ -f2)"
        fi
        new_netns N "n$i" || exit 1
        new_netns L "lan$i" || exit 1
        new_netns C "c$i" || exit 1
        ip -n "$N" link add "$master" type veth peer name lan0 netns "$L" || exit 1
        ip -n "$N" link set "$master" up
        ip -n "$L" addr add "$gw/$prefix" dev lan0
        ip -n "$L" link set lan0 up
        check "$base: ADD (master $master)" with_env CAP_ARGS="$caps" in_conf "$dir" cni_run "$N" add "$NET" "$C" || continue
        res="$LAST_OUTPUT"
        if [ "$ipam_type" = static ]; then
            check "$base: the result has the capability's address" json_get "$res" ".ips[0].address == \"$static_ip/$prefix\""
            check "$base: tuning gave eth0 the capability's MAC" bash -c "ip -n $C link show dev eth0 | grep -q 'link/ether c2:45:00:00:00:01'"
        else
            check "$base: every address of the result is leased" result_has_leases "$res" "$NET" "$IPAM"
        fi
        check_check "$base" with_env CAP_ARGS="$caps" in_conf "$dir" cni_run "$N" check "$NET" "$C"
        check "$base: the container reaches $gw on the LAN" wait_until 5 ping_from "$C" "$gw"
        CAP_ARGS="$caps" del_and_release "$base" "$dir" "$N" "$C" "$IPAM"
        check "$base: no tuning state left" test -z "$(find "$IPAM/tuning" -type f 2>/dev/null)"
        COVERED=$((COVERED + 1))
        ;;
    *" ptp "*)
        prepare "$file" "$SCENARIO_TMP/ex$i" || continue
        dir="$SCENARIO_TMP/ex$i"
        new_netns N "n$i" || exit 1
        new_netns C "c$i" || exit 1
        check "$base: ADD" in_conf "$dir" cni_run "$N" add "$NET" "$C" || continue
        res="$LAST_OUTPUT"
        check_check "$base" in_conf "$dir" cni_run "$N" check "$NET" "$C"
        check "$base: every address of the result is leased" result_has_leases "$res" "$NET" "$IPAM"
        for gw in $(json_get "$res" '.ips[].gateway'); do
            check "$base: the container reaches its gateway $gw" wait_until 5 ping_from "$C" "$gw"
        done
        for a in $(json_get "$res" '.ips[].address' | cut -d/ -f1); do
            check "$base: the node reaches the container at $a" ping_from "$N" "$a"
        done
        del_and_release "$base" "$dir" "$N" "$C" "$IPAM"
        check "$base: no veth left on the node" test "$(ip -n "$N" -o link show type veth | wc -l)" -eq 0
        COVERED=$((COVERED + 1))
        ;;
    *" bridge "* | " loopback ")
        prepare "$file" "$SCENARIO_TMP/ex$i" || continue
        dir="$SCENARIO_TMP/ex$i"
        new_netns N "n$i" || exit 1
        new_netns C "c$i" || exit 1
        ip -n "$C" link set lo down
        # A list with the bandwidth capability gets limits as Kubernetes passes them (CAP_ARGS).
        cap=""
        case "$types" in *" bandwidth "*) cap='{"bandwidth":{"ingressRate":10000000,"ingressBurst":1000000,"egressRate":10000000,"egressBurst":1000000}}' ;; esac
        unset CAP_ARGS
        if [ -n "$cap" ]; then export CAP_ARGS="$cap"; fi
        check "$base: ADD" in_conf "$dir" cni_run "$N" add "$NET" "$C" || continue
        res="$LAST_OUTPUT"
        check "$base: CHECK" in_conf "$dir" cni_run "$N" check "$NET" "$C"
        ifb=""
        if [ -n "$cap" ]; then
            ifb="$(json_get "$res" '.interfaces[] | select(.name | startswith("bwp")) | .name')"
            check "$base: bandwidth: the IFB ${ifb:-?} is in the result and up" link_is_up "$N" "${ifb:-none}"
            check "$base: bandwidth: TBF (10Mbit) on the host veth and the IFB" \
                test "$(tc -n "$N" qdisc show | grep -c 'tbf 1: .*root.*rate 10Mbit')" = 2
        fi
        case "$types" in *" firewall "*)
            check "$base: firewall: the container's address is let through ip filter's FORWARD (CNI-FORWARD)" \
                bash -c "ip netns exec $N nft list chain ip filter CNI-FORWARD | grep -q \"\$1\"" _ "$(json_get "$res" '.ips[0].address' | cut -d/ -f1)"
            ;;
        esac
        if [ "$types" = " loopback " ]; then
            check "$base: lo is up in the container" link_is_up "$C" lo
            check "$base: DEL" in_conf "$dir" cni_run "$N" del "$NET" "$C"
            check "$base: DEL again succeeds" in_conf "$dir" cni_run "$N" del "$NET" "$C"
        else
            check "$base: every address of the result is leased" result_has_leases "$res" "$NET" "$IPAM"
            for gw in $(jq -r '.plugins[] | select(.type == "bridge") | .ipam.ranges[][].gateway // empty' "$file"); do
                check "$base: the container reaches the gateway $gw" wait_until 5 ping_from "$C" "$gw"
            done
            del_and_release "$base" "$dir" "$N" "$C" "$IPAM"
            if [ -n "$cap" ]; then
                check "$base: bandwidth: no ifb and no tbf/ingress qdisc left" \
                    bash -c "! ip -n $N -o link show type ifb | grep -q . && ! tc -n $N qdisc show | grep -Eq 'tbf|ingress'"
            fi
            case "$types" in *" firewall "*)
                check "$base: firewall: no rule names the container after DEL" \
                    bash -c "! ip netns exec $N nft list ruleset | grep -q \"\$1\"" _ "$(json_get "$res" '.ips[0].address' | cut -d/ -f1)"
                ;;
            esac
        fi
        unset CAP_ARGS
        COVERED=$((COVERED + 1))
        ;;
    *)
        check "$base: this scenario knows how to exercise plugin types [$types]" false
        ;;
    esac
done

unset CAP_ARGS

# ---- vxlan: the host examples together on one underlay ------------------------------------------------------------
if [ "${#VXLAN_FILES[@]}" -gt 0 ]; then
    new_netns SW sw || exit 1
    ip -n "$SW" link add sw0 type bridge mcast_snooping 0 || exit 1
    ip -n "$SW" link set sw0 up
    VNIS=()
    for file in "${VXLAN_FILES[@]}"; do VNIS+=("$(jq -r '.plugins[] | select(.type == "vxlan") | .vni' "$file")"); done
    for v in $(printf '%s\n' "${VNIS[@]}" | sort -u); do host_dir_watch "/run/sharpcni/vxlan-$v.lock"; done
    host_dir_watch /run/sharpcni
    trap 'rc=$?; trap "" INT TERM; host_dir_restore; (exit $rc); _cnit_cleanup' EXIT
    VX_NODES=() VX_CTRS=() VX_DIRS=() VX_IPS=() VX_IPAMS=()
    j=0
    for file in "${VXLAN_FILES[@]}"; do
        j=$((j + 1))
        base="$(basename "$file")"
        prepare "$file" "$SCENARIO_TMP/vx$j" || continue
        dev="$(jq -r '.plugins[] | select(.type == "vxlan") | .underlayDevice' "$file")"
        local_ip="$(jq -r '.plugins[] | select(.type == "vxlan") | .localIP' "$file")"
        new_netns N "vxn$j" || exit 1
        new_netns C "vxc$j" || exit 1
        ip -n "$SW" link add "p$j" type veth peer name "$dev" netns "$N" || exit 1
        ip -n "$SW" link set "p$j" master sw0 up
        ip -n "$N" addr add "$local_ip/24" dev "$dev"
        ip -n "$N" link set "$dev" up
        check "$base: ADD (underlay $dev $local_ip)" in_conf "$SCENARIO_TMP/vx$j" cni_run "$N" add "$NET" "$C" || continue
        res="$LAST_OUTPUT"
        check "$base: every address of the result is leased" result_has_leases "$res" "$NET" "$IPAM"
        check "$base: CHECK" in_conf "$SCENARIO_TMP/vx$j" cni_run "$N" check "$NET" "$C"
        VX_NODES+=("$N") VX_CTRS+=("$C") VX_DIRS+=("$SCENARIO_TMP/vx$j") VX_IPAMS+=("$IPAM")
        VX_IPS+=("$(json_get "$res" '[.ips[].address | split("/")[0]] | join(" ")')")
        COVERED=$((COVERED + 1))
    done
    n=${#VX_CTRS[@]}
    for ((a = 0; a < n; a++)); do
        b=$(((a + 1) % n))
        [ "$a" != "$b" ] || continue
        for ip in ${VX_IPS[$b]}; do
            check "vxlan examples: container on node $((a + 1)) reaches $ip on node $((b + 1)) across the overlay" \
                wait_until 10 ping_from "${VX_CTRS[$a]}" "$ip"
        done
    done
    for ((a = 0; a < n; a++)); do
        del_and_release "vxlan example on node $((a + 1))" "${VX_DIRS[$a]}" "${VX_NODES[$a]}" "${VX_CTRS[$a]}" "${VX_IPAMS[$a]}"
    done
fi

# ---- cluster-ipam: a TLS etcd cluster on the example's endpoints, three nodes ------------------------------------------
CL_INDEX=0
for file in "${CLUSTER_FILES[@]}"; do
    base="$(basename "$file")"
    CL_INDEX=$((CL_INDEX + 1))
    if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null || ! command -v openssl >/dev/null; then
        skip "$base: not exercised: etcd, etcdctl or openssl not installed (apt-get install etcd-server etcd-client openssl)"
        NOT_BUILT=$((NOT_BUILT + 1))
        continue
    fi
    prepare "$file" "$SCENARIO_TMP/cl" || continue
    source "$INTEGRATION_DIR/etcd-cluster.sh"
    # The harness puts members at <prefix>.11-.13: the example's endpoints must be there.
    ETCD_SUBNET_PREFIX="$(jq -r '.plugins[].ipam.etcd.endpoints[0] // empty' "$file" | sed -E 's|https://([0-9]+\.[0-9]+\.[0-9]+)\.1[1-3]:2379|\1|')"
    want="$(jq -c '[.plugins[].ipam.etcd.endpoints // empty][0]' "$file")"
    etcd_cluster_start "$SCENARIO_TMP/etcd$CL_INDEX" "$RUN_ID" >/dev/null || { check "$base: etcd cluster starts" false; continue; }
    check "$base: the example's endpoints are the test cluster's ($want)" test "$want" = "$ETCD_ENDPOINTS_JSON"
    CL_NODES=() CL_CTRS=() CL_IPS=() CL_AGENTS=()
    overlay_vni="$(jq -r '.plugins[] | select(.type == "vxlan" and .cluster) | .vni' "$file")"
    underlay_dev="$(jq -r '.plugins[] | select(.type == "vxlan" and .cluster) | .underlayDevice // empty' "$file")"
    if [ -n "$overlay_vni" ]; then
        host_dir_watch /run/sharpcni "/run/sharpcni/vxlan-$overlay_vni.lock"
        trap 'rc=$?; trap "" INT TERM; for p in "${CL_AGENTS[@]}"; do kill "$p" 2>/dev/null; done; rm -f /run/sharpcni/vxlan-'"$overlay_vni"'-node*.peers; host_dir_restore; (exit $rc); _cnit_cleanup' EXIT
    fi
    for j in 1 2 3; do
        new_netns N "cl${CL_INDEX}n$j" || exit 1
        new_netns C "cl${CL_INDEX}c$j" || exit 1
        etcd_cluster_attach "$N" "$ETCD_SUBNET_PREFIX.10$j" || exit 1
        if [ -n "$underlay_dev" ]; then
            ip -n "$N" link set etcd0 down && ip -n "$N" link set etcd0 name "$underlay_dev" && ip -n "$N" link set "$underlay_dev" up || exit 1
        fi
        mkdir -p "$SCENARIO_TMP/cl$j"
        jq --arg ca "$ETCD_CA" --arg cert "$ETCD_CERT" --arg key "$ETCD_KEY" --arg node "node$j" --arg cache "$SCENARIO_TMP/cl$j/cache" \
            '(.plugins[] | select(.ipam.type == "cluster-ipam") | .ipam) |= (.etcd.caFile = $ca | .etcd.certFile = $cert | .etcd.keyFile = $key | .nodeName = $node | .cacheDir = $cache)
             | (.plugins[] | select(.cluster) | .cluster) |= (.etcd.caFile = $ca | .etcd.certFile = $cert | .etcd.keyFile = $key | .nodeName = $node)' \
            "$SCENARIO_TMP/cl/$base" >"$SCENARIO_TMP/cl$j/$base"
        if [ -n "$overlay_vni" ]; then
            ip netns exec "$N" "$CNI_BIN_DIR/sharpcni-agent" --conf-dir "$SCENARIO_TMP/cl$j" --names-dir "$SCENARIO_TMP/cl$j/names" 2>>"$SCENARIO_TMP/cl$j/agent.log" &
            CL_AGENTS+=("$!") _cnit_pids+=("$!")
        fi
        check "$base: ADD on node $j" in_conf "$SCENARIO_TMP/cl$j" cni_run "$N" add "$NET" "$C" || continue
        res="$LAST_OUTPUT"
        check "$base: CHECK on node $j" in_conf "$SCENARIO_TMP/cl$j" cni_run "$N" check "$NET" "$C"
        for gw in $(jq -r '.plugins[] | select(.type == "bridge" or .type == "vxlan") | .ipam.pools[].gateway // empty' "$file"); do
            check "$base: the container on node $j reaches the gateway $gw" wait_until 5 ping_from "$C" "$gw"
        done
        CL_NODES+=("$N") CL_CTRS+=("$C") CL_IPS+=("$(json_get "$res" '.ips[0].address')")
    done
    check "$base: three distinct addresses (${CL_IPS[*]})" test "$(printf '%s\n' "${CL_IPS[@]}" | sort -u | wc -l)" = 3
    check "$base: three nodes hold a block each" test "$(etcd_count /sharpcni/ipam/v1/claims/)" = 3
    if [ -n "$overlay_vni" ]; then
        check "$base: the three nodes' agents register their VTEPs" test "$(etcd_count "/sharpcni/vxlan/v1/vteps/$overlay_vni/")" = 3
        for ((a = 0; a < ${#CL_CTRS[@]}; a++)); do
            b=$(((a + 1) % ${#CL_CTRS[@]}))
            check "$base: the container on node $((a + 1)) reaches ${CL_IPS[$b]%/*} on node $((b + 1)) across the overlay" \
                wait_until 10 ping_from "${CL_CTRS[$a]}" "${CL_IPS[$b]%/*}"
        done
    fi
    for ((a = 0; a < ${#CL_NODES[@]}; a++)); do
        check "$base: DEL on node $((a + 1))" in_conf "$SCENARIO_TMP/cl$((a + 1))" cni_run "${CL_NODES[$a]}" del "$NET" "${CL_CTRS[$a]}"
        check "$base: DEL again on node $((a + 1))" in_conf "$SCENARIO_TMP/cl$((a + 1))" cni_run "${CL_NODES[$a]}" del "$NET" "${CL_CTRS[$a]}"
    done
    check "$base: no allocation left in etcd" test "$(etcd_count /sharpcni/ipam/v1/attachments/)" = 0
    COVERED=$((COVERED + 1))
    for p in "${CL_AGENTS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    CL_AGENTS=()
    [ -n "$overlay_vni" ] && rm -f /run/sharpcni/vxlan-"$overlay_vni"-node*.peers
    etcd_cluster_stop
done

total="$(find "$REPO_ROOT/conf" -maxdepth 1 -name '*.conflist' | wc -l)"
if [ "$NOT_BUILT" -gt 0 ]; then
    skip "$NOT_BUILT of $total examples not exercised: their plugins are not built"
else
    check "every example in conf/ was exercised ($COVERED of $total)" test "$COVERED" = "$total"
fi
finish
