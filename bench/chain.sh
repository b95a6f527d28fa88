#!/usr/bin/env bash
# Benchmarks one conflist through the cnitool, ours against the reference plugins, in the same run.
#
#   bench/chain.sh CONFLIST [N] [ROUNDS]
#
# CONFLIST is a conflist template (a file; @DATADIR@ is replaced by a private host-local dataDir).
# For each side (ours = <repo>/bin, reference = /usr/lib/cni) and each round, a fresh "node" namespace
# gets N container namespaces: N ADDs, then N DELs, each call timed alone. Sides alternate per round.
# Prints the median and p90 per call and the ratio reference/ours. Needs root; touches only
# namespaces it creates (prefix cnib-), and removes them on exit.
# Each call is timed by bench/cnirun, which starts the cnitool itself (fork/exec, as a runtime would) from
# inside the node namespace, so the shell, nsenter and env processes around a call are not in its time.
# CAP_ARGS (cnitool's capability args) passes through as is. CAP_ARGS_TEMPLATE, when set, gives each
# container its own: @I@ becomes the container number i, @PORT@ becomes 20000+i, e.g.
#   CAP_ARGS_TEMPLATE='{"portMappings":[{"hostPort":@PORT@,"containerPort":80,"protocol":"tcp"}]}'
# To compare two of our own conflists instead (e.g. vxlan against a plain bridge): REF_BIN_DIR=<repo>/bin,
# REF_TEMPLATE=<the other conflist>, and NODE_SETUP, a shell command run inside each fresh node
# namespace (e.g. to give it an underlay link). LABEL_REF/LABEL_OURS name the two columns.
# TIMES_DIR, when set, keeps every call's time: TIMES_DIR/<ref|ours>-<round>, one "op ms" line per call in call
# order (N ADDs for containers 1..N, then N DELs for containers 1..N); bench/chain-curve.sh reads them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TEMPLATE=${1:?usage: bench/chain.sh CONFLIST [N] [ROUNDS]}
N=${2:-40}
ROUNDS=${3:-3}
OURS=${OURS_BIN_DIR:-$ROOT/bin}
REF=${REF_BIN_DIR:-/usr/lib/cni}
REF_TEMPLATE=${REF_TEMPLATE:-$TEMPLATE}
LABEL_REF=${LABEL_REF:-reference}
LABEL_OURS=${LABEL_OURS:-ours}
CNITOOL=${CNITOOL:-$ROOT/integration/cnitool/cnitool}
[ -x "$CNITOOL" ] || bash "$ROOT/integration/cnitool/build.sh" >&2
WORK=$(mktemp -d /tmp/cnib.XXXXXX)
CNIRUN=$WORK/cnirun
(cd "$ROOT/bench/cnirun" && go build -o "$CNIRUN" .) || { echo "cannot build bench/cnirun (needs golang-go)" >&2; exit 1; }
TAG=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
NODE=cnib-node-$TAG

cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^cnib-.*-$TAG" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# times_file SIDE OP -> file with one duration (ms) per line
stats() { # FILE -> "median p90"
  sort -n "$1" | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.9+0.5)]; printf "%.2f %.2f\n", m, p}'
}

cap_args() { # I -> the capability args of container I when CAP_ARGS_TEMPLATE is set (no spaces allowed in it)
  [ -n "${CAP_ARGS_TEMPLATE:-}" ] || return 0
  local v=${CAP_ARGS_TEMPLATE//@PORT@/$((20000 + $1))}
  printf '%s' "${v//@I@/$1}"
}

run_side() { # SIDE BINDIR ROUND
  local side=$1 bin=$2 round=$3 i op
  local conf=$WORK/$side-conf data=$WORK/$side-data-$round cache=$WORK/$side-cache-$round
  mkdir -p "$conf" "$data" "$cache"
  local template=$TEMPLATE
  [ "$side" = ref ] && template=$REF_TEMPLATE
  sed "s|@DATADIR@|$data|g" "$template" > "$conf/bench.conflist"
  local net; net=$(sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p' "$conf/bench.conflist" | head -1)
  ip netns add "$NODE"; ip -n "$NODE" link set lo up
  if [ -n "${NODE_SETUP:-}" ]; then nsenter --net="/var/run/netns/$NODE" sh -c "$NODE_SETUP"; fi
  for i in $(seq "$N"); do ip netns add "cnib-c$i-$TAG"; done
  local calls=$WORK/$side-calls-$round
  : > "$calls"
  for op in add del; do
    for i in $(seq "$N"); do
      echo "$op $net c$i /var/run/netns/cnib-c$i-$TAG $(cap_args "$i")" >> "$calls"
    done
  done
  nsenter --net="/var/run/netns/$NODE" env NETCONFPATH="$conf" CNI_PATH="$bin" CNI_CACHE_DIR="$cache" CNI_IFNAME=eth0 \
    "$CNIRUN" -tool "$CNITOOL" < "$calls" > "$WORK/$side-times-$round" || { echo "a call failed on $side" >&2; exit 1; }
  if [ -n "${TIMES_DIR:-}" ]; then mkdir -p "$TIMES_DIR"; cp "$WORK/$side-times-$round" "$TIMES_DIR/$side-$round"; fi
  awk '$1 == "add" { print $2 }' "$WORK/$side-times-$round" >> "$WORK/$side-add"
  awk '$1 == "del" { print $2 }' "$WORK/$side-times-$round" >> "$WORK/$side-del"
  for i in $(seq "$N"); do ip netns del "cnib-c$i-$TAG"; done
  ip netns del "$NODE"
}

command -v bc >/dev/null || { echo "bench needs bc (apt-get install bc)" >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
  run_side ref "$REF" "$r"
  run_side ours "$OURS" "$r"
done

echo "conflist: $(basename "$TEMPLATE") (vs $(basename "$REF_TEMPLATE")), $N containers x $ROUNDS rounds, per call through cnitool (ms)"
printf "%-6s %18s %18s\n" op "$LABEL_REF med/p90" "$LABEL_OURS med/p90"
for op in add del; do
  read -r rm rp < <(stats "$WORK/ref-$op")
  read -r om op90 < <(stats "$WORK/ours-$op")
  printf "%-6s %9s/%-8s %9s/%-8s ratio %.2fx\n" "${op^^}" "$rm" "$rp" "$om" "$op90" "$(echo "$rm / $om" | bc -l)"
done
