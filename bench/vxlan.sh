#!/usr/bin/env bash
# vxlan ADD/DEL on a node whose vxlan device already exists (made by the first ADD of each round),
# against a plain bridge ADD/DEL, both ours, through cnitool in the same run.
#   bench/vxlan.sh [N] [ROUNDS]
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export REF_BIN_DIR=$ROOT/bin REF_TEMPLATE=$ROOT/bench/templates/bridge-nomasq.conflist LABEL_REF=bridge LABEL_OURS=vxlan
export NODE_SETUP='ip link add ul0 type veth peer name ul1 && ip addr add 192.168.213.1/24 dev ul0 && ip link set ul0 up && ip link set ul1 up'
bash "$ROOT/bench/chain.sh" "$ROOT/bench/templates/vxlan.conflist" "${1:-40}" "${2:-3}"
rc=$?
rm -f /run/sharpcni/vxlan-4321.lock; rmdir /run/sharpcni 2>/dev/null
exit $rc
