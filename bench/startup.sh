#!/usr/bin/env bash
# Start-up cost of every plugin in bin/ against its reference counterpart in /usr/lib/cni.
#   bench/startup.sh [BIN_DIR]        (default: bin/ next to this script's parent)
# Per plugin, for CNI_COMMAND=VERSION with empty stdin:
#   cpu   mean task-clock per run in ms (perf stat -r $RUNS): CPU the process burns, the steady figure
#         on a shared machine
#   wall  median wall time per run in ms (hyperfine -N when installed, else a loop timed with EPOCHREALTIME)
#   size  file size in KiB
# and the ratio ours/reference for each. Set FLOOR=/path/to/binary to add a row for a baseline
# (e.g. a NativeAOT hello-world) measured the same way.
# With ADD=1 (needs root), also the CPU of a real ADD+DEL pair: host-local on a temporary dataDir, and
# loopback in a throwaway network namespace (cnitest-startup-$$, deleted at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin}
REF_DIR=${REF_DIR:-/usr/lib/cni}
RUNS=${RUNS:-200}
WALL_RUNS=${WALL_RUNS:-$RUNS}

command -v perf >/dev/null || { echo "perf is required (apt-get install linux-perf)" >&2; exit 1; }
[ -d "$BIN" ] && [ -n "$(ls -A "$BIN" 2>/dev/null)" ] || { echo "no plugins in $BIN (run ./build.sh)" >&2; exit 1; }

# cpu_ms BINARY: mean task-clock in ms over $RUNS runs
cpu_ms() {
  CNI_COMMAND=VERSION perf stat -x, -e task-clock -r "$RUNS" "$1" </dev/null 2>&1 >/dev/null \
    | awk -F, '$3 == "task-clock" { printf "%.2f", $1; found = 1 } END { if (!found) printf "n/a" }'
}

# wall_ms BINARY: median wall time in ms over $WALL_RUNS runs
wall_ms() {
  if command -v hyperfine >/dev/null && command -v jq >/dev/null; then
    local json
    json=$(mktemp)
    CNI_COMMAND=VERSION hyperfine -N --style none --warmup 10 --runs "$WALL_RUNS" --export-json "$json" "$1" >/dev/null 2>&1
    jq -r '.results[0].median * 1000 | . * 100 | round / 100' "$json"
    rm -f "$json"
  else
    local i t0 t1 samples=()
    for ((i = 0; i < WALL_RUNS; i++)); do
      t0=$EPOCHREALTIME
      CNI_COMMAND=VERSION "$1" </dev/null >/dev/null
      t1=$EPOCHREALTIME
      samples+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) * 1000 }')")
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'
  fi
}

size_kib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f", b / 1024 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }

row_fmt='%-12s | %7s %7s %6s | %7s %7s %6s | %8s %8s %6s\n'
printf "VERSION start-up, %d runs each (cpu: mean task-clock; wall: median)\n" "$RUNS"
printf "$row_fmt" plugin "cpu ms" "ref" ratio "wall ms" "ref" ratio "KiB" "ref" ratio
printf "$row_fmt" ------------ ------- ------- ------ ------- ------- ------ -------- -------- ------

measure_row() { # measure_row NAME OURS [REF]
  local name=$1 ours=$2 ref=${3:-} oc ow os rc=- rw=- rs=-
  oc=$(cpu_ms "$ours"); ow=$(wall_ms "$ours"); os=$(size_kib "$ours")
  if [ -n "$ref" ]; then rc=$(cpu_ms "$ref"); rw=$(wall_ms "$ref"); rs=$(size_kib "$ref"); fi
  printf "$row_fmt" "$name" "$oc" "$rc" "$(ratio "$oc" "$rc")" "$ow" "$rw" "$(ratio "$ow" "$rw")" "$os" "$rs" "$(ratio "$os" "$rs")"
}

for plugin in "$BIN"/*; do
  [ -f "$plugin" ] && [ -x "$plugin" ] || continue
  name=$(basename "$plugin")
  ref=""
  [ -x "$REF_DIR/$name" ] && ref=$REF_DIR/$name
  measure_row "$name" "$plugin" "$ref"
done
if [ -n "${FLOOR:-}" ]; then
  measure_row "(floor)" "$FLOOR"
fi

# ---- ADD=1: a real ADD followed by its DEL, CPU per pair ----
[ "${ADD:-0}" = 1 ] || exit 0
WORK=$(mktemp -d /tmp/bench-startup.XXXXXX)
NS=cnitest-startup-$$
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ip netns add "$NS"
ADD_RUNS=${ADD_RUNS:-100}

# add_del_ms PLUGIN CONFIG: task-clock of one ADD plus its DEL in ms (mean over $ADD_RUNS pairs, counted
# with every process the loop starts, so it includes bash's fork for both plugins alike)
add_del_ms() {
  local plugin=$1
  printf '%s' "$2" >"$WORK/conf.json"
  CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=${IFNAME:-eth0} CNI_PATH=$REF_DIR perf stat -x, -e task-clock bash -c '
    for ((i = 0; i < $3; i++)); do
      CNI_COMMAND=ADD CNI_CONTAINERID=bench$i "$1" <"$2" >/dev/null || { echo "ADD failed: $1" >&2; exit 1; }
      CNI_COMMAND=DEL CNI_CONTAINERID=bench$i "$1" <"$2" >/dev/null || { echo "DEL failed: $1" >&2; exit 1; }
    done' _ "$plugin" "$WORK/conf.json" "$ADD_RUNS" 2>&1 >/dev/null \
    | awk -F, -v n="$ADD_RUNS" '$3 == "task-clock" { printf "%.2f", $1 / n }'
}

hl_conf() { printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.20.0.0/16"}]]}}' "$1"; }
lo_conf='{"cniVersion":"1.0.0","name":"bench","type":"loopback"}'

echo
printf "ADD+DEL pair, %d pairs each (cpu: task-clock per pair incl. bash's fork)\n" "$ADD_RUNS"
add_fmt='%-12s | %7s %7s %6s\n'
printf "$add_fmt" plugin "cpu ms" "ref" ratio
printf "$add_fmt" ------------ ------- ------- ------
if [ -x "$BIN/host-local" ]; then
  o=$(add_del_ms "$BIN/host-local" "$(hl_conf "$WORK/ours")"); r=-
  [ -x "$REF_DIR/host-local" ] && r=$(add_del_ms "$REF_DIR/host-local" "$(hl_conf "$WORK/ref")")
  printf "$add_fmt" host-local "$o" "$r" "$(ratio "$o" "$r")"
fi
if [ -x "$BIN/loopback" ]; then
  o=$(IFNAME=lo add_del_ms "$BIN/loopback" "$lo_conf"); r=-
  [ -x "$REF_DIR/loopback" ] && r=$(IFNAME=lo add_del_ms "$REF_DIR/loopback" "$lo_conf")
  printf "$add_fmt" loopback "$o" "$r" "$(ratio "$o" "$r")"
fi
