#!/usr/bin/env bash
# Benchmark our NativeAOT host-local against the reference (/usr/lib/cni/host-local).
#   bench/host-local.sh [OUR_BINARY]
# Measures, per plugin, wall time per call including process start:
#   1. sequential ADDs into an empty /16 store (N_SEQ calls)
#   2. ADD when the network already holds 10 vs 60,000 reservations written by someone else: the first call
#      (which rebuilds our owner index) on its own, then N_BIG calls
#   3. DEL of one attachment when the network holds 60,000 reservations (N_BIG calls)
# Everything lives in a temporary directory; nothing outside it is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${REF:-/usr/lib/cni/host-local}
OURS=${1:-}
N_SEQ=${N_SEQ:-300}
N_BIG=${N_BIG:-20}
BIG=${BIG:-60000}
WORK=$(mktemp -d /tmp/bench-host-local.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ -z "$OURS" ]; then
  echo "building cmd/host-local (NativeAOT)..." >&2
  dotnet publish cmd/host-local -c Release -o "$WORK/bin" -nologo -v quiet -p:CopyOutputSymbolsToPublishDirectory=false >&2
  OURS=$WORK/bin/host-local
fi
[ -x "$REF" ] || { echo "reference plugin $REF not found" >&2; exit 1; }
SPAWN=$WORK/spawn
(cd bench/spawn && go build -o "$SPAWN" .) || { echo "cannot build bench/spawn (needs golang-go)" >&2; exit 1; }

conf() { # conf DATADIR
  printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.20.0.0/16"}]]}}' "$1"
}

# run_calls PLUGIN DATADIR COMMAND FIRST_ID COUNT -> prints "wall_ms/cpu_ms", means per call (cpu = user+sys
# of the plugin process, steadier than wall time on a loaded machine). bench/spawn starts the calls (fork/exec,
# config on stdin, like a runtime) so that no shell's own fork is counted in either plugin's figure.
run_calls() {
  local plugin=$1 data=$2 cmd=$3 first=$4 count=$5 out
  conf "$data" >"$WORK/conf.json"
  out=$("$SPAWN" -plugin "$plugin" -command "$cmd" -config "$WORK/conf.json" -first "$first" -n "$count") ||
    { echo "$plugin $cmd failed" >&2; exit 1; }
  awk -v o="$out" 'BEGIN { split(o, t, " "); printf "%.2f/%.2f", t[1], t[2] }'
}

# populate DIR COUNT: reservations in the reference format, spread over the /16, last_reserved_ip.0 in the middle
populate() {
  local dir=$1/bench count=$2
  mkdir -p "$dir"
  python3 - "$dir" "$count" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
k = 0
for i in range(2, 65534):
    if k == n: break
    name = f"10.20.{i >> 8}.{i & 255}"
    with open(os.path.join(d, name), "w") as f: f.write(f"pre{k}\r\neth0")
    k += 1
with open(os.path.join(d, "last_reserved_ip.0"), "w") as f: f.write(f"10.20.{(n // 2) >> 8}.{(n // 2) & 255}")
PY
}

echo "reference: $REF"
echo "ours:      $OURS ($(stat -c %s "$OURS") bytes)"
echo "calls per measurement: sequential=$N_SEQ, store-size=$N_BIG; machine: $(nproc) cores, $(uname -r)"
printf '\n%-48s %14s %14s %12s\n' "mean ms per call: wall/cpu" "reference" "ours" "ref/ours"
# row LABEL REF OURS: the two "wall/cpu" figures and the ratios reference/ours of each
row() {
  printf '%-48s %14s %14s %12s\n' "$1" "$2" "$3" "$(awk -v r="$2" -v o="$3" 'BEGIN { split(r, a, "/"); split(o, b, "/"); printf "%.2f/%.2f", a[1] / b[1], a[2] / b[2] }')"
}

for p in REF OURS; do mkdir -p "$WORK/seq-$p"; done
r=$(run_calls "$REF" "$WORK/seq-REF" ADD 0 "$N_SEQ"); o=$(run_calls "$OURS" "$WORK/seq-OURS" ADD 0 "$N_SEQ")
row "ADD, sequential, empty store ($N_SEQ calls)" "$r" "$o"

populate "$WORK/template-10" 10
populate "$WORK/template-big" "$BIG"
for size in 10 big; do
  for p in REF OURS; do rm -rf "$WORK/s-$p"; cp -a "$WORK/template-$size" "$WORK/s-$p"; done
  label=$([ $size = big ] && echo $BIG || echo 10)
  # The store was written by someone else (the populate script, like the reference would): our first call scans it
  # once and rebuilds the owner index. Timed on its own; the rows after it are the steady state.
  r=$(run_calls "$REF" "$WORK/s-REF" ADD 900000 1); o=$(run_calls "$OURS" "$WORK/s-OURS" ADD 900000 1)
  row "first ADD with $label foreign reservations" "$r" "$o"
  r=$(run_calls "$REF" "$WORK/s-REF" ADD 100000 "$N_BIG"); o=$(run_calls "$OURS" "$WORK/s-OURS" ADD 100000 "$N_BIG")
  row "ADD with $label reservations in a /16" "$r" "$o"
  if [ $size = big ]; then
    r=$(run_calls "$REF" "$WORK/s-REF" DEL 100000 "$N_BIG"); o=$(run_calls "$OURS" "$WORK/s-OURS" DEL 100000 "$N_BIG")
    row "DEL with $label reservations in a /16" "$r" "$o"
  fi
done
