#!/usr/bin/env bash
# podman (CNI backend) with cni_plugin_dirs holding ONLY our binaries (issue 16): `podman network create` writes
# podman's own conflist (bridge + portmap + firewall + tuning, host-local), and `podman run --mac-address ... -p ...`
# on that network works: the container has the MAC it was given (tuning, MAC= in CNI_ARGS), an address of the
# network's subnet, and its published port answers on the node's 127.0.0.1 and on the node's address from a client
# namespace; `podman rm` leaves nothing: no veth, no lease, no port mapping, no firewall rule naming the container.
# podman runs inside a node namespace with a private configuration (integration/runtimes.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/runtimes.sh"
expect_checks 24

require_cmd podman runc nsenter jq nft iptables || skip_scenario "podman, runc, nsenter, jq, nft and iptables are needed"
for p in bridge host-local portmap firewall tuning dnsname sharpcni-agent; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip_scenario "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
    fi
done
if ! busybox_static >/dev/null; then
    skip_scenario "no statically linked busybox (apt-get install busybox-static) for the image"
fi

NET="sharpnet-$RUN_ID"
NET2="othernet-$RUN_ID"
SUBNET_PREFIX="10.89.$((0x$RUN_ID % 200 + 20))"
SUBNET2_PREFIX="10.90.$((0x$RUN_ID % 200 + 20))"
HOSTPORT=$((20000 + 0x$RUN_ID % 20000))
MAC="02:42:ac:11:00:99"
CGROUP_PARENT="cnit-pn-$RUN_ID"
IMAGE="localhost/cnit-busybox:$RUN_ID"

new_tmpdir WORK || exit 1
PLUGINS="$WORK/plugins" NETDIR="$WORK/net.d"
mkdir -p "$PLUGINS" "$NETDIR"
# Every plugin of this build, and nothing else: no reference plugin can be found.
for f in "$CNI_BIN_DIR"/*; do [ -x "$f" ] && [ -f "$f" ] && cp "$f" "$PLUGINS/"; done

node_with_client 192.168.232

podman_config "$WORK/podman" "$PLUGINS" "$NETDIR" "$NODE" || exit 1
host_dir_watch /var/lib/cni /run/libpod /run/containers /run/sharpcni
runtime_cleanup() {
    podman_teardown
    cgroup_remove "$CGROUP_PARENT"
    rm -rf "/var/lib/cni/networks/$NET" "/var/lib/cni/networks/$NET2" "/run/sharpcni/dnsname/$NET.names" "/run/sharpcni/dnsname/$NET2.names"
    host_dir_restore
}
trap 'rc=$?; trap "" INT TERM; runtime_cleanup; (exit $rc); _cnit_cleanup' EXIT
run_flags=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --cgroup-parent "/$CGROUP_PARENT")

if ! out="$(pm info --format '{{.Host.NetworkBackend}}' 2>&1)"; then
    skip_scenario "podman cannot start here: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
fi
busybox_rootfs_tar "$WORK/rootfs.tar" || exit 1
check "busybox image imported" pm import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMAGE" || finish

check "podman network create $NET (podman writes its own conflist)" pm network create --subnet "$SUBNET_PREFIX.0/24" "$NET"
conf="$(ls "$NETDIR"/*"$NET"*.conflist 2>/dev/null | head -1)"
check "podman's conflist chains bridge, portmap, firewall, tuning and dnsname" \
    bash -c "[ -n '$conf' ] && [ \"\$(jq -r '[.plugins[].type] | join(\" \")' '$conf')\" = 'bridge portmap firewall tuning dnsname' ]"

# The node agent serves the names podman's dnsname entries write (no dataDir in podman's conflist: the default dir).
mkdir -p "$WORK/agent"
printf 'nameserver 127.0.0.1\n' >"$WORK/agent/resolv.conf"
ip netns exec "$NODE" "$CNI_BIN_DIR/sharpcni-agent" --conf-dir "$WORK/agent" --resolv-conf "$WORK/agent/resolv.conf" \
    >"$WORK/agent/log" 2>&1 &
_cnit_pids+=($!)

check "podman run --mac-address $MAC -p $HOSTPORT:80 on $NET" \
    pm run -d --name web --network "$NET" --network-alias www --mac-address "$MAC" -p "$HOSTPORT:80" "${run_flags[@]}" "$IMAGE" httpd -f -p 80 -h /www
WEB_IP="$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" web 2>/dev/null)"
check "web has an address of $SUBNET_PREFIX.0/24 ($WEB_IP)" test "${WEB_IP%.*}" = "$SUBNET_PREFIX"
mac_is() { pm exec web cat /sys/class/net/eth0/address | grep -qx "$MAC"; }
check "the container's eth0 has the MAC it was given ($MAC)" mac_is
http_get() { ip netns exec "$1" timeout 5 busybox wget -q -O - "$2"; }
answers() { [ -n "$(http_get "$1" "$2")" ] || http_get "$1" "$2" >/dev/null; }
check "the node's 127.0.0.1:$HOSTPORT answers" wait_until 10 answers "$NODE" "http://127.0.0.1:$HOSTPORT/"
check "the node's address answers from the client namespace" wait_until 10 answers "$CLIENT" "http://192.168.232.1:$HOSTPORT/"
check "firewall: iptables' CNI-FORWARD accepts the container" \
    bash -c "ip netns exec '$NODE' iptables -S CNI-FORWARD | grep -q '$WEB_IP'"

check "podman run a client on $NET" pm run -d --name client --network "$NET" "${run_flags[@]}" "$IMAGE" sleep 600
# resolves CONTAINER NAME : busybox nslookup in the container, through the resolv.conf podman wrote, finds web's address
resolves() { local out; out=$(pm exec "$1" busybox nslookup -type=a "$2" 2>&1); grep -qx "Address: *$WEB_IP" <<<"$out" || { echo "$out"; return 1; }; }
# not_seen CONTAINER NAME : a resolver answered (NXDOMAIN, or SERVFAIL from the agent, whose upstream here is
# nothing) and the answer does not hold web's address
not_seen() { local out; out=$(pm exec "$1" busybox nslookup -type=a "$2" 2>&1); grep -qE "NXDOMAIN|SERVFAIL" <<<"$out" && ! grep -q "$WEB_IP" <<<"$out" || { echo "$out"; return 1; }; }
check "the client resolves web" wait_until 3 resolves client web
check "... its alias www" resolves client www
check "... and web.dns.podman" resolves client web.dns.podman
by_name() { pm exec client wget -q -O - http://web/ >/dev/null; }
check "the client reaches web by name over HTTP" by_name
check "podman network create $NET2" pm network create --subnet "$SUBNET2_PREFIX.0/24" "$NET2"
check "a container on $NET2" pm run -d --name stranger --network "$NET2" "${run_flags[@]}" "$IMAGE" sleep 600
check "the container on $NET2 cannot resolve web" not_seen stranger web

check "podman rm -f web" pm rm -f -t 0 web
check "web's name is gone within a second of podman rm" wait_until 1 not_seen client web
check "podman rm -f client stranger" pm rm -f -t 0 client stranger
check_lacks "no veth is left on the node" 'veth' ip -n "$NODE" -o link show type veth
check_lacks "no lease is left" "^$WEB_IP\$" ls "/var/lib/cni/networks/$NET"
check_lacks "no port mapping names $HOSTPORT" "\\b$HOSTPORT\\b" ip netns exec "$NODE" nft list table inet sharpcni
check_lacks "no firewall rule names the container" "$WEB_IP" ip netns exec "$NODE" iptables -S

finish
