#!/usr/bin/env bash
# How a chain call's latency grows with the number of containers on one node, ours against the reference.
#
#   bench/chain-curve.sh [N] [ROUNDS]          (default 1000 containers, 2 rounds)
#
# Runs bench/chain.sh on bench/templates/chain-portmap.conflist (bridge with ipMasq + host-local + portmap, a
# hostPort per container: tcp 20000+i -> 80) for N containers, sides alternating per round, keeping every call's
# time (TIMES_DIR). ADD at k containers is the median of the last w ADD calls up to call k, w = max(10, k/10)
# (the node holds k-w..k-1 containers while they run: calls 1-10 for 10, 91-100, 451-500, 901-1000); DEL at k
# is the median of the w DELs made while k..k-w+1 containers are left. A window of a tenth keeps one noisy
# moment on a shared machine from being a point. Points: 10, 100, 500 and 1000 (those <= N). Prints the table and
# the wall time of the whole run; writes RESULTS (default bench/results/chain-curve.tsv) for bench/plot.sh and
# keeps every call's time next to it (RESULTS without .tsv, plus -times/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000}
ROUNDS=${2:-2}
RESULTS=${RESULTS:-$ROOT/bench/results/chain-curve.tsv}
TIMES=${RESULTS%.tsv}-times
rm -rf "$TIMES"
mkdir -p "$TIMES"

start=$(date +%s)
CAP_ARGS_TEMPLATE='{"portMappings":[{"hostPort":@PORT@,"containerPort":80,"protocol":"tcp"}]}' TIMES_DIR=$TIMES \
  "$ROOT/bench/chain.sh" "$ROOT/bench/templates/chain-portmap.conflist" "$N" "$ROUNDS" >&2
took=$(( $(date +%s) - start ))

median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2f", a[int((NR+1)/2)]; else printf "nan"}'; }
# point SIDE OP K -> median ms of the window for K containers, over all rounds (call numbers count per file)
point() {
  local side=$1 op=$2 k=$3 lo hi f w
  w=$((k / 10)); [ "$w" -ge 10 ] || w=10
  if [ "$op" = add ]; then lo=$((k - w + 1)); hi=$k; else lo=$((N - k + 1)); hi=$((N - k + w)); fi
  [ "$lo" -ge 1 ] || lo=1
  for f in "$TIMES/$side"-*; do
    awk -v op="$op" -v lo="$lo" -v hi="$hi" '$1 == op { i++; if (i >= lo && i <= hi) print $2 }' "$f"
  done | median
}

mkdir -p "$(dirname "$RESULTS")"
{
  echo "# chain-curve: chain-portmap.conflist, $N containers x $ROUNDS rounds, took ${took}s, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
  printf "containers\tref_add_ms\tours_add_ms\tref_del_ms\tours_del_ms\n"
  for k in 10 100 500 1000; do
    [ "$k" -le "$N" ] || continue
    printf "%s\t%s\t%s\t%s\t%s\n" "$k" "$(point ref add "$k")" "$(point ours add "$k")" "$(point ref del "$k")" "$(point ours del "$k")"
  done
} >"$RESULTS"

echo "chain ADD/DEL per call (ms, median of max(10, k/10) calls x $ROUNDS rounds) at k containers on one node; bridge+host-local+portmap with a hostPort each"
printf "%-10s %10s %10s %8s %10s %10s %8s\n" containers "ref ADD" "ours ADD" ratio "ref DEL" "ours DEL" ratio
awk -F'\t' 'NR > 2 { printf "%-10s %10s %10s %7.2fx %10s %10s %7.2fx\n", $1, $2, $3, $2 / $3, $4, $5, $4 / $5 }' "$RESULTS"
echo "whole run: ${took}s ($N containers x 2 sides x $ROUNDS rounds, ADD and DEL each); results: $RESULTS"
