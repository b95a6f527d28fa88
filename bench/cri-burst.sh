#!/usr/bin/env bash
# Pod start-up burst through containerd's CRI, ours against the reference plugins in the same run.
#
#   bench/cri-burst.sh [PODS] [ROUNDS]          (default 30 pods, 3 rounds)
#
# As kubelet does after a node drain: PODS RunPodSandbox calls in flight at once, each pod with a hostPort
# (tcp 30000+i -> 80), then PODS StopPodSandbox at once, then PODS RemovePodSandbox; every call timed by
# tests/Cni.Cri (one process, one gRPC connection, so no process start per call). The network is
# conf/15-k8s-node.conflist (bridge + host-local + portmap, plus loopback as containerd runs it).
# Two private containerds (integration/runtimes.sh: cri_containerd_write), each in its own node namespace:
# one with our plugins (<repo>/bin) bound as /opt/cni/bin, one with the reference's (/usr/lib/cni). Rounds
# alternate which side goes first. A third series, hostnet, runs the same burst on our containerd with
# hostNetwork pods: no network namespace, no CNI call, so it is the runtime's own cost (containerd, shim,
# runc) that both plugin suites sit on top of.
# With perf installed, one more burst per side is recorded with sched exec/exit events and the process time
# (exec to exit, summed over the burst) is printed per executable: the plugins (/opt/cni/bin/*, as containerd
# runs them) against runc (create, start, kill, delete; the shims are long-lived, so their exec-to-exit is a
# lifetime and left out). perf sees the whole machine: the runc line may include other users' containers (its
# count shows it: 6 calls per pod here); the plugin paths are this benchmark's own.
#
# Prints p50/p99 per call and the burst's wall time per phase, and the ratio reference/ours. Writes
# RESULTS (default bench/results/cri-burst.tsv) for bench/plot.sh. Needs root; everything it makes (netns
# cnib-*, cgroups cnib-cri-*, temp dir) is removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PODS=${1:-30}
ROUNDS=${2:-3}
OURS=${OURS_BIN_DIR:-$ROOT/bin}
REF=${REF_BIN_DIR:-/usr/lib/cni}
RESULTS=${RESULTS:-$ROOT/bench/results/cri-burst.tsv}
for c in containerd ctr containerd-shim-runc-v2 runc podman nsenter unshare jq dotnet; do
  command -v "$c" >/dev/null || { echo "cri-burst: $c is required (./build.sh test installs the runtimes)" >&2; exit 1; }
done
for p in bridge host-local portmap loopback; do
  [ -x "$OURS/$p" ] || { echo "cri-burst: no $OURS/$p (run ./build.sh)" >&2; exit 1; }
  [ -x "$REF/$p" ] || { echo "cri-burst: no $REF/$p" >&2; exit 1; }
done

netns_path() { printf '/var/run/netns/%s\n' "$1"; } # what runtimes.sh's pm needs from integration/lib.sh
source "$ROOT/integration/runtimes.sh"
busybox_static >/dev/null || { echo "cri-burst: needs busybox-static for the sandbox image" >&2; exit 1; }

TAG=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/cnib-cri.XXXXXX)
IMAGE="localhost/cnib-pause:$TAG"
declare -A CTD_PID=()
cleanup() {
  set +e
  local side
  for side in "${!CTD_PID[@]}"; do stop_pid "${CTD_PID[$side]}" 10; done
  kill_procs_under "$WORK"
  for side in ours ref; do cgroup_kill "cnib-cri-$side-$TAG"; done
  podman_teardown
  umount_under "$WORK"
  for side in ours ref; do cgroup_remove "cnib-cri-$side-$TAG"; done
  for ns in $(ip netns list | awk '{print $1}' | grep -- "-$TAG\$"); do ip netns del "$ns"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "cri-burst: building the CRI client" >&2
dotnet build "$ROOT/tests/Cni.Cri" -c Release -nologo -v quiet >&2
CRI_DLL="$ROOT/tests/Cni.Cri/bin/Release/net10.0/cri-client.dll"
cri() { local side=$1; shift; timeout 600 dotnet "$CRI_DLL" --endpoint "unix://$WORK/$side/ctd/containerd.sock" --timeout 300 "$@"; }

# ---- one node, one containerd per side ----------------------------------------------------------------------
EXAMPLE="$ROOT/conf/15-k8s-node.conflist"
for side in ours ref; do
  bin=$OURS; [ "$side" = ref ] && bin=$REF
  d=$WORK/$side
  mkdir -p "$d/cni-bin" "$d/net.d" "$d/cache" "$d/ipam"
  for p in bridge host-local portmap loopback; do cp "$bin/$p" "$d/cni-bin/"; done
  jq --arg dir "$d/ipam" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir' \
    "$EXAMPLE" >"$d/net.d/10-k8s.conflist"
  ip netns add "cnib-cri-$side-$TAG"
  ip -n "cnib-cri-$side-$TAG" link set lo up
  cri_containerd_write "$d/ctd" "$d/ctd/containerd.sock" "$IMAGE" "$d/cni-bin" "$d/net.d" "$d/cache"
done

echo "cri-burst: building the sandbox image" >&2
podman_config "$WORK/podman" "$WORK/ours/cni-bin" "$WORK/podman-net.d" "cnib-cri-ours-$TAG"
mkdir -p "$WORK/podman-net.d"
busybox_rootfs_tar "$WORK/rootfs.tar"
pm import --change 'CMD ["/bin/sleep","100000"]' "$WORK/rootfs.tar" "$IMAGE" >/dev/null
pm save --format oci-archive -o "$WORK/image.tar" "$IMAGE" >/dev/null 2>&1
podman_teardown

for side in ours ref; do
  cri_containerd_start pid "$WORK/$side/ctd" "cnib-cri-$side-$TAG"
  CTD_PID[$side]=$pid
  for _ in $(seq 150); do cri "$side" version >/dev/null 2>&1 && break; sleep 0.2; done
  cri "$side" version >/dev/null || { tail -n 20 "$WORK/$side/ctd/log" >&2; exit 1; }
  timeout 120 ctr --address "$WORK/$side/ctd/containerd.sock" --namespace k8s.io images import "$WORK/image.tar" >/dev/null
  for _ in $(seq 100); do cri "$side" status | grep -q '^NetworkReady true' && break; sleep 0.2; done
done

burst() { # SIDE LABEL OUT [extra pod options]
  local side=$1 label=$2 out=$3
  shift 3
  cri "$side" burst "$PODS" --name "$label" --namespace bench --cgroup-parent "/cnib-cri-$side-$TAG" "$@" >"$out" \
    || { echo "cri-burst: a call failed on $side ($label)" >&2; exit 1; }
  # Nothing may be left behind: leases, veths, port mappings.
  local left; left=$(find "$WORK/$side/ipam" -name '10.244.*' | wc -l)
  [ "$left" = 0 ] || { echo "cri-burst: $side left $left leases" >&2; exit 1; }
}

echo "cri-burst: warm-up" >&2
for side in ours ref; do PODS=3 burst "$side" warm "$WORK/warm-$side" --host-port-base 30000; done

for r in $(seq "$ROUNDS"); do
  order="ref ours"; [ $((r % 2)) = 0 ] && order="ours ref"
  for side in $order; do
    echo "cri-burst: round $r $side" >&2
    burst "$side" "r$r" "$WORK/$side-$r" --host-port-base 30000
  done
  echo "cri-burst: round $r hostnet" >&2
  burst ours "h$r" "$WORK/hostnet-$r" --host-network
done

# ---- statistics -------------------------------------------------------------------------------------------------
pct() { # FILE P -> the P-th percentile (nearest rank)
  sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; if (i>NR) i=NR; printf "%.1f", a[i]}'
}
mkdir -p "$(dirname "$RESULTS")"
{
  echo "# cri-burst: $PODS pods in parallel x $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
  printf "series\tphase\tp50_ms\tp99_ms\twall_ms\n"
  for series in ours ref hostnet; do
    for phase in run stop remove; do
      cat "$WORK/$series"-[0-9]* | awk -v p="$phase" '$1 == p { print $3 }' >"$WORK/$series-$phase.ms"
      cat "$WORK/$series"-[0-9]* | awk -v p="$phase" '$1 == "wall" && $2 == p { print $3 }' >"$WORK/$series-$phase.wall"
      printf "%s\t%s\t%s\t%s\t%s\n" "$series" "$phase" "$(pct "$WORK/$series-$phase.ms" 50)" "$(pct "$WORK/$series-$phase.ms" 99)" \
        "$(pct "$WORK/$series-$phase.wall" 50)"
    done
  done
} >"$RESULTS"

echo "CRI burst: $PODS pods in parallel (hostPort each) x $ROUNDS rounds, containerd $(containerd --version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "per call ms (p50/p99) and the burst's wall ms (median over rounds); hostnet = same burst without CNI"
printf "%-7s %22s %22s %22s %12s\n" phase "reference p50/p99/wall" "ours p50/p99/wall" "hostnet p50/p99/wall" "ratio (wall)"
for phase in run stop remove; do
  row() { awk -F'\t' -v s="$1" -v p="$phase" '$1 == s && $2 == p { printf "%s/%s/%s", $3, $4, $5 }' "$RESULTS"; }
  wall() { awk -F'\t' -v s="$1" -v p="$phase" '$1 == s && $2 == p { print $5 }' "$RESULTS"; }
  printf "%-7s %22s %22s %22s %11.2fx\n" "$phase" "$(row ref)" "$(row ours)" "$(row hostnet)" "$(echo "$(wall ref) / $(wall ours)" | bc -l)"
done

# ---- where the time goes: process time per command during one burst (perf sched events) ----------------------
if command -v perf >/dev/null && [ "${PERF:-1}" = 1 ]; then
  for side in ref ours; do
    perf record -q -a -e sched:sched_process_exec,sched:sched_process_exit -o "$WORK/$side.perf" -- \
      bash -c "$(declare -f cri burst); WORK=$WORK CRI_DLL=$CRI_DLL PODS=$PODS TAG=$TAG; burst $side perf $WORK/$side-perf.out --host-port-base 30000" \
      >/dev/null 2>&1 || { echo "cri-burst: perf burst failed on $side" >&2; continue; }
    echo "$side: process time during one burst of $PODS (run+stop+remove): exec to exit, summed per executable (ms), count, mean"
    perf script -i "$WORK/$side.perf" -F tid,time,event,trace 2>/dev/null | awk '
      /sched_process_exec/ { t = $2; sub(":", "", t); f = $0; sub(/.*filename=/, "", f); sub(/ .*/, "", f); start[$1] = t; file[$1] = f }
      /sched_process_exit/ { t = $2; sub(":", "", t); p = $1; if (p in start) { d = (t - start[p]) * 1000; sum[file[p]] += d; n[file[p]]++; delete start[p] } }
      END { for (f in sum) if (f ~ /^\/opt\/cni\/bin\// || f ~ /runc$/) printf "  %-36s %9.1f  n=%4d  mean %7.2f\n", f, sum[f], n[f], sum[f] / n[f] }' | sort -k2 -rn
  done
fi
echo "results: $RESULTS"
