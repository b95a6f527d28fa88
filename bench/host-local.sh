#!/usr/bin/env bash
# Benchmark our NativeAOT host-local against the reference (/usr/lib/cni/host-local).
#   bench/host-local.sh [OUR_BINARY]
# Measures, per plugin, wall time per call including process start:
#   1. sequential ADDs into an empty /16 store (N_SEQ calls)
#   2. ADD when the network already holds 10 vs 60,000 reservations (N_BIG calls each)
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

conf() { # conf DATADIR
  printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.20.0.0/16"}]]}}' "$1"
}

now_ns() { date +%s%N; }

# run_calls PLUGIN DATADIR COMMAND FIRST_ID COUNT -> prints "wall_ms cpu_ms" per call (cpu = user+sys of the
# plugin processes, which is steadier than wall time on a loaded machine)
run_calls() {
  local plugin=$1 data=$2 cmd=$3 first=$4 count=$5 c out
  c=$(conf "$data")
  out=$(/usr/bin/time -f "%e %U %S" bash -c '
    for ((i = $3; i < $3 + $4; i++)); do
      CNI_COMMAND=$2 CNI_CONTAINERID=bench$i CNI_NETNS=/var/run/netns/bench CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
        "$1" <<<"$5" >/dev/null || { echo "$1 $2 bench$i failed" >&2; exit 1; }
    done' _ "$plugin" "$cmd" "$first" "$count" "$c" 2>&1 >/dev/null | tail -1)
  awk -v n="$count" -v o="$out" 'BEGIN { split(o, t, " "); printf "%.2f/%.2f", t[1] * 1000 / n, (t[2] + t[3]) * 1000 / n }'
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
printf '\n%-48s %14s %14s\n' "mean ms per call: wall/cpu" "reference" "ours"

for p in REF OURS; do mkdir -p "$WORK/seq-$p"; done
r=$(run_calls "$REF" "$WORK/seq-REF" ADD 0 "$N_SEQ"); o=$(run_calls "$OURS" "$WORK/seq-OURS" ADD 0 "$N_SEQ")
printf '%-48s %14s %14s\n' "ADD, sequential, empty store ($N_SEQ calls)" "$r" "$o"

populate "$WORK/template-10" 10
populate "$WORK/template-big" "$BIG"
for size in 10 big; do
  for p in REF OURS; do rm -rf "$WORK/s-$p"; cp -a "$WORK/template-$size" "$WORK/s-$p"; done
  label=$([ $size = big ] && echo $BIG || echo 10)
  r=$(run_calls "$REF" "$WORK/s-REF" ADD 100000 "$N_BIG"); o=$(run_calls "$OURS" "$WORK/s-OURS" ADD 100000 "$N_BIG")
  printf '%-48s %14s %14s\n' "ADD with $label reservations in a /16" "$r" "$o"
  if [ $size = big ]; then
    r=$(run_calls "$REF" "$WORK/s-REF" DEL 100000 "$N_BIG"); o=$(run_calls "$OURS" "$WORK/s-OURS" DEL 100000 "$N_BIG")
    printf '%-48s %14s %14s\n' "DEL with $label reservations in a /16" "$r" "$o"
  fi
done
