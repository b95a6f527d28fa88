#!/usr/bin/env bash
# ptp plugin (ours) with our host-local IPAM, CNI_PATH holding only our binaries, inside a node namespace:
# - two containers on one subnet: point-to-point routing (gateway /32 on the host veth, a host route per container,
#   in the container the gateway on-link and the subnet through it); the node reaches each container and the
#   containers reach each other through the node, IPv4 and IPv6; forwarding turned on in the node;
# - ipMasq: tagged masquerade elements; traffic from a container to an "outside" namespace arrives from the node's address;
# - result shape: interfaces [host veth, container], ips on interface 1, routes from IPAM;
# - CHECK passes, fails after a host route is deleted;
# - DEL, DEL again, DEL after the netns is gone: no link, route, address, nft element or lease left.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 32

for p in ptp host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done
require_cmd jq nft || finish
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/ptp" "$CNI_BIN_DIR/host-local" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"
IPAM_DIR="$SCENARIO_TMP/ipam"
NET=ptpnet

write_conf 10-ptp.conflist "$(jq -n --arg dir "$IPAM_DIR" --arg net "$NET" '{
  cniVersion: "1.0.0", name: $net,
  plugins: [{type: "ptp", ipMasq: true, mtu: 1400,
             ipam: {type: "host-local", dataDir: $dir,
                    ranges: [[{subnet: "10.97.0.0/24"}], [{subnet: "fd00:97::/64"}]],
                    routes: [{dst: "0.0.0.0/0"}, {dst: "::/0"}]}}]}')"

new_netns NODE node || exit 1
new_netns OUT out || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
# "Outside": a namespace behind the node on 192.0.2.0/24; it has no route back to the container subnet, so a
# reply reaches the container only when the node masqueraded the request.
ip -n "$NODE" link add up0 type veth peer name eth0 netns "$OUT"
ip -n "$NODE" addr add 192.0.2.1/24 dev up0
ip -n "$NODE" link set up0 up
ip -n "$OUT" addr add 192.0.2.2/24 dev eth0
ip -n "$OUT" link set eth0 up

leases() { find "$IPAM_DIR/$NET" -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l; }
veths() { ip -n "$NODE" -o link show type veth | grep -vc 'up0@' ; }
node_routes_to() { case "$1" in *:*) ip -n "$NODE" -6 route show "$1" ;; *) ip -n "$NODE" route show "$1" ;; esac; }
masq_has() { ip netns exec "$NODE" nft list set inet sharpcni "$1" 2>/dev/null | grep -q "$2"; }

check "ADD c1 succeeds" cni_run "$NODE" add "$NET" "$C1"
R1="$LAST_OUTPUT"
IP1="$(json_get "$R1" '.ips[0].address' | cut -d/ -f1)"
IP1_6="$(json_get "$R1" '.ips[1].address' | cut -d/ -f1)"
HOST1="$(json_get "$R1" '.interfaces[0].name')"
check "result: host veth then eth0 in c1's sandbox" json_get "$R1" \
    "(.interfaces | length) == 2 and .interfaces[0].sandbox == null and .interfaces[1].name == \"eth0\" and (.interfaces[1].sandbox | endswith(\"$C1\"))"
check "result: ips on interface 1 with gateways 10.97.0.1 and fd00:97::1" json_get "$R1" \
    '[.ips[] | select(.interface == 1)] | length == 2 and .[0].gateway == "10.97.0.1" and .[1].gateway == "fd00:97::1"'
check "result: routes from IPAM" json_get "$R1" '[.routes[].dst] == ["0.0.0.0/0", "::/0"]'
check "c1: gateway on-link" bash -c "ip -n $C1 route show 10.97.0.1 | grep -q 'dev eth0 scope link src $IP1'"
check "c1: subnet through the gateway, no on-link subnet route" bash -c \
    "ip -n $C1 route show 10.97.0.0/24 | grep -q 'via 10.97.0.1 dev eth0' && ! ip -n $C1 route show 10.97.0.0/24 | grep -qv via"
check "c1: IPv6 subnet through the gateway" bash -c "ip -n $C1 -6 route show fd00:97::/64 | grep -q 'via fd00:97::1 dev eth0'"
check "c1: eth0 mtu 1400" bash -c "ip -n $C1 link show dev eth0 | grep -q 'mtu 1400'"
check "node: gateway /32 and /128 on the host veth" bash -c \
    "ip -n $NODE addr show dev $HOST1 | grep -q 'inet 10.97.0.1/32' && ip -n $NODE addr show dev $HOST1 | grep -q 'inet6 fd00:97::1/128'"
check "node: host routes to c1's addresses through its veth" bash -c \
    "ip -n $NODE route show $IP1 | grep -q 'dev $HOST1 scope host' && ip -n $NODE -6 route show $IP1_6 | grep -q 'dev $HOST1'"
check "node: forwarding on for both families" test "$(ip netns exec "$NODE" cat /proc/sys/net/ipv4/ip_forward)$(ip netns exec "$NODE" cat /proc/sys/net/ipv6/conf/all/forwarding)" = 11
check "node: c1's addresses in the masquerade sets" bash -c "$(declare -f masq_has); NODE=$NODE; masq_has masq4 '$IP1' && masq_has masq6 '$IP1_6'"

check "ADD c2 succeeds" cni_run "$NODE" add "$NET" "$C2"
IP2="$(json_get "$LAST_OUTPUT" '.ips[0].address' | cut -d/ -f1)"
IP2_6="$(json_get "$LAST_OUTPUT" '.ips[1].address' | cut -d/ -f1)"
check "c1 pings its gateway" netns_ping "$C1" 10.97.0.1
check "the node pings c1 (IPv4)" netns_ping "$NODE" "$IP1"
check "the node pings c1 (IPv6)" netns_ping "$NODE" "$IP1_6"
check "c1 pings c2 through the node (IPv4)" netns_ping "$C1" "$IP2"
check "c2 pings c1 through the node (IPv6)" netns_ping "$C2" "$IP1_6"
check "c1 reaches the outside namespace (masqueraded)" netns_ping "$C1" 192.0.2.2

check "CHECK c1 succeeds" cni_run "$NODE" check "$NET" "$C1"
ip -n "$NODE" route del "$IP1/32"
check_fails "CHECK c1 fails after its host route is deleted" cni_run "$NODE" check "$NET" "$C1"

c2_path="$(netns_path "$C2")"
check "c2 namespace deleted" delete_netns "$C2"
check "DEL c2 after its netns is gone succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c2 again succeeds" cni_run "$NODE" del "$NET" "$c2_path"
check "DEL c1 succeeds" cni_run "$NODE" del "$NET" "$C1"
check "DEL c1 again succeeds" cni_run "$NODE" del "$NET" "$C1"
check "no veth left in the node" test "$(veths)" -eq 0
check "no eth0 left in c1" link_absent "$C1" eth0
check "no route to a container left in the node" test -z "$(node_routes_to "$IP1"; node_routes_to "$IP2"; node_routes_to "$IP1_6"; node_routes_to "$IP2_6")"
check "no gateway address left in the node" bash -c "! ip -n $NODE addr | grep -q '10.97.0.1\|fd00:97::1'"
check "no masquerade element left" bash -c "$(declare -f masq_has); NODE=$NODE; ! masq_has masq4 10.97.0 && ! masq_has masq6 fd00:97"
check "every lease released" test "$(leases)" -eq 0
finish
