#!/usr/bin/env bash
# containerd (Debian's 1.6) on our plugins: a private daemon (own root, state and socket in a temp dir,
# CRI and the /opt plugin disabled) started inside a node namespace and stopped by its PID. `ctr run --rm
# --cni` runs in a private mount namespace (unshare -m) inside the node namespace, where /etc/cni/net.d,
# /opt/cni/bin and libcni's cache /var/lib/cni are test directories bind-mounted over the real paths (a
# missing one is made in a tmpfs-backed overlay of its parent that only this mount namespace sees).
# The network is the Kubernetes-node example conf/15-k8s-node.conflist (bridge + host-local + portmap),
# only its host-local dataDir moved into the temp dir (portmap left out while $CNI_BIN_DIR/portmap is
# missing). The image is the busybox-static rootfs, `podman import`ed, `podman save --format
# oci-archive`d and `ctr image import`ed: no registry is reached.
# Proves: the container sees the address our chain gave it (the lease in the dataDir, held by
# containerd's <namespace>-<id>), its default route via the bridge gateway, and reaches the gateway;
# when it exits the lease is released, the veth is gone and libcni's cache is empty.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/runtimes.sh"
expect_checks 20

require_cmd containerd ctr containerd-shim-runc-v2 runc podman unshare nsenter jq || skip_scenario "containerd, ctr, runc, podman, unshare, nsenter and jq are needed"
for p in bridge host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip_scenario "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
    fi
done
if ! busybox_static >/dev/null; then
    skip_scenario "no statically linked busybox (apt-get install busybox-static) for the image"
fi

EXAMPLE="$REPO_ROOT/conf/15-k8s-node.conflist"
NET="$(jq -r .name "$EXAMPLE")"
SUBNET="$(jq -r '.plugins[0].ipam.ranges[0][0].subnet' "$EXAMPLE")"
GATEWAY="$(jq -r '.plugins[0].ipam.ranges[0][0].gateway' "$EXAMPLE")"
BRIDGE="$(jq -r '.plugins[0].bridge' "$EXAMPLE")"
PREFIX="${SUBNET%.*/*}"
CTD_NS="cnit-$RUN_ID"   # containerd namespace, also the cgroup parent runc creates
CTR_ID="c-$RUN_ID"
FULL_ID="$CTD_NS-$CTR_ID" # the container ID ctr hands to CNI
IMAGE="localhost/cnit-busybox:$RUN_ID"

new_tmpdir WORK || exit 1
CTD="$WORK/ctd" CNI_BIN="$WORK/cni-bin" CNI_CONF="$WORK/net.d" CNI_CACHE="$WORK/cni-cache" IPAM_DIR="$WORK/ipam"
SIGNAL="$WORK/signal"
mkdir -p "$CTD/root" "$CTD/state" "$CTD/fifo" "$CTD/runc" "$CNI_BIN" "$CNI_CONF" "$CNI_CACHE" "$IPAM_DIR" "$SIGNAL"
SOCK="$CTD/containerd.sock"
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$CNI_BIN/"
if [ -x "$CNI_BIN_DIR/portmap" ]; then
    cp "$CNI_BIN_DIR/portmap" "$CNI_BIN/"
    jq --arg dir "$IPAM_DIR" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir' "$EXAMPLE" >"$CNI_CONF/$(basename "$EXAMPLE")"
else
    skip "portmap in the chain: no portmap plugin at $CNI_BIN_DIR/portmap yet (running bridge + host-local)"
    jq --arg dir "$IPAM_DIR" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir | .plugins |= map(select(.type != "portmap"))' \
        "$EXAMPLE" >"$CNI_CONF/$(basename "$EXAMPLE")"
fi

new_netns NODE node || exit 1
HOST_PATHS_BEFORE="$(ls -d /opt/cni/bin /etc/cni/net.d/* /var/lib/cni 2>/dev/null)"

CTD_PID="" RUN_PID=""
host_dir_watch /run/containerd /var/lib/cni /run/libpod /run/containers
ctrc() { timeout 60 ctr --address "$SOCK" --namespace "$CTD_NS" "$@"; }
runtime_cleanup() {
    stop_pid "$RUN_PID" 5
    if [ -n "$CTD_PID" ] && kill -0 "$CTD_PID" 2>/dev/null; then
        local c
        for c in $(ctrc task ls -q 2>/dev/null); do ctrc task kill -s SIGKILL "$c" >/dev/null 2>&1; done
        sleep 0.5
        for c in $(ctrc task ls -q 2>/dev/null); do ctrc task rm -f "$c" >/dev/null 2>&1; done
        for c in $(ctrc containers ls -q 2>/dev/null); do ctrc containers rm "$c" >/dev/null 2>&1; done
    fi
    stop_pid "$CTD_PID" 10
    kill_procs_under "$WORK" # shims (their command line names our socket)
    podman_teardown
    umount_under "$WORK"
    cgroup_remove "$CTD_NS"
    host_dir_restore
}
trap 'rc=$?; trap "" INT TERM; runtime_cleanup; (exit $rc); _cnit_cleanup' EXIT

# ---- the image: busybox-static rootfs -> podman import -> oci-archive ---------------------------------------
podman_config "$WORK/podman" "$CNI_BIN" "$WORK/podman-net.d" "$NODE" || exit 1
mkdir -p "$WORK/podman-net.d"
busybox_rootfs_tar "$WORK/rootfs.tar" || exit 1
if ! out="$(pm import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMAGE" 2>&1)"; then
    skip_scenario "podman (needed to build the image) cannot start here: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi
check "image saved as an OCI archive" pm save --format oci-archive -o "$WORK/image.tar" "$IMAGE" || finish

# ---- a private containerd -------------------------------------------------------------------------------------
cat >"$CTD/config.toml" <<EOF
version = 2
root = "$CTD/root"
state = "$CTD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.internal.v1.restart",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$CTD/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
EOF
nsenter --net="$(netns_path "$NODE")" containerd --config "$CTD/config.toml" >"$CTD/log" 2>&1 &
CTD_PID=$!
if ! wait_until 20 ctrc version; then
    skip_scenario "containerd cannot start here: $(tail -n 3 "$CTD/log" | tr '\n' ' ')"
fi
check "private containerd answers on its socket (pid $CTD_PID)" ctrc version
check "image imported into containerd" ctrc images import --snapshotter native "$WORK/image.tar" || finish
check "image listed as $IMAGE" bash -c "timeout 30 ctr --address '$SOCK' --namespace '$CTD_NS' images ls -q | grep -qx '$IMAGE'"
run_opts=(--rm --snapshotter native --fifo-dir "$CTD/fifo" --runc-root "$CTD/runc")
if ! out="$(ctrc run "${run_opts[@]}" "$IMAGE" "smoke-$RUN_ID" true 2>&1)"; then
    skip_scenario "containerd cannot run a container here (runc): $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi

# ---- ctr run --rm --cni in a private mount namespace --------------------------------------------------------------
cat >"$WORK/ctr-run.sh" <<EOF
set -eu
$(ensure_dir_function "$WORK")
ensure_dir /opt/cni/bin; mount --bind "$CNI_BIN" /opt/cni/bin
ensure_dir /etc/cni/net.d; mount --bind "$CNI_CONF" /etc/cni/net.d
ensure_dir /var/lib/cni; mount --bind "$CNI_CACHE" /var/lib/cni
exec timeout 90 ctr --address "$SOCK" --namespace "$CTD_NS" run ${run_opts[*]} --cni \\
    --mount "type=bind,src=$SIGNAL,dst=/signal,options=rbind:ro" "$IMAGE" "$CTR_ID" \\
    sh -c 'ip -4 -o addr show dev eth0; ip route; ping -c 1 -W 2 $GATEWAY && echo GATEWAY-OK;
           i=0; while [ ! -e /signal/go ] && [ \$i -lt 300 ]; do sleep 0.2; i=\$((i + 1)); done'
EOF
nsenter --net="$(netns_path "$NODE")" unshare -m --propagation private bash "$WORK/ctr-run.sh" >"$WORK/ctr.out" 2>&1 &
RUN_PID=$!

container_up() { grep -q 'GATEWAY-OK\|100% packet loss' "$WORK/ctr.out"; }
check "ctr run --rm --cni starts the container" wait_until 30 container_up
cat "$WORK/ctr.out" | sed 's/^/    | /'
CTR_IP="$(sed -nE 's/.* inet ([0-9.]+)\/.*/\1/p' "$WORK/ctr.out" | head -n 1)"
check "the container sees an address of $SUBNET on eth0 ($CTR_IP)" test "${CTR_IP%.*}" = "$PREFIX"
check "host-local leased exactly that address" test -e "$IPAM_DIR/$NET/$CTR_IP"
check "the lease is held by containerd's $FULL_ID on eth0" \
    bash -c "tr -d '\r' <'$IPAM_DIR/$NET/$CTR_IP' | tr '\n' ' ' | grep -qx '$FULL_ID eth0 *'"
check "the container's default route is via the gateway $GATEWAY" grep -q "^default via $GATEWAY dev eth0" "$WORK/ctr.out"
check "the container reaches the gateway $GATEWAY" grep -q GATEWAY-OK "$WORK/ctr.out"
check "the container's veth is on $BRIDGE in the node" bash -c "[ \$(ip -n '$NODE' -o link show master '$BRIDGE' | wc -l) = 1 ]"
host_paths() { ls -d /opt/cni/bin /etc/cni/net.d/* /var/lib/cni 2>/dev/null; }
check "the host's /opt/cni, /etc/cni/net.d and /var/lib/cni are as before" test "$(host_paths)" = "$HOST_PATHS_BEFORE"

# ---- exit: the address is released ------------------------------------------------------------------------------
touch "$SIGNAL/go"
ctr_exited() { ! kill -0 "$RUN_PID" 2>/dev/null; }
check "the container exits" wait_until 30 ctr_exited
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=""
check "ctr run exited 0" test "$rc" = 0
check "the lease for $CTR_IP is released" test ! -e "$IPAM_DIR/$NET/$CTR_IP"
check "no lease left in the dataDir" test "$(find "$IPAM_DIR/$NET" -maxdepth 1 -name "$PREFIX.*" | wc -l)" = 0
check_lacks "no veth left on $BRIDGE" . ip -n "$NODE" -o link show master "$BRIDGE"
check "libcni's cache holds no attachment" test "$(find "$CNI_CACHE" -type f | wc -l)" = 0
check "containerd has no container left" test -z "$(ctrc containers ls -q 2>&1)"

# ---- stop the daemon by its pid ------------------------------------------------------------------------------------
stop_pid "$CTD_PID" 10
check "containerd (pid $CTD_PID) stopped" bash -c "! kill -0 $CTD_PID 2>/dev/null"
CTD_PID=""

finish
