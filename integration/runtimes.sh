# shellcheck shell=bash
# Helpers for the scenarios that drive real container runtimes (podman.sh, containerd.sh).
# Source after lib.sh. Nothing here touches the root network namespace: the runtimes run
# inside a node namespace through `nsenter --net=`.
#
#   busybox_static                 path of a statically linked busybox (or fails)
#   busybox_rootfs_tar OUT         a rootfs tar: static busybox, applet symlinks, /www/index.html
#   podman_config DIR PLUGINS NETDIR NODE
#                                  private containers.conf + storage.conf under DIR (vfs, cgroupfs,
#                                  runc, CNI backend reading NETDIR, plugins from PLUGINS); pm runs
#                                  podman with them inside NODE
#   pm ARGS...                     podman, bounded by PODMAN_TIMEOUT seconds
#   podman_teardown                removes every container, unmounts what is left under DIR
#   host_dir_watch PATH...         remembers which of these host paths are missing now;
#   host_dir_restore               removes them again at the end (files; directories only when empty)
#   kill_procs_under DIR           kills (by pid) leftover processes whose command line names DIR
#   umount_under DIR               lazily unmounts every mount point below DIR (deepest first)
#   cgroup_remove NAME             removes /sys/fs/cgroup/<controller>/NAME trees (empty cgroups only)
#   cgroup_kill NAME               kills (by pid) every process left in /sys/fs/cgroup/<controller>/NAME trees
#   stop_pid PID SECONDS           TERM, a bounded wait, then KILL (and reaps it when it is our child)
#   cri_containerd_write, cri_containerd_start   a private containerd with the CRI plugin (see below)
#   ensure_dir_function OVL        prints a shell function, ensure_dir DIR, for a script running in a private
#                                  mount namespace: DIR is made there only (tmpfs-backed overlays under OVL)

PODMAN_TIMEOUT="${PODMAN_TIMEOUT:-120}"
WEB_CONTENT="hello from sharpcni"

busybox_static() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        [ -x "$b" ] || continue
        # ldd exits non-zero for a static executable
        if ! ldd "$b" >/dev/null 2>&1; then
            printf '%s\n' "$b"
            return 0
        fi
    done
    return 1
}

busybox_rootfs_tar() {
    local out="$1" root bb a
    bb="$(busybox_static)" || return 1
    root="$(mktemp -d "${TMPDIR:-/tmp}/cnit-rootfs.XXXXXX")" || return 1
    mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
    cp "$bb" "$root/bin/busybox"
    for a in sh httpd ip wget ping cat sleep ls nc echo hostname ifconfig route true grep; do
        ln -s busybox "$root/bin/$a"
    done
    echo "$WEB_CONTENT" >"$root/www/index.html"
    echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    tar -C "$root" -cf "$out" . && rm -rf -- "$root"
}

# node_with_client PREFIX : namespaces NODE (the runtime's host) and CLIENT (a machine outside it), joined by a veth:
# the node's uplink0 is PREFIX.1/24, the client's eth0 PREFIX.2/24. Exits the scenario when they cannot be made.
node_with_client() {
    local prefix="$1"
    new_netns NODE node || exit 1
    new_netns CLIENT client || exit 1
    ip -n "$NODE" link add uplink0 type veth peer name eth0 netns "$CLIENT" || exit 1
    ip -n "$NODE" addr add "$prefix.1/24" dev uplink0
    ip -n "$NODE" link set uplink0 up
    ip -n "$CLIENT" addr add "$prefix.2/24" dev eth0
    ip -n "$CLIENT" link set eth0 up
}

podman_config() {
    PODMAN_DIR="$1"
    local plugins="$2" netdir="$3"
    PODMAN_NODE="$4"
    mkdir -p "$PODMAN_DIR/root" "$PODMAN_DIR/run" "$PODMAN_DIR/tmp" "$PODMAN_DIR/volumes" || return 1
    cat >"$PODMAN_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
runtime = "runc"
tmp_dir = "$PODMAN_DIR/tmp"
volume_path = "$PODMAN_DIR/volumes"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$plugins"]
network_config_dir = "$netdir"
EOF
    cat >"$PODMAN_DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$PODMAN_DIR/run"
graphroot = "$PODMAN_DIR/root"
EOF
    # No registry is ever reached: images come from `podman import`.
    echo 'unqualified-search-registries = []' >"$PODMAN_DIR/registries.conf"
}

pm() {
    nsenter --net="$(netns_path "$PODMAN_NODE")" env \
        CONTAINERS_CONF="$PODMAN_DIR/containers.conf" \
        CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf" \
        CONTAINERS_REGISTRIES_CONF="$PODMAN_DIR/registries.conf" \
        timeout "$PODMAN_TIMEOUT" podman "$@"
}

podman_teardown() {
    [ -n "${PODMAN_DIR:-}" ] && [ -f "$PODMAN_DIR/containers.conf" ] || return 0
    PODMAN_TIMEOUT=60 pm rm -a -f -t 0 >/dev/null 2>&1
    kill_procs_under "$PODMAN_DIR"
    umount_under "$PODMAN_DIR"
}

_cnit_watched_missing=()
host_dir_watch() {
    local p
    for p in "$@"; do
        [ -e "$p" ] || _cnit_watched_missing+=("$p")
    done
}

host_dir_restore() {
    local p
    for p in "${_cnit_watched_missing[@]}"; do
        if [ -d "$p" ]; then
            find "$p" -depth -type d -empty -delete 2>/dev/null
        elif [ -f "$p" ]; then
            rm -f -- "$p"
        fi
    done
    return 0
}

kill_procs_under() {
    local dir="$1" pid pids=() round
    [ -n "$dir" ] || return 0
    for round in 1 2; do
        pids=()
        for pid in /proc/[0-9]*; do
            pid="${pid#/proc/}"
            [ "$pid" = "$$" ] && continue
            if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/"; then
                pids+=("$pid")
            fi
        done
        [ "${#pids[@]}" -gt 0 ] || return 0
        if [ "$round" = 1 ]; then kill "${pids[@]}" 2>/dev/null; sleep 1; else kill -KILL "${pids[@]}" 2>/dev/null; fi
    done
}

umount_under() {
    local dir="$1" m
    [ -n "$dir" ] || return 0
    awk '{print $5}' /proc/self/mountinfo | { grep -F -- "$dir/" || true; } | sort -r | while read -r m; do
        case "$m" in "$dir"/*) umount -l "$m" 2>/dev/null ;; esac
    done
    return 0 # also under pipefail, when nothing was mounted
}

cgroup_remove() {
    local name="$1" c
    [ -n "$name" ] || return 0
    for c in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    return 0
}

cgroup_kill() {
    local name="$1" f pid
    [ -n "$name" ] || return 0
    for f in /sys/fs/cgroup/*/"$name"/cgroup.procs /sys/fs/cgroup/*/"$name"/*/cgroup.procs /sys/fs/cgroup/"$name"/*/cgroup.procs; do
        [ -f "$f" ] || continue
        while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$f"
    done
    return 0
}

stop_pid() {
    local pid="$1" limit="$2" i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < limit * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

ensure_dir_function() {
    local ovl="$1"
    cat <<EOF
# ensure_dir DIR: makes DIR exist in this mount namespace only (an overlay of its nearest existing
# ancestor with the upper layer on a private tmpfs); the host's directories are never written.
_ovl_n=0
ensure_dir() {
    local d="\$1" a
    [ -d "\$d" ] && return 0
    a="\$d"; while [ ! -d "\$a" ]; do a="\$(dirname "\$a")"; done
    _ovl_n=\$((_ovl_n + 1)); mkdir -p "$ovl/ovl\$_ovl_n"; mount -t tmpfs tmpfs "$ovl/ovl\$_ovl_n"
    mkdir "$ovl/ovl\$_ovl_n/u" "$ovl/ovl\$_ovl_n/w"
    mount -t overlay overlay -o "lowerdir=\$a,upperdir=$ovl/ovl\$_ovl_n/u,workdir=$ovl/ovl\$_ovl_n/w" "\$a"
    mkdir -p "\$d"
}
EOF
}

# cri_containerd_write DIR SOCK IMAGE CNI_BIN CNI_CONF CNI_CACHE
#   writes DIR/config.toml (containerd 1.6 with the CRI plugin: root/state/opt under DIR, sandbox_image IMAGE,
#   netns mounts under the state dir, no AppArmor, restricted oom_score_adj, overlayfs, runc v2 with cgroupfs)
#   and DIR/start.sh, which runs in a private mount namespace: DIR/run over /run (shim sockets and runc state
#   are hard-coded under /run/containerd), CNI_BIN over /opt/cni/bin, CNI_CONF over /etc/cni/net.d, CNI_CACHE
#   over /var/lib/cni (libcni's cache), then execs containerd.
# cri_containerd_start VAR DIR NODE
#   starts it inside NODE's network namespace (nsenter --net: the handle on the node namespace, taken before
#   /run, which holds /run/netns, is covered) within unshare -m --propagation private; containerd's PID goes
#   into VAR (nsenter and unshare exec, so $! is containerd itself). Log in DIR/log.
cri_containerd_write() {
    local dir="$1" sock="$2" image="$3" cni_bin="$4" cni_conf="$5" cni_cache="$6"
    mkdir -p "$dir/root" "$dir/state" "$dir/opt" "$dir/run" || return 1
    cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.internal.v1.restart", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$sock"
[ttrpc]
  address = "$dir/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$image"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
EOF
    cat >"$dir/start.sh" <<EOF
set -eu
$(ensure_dir_function "$dir")
mount --bind "$dir/run" /run
ensure_dir /opt/cni/bin; mount --bind "$cni_bin" /opt/cni/bin
ensure_dir /etc/cni/net.d; mount --bind "$cni_conf" /etc/cni/net.d
ensure_dir /var/lib/cni; mount --bind "$cni_cache" /var/lib/cni
exec containerd --config "$dir/config.toml"
EOF
}

cri_containerd_start() {
    local var="$1" dir="$2" node="$3"
    nsenter --net="/var/run/netns/$node" unshare -m --propagation private bash "$dir/start.sh" >"$dir/log" 2>&1 &
    printf -v "$var" '%s' "$!"
}
