#!/usr/bin/env bash
# vxlan cluster mode at scale: N hosts (namespaces) on one switch (the etcd test cluster's), each with its own
# sharpcni-agent and one container (vxlan in cluster mode + cluster-ipam, no peers). Hosts join one after another;
# for each: T0 = its registration is in etcd (agent started), then its container's ADD, then the time until every
# host's flood list holds every other host (the control plane's work done) and until its container and the first
# host's container reach each other (one ping each way, 1 s timeout, retried). Prints one line per host and a summary.
#   bench/vxlan-cluster-scale.sh [N]        (default 20; needs root, etcd, etcdctl, openssl, jq; ./build.sh first)
#   MODE=routed bench/vxlan-cluster-scale.sh [N]   the routed mode: "complete" is every host holding a route via
#                                           every other host (a route exists once that host's block is registered,
#                                           by its container's ADD, so this time includes the ADD)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-20}
BIN=${CNI_BIN_DIR:-$ROOT/bin}
for p in vxlan cluster-ipam sharpcni-agent; do [ -x "$BIN/$p" ] || { echo "no $BIN/$p (run ./build.sh)" >&2; exit 1; }; done
[ -x "$ROOT/integration/cnitool/cnitool" ] || bash "$ROOT/integration/cnitool/build.sh" >&2
WORK=$(mktemp -d "${WORK_PARENT:-/tmp}/cnib-vxscale.XXXXXX")
source "$ROOT/integration/etcd-cluster.sh"
TAG=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
VNI=$((0x$TAG % 1000000 + 3000))
TTL=10
MODE=${MODE:-l2}
case "$MODE" in l2) GW=false ;; routed) GW=true ;; *) echo "MODE must be l2 or routed" >&2; exit 2 ;; esac
PIDS=() NSS=()
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for ns in "${NSS[@]}"; do ip netns delete "$ns" 2>/dev/null; done
  etcd_cluster_stop
  rm -f /run/sharpcni/vxlan-"$VNI".lock /run/sharpcni/vxlan-"$VNI"-bhost*.peers
  rm -rf "$WORK"
}
trap cleanup EXIT
etcd_cluster_start "$WORK/etcd" "$TAG" >/dev/null || exit 1
mkdir -p "$WORK/plugins" "$WORK/net.d" "$WORK/cache"
cp "$BIN/vxlan" "$BIN/cluster-ipam" "$WORK/plugins/"
ms() { echo $(($(date +%s%N) / 1000000)); }
ul() { echo "$ETCD_SUBNET_PREFIX.$((100 + $1))"; }
if [ "$MODE" = routed ]; then
  flood() { ip -n "vxb-h$1-$TAG" -4 route show dev "vxlan$VNI" 2>/dev/null | awk '$2 == "via" {print $3}' | sort -u | tr '\n' ' '; }
else
  flood() { bridge -n "vxb-h$1-$TAG" fdb show dev "vxlan$VNI" 2>/dev/null | awk '/^00:00:00:00:00:00/ {print $3}' | sort | tr '\n' ' '; }
fi
want_for() { # host k of n: every other host's underlay, sorted as flood() prints
  local k=$1 n=$2 i
  for ((i = 1; i <= n; i++)); do [ "$i" = "$k" ] || ul "$i"; done | sort | tr '\n' ' '
}
complete() { # n : every host's flood list holds every other host
  local n=$1 k
  for ((k = 1; k <= n; k++)); do [ "$(flood "$k")" = "$(want_for "$k" "$n")" ] || return 1; done
}
ping_pair() { ip netns exec "vxb-c$1-$TAG" ping -c1 -W1 "${IP[$2]}" >/dev/null 2>&1 && ip netns exec "vxb-c$2-$TAG" ping -c1 -W1 "${IP[$1]}" >/dev/null 2>&1; }
declare -A IP=()
printf '%-5s %10s %10s %12s %12s\n' host reg_ms add_ms flood_ms ping_ms
RES=()
for ((k = 1; k <= N; k++)); do
  h="vxb-h$k-$TAG" c="vxb-c$k-$TAG"
  ip netns add "$h"; NSS+=("$h"); ip -n "$h" link set lo up
  ip netns add "$c"; NSS+=("$c")
  echo "$h" >>"$ETCD_DIR/netns"
  etcd_cluster_attach "$h" "$(ul "$k")"
  jq -n --argjson vni "$VNI" --arg node "bhost$k" --arg local "$(ul "$k")" --argjson eps "$ETCD_ENDPOINTS_JSON" \
    --arg ca "$ETCD_CA" --arg cert "$ETCD_CERT" --arg key "$ETCD_KEY" --argjson ttl "$TTL" --arg k "$k" --arg mode "$MODE" --argjson gw "$GW" '
    {endpoints: $eps, caFile: $ca, certFile: $cert, keyFile: $key} as $etcd |
    {cniVersion: "1.1.0", name: "vxb\($k)", plugins: [{type: "vxlan", vni: $vni, underlayDevice: "etcd0", localIP: $local,
      isGateway: $gw, cluster: {etcd: $etcd, nodeName: $node, ttlSeconds: $ttl, mode: $mode},
      ipam: {type: "cluster-ipam", etcd: $etcd, nodeName: $node, pools: [{subnet: "10.246.0.0/16", blockSize: 26}]}}]}' \
    >"$WORK/net.d/50-vxb$k.conflist"
  mkdir -p "$WORK/conf-$k"; cp "$WORK/net.d/50-vxb$k.conflist" "$WORK/conf-$k/"
  t_start=$(ms)
  ip netns exec "$h" "$BIN/sharpcni-agent" --conf-dir "$WORK/conf-$k" --names-dir "$WORK/names-$k" 2>>"$WORK/agent-$k.log" &
  PIDS+=($!)
  for ((i = 0; i < 200; i++)); do
    etcd_ctl get "/sharpcni/vxlan/v1/vteps/$VNI/bhost$k" --keys-only 2>/dev/null | grep -q . && break
    sleep 0.05
  done
  t_reg=$(ms)
  out=$(ip netns exec "$h" env NETCONFPATH="$WORK/net.d" CNI_PATH="$WORK/plugins" CNI_CACHE_DIR="$WORK/cache" CNI_CONTAINERID="b$k" \
    "$ROOT/integration/cnitool/cnitool" add "vxb$k" "/var/run/netns/$c") || { echo "ADD on host $k failed" >&2; exit 1; }
  IP[$k]=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
  t_add=$(ms)
  for ((i = 0; i < 300; i++)); do complete "$k" && break; sleep 0.02; done
  t_flood=$(ms)
  if [ "$k" -gt 1 ]; then for ((i = 0; i < 20; i++)); do ping_pair 1 "$k" && break; done; fi
  t_ping=$(ms)
  printf '%-5s %10d %10d %12d %12d\n' "$k" $((t_reg - t_start)) $((t_add - t_reg)) $((t_flood - t_reg)) $((t_ping - t_reg))
  RES+=("$((t_flood - t_reg)) $((t_ping - t_reg))")
done
# Every pair at the end (N*(N-1) pings).
fail=0
for ((a = 1; a <= N; a++)); do for ((b = 1; b <= N; b++)); do
  [ "$a" = "$b" ] && continue
  ip netns exec "vxb-c$a-$TAG" ping -c1 -W1 "${IP[$b]}" >/dev/null 2>&1 || fail=$((fail + 1))
done; done
med_max() { sort -n | awk '{v[NR]=$1} END {printf "median %d ms, max %d ms", v[int((NR+1)/2)], v[NR]}'; }
echo "hosts $N, mode $MODE: registration -> every flood list complete: $(printf '%s\n' "${RES[@]}" | awk '{print $1}' | med_max);" \
  "-> the new host's container and the first host's reach each other: $(printf '%s\n' "${RES[@]}" | awk '{print $2}' | med_max);" \
  "final all-pairs pings failed: $fail of $((N * (N - 1)))"
