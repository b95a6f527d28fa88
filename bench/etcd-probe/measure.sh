#!/usr/bin/env bash
# Per-process cost of one etcd transaction from a fresh process, for the two client choices of cluster-ipam
# (see README.md here): start-up + one TLS connection with a client certificate + one txn (create-if-absent).
#   bash bench/etcd-probe/measure.sh [RUNS]      (default 100; needs root; builds the probes into a temp dir)
# Starts a throwaway 3-member TLS etcd cluster (integration/etcd-cluster.sh) and a client namespace on its
# switch; prints task-clock (CPU, all threads) and wall time per run from perf stat -r, and file size,
# with the system trust store narrowed to the CA file (what Cni.Etcd does) and as .NET loads it by default
# (SHARPCNI_ETCD_SYSTEM_TRUST=1: every file of /etc/ssl/certs parsed once per process).
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-${1:-100}}
work=$(mktemp -d /tmp/etcd-probe-measure.XXXXXX)
source ../../integration/etcd-cluster.sh
cleanup() { set +e; etcd_cluster_stop; rm -rf "$work"; }
trap cleanup EXIT
for p in json grpc; do
  dotnet publish "$p" -c Release -o "$work/$p" -nologo -v quiet -p:DebugType=none 2>&1 | grep -E " error |warning [A-Z]+[0-9]+" || true
done
etcd_cluster_start "$work/etcd" >/dev/null
client="etcd-probe-client-$$"
_etcd_netns "$client"
etcd_cluster_attach "$client" "$ETCD_SUBNET_PREFIX.200"
args=("$ETCD_ENDPOINTS" "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY")
# Interleaved: ROUNDS rounds, each running every probe RUNS/ROUNDS times in turn, so load from other processes on
# the machine falls on all of them alike; the median of the round means is printed.
ROUNDS=${ROUNDS:-5}
per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
probes=(json:EtcdProbeJson:narrowed grpc:EtcdProbeGrpc:narrowed json:EtcdProbeJson:system grpc:EtcdProbeGrpc:system)
for p in "${probes[@]}"; do ip netns exec "$client" "$work/${p%%:*}/$(cut -d: -f2 <<<"$p")" "${args[@]}" >/dev/null; done  # page cache
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${probes[@]}"; do
    IFS=: read -r dir exe trust <<<"$p"
    sys=0; [ "$trust" = system ] && sys=1
    out=$(SHARPCNI_ETCD_SYSTEM_TRUST=$sys ip netns exec "$client" perf stat -r "$per" -e task-clock "$work/$dir/$exe" "${args[@]}" 2>&1 >/dev/null)
    echo "$(awk '/task-clock/ {print $1; exit}' <<<"$out") $(awk '/seconds time elapsed/ {printf "%.2f", $1 * 1000}' <<<"$out")" >>"$work/$dir-$trust"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-44s %10s %10s %8s\n' "probe ($ROUNDS rounds x $per runs)" "cpu ms" "wall ms" "size KiB"
for p in "${probes[@]}"; do
  IFS=: read -r dir exe trust <<<"$p"
  printf '%-44s %10s %10s %8d\n' "$dir ($exe), $trust trust store" "$(cut -d' ' -f1 "$work/$dir-$trust" | median)" \
    "$(cut -d' ' -f2 "$work/$dir-$trust" | median)" $(( $(stat -c %s "$work/$dir/$exe") / 1024 ))
done
