#!/usr/bin/env bash
# Renders the CRI burst and the chain curve as SVG with gnuplot (Debian: gnuplot-nox), into docs/.
#
#   bench/plot.sh [BURST_TSV] [CURVE_TSV]
#
# Inputs default to bench/results/cri-burst.tsv (bench/cri-burst.sh) and bench/results/chain-curve.tsv
# (bench/chain-curve.sh); each is copied next to its plot (docs/cri-burst.tsv, docs/chain-curve.tsv) so the
# numbers the README shows stay with the pictures. A missing input is skipped.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BURST=${1:-$ROOT/bench/results/cri-burst.tsv}
CURVE=${2:-$ROOT/bench/results/chain-curve.tsv}
DOCS=$ROOT/docs
if ! command -v gnuplot >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
  else
    echo "plot: gnuplot is required (apt-get install gnuplot-nox)" >&2; exit 1
  fi
fi
mkdir -p "$DOCS"
WORK=$(mktemp -d /tmp/cnib-plot.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ -f "$BURST" ]; then
  [ "$BURST" -ef "$DOCS/cri-burst.tsv" ] || cp "$BURST" "$DOCS/cri-burst.tsv"
  # rows: label reference ours no-CNI
  awk -F'\t' 'NR > 2 { v[$1 "," $2 "," "p50"] = $3; v[$1 "," $2 "," "p99"] = $4; v[$1 "," $2 "," "wall"] = $5 }
    END {
      split("run stop", ph, " "); split("p50 p99 wall", st, " ")
      name["run"] = "Run"; name["stop"] = "Stop"
      for (i = 1; i <= 2; i++) for (j = 1; j <= 3; j++) {
        k = ph[i] "," st[j]
        printf "\"%s %s\" %s %s %s\n", name[ph[i]], st[j], v["ref," k], v["ours," k], v["hostnet," k]
      }
    }' "$DOCS/cri-burst.tsv" >"$WORK/burst.dat"
  title=$(sed -n '1s/^# cri-burst: //p' "$DOCS/cri-burst.tsv" | cut -d, -f1)
  gnuplot <<EOF
set terminal svg size 820,420 font "sans,12" background rgb "white"
set output "$DOCS/cri-burst.svg"
set title "containerd CRI burst: $title, hostPort each (lower is better)"
set ylabel "ms"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key above
set grid ytics
set yrange [0:*]
plot "$WORK/burst.dat" using 2:xtic(1) title "reference plugins" lc rgb "#c0504d", \
     "" using 3 title "sharpcni" lc rgb "#4f81bd", \
     "" using 4 title "no CNI (hostNetwork pods)" lc rgb "#9bbb59"
EOF
  echo "plot: $DOCS/cri-burst.svg"
fi

if [ -f "$CURVE" ]; then
  [ "$CURVE" -ef "$DOCS/chain-curve.tsv" ] || cp "$CURVE" "$DOCS/chain-curve.tsv"
  gnuplot <<EOF
set terminal svg size 820,420 font "sans,12" background rgb "white"
set output "$DOCS/chain-curve.svg"
set title "bridge + host-local + portmap, one hostPort per container: per call (lower is better)"
set xlabel "containers on the node"
set ylabel "ms per call (median)"
set logscale x
set xrange [7:1400]
set xtics ("10" 10, "100" 100, "500" 500, "1000" 1000)
set grid
set key above
set yrange [0:*]
set datafile separator "\t"
plot "$DOCS/chain-curve.tsv" every ::1 using 1:2 with linespoints lw 2 pt 7 lc rgb "#c0504d" title "reference ADD", \
     "" every ::1 using 1:4 with linespoints lw 2 pt 5 dt 2 lc rgb "#c0504d" title "reference DEL", \
     "" every ::1 using 1:3 with linespoints lw 2 pt 7 lc rgb "#4f81bd" title "sharpcni ADD", \
     "" every ::1 using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb "#4f81bd" title "sharpcni DEL"
EOF
  echo "plot: $DOCS/chain-curve.svg"
fi
