# shellcheck shell=bash
# A throwaway 3-member etcd cluster with TLS, for tests and benchmarks. Every member is an etcd process in its
# own network namespace, joined to a switch namespace (a bridge); clients join the same switch with
# etcd_cluster_attach. Certificates (a CA, one server certificate per member, a client certificate, and a
# second CA with its own client certificate that etcd must refuse) are made with openssl. Processes are
# started and stopped by PID; data, certificates and logs live in one state directory.
#
# Sourced (by a scenario; with integration/lib.sh loaded first, the namespaces are registered for its cleanup):
#   source integration/etcd-cluster.sh
#   etcd_cluster_start DIR [TAG]        # 3 members, waits for a healthy cluster; sets ETCD_* below
#   etcd_cluster_attach NS ADDR         # plugs a namespace into the switch (ADDR like 10.79.0.101)
#   etcd_member_kill N / etcd_member_start N    # SIGKILL member N (1..3) / start it again on its data
#   etcd_ctl get --prefix /x            # etcdctl against the cluster (run inside a live member's namespace)
#   etcd_cluster_stop                   # kills the members, deletes the namespaces (the dir is the caller's)
# As a command (a C# fixture, bench/):
#   bash integration/etcd-cluster.sh start DIR [TAG]   # prints the variables as KEY=VALUE lines, exits
#   bash integration/etcd-cluster.sh stop DIR
#
# After start: ETCD_DIR, ETCD_ENDPOINTS (comma separated https URLs), ETCD_ENDPOINTS_JSON (a JSON list),
# ETCD_CA, ETCD_CERT, ETCD_KEY (client), ETCD_ROGUE_CA, ETCD_ROGUE_CERT, ETCD_ROGUE_KEY (not trusted by etcd),
# ETCD_NOCN_CERT, ETCD_NOCN_KEY (client certificate without a CommonName: what etcd's JSON gateway accepts once
# authentication is on), ETCD_SWITCH (switch namespace), ETCD_MEMBER_NS=(3 member namespaces).

ETCD_SUBNET_PREFIX="${ETCD_SUBNET_PREFIX:-10.79.0}"

_etcd_log() { echo "etcd-cluster: $*" >&2; }

_etcd_member_ip() { echo "$ETCD_SUBNET_PREFIX.1$1"; }

# _etcd_certs DIR : CA, member server certificates, client certificates (EC P-256, 1 day).
_etcd_certs() {
    local d="$1/pki" i ip
    mkdir -p "$d"
    (
        set -e
        cd "$d"
        _key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
        _ca() { _key "$1.key"; openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 1 -out "$1.crt" 2>/dev/null; }
        # _sign NAME CA SUBJECT EXT-LINES
        _sign() {
            _key "$1.key"
            openssl req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr" 2>/dev/null
            printf '%b\n' "$4" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 1 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
            rm -f "$1.csr" "$1.ext"
        }
        _ca ca "sharpcni-test-etcd-ca"
        _ca rogue-ca "rogue-ca"
        for i in 1 2 3; do
            ip=$(_etcd_member_ip "$i")
            _sign "member$i" ca "etcd$i" "subjectAltName=IP:$ip,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment"
        done
        _sign client ca "sharpcni-client" "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature"
        _sign rogue-client rogue-ca "sharpcni-client" "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature"
        # Without a CommonName: etcd's JSON gateway refuses certificates with a CN once authentication is on.
        _key client-nocn.key
        openssl req -new -key client-nocn.key -subj "/O=sharpcni" -out client-nocn.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n' >client-nocn.ext
        openssl x509 -req -in client-nocn.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile client-nocn.ext -out client-nocn.crt 2>/dev/null
        rm -f client-nocn.csr client-nocn.ext
        chmod 600 ./*.key
    )
}

_etcd_set_vars() {
    local d="$1" tag="$2" i eps="" json=""
    ETCD_DIR="$d"
    ETCD_TAG="$tag"
    ETCD_SWITCH="etcd-sw-$tag"
    ETCD_MEMBER_NS=("etcd-m1-$tag" "etcd-m2-$tag" "etcd-m3-$tag")
    for i in 1 2 3; do
        eps+="${eps:+,}https://$(_etcd_member_ip "$i"):2379"
        json+="${json:+,}\"https://$(_etcd_member_ip "$i"):2379\""
    done
    ETCD_ENDPOINTS="$eps"
    ETCD_ENDPOINTS_JSON="[$json]"
    ETCD_CA="$d/pki/ca.crt"; ETCD_CERT="$d/pki/client.crt"; ETCD_KEY="$d/pki/client.key"
    ETCD_NOCN_CERT="$d/pki/client-nocn.crt"; ETCD_NOCN_KEY="$d/pki/client-nocn.key"
    ETCD_ROGUE_CA="$d/pki/rogue-ca.crt"; ETCD_ROGUE_CERT="$d/pki/rogue-client.crt"; ETCD_ROGUE_KEY="$d/pki/rogue-client.key"
}

# _etcd_netns NAME : creates a namespace with lo up, registered with lib.sh's cleanup when it is loaded.
_etcd_netns() {
    ip netns add "$1" || return 1
    echo "$1" >>"$ETCD_DIR/netns"
    if declare -F new_netns >/dev/null; then _cnit_netns+=("$1"); fi
    ip -n "$1" link set lo up
}

# etcd_cluster_attach NS ADDR : a veth from the switch into NS, named etcd0 there, with ADDR/24.
etcd_cluster_attach() {
    local ns="$1" addr="$2" port
    port="p$(printf '%s' "$ns" | md5sum | cut -c1-10)"
    ip -n "$ETCD_SWITCH" link add "$port" type veth peer name etcd0 netns "$ns" || return 1
    ip -n "$ETCD_SWITCH" link set "$port" master br0 up
    ip -n "$ns" addr add "$addr/24" dev etcd0
    ip -n "$ns" link set etcd0 up
}

# etcd_member_start N : starts member N (1..3) in its namespace; its PID goes to DIR/member-N.pid.
etcd_member_start() {
    local i="$1" ip cluster="" j
    ip=$(_etcd_member_ip "$i")
    for j in 1 2 3; do cluster+="${cluster:+,}etcd$j=https://$(_etcd_member_ip "$j"):2380"; done
    mkdir -p "$ETCD_DIR/member$i"
    ip netns exec "${ETCD_MEMBER_NS[$((i - 1))]}" etcd --name "etcd$i" --data-dir "$ETCD_DIR/member$i/data" \
        --listen-client-urls "https://$ip:2379" --advertise-client-urls "https://$ip:2379" \
        --listen-peer-urls "https://$ip:2380" --initial-advertise-peer-urls "https://$ip:2380" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "sharpcni-$ETCD_TAG" \
        --cert-file "$ETCD_DIR/pki/member$i.crt" --key-file "$ETCD_DIR/pki/member$i.key" \
        --client-cert-auth --trusted-ca-file "$ETCD_DIR/pki/ca.crt" \
        --peer-cert-file "$ETCD_DIR/pki/member$i.crt" --peer-key-file "$ETCD_DIR/pki/member$i.key" \
        --peer-client-cert-auth --peer-trusted-ca-file "$ETCD_DIR/pki/ca.crt" \
        --snapshot-count 10000 --quota-backend-bytes $((256 * 1024 * 1024)) \
        --logger zap --log-outputs "$ETCD_DIR/member$i/etcd.log" --log-level warn \
        </dev/null >>"$ETCD_DIR/member$i/stdout.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$ETCD_DIR/member-$i.pid"
    if declare -F new_netns >/dev/null; then _cnit_pids+=("$pid"); fi
    # Out of the job table: a later "wait" does not wait for it and its kill prints no job notice (bash still reaps it).
    disown "$pid" 2>/dev/null || true
}

# etcd_member_kill N [SIGNAL] : stops member N by its PID (SIGKILL by default) and waits for it to go.
etcd_member_kill() {
    local i="$1" sig="${2:-KILL}" pid n
    pid=$(cat "$ETCD_DIR/member-$i.pid" 2>/dev/null) || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((n = 0; n < 100; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$ETCD_DIR/member-$i.pid"
}

etcd_member_running() {
    local pid
    pid=$(cat "$ETCD_DIR/member-$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# etcd_ctl ARGS... : etcdctl (v3) against every endpoint, from the namespace of a running member.
etcd_ctl() {
    local i ns=""
    for i in 1 2 3; do
        if etcd_member_running "$i"; then ns="${ETCD_MEMBER_NS[$((i - 1))]}"; break; fi
    done
    [ -n "$ns" ] || { _etcd_log "no member running"; return 1; }
    ip netns exec "$ns" env ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" \
        --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" --command-timeout 5s "$@"
}

# etcd_count PREFIX : how many keys start with PREFIX.
etcd_count() {
    local out
    out=$(etcd_ctl get --prefix "$1" --keys-only) || return 1
    grep -c . <<<"$out" || true
}

# etcd_cluster_healthy : a write through the cluster succeeds (needs quorum).
etcd_cluster_healthy() {
    etcd_ctl put /etcd-cluster-sh/health ok >/dev/null 2>&1
}

# etcd_cluster_start DIR [TAG] : certificates, switch, three members; waits up to 60 s for quorum.
etcd_cluster_start() {
    local d="$1" tag="${2:-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}" i ns n
    command -v etcd >/dev/null && command -v etcdctl >/dev/null && command -v openssl >/dev/null ||
        { _etcd_log "etcd, etcdctl and openssl are required (apt-get install etcd-server etcd-client openssl)"; return 1; }
    mkdir -p "$d"
    d=$(cd "$d" && pwd)
    _etcd_set_vars "$d" "$tag"
    : >"$d/netns"
    _etcd_certs "$d" || { _etcd_log "making certificates failed"; return 1; }
    _etcd_netns "$ETCD_SWITCH" || return 1
    ip -n "$ETCD_SWITCH" link add br0 type bridge || return 1
    ip -n "$ETCD_SWITCH" link set br0 up
    for i in 1 2 3; do
        ns="${ETCD_MEMBER_NS[$((i - 1))]}"
        _etcd_netns "$ns" || return 1
        etcd_cluster_attach "$ns" "$(_etcd_member_ip "$i")" || return 1
    done
    for i in 1 2 3; do etcd_member_start "$i"; done
    for ((n = 0; n < 120; n++)); do
        if etcd_cluster_healthy; then return 0; fi
        sleep 0.5
    done
    _etcd_log "cluster did not become healthy; member logs:"
    tail -n 5 "$d"/member*/etcd.log >&2
    return 1
}

# etcd_cluster_wait_healthy [SECONDS] : after restarting members.
etcd_cluster_wait_healthy() {
    local limit="${1:-30}" n
    for ((n = 0; n < limit * 2; n++)); do
        if etcd_cluster_healthy; then return 0; fi
        sleep 0.5
    done
    return 1
}

# etcd_cluster_stop : kills the members by PID and deletes the namespaces this cluster made.
etcd_cluster_stop() {
    local i ns
    [ -n "${ETCD_DIR:-}" ] || return 0
    for i in 1 2 3; do etcd_member_kill "$i" TERM; done
    if [ -f "$ETCD_DIR/netns" ]; then
        while read -r ns; do
            [ -n "$ns" ] && ip netns delete "$ns" 2>/dev/null
        done <"$ETCD_DIR/netns"
        : >"$ETCD_DIR/netns"
    fi
}

# Command mode.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    case "${1:-}" in
    start)
        [ $# -ge 2 ] || { echo "usage: $0 start DIR [TAG]" >&2; exit 2; }
        etcd_cluster_start "$2" "${3:-}" || { etcd_cluster_stop; exit 1; }
        printf 'ETCD_DIR=%s\nETCD_ENDPOINTS=%s\nETCD_CA=%s\nETCD_CERT=%s\nETCD_KEY=%s\nETCD_SWITCH=%s\n' \
            "$ETCD_DIR" "$ETCD_ENDPOINTS" "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY" "$ETCD_SWITCH"
        echo "$ETCD_TAG" >"$ETCD_DIR/tag"
        ;;
    stop)
        [ $# -ge 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
        d=$(cd "$2" && pwd) || exit 1
        _etcd_set_vars "$d" "$(cat "$d/tag" 2>/dev/null)"
        etcd_cluster_stop
        ;;
    *) echo "usage: $0 start DIR [TAG] | stop DIR" >&2; exit 2 ;;
    esac
fi
