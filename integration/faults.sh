# shellcheck shell=bash
# Fault injection at the kernel boundary, for integration/scenarios/faults*.sh. Source after lib.sh.
#
# A plugin call is run under strace with one state-changing system call made to fail (error=EIO) or to kill the
# process (signal=KILL) at its N-th invocation, for N = 1, 2, ... until the call runs without reaching an N-th
# invocation. After each faulted call the node and container namespaces are compared with a snapshot taken before:
# links, addresses, routes, permanent neighbours, static FDB entries, qdiscs and the filters under ingress qdiscs,
# the nftables ruleset (elements included), the IPv4/IPv6 conf and neigh sysctls of every interface (what tuning
# writes in the container, what bridge, ptp and portmap write on the node), and every file under the IPAM
# directory (host-local's reservations, tuning's saved values and their temporary files, cluster-ipam's cacheDir
# apart from its block hint) and, with FAULT_ETCD_PREFIX set, cluster-ipam's records in etcd.
#
#   fault_syscalls [CASE]              the system calls faulted, one at a time (FAULT_SYSCALLS, else the case's
#                                      FAULT_SYSCALLS_<case> list, else the default)
#   etcd_state PREFIX                  cluster-ipam's keys under PREFIX, normalised, on stdout (needs etcd-cluster.sh)
#   node_snapshot NODE IPAM_DIR [CTR]  normalised state, on stdout
#   plugin_call NODE PLUGIN CMD ID IFNAME NETNS CONFIG [STRACE_ARGS...]
#                                      runs $CNI_BIN_DIR/PLUGIN inside NODE; output in $CALL_OUT, exit in $CALL_RC,
#                                      strace's log in $CALL_TRACE
#   call_injected                      did the last plugin_call reach the injection point?
#   call_injected_stdout               was the injected call the write of the result to stdout?
#   call_failed_fast_in_namespace      did the call stop itself, as if killed, after a failed setns back?

FAULT_SYSCALLS_DEFAULT="socket sendto sendmsg setns write link linkat rename renameat2 fsync fdatasync mkdir unlink unlinkat ftruncate"
FAULT_MAX_N="${FAULT_MAX_N:-400}"

# cluster-ipam's state is in etcd: what changes it is its connection (socket, connect) and what it sends there
# (sendto: OpenSSL's send of every TLS record, the handshake's and the requests', among them the transaction that
# commits); recvfrom is where a kill lands right after a request was sent (the transaction committed or not) and
# where an error loses the answer of a committed transaction (the client then tries the next endpoint, where the
# compare fails and the failure branch brings the record back). Its block hint in cacheDir is written through a
# temporary file (mkdir, ftruncate, pwrite64, rename; unlink when that fails), and the result goes to stdout
# (write). In-process under bridge, the interface plugin's own calls come on top (netlink sendto and recvfrom, setns,
# the sysctl writes); neither sends anything with sendmsg.
FAULT_SYSCALLS_cluster_ipam="socket connect sendto recvfrom write pwrite64 ftruncate rename mkdir unlink"
FAULT_SYSCALLS_bridge_cluster_ipam="socket connect sendto recvfrom setns write pwrite64 ftruncate rename mkdir unlink"

fault_syscalls() {
    local v="FAULT_SYSCALLS_${1//-/_}"
    if [ -n "${FAULT_SYSCALLS:-}" ]; then echo "$FAULT_SYSCALLS"; elif [ -n "${1:-}" ] && [ -n "${!v:-}" ]; then echo "${!v}"; else echo "$FAULT_SYSCALLS_DEFAULT"; fi
}

# cluster-ipam's records under PREFIX (etcd_ctl from integration/etcd-cluster.sh), one key and value a line in key
# order: the claims (which node holds a block), the blocks (cidr, pool, node, the allocations by offset and
# attachment, emptySince) and the attachment records. A block's "next" is left out: the offset where the next search
# starts moves with every allocation, also one released again (as host-local's last_reserved_ip). Mod revisions are
# not printed. A failed read prints a line that never compares equal.
etcd_state() {
    local out
    if ! out=$(etcd_ctl get --prefix "$1" -w json 2>&1); then
        echo "etcd read failed ($RANDOM$RANDOM): $out"
        return 0
    fi
    jq -r '.kvs[]? | (.key | @base64d) as $k | (.value | @base64d) as $v
           | $k + " " + (if ($k | test("/blocks/")) then ($v | fromjson | del(.next) | tojson) else $v end)' <<<"$out" ||
        echo "etcd answer unreadable ($RANDOM$RANDOM)"
}

# The state of one namespace as lines that do not change by themselves: interface indexes, peer indexes, counters,
# timers, link states and kernel-assigned link-local addresses are left out.
_ns_state() {
    local ns="$1"
    echo "## links $ns"
    ip -n "$ns" -o link show 2>/dev/null | sed -E 's/^[0-9]+: //; s/@(if[0-9]+|NONE)//; s/ link-netns(id)? [^ ]+//' |
        awk '{ name=$1; mtu=""; master=""; mac="";
               for (i = 2; i <= NF; i++) { if ($i == "mtu") mtu=$(i+1); if ($i == "master") master=$(i+1); if ($i ~ /^link\//) mac=$i " " $(i+1) }
               print name, "mtu", mtu, "master", master, mac }' | sort
    echo "## addresses $ns"
    ip -n "$ns" -o addr show 2>/dev/null | awk '$4 !~ /^fe80:/ { print $2, $3, $4 }' | sort
    echo "## routes $ns"
    { ip -n "$ns" -4 route show table all; ip -n "$ns" -6 route show table all; } 2>/dev/null |
        grep -v -E '^(local|broadcast|multicast|anycast) |fe80::|ff00::' | sed -E 's/ expires [0-9]+sec//; s/ linkdown//; s/ pref medium//' | sort
    echo "## neighbours $ns"
    ip -n "$ns" neigh show nud permanent 2>/dev/null | sort
    echo "## fdb $ns"
    # Entries a plugin programs are permanent or static (a vxlan peer's "dst"); learned ones age and go stale.
    ip netns exec "$ns" bridge fdb show 2>/dev/null | grep -E ' (permanent|static)' | grep -v -E '^(33:33|01:00:5e):' | sort
    echo "## qdiscs $ns"
    # Only qdiscs someone added are listed (a device's default noqueue/pfifo_fast is not); refcnt moves by itself.
    ip netns exec "$ns" tc qdisc show 2>/dev/null | sed -E 's/ refcnt [0-9]+//' | sort
    echo "## ingress filters $ns"
    # The filters under each ingress qdisc (bandwidth's u32 redirect to its IFB); action indexes and statistics
    # (installed/used/refcnt/bind) change by themselves, the redirect target is kept.
    local dev
    for dev in $(ip netns exec "$ns" tc qdisc show 2>/dev/null | awk '$2 == "ingress" { print $5 }' | sort); do
        echo "# $dev"
        ip netns exec "$ns" tc filter show dev "$dev" ingress 2>/dev/null |
            grep -v -E '^\s*(index|installed|used|Action statistics|Sent|backlog|ref |$)' |
            sed -E 's/ index [0-9]+ ref [0-9]+ bind [0-9]+//; s/ (fh|key ht) [0-9a-f:]+//g; s/ bkt [0-9]+//' 
    done
    echo "## sysctls $ns"
    # Every interface's and the namespace-wide IPv4/IPv6 and neighbour settings: what tuning writes in the
    # container (any net.* key), what bridge, ptp and portmap write on the node (forwarding, route_localnet,
    # accept_ra) and what the interface plugins set on the container's interface.
    ip netns exec "$ns" sysctl net.ipv4.conf net.ipv6.conf net.ipv4.neigh net.ipv6.neigh 2>/dev/null | sort
}

node_snapshot() {
    local node="$1" ipam="$2" ctr="${3:-}"
    _ns_state "$node"
    echo "## nft $node"
    ip netns exec "$node" nft list ruleset 2>/dev/null | sed -E 's/ expires [0-9dhms.]+//g; s/counter packets [0-9]+ bytes [0-9]+/counter/g'
    echo "## sysctl $node"
    ip netns exec "$node" sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.ipv6.conf.all.forwarding 2>/dev/null
    echo "## ipam"
    # last_reserved_ip.* is an allocation hint that moves with every reservation, also a released one; .owners/ is
    # our owner index, a hint checked against the reservation files (its buckets are made on first use).
    # cluster-ipam's block hint (cluster-ipam-cache/<node>-<hash>.json: key, value and mod revision of the node's
    # blocks) is rewritten by every commit and never trusted: every block a commit changes is compared at its hinted
    # revision, so a stale or missing hint costs a read, nothing else. Its temporary files are compared.
    if [ -d "$ipam" ]; then
        find "$ipam" -type f ! -name 'last_reserved_ip*' ! -name lock ! -path '*/.owners/*' ! -path '*/cluster-ipam-cache/*.json' \
            -printf '%P\n' | LC_ALL=C sort | while read -r f; do
            printf '%s: %s\n' "$f" "$(tr '\r\n' '  ' <"$ipam/$f")"
        done
    fi
    if [ -n "${FAULT_ETCD_PREFIX:-}" ]; then
        echo "## etcd $FAULT_ETCD_PREFIX"
        etcd_state "$FAULT_ETCD_PREFIX"
    fi
    if [ -n "$ctr" ]; then _ns_state "$ctr"; fi
}

CALL_OUT="" CALL_RC=0 CALL_TRACE=""

plugin_call() {
    local node="$1" plugin="$2" cmd="$3" id="$4" ifname="$5" netns="$6" config="$7"
    shift 7
    CALL_TRACE="$SCENARIO_TMP/trace.$$"
    CALL_RC=0
    CALL_OUT="$(printf '%s' "$config" | timeout -k 5 30 nsenter --net="$(netns_path "$node")" \
        strace -f -qq -o "$CALL_TRACE" "$@" \
        env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_IFNAME="$ifname" CNI_NETNS="$netns" CNI_PATH="$CNI_BIN_DIR" \
        CNI_ARGS="$(plugin_args "$plugin")" \
        "$CNI_BIN_DIR/$plugin" 2>"$CALL_TRACE.err")" || CALL_RC=$?
}

# The CNI_ARGS a plugin's calls get: CALL_ARGS_<plugin> (dnsname needs the container's name in K8S_POD_NAME).
plugin_args() { local v="CALL_ARGS_${1//-/_}"; printf '%s' "${!v:-}"; }

call_injected() { grep -q -E '\(INJECTED|\+\+\+ killed by SIGKILL' "$CALL_TRACE" 2>/dev/null; }

# Did the last call stop itself because a thread could not return from a namespace it entered (NetNs.Run's
# Environment.FailFast after a failed setns back)? A thread left in the container's namespace must not touch the
# host, so the process ends there without unwinding, as if killed: no rollback ran, the runtime's DEL is the remedy.
# Any other abort (an unhandled exception, a crash) is not this and stays a failure.
call_failed_fast_in_namespace() {
    [ "$CALL_RC" = 134 ] && grep -q 'failed to switch back to the original network namespace' "$CALL_TRACE.err" 2>/dev/null
}

call_injected_stdout() { grep -q -E '^[0-9]+ +write\(1, .*\(INJECTED' "$CALL_TRACE" 2>/dev/null; }

# strace arguments that fault SYSCALL at its N-th invocation: "error" (EIO) or "kill" (SIGKILL).
fault_args() {
    local how="$1" syscall="$2" n="$3"
    if [ "$how" = kill ]; then
        echo "-e trace=$syscall -e inject=$syscall:signal=KILL:when=$n"
    else
        echo "-e trace=$syscall -e inject=$syscall:error=EIO:when=$n"
    fi
}
