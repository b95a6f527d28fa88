#!/usr/bin/env bash
# podman (Debian's 4.x, network_backend = "cni") on our plugins: the podman-style example
# conf/87-podman.conflist (bridge + host-local + portmap), with only its host-local dataDir moved into
# the scenario's temp dir. podman runs inside a node namespace (nsenter --net=) with a private
# containers.conf/storage.conf (vfs, cgroupfs, runc), the image is imported from a busybox-static
# rootfs tar: no registry is reached. A client namespace is joined to the node by a veth.
# Proves: podman network ls/inspect show the network; a busybox httpd started with -p HOSTPORT:80 gets
# an address of the range (its lease is in the dataDir) and answers on its address, on the node's
# 127.0.0.1:HOSTPORT and on the node's address from the client; a second container reaches the first by
# address; podman rm -f releases the lease, removes the port mapping from `inet sharpcni` and the veth;
# after rm a stand-in server holds the old container address on the bridge (a namespace with the same
# address and page), and the published port no longer reaches it: a leftover DNAT rule would.
# Port checks skip (with the reason) while $CNI_BIN_DIR/portmap does not exist.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/runtimes.sh"
expect_checks 27

require_cmd podman runc nsenter jq nft || skip_scenario "podman, runc, nsenter, jq and nft are needed"
for p in bridge host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip_scenario "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
    fi
done
if ! busybox_static >/dev/null; then
    skip_scenario "no statically linked busybox (apt-get install busybox-static) for the image"
fi

EXAMPLE="$REPO_ROOT/conf/87-podman.conflist"
NET="$(jq -r .name "$EXAMPLE")"
HOSTPORT=$((20000 + 0x$RUN_ID % 20000))
CGROUP_PARENT="cnit-pm-$RUN_ID"
IMAGE="localhost/cnit-busybox:$RUN_ID"

new_tmpdir WORK || exit 1
PLUGINS="$WORK/plugins" NETDIR="$WORK/net.d" IPAM_DIR="$WORK/ipam"
mkdir -p "$PLUGINS" "$NETDIR" "$IPAM_DIR"
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$PLUGINS/"
HAVE_PORTMAP=0
if [ -x "$CNI_BIN_DIR/portmap" ]; then
    cp "$CNI_BIN_DIR/portmap" "$PLUGINS/"
    HAVE_PORTMAP=1
    jq --arg dir "$IPAM_DIR" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir' "$EXAMPLE" >"$NETDIR/$NET.conflist"
else
    # Without our portmap the example's chain cannot run: the same list minus portmap.
    jq --arg dir "$IPAM_DIR" '(.plugins[] | select(.ipam) | .ipam.dataDir) = $dir | .plugins |= map(select(.type != "portmap"))' \
        "$EXAMPLE" >"$NETDIR/$NET.conflist"
fi
SUBNET="$(jq -r '.plugins[0].ipam.ranges[0][0].subnet' "$EXAMPLE")"
BRIDGE="$(jq -r '.plugins[0].bridge' "$EXAMPLE")"
PREFIX="${SUBNET%.*/*}" # 10.88.0 of 10.88.0.0/16: addresses host-local hands out first

# ---- node and client namespaces ---------------------------------------------------------------------
node_with_client 192.168.231

# ---- podman with a private configuration --------------------------------------------------------------
podman_config "$WORK/podman" "$PLUGINS" "$NETDIR" "$NODE" || exit 1
host_dir_watch /var/lib/cni /run/libpod /run/containers
runtime_cleanup() {
    podman_teardown
    cgroup_remove "$CGROUP_PARENT"
    host_dir_restore
}
trap 'rc=$?; trap "" INT TERM; runtime_cleanup; (exit $rc); _cnit_cleanup' EXIT

run_flags=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroup-parent "/$CGROUP_PARENT")

if ! out="$(pm info --format '{{.Host.NetworkBackend}} {{.Store.GraphDriverName}}' 2>&1)"; then
    skip_scenario "podman cannot start here: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi
check "podman uses the private config (CNI backend, vfs storage)" test "$out" = "cni vfs"

busybox_rootfs_tar "$WORK/rootfs.tar" || exit 1
check "busybox image imported" pm import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMAGE" || finish
if ! out="$(pm run --rm --network none "${run_flags[@]}" "$IMAGE" true 2>&1)"; then
    skip_scenario "podman cannot run a container here (runc): $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi

# ---- the network as podman sees it ----------------------------------------------------------------------
network_listed() { pm network ls --format '{{.Name}} {{.Driver}}' | grep -qx "$NET bridge"; }
check "podman network ls shows the network" network_listed
check "podman network inspect shows our bridge, subnet and host-local" pm network inspect "$NET"
inspect="$LAST_OUTPUT"
check "inspect: interface $BRIDGE, subnet $SUBNET, ipam host-local" \
    json_get "$inspect" ".[0] | select(.driver == \"bridge\" and .network_interface == \"$BRIDGE\" and .subnets[0].subnet == \"$SUBNET\" and .ipam_options.driver == \"host-local\") | .name"

# ---- a web server ------------------------------------------------------------------------------------------
publish=()
if [ "$HAVE_PORTMAP" = 1 ]; then publish=(-p "$HOSTPORT:80"); fi
check "httpd container starts on the network ${publish[*]}" \
    pm run -d --name web --network "$NET" "${publish[@]}" "${run_flags[@]}" "$IMAGE" httpd -f -p 80 -h /www
WEB_ID="$(pm inspect -f '{{.Id}}' web 2>/dev/null)"
SANDBOX="$(pm inspect -f '{{.NetworkSettings.SandboxKey}}' web 2>/dev/null)"
WEB_IP="$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" web 2>/dev/null)"
check "web has an address of $SUBNET ($WEB_IP)" test "${WEB_IP%.*}" = "$PREFIX"
check "the lease for $WEB_IP is in the host-local dataDir, held by the container" \
    grep -q "^$WEB_ID" "$IPAM_DIR/$NET/$WEB_IP"
web_sees_address() { pm exec web ip -4 -o addr show dev eth0 | grep -qF " $WEB_IP/"; }
check "the container has eth0 with $WEB_IP" web_sees_address

http_get() { # ns url : the body (busybox wget; its -T crashes the static build, so timeout(1) bounds it)
    ip netns exec "$1" timeout 5 busybox wget -q -O - "$2"
}
body_is() { [ "$(http_get "$1" "$2")" = "$WEB_CONTENT" ]; }
check "the node reaches httpd at $WEB_IP:80" wait_until 10 body_is "$NODE" "http://$WEB_IP/"

if [ "$HAVE_PORTMAP" = 1 ]; then
    check "the node's 127.0.0.1:$HOSTPORT answers (portmap, localhost)" wait_until 10 body_is "$NODE" "http://127.0.0.1:$HOSTPORT/"
    check "the node's address 192.168.231.1:$HOSTPORT answers from the client namespace" \
        wait_until 10 body_is "$CLIENT" "http://192.168.231.1:$HOSTPORT/"
    check "inet sharpcni holds the mapping for $HOSTPORT" bash -c "ip netns exec '$NODE' nft list table inet sharpcni | grep -w '$HOSTPORT'"
else
    skip "port publishing (-p $HOSTPORT:80 on 127.0.0.1 and the node address): no portmap plugin at $CNI_BIN_DIR/portmap yet" 3
fi

# ---- a second container reaches the first by address ---------------------------------------------------------
second_fetches() {
    local body
    body="$(pm run --rm --network "$NET" "${run_flags[@]}" "$IMAGE" sh -c "timeout 5 wget -q -O - http://$WEB_IP/")" || return 1
    echo "$body"
    [ "$body" = "$WEB_CONTENT" ]
}
leases() { find "$IPAM_DIR/$NET" -maxdepth 1 -name "$PREFIX.*" | wc -l; }
check "a second container on $NET fetches the page from $WEB_IP" second_fetches
check "the second container's lease is gone after --rm" test "$(leases)" = 1
STATIC_IP="$PREFIX.200"
static_ip_seen() { pm run --rm --network "$NET" --ip "$STATIC_IP" "${run_flags[@]}" "$IMAGE" ip -4 -o addr show dev eth0 | grep -F " $STATIC_IP/"; }
check "--ip $STATIC_IP (CNI_ARGS IP= to host-local) gives the container that address" static_ip_seen
check "the static address is released after --rm" test ! -e "$IPAM_DIR/$NET/$STATIC_IP"

# ---- podman rm -f gives everything back ---------------------------------------------------------------------------
check "podman rm -f web" pm rm -f -t 0 web
check "the lease for $WEB_IP is released" test ! -e "$IPAM_DIR/$NET/$WEB_IP"
check "no lease left in the dataDir" test "$(leases)" = 0
check "the container's network namespace ($SANDBOX) is gone" test -n "$SANDBOX" -a ! -e "$SANDBOX"
check_lacks "no veth left on $BRIDGE" . ip -n "$NODE" -o link show master "$BRIDGE"
if [ "$HAVE_PORTMAP" = 1 ]; then
    check_lacks "inet sharpcni has no element for $HOSTPORT any more" "(^|[^0-9])$HOSTPORT([^0-9]|\$)" \
        ip netns exec "$NODE" nft list table inet sharpcni
    # A stand-in for web after rm: a namespace on $BRIDGE holding $WEB_IP with httpd serving the same page, so
    # a DNAT rule left behind for $HOSTPORT would still be answered.
    new_netns GHOST ghost || exit 1
    ip -n "$NODE" link add "gh$RUN_ID" type veth peer name eth0 netns "$GHOST" &&
        ip -n "$NODE" link set "gh$RUN_ID" master "$BRIDGE" up &&
        ip -n "$GHOST" addr add "$WEB_IP/${SUBNET#*/}" dev eth0 && ip -n "$GHOST" link set eth0 up &&
        ip -n "$GHOST" route add default via "$(jq -r '.plugins[0].ipam.ranges[0][0].gateway // empty' "$EXAMPLE" | grep . || echo "$PREFIX.1")"
    mkdir -p "$WORK/ghost-www" && echo "$WEB_CONTENT" >"$WORK/ghost-www/index.html"
    run_bg GHOST_HTTPD 120 ip netns exec "$GHOST" "$(busybox_static)" httpd -f -p 80 -h "$WORK/ghost-www"
    check "a stand-in server answers at web's old address $WEB_IP:80" wait_until 10 body_is "$NODE" "http://$WEB_IP/"
    check_fails "the node's 127.0.0.1:$HOSTPORT no longer answers, with a server up at $WEB_IP" body_is "$NODE" "http://127.0.0.1:$HOSTPORT/"
    check_fails "192.168.231.1:$HOSTPORT no longer answers from the client, with a server up at $WEB_IP" \
        body_is "$CLIENT" "http://192.168.231.1:$HOSTPORT/"
    kill "$GHOST_HTTPD" 2>/dev/null
    ip -n "$NODE" link del "gh$RUN_ID"
else
    skip "port mapping removal: no portmap plugin at $CNI_BIN_DIR/portmap yet" 4
fi
check "podman ps -a is empty" test -z "$(pm ps -a -q 2>&1)"

finish
