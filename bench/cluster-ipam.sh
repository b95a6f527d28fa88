#!/usr/bin/env bash
# The price of cluster-wide uniqueness per call: bridge + cluster-ipam against bridge + host-local, same run, same
# bridge settings (bench/chain.sh with REF = our own bin/ and host-local), TLS with client certificates on, against a
# throwaway 3-member etcd cluster (integration/etcd-cluster.sh). Run twice: with 100 allocations of other nodes in
# the cluster, then with 10,000 (bench/etcd-fill.py writes them in cluster-ipam's layout): a call reads only its
# node's blocks and one attachment key, so both should cost the same. Each level is measured twice: the plugin with
# its own TLS connection to etcd, and through sharpcni-agent's etcd relay (RELAY=0 skips that).
#   bench/cluster-ipam.sh [N] [ROUNDS]        (default 40 3; needs root, etcd, etcdctl, openssl, python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-40}
ROUNDS=${2:-3}
[ -x "$ROOT/bin/cluster-ipam" ] || { echo "no bin/cluster-ipam (run ./build.sh)" >&2; exit 1; }
# WORK_PARENT=/dev/shm puts the etcd members' data on tmpfs (no disk fsync in the measured calls).
WORK=$(mktemp -d "${WORK_PARENT:-/tmp}/cnib-etcd.XXXXXX")
source "$ROOT/integration/etcd-cluster.sh"
AGENT_PID=
cleanup() { set +e; [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null; etcd_cluster_stop; rm -rf "$WORK"; }
trap cleanup EXIT
etcd_cluster_start "$WORK/etcd" >/dev/null
fill_ns="etcd-fill-$ETCD_TAG"
_etcd_netns "$fill_ns"
etcd_cluster_attach "$fill_ns" "$ETCD_SUBNET_PREFIX.150"
# Two ways to etcd: the plugin's own TLS connection (agentSocket "": what every call pays without an agent), and
# through sharpcni-agent's etcd relay (the agent keeps its TLS connections; the plugin talks to it over a Unix socket).
sed -e "s|@ENDPOINTS@|$ETCD_ENDPOINTS_JSON|" -e "s|@CA@|$ETCD_CA|" -e "s|@CERT@|$ETCD_CERT|" -e "s|@KEY@|$ETCD_KEY|" \
  -e "s|@AGENT_SOCKET@||" "$ROOT/bench/templates/bridge-cluster-ipam.conflist" >"$WORK/bridge-cluster-ipam.conflist"
mkdir -p "$WORK/agent-conf" "$WORK/agent-names"
sed -e "s|@ENDPOINTS@|$ETCD_ENDPOINTS_JSON|" -e "s|@CA@|$ETCD_CA|" -e "s|@CERT@|$ETCD_CERT|" -e "s|@KEY@|$ETCD_KEY|" \
  -e "s|@AGENT_SOCKET@|$WORK/etcd.sock|" "$ROOT/bench/templates/bridge-cluster-ipam.conflist" >"$WORK/agent-conf/bridge-cluster-ipam-relay.conflist"
: >"$WORK/agent-resolv.conf"
# Each fresh node namespace of chain.sh gets a port on the etcd switch.
export NODE_SETUP="ip -n $ETCD_SWITCH link del pbench 2>/dev/null; ip -n $ETCD_SWITCH link add pbench type veth peer name etcd0 netns \$\$ && ip -n $ETCD_SWITCH link set pbench master br0 up && ip addr add $ETCD_SUBNET_PREFIX.151/24 dev etcd0 && ip link set etcd0 up"
export REF_BIN_DIR="${OURS_BIN_DIR:-$ROOT/bin}" REF_TEMPLATE="$ROOT/bench/templates/bridge-nomasq.conflist" LABEL_REF=host-local LABEL_OURS=cluster-ipam
filled=0
for total in 100 10000; do
  ip netns exec "$fill_ns" python3 "$ROOT/bench/etcd-fill.py" "${ETCD_ENDPOINTS%%,*}" "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY" "$total" >/dev/null
  echo "== $total allocations of other nodes in the cluster ($(etcd_count /sharpcni/ipam/v1/attachments/) attachment keys)"
  echo "-- the plugin's own TLS connection to etcd"
  LABEL_OURS=cluster-ipam bash "$ROOT/bench/chain.sh" "$WORK/bridge-cluster-ipam.conflist" "$N" "$ROUNDS"
  if [ -x "${OURS_BIN_DIR:-$ROOT/bin}/sharpcni-agent" ] && [ "${RELAY:-1}" = 1 ]; then
    if [ -z "$AGENT_PID" ]; then
      # The agent reaches etcd from the fill namespace; the Unix socket is a path, so the node namespaces reach it.
      ip netns exec "$fill_ns" "${OURS_BIN_DIR:-$ROOT/bin}/sharpcni-agent" --conf-dir "$WORK/agent-conf" --names-dir "$WORK/agent-names" \
        --resolv-conf "$WORK/agent-resolv.conf" --etcd-socket "$WORK/etcd.sock" 2>"$WORK/agent.log" &
      AGENT_PID=$!
      for _ in $(seq 50); do [ -S "$WORK/etcd.sock" ] && break; sleep 0.1; done
    fi
    echo "-- through sharpcni-agent's etcd relay"
    LABEL_OURS=cluster-ipam+relay bash "$ROOT/bench/chain.sh" "$WORK/agent-conf/bridge-cluster-ipam-relay.conflist" "$N" "$ROUNDS"
  fi
done
