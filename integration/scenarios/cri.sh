#!/usr/bin/env bash
# The Kubernetes path: kubelet -> containerd's CRI plugin -> go-cni/libcni -> /opt/cni/bin, on our plugins.
# A CRI client of this project (tests/Cni.Cri, runtime.v1 gRPC over containerd's unix socket) makes the calls
# kubelet makes for a pod sandbox: Version, Status, RunPodSandbox, PodSandboxStatus, StopPodSandbox,
# RemovePodSandbox.
#
# containerd (Debian's 1.6) runs privately: inside a node network namespace (nsenter --net, which is the
# handle on the node namespace it keeps) and a private mount namespace (unshare -m --propagation private)
# where /run (shim sockets and runc state are hard-coded under /run/containerd), /var/lib/cni (libcni's cache),
# /etc/cni/net.d and /opt/cni/bin are test directories bind-mounted over the real paths. Its root, state and
# sockets are in a temp dir; pods get a cgroup_parent so their cgroups can be removed; it is stopped by PID.
# The sandbox ("pause") image is the busybox-static rootfs with CMD sleep, podman-imported, saved as an OCI
# archive and `ctr -n k8s.io image import`ed: no registry is reached.
#
# The network is conf/15-k8s-node.conflist (bridge + host-local + portmap), its host-local dataDir moved into
# the temp dir, as /etc/cni/net.d/10-...; a later conflist in name order (99-...) is broken for us (a plugin
# type that does not exist, another subnet) and must not be used: containerd takes the first file by name.
# containerd also runs loopback from /opt/cni/bin for the pod's lo, and sends CNI_ARGS
# IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..
#
# Proves: Status reports NetworkReady; pods get addresses of the conflist's subnet (leases in the dataDir), lo
# up; node -> pod and pod -> pod ping; hostPort TCP and UDP mappings answer on the node's address (from a client
# namespace and from the node) and on 127.0.0.1; StopPodSandbox releases the address, the port mappings (nft
# elements gone, the port silent while the server still runs) and the veth; a second Stop succeeds;
# RemovePodSandbox succeeds and the sandbox is gone. Skips only when containerd is not installed.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/runtimes.sh"
expect_checks 49

# Only a machine without containerd skips; anything else missing is a failure (./build.sh test_deps installs it).
if ! command -v containerd >/dev/null 2>&1; then
    skip "containerd is not installed (./build.sh test_deps installs it)"
    finish
fi
have_all() {
    local c missing=()
    for c in ctr containerd-shim-runc-v2 runc podman unshare nsenter jq nft python3 dotnet; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    for c in bridge host-local portmap loopback; do [ -x "$CNI_BIN_DIR/$c" ] || missing+=("$CNI_BIN_DIR/$c"); done
    busybox_static >/dev/null || missing+=("static busybox (busybox-static)")
    [ "${#missing[@]}" = 0 ] || { echo "missing: ${missing[*]}"; return 1; }
}
check "everything the scenario needs is installed and built" have_all || finish

# ---- the CRI client (built from tests/Cni.Cri; a build failure is a failure, not a skip) ----------------------
CRI_PROJECT="$REPO_ROOT/tests/Cni.Cri"
check "the CRI client builds (tests/Cni.Cri)" \
    timeout 300 dotnet build "$CRI_PROJECT" -c Release -nologo -v quiet -p:TreatWarningsAsErrors=true || finish
CRI_DLL="$CRI_PROJECT/bin/Release/net10.0/cri-client.dll"

EXAMPLE="$REPO_ROOT/conf/15-k8s-node.conflist"
NET="$(jq -r .name "$EXAMPLE")"
SUBNET="$(jq -r '.plugins[0].ipam.ranges[0][0].subnet' "$EXAMPLE")"
BRIDGE="$(jq -r '.plugins[0].bridge' "$EXAMPLE")"
PREFIX="${SUBNET%.*/*}"
IMAGE="localhost/cnit-pause:$RUN_ID"
CGROUP_PARENT="cnit-cri-$RUN_ID"
NODE_IP=192.168.232.1 CLIENT_IP=192.168.232.2
TCP_PORT=18080 UDP_PORT=15353

new_tmpdir WORK || exit 1
CTD="$WORK/ctd" CNI_BIN="$WORK/cni-bin" CNI_CONF="$WORK/net.d" CNI_CACHE="$WORK/cni-cache" IPAM_DIR="$WORK/ipam"
mkdir -p "$CNI_BIN" "$CNI_CONF" "$CNI_CACHE" "$IPAM_DIR" "$WORK/logs"
SOCK="$CTD/containerd.sock"
for p in bridge host-local portmap loopback; do cp "$CNI_BIN_DIR/$p" "$CNI_BIN/"; done
jq --arg dir "$IPAM_DIR" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir' "$EXAMPLE" >"$CNI_CONF/10-$(basename "$EXAMPLE")"
cat >"$CNI_CONF/99-not-used.conflist" <<'EOF'
{"cniVersion":"1.0.0","name":"not-used","plugins":[{"type":"no-such-plugin","bridge":"unused0",
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/24"}]]}}]}
EOF

new_netns NODE node || exit 1
new_netns CLIENT client || exit 1
# The node's uplink to a client namespace, made inside the node (the root namespace is never touched).
ip -n "$NODE" link add uplink type veth peer name eth0 netns "$CLIENT" || exit 1
ip -n "$NODE" addr add "$NODE_IP/24" dev uplink && ip -n "$NODE" link set uplink up
ip -n "$CLIENT" addr add "$CLIENT_IP/24" dev eth0 && ip -n "$CLIENT" link set eth0 up

CTD_PID=""
PODS=()
host_dir_watch /run/containerd /var/lib/cni /run/libpod /run/containers
cri() { timeout 150 dotnet "$CRI_DLL" --endpoint "unix://$SOCK" --timeout 120 "$@"; }
runtime_cleanup() {
    local id
    if [ -n "$CTD_PID" ] && kill -0 "$CTD_PID" 2>/dev/null; then
        for id in "${PODS[@]}"; do
            cri stop "$id" >/dev/null 2>&1
            cri remove "$id" >/dev/null 2>&1
        done
    fi
    stop_pid "$CTD_PID" 10
    kill_procs_under "$WORK" # shims (their command line names our socket)
    cgroup_kill "$CGROUP_PARENT"
    podman_teardown
    umount_under "$WORK"
    cgroup_remove "$CGROUP_PARENT"
    host_dir_restore
}
trap 'rc=$?; trap "" INT TERM; runtime_cleanup; (exit $rc); _cnit_cleanup' EXIT

# ---- the sandbox image: busybox-static rootfs, CMD sleep -> podman import -> oci-archive ---------------------
podman_config "$WORK/podman" "$CNI_BIN" "$WORK/podman-net.d" "$NODE" || exit 1
mkdir -p "$WORK/podman-net.d"
busybox_rootfs_tar "$WORK/rootfs.tar" || exit 1
check "sandbox image imported into podman (busybox-static rootfs, CMD sleep)" \
    pm import --change 'CMD ["/bin/sleep","100000"]' "$WORK/rootfs.tar" "$IMAGE" || finish
check "sandbox image saved as an OCI archive" pm save --format oci-archive -o "$WORK/image.tar" "$IMAGE" || finish
podman_teardown

# ---- a private containerd with the CRI plugin -----------------------------------------------------------------
cri_containerd_write "$CTD" "$SOCK" "$IMAGE" "$CNI_BIN" "$CNI_CONF" "$CNI_CACHE" || exit 1
cri_containerd_start CTD_PID "$CTD" "$NODE"
if ! wait_until 60 cri version; then
    check "containerd answers CRI Version within 60 s" false
    tail -n 20 "$CTD/log" | sed 's/^/    | /'
    finish
fi
check "CRI Version: containerd answers runtime.v1 on its socket (pid $CTD_PID)" cri version
echo "    | $LAST_OUTPUT"
check "sandbox image imported into containerd's k8s.io namespace" \
    timeout 120 ctr --address "$SOCK" --namespace k8s.io images import "$WORK/image.tar" || finish

network_ready() { cri status | grep -q '^NetworkReady true'; }
runtime_ready() { cri status | grep -q '^RuntimeReady true'; }
check "CRI Status reports RuntimeReady" runtime_ready
check "CRI Status reports NetworkReady (our conflist and loopback loaded)" wait_until 20 network_ready
[ "$FAILED" = 0 ] || { cri status | sed 's/^/    | /'; tail -n 20 "$CTD/log" | sed 's/^/    | /'; }

# ---- two pods -------------------------------------------------------------------------------------------------
run_pod() { # NAME [pod options] : prints the sandbox ID (errors in $WORK/run.err)
    local name="$1"
    shift
    cri run --name "$name" --uid "uid-$name-$RUN_ID" --namespace "ns-$RUN_ID" --attempt 0 --hostname "$name" \
        --log-dir "$WORK/logs/$name" --cgroup-parent "/$CGROUP_PARENT" "$@" 2>"$WORK/run.err"
}
WEB="$(run_pod web --port "tcp:80:$TCP_PORT" --port "udp:5353:$UDP_PORT")"
[ -n "$WEB" ] && PODS+=("$WEB")
if ! check "RunPodSandbox web, hostPort tcp $TCP_PORT -> 80 and udp $UDP_PORT -> 5353 (${WEB:0:12})" test -n "$WEB"; then
    sed 's/^/    | /' "$WORK/run.err"; grep -i error "$CTD/log" | tail -n 5 | sed 's/^/    | /'; finish
fi
OTHER="$(run_pod other)"
[ -n "$OTHER" ] && PODS+=("$OTHER")
check "RunPodSandbox other, no ports (${OTHER:0:12})" test -n "$OTHER" || { sed 's/^/    | /' "$WORK/run.err"; finish; }

pod_ip() { cri inspect "$1" | sed -n 's/^ip //p' | head -n 1; }
pod_pid() { head -n 1 "/sys/fs/cgroup/pids/$CGROUP_PARENT/$1/cgroup.procs" 2>/dev/null; }
WEB_IP="$(pod_ip "$WEB")" OTHER_IP="$(pod_ip "$OTHER")"
pod_state_is() { cri inspect "$1" | grep -qx "state $2"; }
check "PodSandboxStatus: web is SANDBOX_READY" pod_state_is "$WEB" SANDBOX_READY
check "web has an address of $SUBNET ($WEB_IP)" test "${WEB_IP%.*}" = "$PREFIX"
check "other has an address of $SUBNET ($OTHER_IP)" test "${OTHER_IP%.*}" = "$PREFIX" -a "$OTHER_IP" != "$WEB_IP"
check "host-local leased $WEB_IP to web's sandbox ID on eth0" \
    bash -c "tr -d '\r' <'$IPAM_DIR/$NET/$WEB_IP' | tr '\n' ' ' | grep -qx '$WEB eth0 *'"
check "the later conflist (99-not-used, type no-such-plugin) is not used: no lease outside $SUBNET, no bridge unused0" \
    bash -c "[ ! -e '$IPAM_DIR/not-used' ] && [ ! -e /var/lib/cni/networks/not-used ] && ! ip -n '$NODE' link show unused0 >/dev/null 2>&1"
WEB_PID="$(pod_pid "$WEB")" OTHER_PID="$(pod_pid "$OTHER")"
check "the sandboxes run in the cgroup parent /$CGROUP_PARENT (pids $WEB_PID, $OTHER_PID)" test -n "$WEB_PID" -a -n "$OTHER_PID"
WEB_NS="/proc/$WEB_PID/ns/net" OTHER_NS="/proc/$OTHER_PID/ns/net"
check "loopback (run by containerd from /opt/cni/bin): lo is up in web's namespace" \
    bash -c "nsenter --net='$WEB_NS' ip -o link show lo | grep -q '[<,]UP[,>]'"
check "two veths on $BRIDGE in the node" bash -c "[ \$(ip -n '$NODE' -o link show master '$BRIDGE' | wc -l) = 2 ]"

# CNI_ARGS as containerd sent them, from libcni's cache of the attachment
cache_file() { grep -l "\"containerId\":\"$1\"" "$CNI_CACHE"/results/* 2>/dev/null | head -n 1; }
cni_arg() { jq -r --arg k "$2" '.cniArgs[] | select(.[0] == $k) | .[1]' "$(cache_file "$1")"; }
check "containerd's CNI_ARGS for web: IgnoreUnknown=1, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID" \
    test "$(cni_arg "$WEB" IgnoreUnknown),$(cni_arg "$WEB" K8S_POD_NAMESPACE),$(cni_arg "$WEB" K8S_POD_NAME),$(cni_arg "$WEB" K8S_POD_INFRA_CONTAINER_ID),$(cni_arg "$WEB" K8S_POD_UID)" \
    = "1,ns-$RUN_ID,web,$WEB,uid-web-$RUN_ID"
check "containerd sent portMappings with Go field names (HostPort)" \
    bash -c "jq -e '.capabilityArgs.portMappings[] | select(.HostPort == $TCP_PORT)' '$(cache_file "$WEB")'"

# ---- connectivity ---------------------------------------------------------------------------------------------
check "node -> web ping ($WEB_IP)" netns_ping "$NODE" "$WEB_IP"
check "node -> other ping ($OTHER_IP)" netns_ping "$NODE" "$OTHER_IP"
check "web -> other ping (pod to pod)" nsenter --net="$WEB_NS" ping -c 1 -W 2 "$OTHER_IP"

# ---- hostPort TCP and UDP -------------------------------------------------------------------------------------
mkdir -p "$WORK/www" && echo "$WEB_CONTENT" >"$WORK/www/index.html"
run_bg HTTPD 120 nsenter --net="$WEB_NS" busybox httpd -f -p 80 -h "$WORK/www"
UDP_ECHO='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(512); s.sendto(b"pong " + data, peer)'
run_bg UDPD 120 nsenter --net="$WEB_NS" python3 -c "$UDP_ECHO"
http_get() { ip netns exec "$1" timeout 5 busybox wget -q -O - "$2"; }
body_is() { [ "$(http_get "$1" "$2")" = "$WEB_CONTENT" ]; }
udp_ask() { # NS ADDR : one datagram to ADDR:$UDP_PORT, the answer within 2 s
    ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
sys.exit(0 if s.recvfrom(512)[0] == b"pong ping" else 1)' "$2" "$UDP_PORT"
}
check "web serves on its own address ($WEB_IP:80)" wait_until 10 body_is "$NODE" "http://$WEB_IP/"
check "hostPort tcp: the node's address $NODE_IP:$TCP_PORT answers from a client namespace" \
    wait_until 10 body_is "$CLIENT" "http://$NODE_IP:$TCP_PORT/"
check "hostPort tcp: $NODE_IP:$TCP_PORT answers from the node itself" body_is "$NODE" "http://$NODE_IP:$TCP_PORT/"
check "hostPort tcp: 127.0.0.1:$TCP_PORT answers on the node" body_is "$NODE" "http://127.0.0.1:$TCP_PORT/"
check "hostPort udp: $NODE_IP:$UDP_PORT answers from a client namespace" wait_until 10 udp_ask "$CLIENT" "$NODE_IP"
check "hostPort udp: 127.0.0.1:$UDP_PORT answers on the node" udp_ask "$NODE" 127.0.0.1
pm_elements() { ip netns exec "$NODE" nft list table inet sharpcni 2>/dev/null | grep -cw -e "$TCP_PORT" -e "$UDP_PORT"; }
check "inet sharpcni holds elements for $TCP_PORT and $UDP_PORT" test "$(pm_elements)" -ge 2

# ---- StopPodSandbox gives everything back -----------------------------------------------------------------------
check "StopPodSandbox web" cri stop "$WEB"
check "the lease for $WEB_IP is released" test ! -e "$IPAM_DIR/$NET/$WEB_IP"
check "other's lease is kept" test -e "$IPAM_DIR/$NET/$OTHER_IP"
check "no nft element for $TCP_PORT or $UDP_PORT is left" test "$(pm_elements)" = 0
check "the servers still run (httpd $HTTPD, udp $UDPD)" kill -0 "$HTTPD" "$UDPD"
check_fails "while they run, $NODE_IP:$TCP_PORT no longer answers from the client" http_get "$CLIENT" "http://$NODE_IP:$TCP_PORT/"
check_fails "... nor 127.0.0.1:$TCP_PORT on the node" http_get "$NODE" "http://127.0.0.1:$TCP_PORT/"
check_fails "... nor udp $NODE_IP:$UDP_PORT" udp_ask "$CLIENT" "$NODE_IP"
check "web's veth is gone: one veth left on $BRIDGE" bash -c "[ \$(ip -n '$NODE' -o link show master '$BRIDGE' | wc -l) = 1 ]"
check "web's attachment is gone from libcni's cache" test -z "$(cache_file "$WEB")"
check "PodSandboxStatus: web is SANDBOX_NOTREADY" pod_state_is "$WEB" SANDBOX_NOTREADY
check "a second StopPodSandbox web succeeds" cri stop "$WEB"
check "RemovePodSandbox web" cri remove "$WEB"
check_fails "PodSandboxStatus of the removed web fails" cri inspect "$WEB"
stop_remove() { cri stop "$1" && cri remove "$1"; }
check "StopPodSandbox + RemovePodSandbox other" stop_remove "$OTHER"
PODS=()
check "no lease left in the dataDir" test "$(find "$IPAM_DIR/$NET" -maxdepth 1 -name "$PREFIX.*" | wc -l)" = 0
check "no veth left on $BRIDGE" bash -c "[ -z \"\$(ip -n '$NODE' -o link show master '$BRIDGE')\" ]"
check "libcni's cache holds no attachment" test "$(find "$CNI_CACHE" -type f | wc -l)" = 0

# ---- stop the daemon by its pid ------------------------------------------------------------------------------------
stop_pid "$CTD_PID" 10
check "containerd (pid $CTD_PID) stopped" bash -c "! kill -0 $CTD_PID 2>/dev/null"
CTD_PID=""

finish
