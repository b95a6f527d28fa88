#!/usr/bin/env bash
# The node agent's resolver under load with CONTAINERS names on one network, against dnsmasq (what podman's dnsname
# plugin ran, one per network) serving the same names from an addn-hosts file, in the same run.
#
#   bench/resolver.sh [CONTAINERS] [SECONDS] [CONCURRENCY] [ROUNDS]     (default 1000 5 16 3)
#
# A node namespace holds both resolvers on one veth (ours on 10.66.0.1, dnsmasq on 10.66.0.254) and an upstream
# dnsmasq on 127.0.0.53 that answers every name (both forward to it); a client namespace on the veth's other end
# (10.66.0.2, inside the network's subnet, so our resolver answers it) runs bench/dnsload: CONCURRENCY closed-loop
# UDP workers for SECONDS, A queries. Two loads: local names (ctr1 … ctrN, in turn) and forwarded names
# (hostN.example.test). The names get in through the dnsname plugin itself (CONTAINERS ADD calls). Rounds alternate
# which resolver goes first; the median round is printed. dnsmasq runs with its default cache (150 names), as
# dnsname ran it, so its forwarded answers are mostly cache hits; ours forwards every query (no cache, TTL 2 s).
# Writes RESULTS (default bench/results/resolver.tsv). Needs root; removes its namespaces and temp dir on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000}
SECONDS_PER_RUN=${2:-5}
CONC=${3:-16}
ROUNDS=${4:-3}
BIN=${OURS_BIN_DIR:-$ROOT/bin}
RESULTS=${RESULTS:-$ROOT/bench/results/resolver.tsv}
for p in dnsname sharpcni-agent; do [ -x "$BIN/$p" ] || { echo "no $BIN/$p: run ./build.sh" >&2; exit 1; }; done
command -v dnsmasq >/dev/null || { echo "dnsmasq is needed (apt-get install dnsmasq-base)" >&2; exit 1; }

TAG=$$
NODE=cnib-rnode-$TAG CLIENT=cnib-rcli-$TAG
WORK=$(mktemp -d /tmp/cnib-resolver.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NODE" 2>/dev/null || true
    ip netns del "$CLIENT" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT/bench/dnsload" && GOFLAGS=-mod=mod go build -o "$WORK/dnsload" .)
ip netns add "$NODE"
ip netns add "$CLIENT"
ip -n "$NODE" link set lo up
ip -n "$CLIENT" link set lo up
ip -n "$NODE" link add rv0 type veth peer name eth0 netns "$CLIENT"
ip -n "$NODE" addr add 10.66.0.1/16 dev rv0
ip -n "$NODE" addr add 10.66.0.254/16 dev rv0
ip -n "$NODE" addr add 127.0.0.53/8 dev lo
ip -n "$NODE" link set rv0 up
ip -n "$CLIENT" addr add 10.66.0.2/16 dev eth0
ip -n "$CLIENT" link set eth0 up

# The names, through the plugin: container i has 10.66.(i/250+1).(i%250+1).
mkdir -p "$WORK/names"
: >"$WORK/hosts"
: >"$WORK/local.txt"
: >"$WORK/forwarded.txt"
t0=$EPOCHREALTIME
for ((i = 1; i <= N; i++)); do
    ip="10.66.$((i / 250 + 1)).$((i % 250 + 1))"
    printf '{"cniVersion":"1.0.0","name":"bench","type":"dnsname","dataDir":"%s","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"%s/16","gateway":"10.66.0.1"}]}}' \
        "$WORK/names" "$ip" |
        CNI_COMMAND=ADD CNI_CONTAINERID="c$i" CNI_NETNS=/var/run/netns/none CNI_IFNAME=eth0 CNI_ARGS="K8S_POD_NAME=ctr$i" \
            CNI_PATH="$BIN" "$BIN/dnsname" >/dev/null
    echo "$ip ctr$i ctr$i.dns.podman" >>"$WORK/hosts"
    echo "ctr$i" >>"$WORK/local.txt"
    echo "host$i.example.test" >>"$WORK/forwarded.txt"
done
add_ms=$(echo "($EPOCHREALTIME - $t0) * 1000 / $N" | bc -l)
printf 'nameserver 127.0.0.53\n' >"$WORK/resolv.conf"
mkdir -p "$WORK/empty"

ip netns exec "$NODE" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.53 \
    --port=53 --address=/#/192.0.2.1 --pid-file= --user=root 2>"$WORK/upstream.log" &
PIDS+=($!)
ip netns exec "$NODE" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=10.66.0.254 \
    --port=53 --addn-hosts="$WORK/hosts" --server=127.0.0.53 --pid-file= --user=root 2>"$WORK/dnsmasq.log" &
PIDS+=($!)
ip netns exec "$NODE" "$BIN/sharpcni-agent" --conf-dir "$WORK/empty" --names-dir "$WORK/names" --resolv-conf "$WORK/resolv.conf" \
    2>"$WORK/agent.log" &
PIDS+=($!)
for ((i = 0; i < 50; i++)); do
    ip netns exec "$NODE" ss -lnuH | grep -qF " 10.66.0.1:53 " && break
    sleep 0.1
done

load() { # SERVER NAMES-FILE
    ip netns exec "$CLIENT" "$WORK/dnsload" -s "$1:53" -names "$2" -c "$CONC" -d "${SECONDS_PER_RUN}s"
}
mkdir -p "$(dirname "$RESULTS")"
printf 'round\tresolver\tload\tqueries\terrors\tqps\tp50_ms\tp99_ms\n' >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
    order="ours dnsmasq"
    [ $((r % 2)) -eq 0 ] && order="dnsmasq ours"
    for who in $order; do
        server=10.66.0.1
        [ "$who" = dnsmasq ] && server=10.66.0.254
        for kind in local forwarded; do
            read -r _ q _ e _ qps _ p50 _ p99 < <(load "$server" "$WORK/$kind.txt")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$who" "$kind" "$q" "$e" "$qps" "$p50" "$p99" >>"$RESULTS"
        done
    done
done

echo "resolver benchmark: $N names on one network, $CONC workers, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds (median round)"
printf 'dnsname ADD (the plugin writing the names file): %.2f ms per call\n' "$add_ms"
printf '%-9s %-10s %10s %8s %9s %9s\n' resolver load qps errors p50_ms p99_ms
for who in ours dnsmasq; do
    for kind in local forwarded; do
        awk -F'\t' -v w="$who" -v k="$kind" '$2 == w && $3 == k { print $6, $5, $7, $8 }' "$RESULTS" | sort -n |
            awk -v w="$who" -v k="$kind" '{ a[NR] = $0 } END { split(a[int((NR + 1) / 2)], m, " "); printf "%-9s %-10s %10s %8s %9s %9s\n", w, k, m[1], m[2], m[3], m[4] }'
    done
done
