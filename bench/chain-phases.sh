#!/usr/bin/env bash
# Where a chain call's time goes, per process: runs the conflist through the cnitool for N containers, then
# times M more ADDs and their DELs with perf's sched events (exec to exit of every process), and prints the
# mean per command name (cnitool's own work = cnitool minus the plugins it ran).
#
#   bench/chain-phases.sh CONFLIST BIN_DIR [N] [M]      e.g. with CAP_ARGS_TEMPLATE as for bench/chain.sh
#
# Run it once with /usr/lib/cni and once with bin/ for a comparison. Needs root and perf; touches only the
# namespaces it creates (prefix cnip-), and removes them on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TEMPLATE=${1:?usage: bench/chain-phases.sh CONFLIST BIN_DIR [N] [M]}
BIN=$(cd "${2:?usage: bench/chain-phases.sh CONFLIST BIN_DIR [N] [M]}" && pwd)
N=${3:-40}
M=${4:-20}
CNITOOL=${CNITOOL:-$ROOT/integration/cnitool/cnitool}
[ -x "$CNITOOL" ] || bash "$ROOT/integration/cnitool/build.sh" >&2
command -v perf >/dev/null || { echo "perf is required" >&2; exit 1; }
WORK=$(mktemp -d /tmp/cnip.XXXXXX)
TAG=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
NODE=cnip-node-$TAG
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep -- "-$TAG\$" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/conf" "$WORK/data" "$WORK/cache"
sed "s|@DATADIR@|$WORK/data|g" "$TEMPLATE" > "$WORK/conf/bench.conflist"
net=$(sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p' "$WORK/conf/bench.conflist" | head -1)
ip netns add "$NODE"; ip -n "$NODE" link set lo up
for i in $(seq $((N + M))); do ip netns add "cnip-c$i-$TAG"; done
cap_args() {
  [ -n "${CAP_ARGS_TEMPLATE:-}" ] || return 0
  local v=${CAP_ARGS_TEMPLATE//@PORT@/$((20000 + $1))}
  printf '%s' "${v//@I@/$1}"
}
calls() { # OP FIRST LAST
  for i in $(seq "$2" "$3"); do echo "$1 $net c$i /var/run/netns/cnip-c$i-$TAG $(cap_args "$i")"; done
}
run() { # calls file -> runs them in the node
  nsenter --net="/var/run/netns/$NODE" env NETCONFPATH="$WORK/conf" CNI_PATH="$BIN" CNI_CACHE_DIR="$WORK/cache" CNI_IFNAME=eth0 \
    "$WORK/cnirun" -tool "$CNITOOL" < "$1" > /dev/null
}
(cd "$ROOT/bench/cnirun" && go build -o "$WORK/cnirun" .)
calls add 1 "$N" > "$WORK/setup"; run "$WORK/setup"
for op in add del; do
  calls "$op" $((N + 1)) $((N + M)) > "$WORK/$op"
  perf record -q -a -e sched:sched_process_exec,sched:sched_process_exit -o "$WORK/$op.data" -- bash -c "$(declare -f run); NODE=$NODE WORK=$WORK BIN=$BIN CNITOOL=$CNITOOL run $WORK/$op" 2>/dev/null
  echo "${op^^} ($BIN, $N containers, mean of $M calls, ms from exec to exit):"
  perf script -i "$WORK/$op.data" -F comm,pid,time,event 2>/dev/null | awk '
    /sched_process_exec/ { t = $3; sub(":", "", t); start[$2] = t; comm[$2] = $1 }
    /sched_process_exit/ { t = $3; sub(":", "", t); p = $2; if (p in start) { d = (t - start[p]) * 1000; sum[comm[p]] += d; n[comm[p]]++; delete start[p] } }
    END { for (c in sum) if (c != "cnirun" && c != "bash") printf "  %-12s n=%4d  %8.2f\n", c, n[c], sum[c] / n[c] }' | sort
done
