#!/usr/bin/env bash
# Per-process cost of one etcd transaction from a fresh process, for the two client choices of cluster-ipam
# (see README.md here): start-up + one TLS connection with a client certificate + one txn (create-if-absent).
#   bash bench/etcd-probe/measure.sh [RUNS]      (default 100; needs root; builds the probes into a temp dir)
# Starts a throwaway 3-member TLS etcd cluster (integration/etcd-cluster.sh) and a client namespace on its
# switch; prints mean task-clock (CPU, all threads) and mean wall time per run from perf stat -r, and file size,
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
printf '%-44s %10s %10s %8s\n' probe "cpu ms" "wall ms" "size KiB"
for trust in narrowed system; do
  for p in json:EtcdProbeJson grpc:EtcdProbeGrpc; do
    dir=${p%%:*} exe=$work/${p%%:*}/${p##*:}
    sys=0; [ "$trust" = system ] && sys=1
    SHARPCNI_ETCD_SYSTEM_TRUST=$sys ip netns exec "$client" "$exe" "${args[@]}" >/dev/null   # warm the page cache
    out=$(SHARPCNI_ETCD_SYSTEM_TRUST=$sys ip netns exec "$client" perf stat -r "$RUNS" -e task-clock "$exe" "${args[@]}" 2>&1 >/dev/null)
    cpu=$(awk '/task-clock/ {print $1; exit}' <<<"$out")
    wall=$(awk '/seconds time elapsed/ {printf "%.2f", $1 * 1000}' <<<"$out")
    printf '%-44s %10s %10s %8d\n' "$dir (${exe##*/}), $trust trust store" "$cpu" "$wall" $(( $(stat -c %s "$exe") / 1024 ))
  done
done
