#!/usr/bin/env bash
# Soak (issue 19): CYCLES ADD/DEL cycles of the full chain (bridge + host-local + portmap, one published TCP and one
# UDP port per container) through the cnitool, over CONTAINERS container namespaces with WORKERS in parallel (each
# worker owns CONTAINERS/WORKERS of them), 1% of plugin processes killed with SIGKILL at a random moment and the
# attachment then DELeted as a runtime would (a failed DEL retried, up to DEL_ATTEMPTS=5 times with a short
# backoff; one that fails every attempt is counted and fails the run). At the end, after a GC with no valid
# attachment: zero veths, nftables elements, conntrack entries, IPAM reservation files and stale lock files that
# belong to no container; and the mean cost of the last 1,000 cycles within 1.2x of the first 1,000.
#
#   bench/soak.sh [CYCLES] [CONTAINERS] [WORKERS]        (defaults 10000 50 10)
#
# Needs root; touches only namespaces it creates (cnis-*), removed on exit. Plugins from bin/ (OURS_BIN_DIR).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CYCLES=${1:-10000}
CONTAINERS=${2:-50}
WORKERS=${3:-10}
KILL_PERCENT=${KILL_PERCENT:-1}
OURS=${OURS_BIN_DIR:-$ROOT/bin}
CNITOOL=${CNITOOL:-$ROOT/integration/cnitool/cnitool}
[ -x "$CNITOOL" ] || bash "$ROOT/integration/cnitool/build.sh" >&2
TAG=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
NODE=cnis-node-$TAG
WORK=$(mktemp -d /tmp/cnis.XXXXXX)
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^cnis-.*-$TAG" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# CNI_PATH: host-local as built; bridge and portmap behind a wrapper that, for KILL_PERCENT of calls, SIGKILLs the
# plugin 0-20 ms after it starts (the wrapper is the process the cnitool waits for, so the kill looks like a crash).
mkdir -p "$WORK/bin" "$WORK/conf" "$WORK/cache" "$WORK/data" "$WORK/times"
cp "$OURS/host-local" "$WORK/bin/"
for p in bridge portmap; do
  cp "$OURS/$p" "$WORK/bin/$p.real"
  cat > "$WORK/bin/$p" <<EOF
#!/bin/sh
if [ \$(od -An -N2 -tu2 /dev/urandom) -lt \$((65536 * $KILL_PERCENT / 100)) ]; then
  "$WORK/bin/$p.real" & pid=\$!
  sleep 0.0\$(od -An -N1 -tu1 /dev/urandom | awk '{printf "%02d", \$1 % 20}')
  kill -9 \$pid 2>/dev/null; wait \$pid; echo "\$(date +%s%N) $p killed" >> "$WORK/kills"; exit 137
fi
exec "$WORK/bin/$p.real"
EOF
  chmod +x "$WORK/bin/$p"
done
sed "s|@DATADIR@|$WORK/data|g; s|\"cniVersion\": \"1.0.0\"|\"cniVersion\": \"1.1.0\"|" "$ROOT/bench/templates/chain-portmap.conflist" > "$WORK/conf/soak.conflist"
NET=$(jq -r .name "$WORK/conf/soak.conflist")
# host-local's in-process mode needs the plugin's own build ID on CNI_PATH: the copies keep it.

ip netns add "$NODE"
ip -n "$NODE" link set lo up
for ((i = 0; i < CONTAINERS; i++)); do ip netns add "cnis-c$i-$TAG"; done

cni() { # OP I -> exit status of the cnitool
  local i=$2
  ip netns exec "$NODE" env NETCONFPATH="$WORK/conf" CNI_PATH="$WORK/bin" CNI_CACHE_DIR="$WORK/cache" \
    CNI_CONTAINERID="soak-$i" \
    CAP_ARGS="{\"portMappings\":[{\"hostPort\":$((30000 + i)),\"containerPort\":80,\"protocol\":\"tcp\"},{\"hostPort\":$((30000 + i)),\"containerPort\":53,\"protocol\":\"udp\"}]}" \
    timeout 60 "$CNITOOL" "$1" "$NET" "/var/run/netns/cnis-c$i-$TAG" >/dev/null 2>&1
}

# DEL as a runtime sends it: retried while it fails (containerd and CRI-O retry a failed teardown), here up to
# DEL_ATTEMPTS times with a backoff of 50 ms doubling. A DEL whose plugin was killed is retried; one that fails
# every attempt is counted as a failure (and fails the run).
DEL_ATTEMPTS=${DEL_ATTEMPTS:-5}
del_retried() { # I C
  local i=$1 c=$2 a
  for ((a = 1; a <= DEL_ATTEMPTS; a++)); do
    if cni del "$i"; then
      if [ "$a" -gt 1 ]; then echo "$c $i $a" >> "$WORK/del-retried"; fi
      return 0
    fi
    if [ "$a" -lt "$DEL_ATTEMPTS" ]; then sleep "$(awk -v a="$a" 'BEGIN {printf "%.2f", 0.05 * 2 ^ (a - 1)}')"; fi
  done
  echo "DEL failed $DEL_ATTEMPTS times for $i at cycle $c" >> "$WORK/errors"
  return 1
}

worker() { # W: cycles W, W+WORKERS, ... on containers W, W+WORKERS, ...
  local w=$1 c i t0 t1 out="$WORK/times/$w"
  for ((c = w; c < CYCLES; c += WORKERS)); do
    i=$(( w + WORKERS * ((c / WORKERS) % (CONTAINERS / WORKERS)) ))
    t0=$(date +%s%N)
    # A failed ADD (its plugin killed) is followed by the DEL every cycle ends with, as a runtime DELs a sandbox
    # whose ADD failed.
    cni add "$i" || echo "$c $i" >> "$WORK/add-failed"
    del_retried "$i" "$c" || true
    t1=$(date +%s%N)
    echo "$c $(( (t1 - t0) / 1000 ))" >> "$out"
  done
}

echo "soak: $CYCLES cycles, $CONTAINERS containers, $WORKERS workers, ${KILL_PERCENT}% of plugin processes killed" >&2
start=$(date +%s)
for ((w = 0; w < WORKERS; w++)); do worker "$w" & done
wait
end=$(date +%s)

# GC with no valid attachment (the list's plugins get CNI_COMMAND=GC through the cnitool).
# Its plugins are killed like any other call: retried as the DELs are (a runtime runs GC again on its next round).
gc_ok=0
for ((a = 1; a <= DEL_ATTEMPTS; a++)); do
  if ip netns exec "$NODE" env NETCONFPATH="$WORK/conf" CNI_PATH="$WORK/bin" CNI_CACHE_DIR="$WORK/cache" CNI_VALID_ATTACHMENTS='[]' \
    timeout 60 "$CNITOOL" gc "$NET" >/dev/null 2>&1; then gc_ok=1; break; fi
  sleep 0.1
done
[ "$gc_ok" = 1 ] || echo "GC failed $DEL_ATTEMPTS times" >> "$WORK/errors"

veths=$(ip -n "$NODE" -o link show type veth | wc -l)
# Elements that belong to a container (their comment names it); the network's own (its subnet's masquerade
# exemption and hairpin source, commented with the network name) stay while the network is configured.
elements=$(ip netns exec "$NODE" nft -j list ruleset 2>/dev/null | jq --arg net "$NET" \
  '[.nftables[] | select(.set? or .map?) | (.set // .map) | (.elem // [])[] | select(((if type == "array" then .[0] else . end) | .elem?.comment? // "") != $net)] | length')
conntrack=$(ip netns exec "$NODE" conntrack -L 2>/dev/null | grep -c 'dport=3[0-9][0-9][0-9][0-9] ' || true)
reservations=$(find "$WORK/data" -type f -name '10.*' | wc -l)
stale_locks=$(find "$WORK/data" -name '*.lock' -o -name '*.tmp*' | wc -l)
kills=$( { cat "$WORK/kills" 2>/dev/null || true; } | wc -l)
errors=$( { cat "$WORK/errors" 2>/dev/null || true; } | wc -l)
add_failed=$( { cat "$WORK/add-failed" 2>/dev/null || true; } | wc -l)
del_retried=$( { cat "$WORK/del-retried" 2>/dev/null || true; } | wc -l)
del_attempts_max=$( { cat "$WORK/del-retried" 2>/dev/null || true; } | awk 'BEGIN {m = 1} $3 > m {m = $3} END {print m}')
sort -n -m "$WORK"/times/* | sort -n > "$WORK/all"
first=$(head -n 1000 "$WORK/all" | awk '{s += $2} END {printf "%.2f", s / NR / 1000}')
last=$(tail -n 1000 "$WORK/all" | awk '{s += $2} END {printf "%.2f", s / NR / 1000}')
ratio=$(awk -v a="$first" -v b="$last" 'BEGIN {printf "%.2f", b / a}')
echo "cycles $CYCLES in $((end - start)) s; plugin processes killed: $kills; ADDs failed: $add_failed;" \
  "DELs that needed a retry: $del_retried (at most $del_attempts_max attempts); DELs failed after $DEL_ATTEMPTS attempts: $errors"
if [ "$errors" != 0 ]; then sed 's/^/  /' "$WORK/errors" >&2; fi
if [ "$elements" != 0 ]; then
  ip netns exec "$NODE" nft -j list ruleset | jq -c --arg net "$NET" '.nftables[] | select(.set? or .map?) | (.set // .map) | select(.elem) | {name, elem: [.elem[] | select(((if type == "array" then .[0] else . end) | .elem?.comment? // "") != $net)]}' >&2
fi
echo "left after GC: veths $veths, nft elements $elements, conntrack entries $conntrack, reservations $reservations, stale lock/temp files $stale_locks"
echo "mean cycle (ADD+DEL) ms: first 1000 $first, last 1000 $last, ratio $ratio (limit 1.2)"
[ "$veths" = 0 ] && [ "$elements" = 0 ] && [ "$conntrack" = 0 ] && [ "$reservations" = 0 ] && [ "$stale_locks" = 0 ] && [ "$errors" = 0 ] &&
  awk -v r="$ratio" 'BEGIN {exit !(r <= 1.2)}'
