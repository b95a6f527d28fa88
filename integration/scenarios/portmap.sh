#!/usr/bin/env bash
# portmap chained after bridge (+ host-local), in a node namespace with an outside client namespace
# joined to it by a veth (node 192.0.2.1, ext 192.0.2.2):
#  - busybox httpd in the container answers on the published port from the client, from the node's own
#    address, from 127.0.0.1 on the node, and from the container itself (hairpin);
#  - a hostIP-bound mapping answers only on that address;
#  - a UDP flow that keeps its source port reaches a new container at another address after the old
#    one is replaced (conntrack entries for the host port are dropped on DEL and ADD);
#  - CHECK passes; after DEL the ports no longer answer although the container's server is still running
#    and reachable again at its old address (a fresh veth on the bridge gives the container its address
#    back), so a DNAT rule left behind would answer; no rule or element names the container;
#    DEL twice succeeds, and DEL without prevResult or runtimeConfig (cache gone) cleans up too.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 29

for p in bridge portmap; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip_scenario "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
    fi
done
require_cmd jq nft busybox python3 conntrack || skip_scenario "jq, nft, busybox, python3 and conntrack are needed"
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/portmap" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
TEST_CNI_PATH="$PLUGINS"

BR="pbr$RUN_ID"
write_conf 60-portmap.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$BR" '{
  cniVersion: "1.0.0", name: "pmnet",
  plugins: [{type: "bridge", bridge: $br, isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.21.0/24"}]]}},
            {type: "portmap", capabilities: {portMappings: true}}]}')"
MAPS='{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":8081,"containerPort":80,"protocol":"tcp","hostIP":"192.0.2.1"},{"hostPort":5353,"containerPort":5353,"protocol":"udp"}]}'

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns EXT ext || exit 1
ip -n "$NODE" link add uplink type veth peer name uplink netns "$EXT"
ip -n "$NODE" addr add 192.0.2.1/24 dev uplink && ip -n "$NODE" link set uplink up
ip -n "$EXT" addr add 192.0.2.2/24 dev uplink && ip -n "$EXT" link set uplink up
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1

new_tmpdir WWW || exit 1
mkdir -p "$WWW/c1" "$WWW/c2" && echo "hello from c1" >"$WWW/c1/index.html" && echo "hello from c2" >"$WWW/c2/index.html"

# fetch NS URL -> prints the page (3 s timeout)
fetch() { ip netns exec "$1" timeout 5 busybox wget -q -O - "$2" 2>/dev/null; }
answers() { fetch "$1" "$2" | grep -q "$3"; }
ruleset() { ip netns exec "$NODE" nft list ruleset 2>/dev/null; }

# UDP server for a container: records each datagram's payload in FILE (argv 2) and replies with its name (argv 1).
UDP_SERVER='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data, peer = s.recvfrom(2048)
        out.write(data.decode() + "\n")
        s.sendto(sys.argv[1].encode(), peer)
'
# readdress NS IP : after DEL took the container's interface, gives NS a fresh veth on the bridge with its
# old address IP (and the default route), so a server still running in NS answers at IP again.
readdress() {
    local host="rd-${1#cnit-}"
    ip -n "$NODE" link add "$host" type veth peer name eth0 netns "$1" &&
        ip -n "$NODE" link set "$host" master "$BR" up &&
        ip -n "$1" addr add "$2/24" dev eth0 && ip -n "$1" link set eth0 up &&
        ip -n "$1" route add default via 10.99.21.1
}
result_ip() { printf '%s\n' "$LAST_OUTPUT" | sed -n '/^{/,/^}/p' | jq -r '.ips[0].address' 2>/dev/null | cut -d/ -f1; }

ID1="pmc1-$RUN_ID"
ID2="pmc2-$RUN_ID"
check "ADD bridge+portmap with three mappings succeeds" with_env CNI_CONTAINERID="$ID1" CAP_ARGS="$MAPS" cni_run "$NODE" add pmnet "$C1"
IP1="$(result_ip)"
check "the result is the bridge's (passed through)" test -n "$IP1"
check "CHECK succeeds" with_env CNI_CONTAINERID="$ID1" CAP_ARGS="$MAPS" cni_run "$NODE" check pmnet "$C1"

run_bg HTTPD1 90 ip netns exec "$C1" busybox httpd -f -p 80 -h "$WWW/c1"
wait_until 5 answers "$C1" "http://127.0.0.1:80/" "c1"
check "client namespace reaches 192.0.2.1:8080" answers "$EXT" "http://192.0.2.1:8080/" "hello from c1"
check "node reaches its own address 192.0.2.1:8080" answers "$NODE" "http://192.0.2.1:8080/" "hello from c1"
check "node reaches 127.0.0.1:8080" answers "$NODE" "http://127.0.0.1:8080/" "hello from c1"
check "container reaches itself through 192.0.2.1:8080 (hairpin)" answers "$C1" "http://192.0.2.1:8080/" "hello from c1"
check "hostIP mapping answers on 192.0.2.1:8081" answers "$EXT" "http://192.0.2.1:8081/" "hello from c1"
check_fails "hostIP mapping does not answer on the bridge address" answers "$NODE" "http://10.99.21.1:8081/" "c1"
check_fails "hostIP mapping does not answer on 127.0.0.1" answers "$NODE" "http://127.0.0.1:8081/" "c1"
check "route_localnet is on for the bridge" test "$(ip netns exec "$NODE" cat /proc/sys/net/ipv4/conf/$BR/route_localnet)" = 1

# A continuing UDP flow from the client: one socket, one source port, a datagram every 0.2 s.
run_bg UDP1 60 ip netns exec "$C1" python3 -c "$UDP_SERVER" c1 "$SCENARIO_TMP/udp-c1"
run_bg FLOW 60 ip netns exec "$EXT" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40053))
for i in range(250):
    try:
        s.sendto(b"ping %d" % i, ("192.0.2.1", 5353))
    except OSError:
        pass
    time.sleep(0.2)
'
check "UDP mapping answers (c1 receives the flow)" wait_until 10 grep -q ping "$SCENARIO_TMP/udp-c1"
check "conntrack has the flow DNATed to c1" bash -c "ip netns exec $NODE conntrack -L -p udp --orig-port-dst 5353 2>/dev/null | grep -q 'src=$IP1'"

# Replace c1 by c2 (another address); the flow keeps its source port.
check "DEL c1 succeeds" with_env CNI_CONTAINERID="$ID1" CAP_ARGS="$MAPS" cni_run "$NODE" del pmnet "$C1"
kill "$UDP1" 2>/dev/null
# c1's httpd keeps running; c1 gets its address back on a fresh veth: only a leftover DNAT could reach it.
readdress "$C1" "$IP1"
check "c1's server answers again at its old address $IP1:80 (after DEL, on a fresh veth)" wait_until 5 answers "$NODE" "http://$IP1:80/" "hello from c1"
check_fails "after DEL 192.0.2.1:8080 no longer answers, with c1's server up at $IP1" answers "$EXT" "http://192.0.2.1:8080/" "hello from c1"
check_fails "after DEL the node's 127.0.0.1:8080 no longer answers, with c1's server up at $IP1" answers "$NODE" "http://127.0.0.1:8080/" "hello from c1"
kill "$HTTPD1" 2>/dev/null
ip -n "$NODE" link del "rd-${C1#cnit-}"
check_lacks "no rule or element names c1 after DEL" "$ID1" ip netns exec "$NODE" nft list ruleset
check_lacks "no conntrack entry still points at c1" "src=$IP1 " ip netns exec "$NODE" conntrack -L -p udp --orig-port-dst 5353
check "DEL c1 again succeeds" with_env CNI_CONTAINERID="$ID1" CAP_ARGS="$MAPS" cni_run "$NODE" del pmnet "$C1"

run_bg UDP2 60 ip netns exec "$C2" python3 -c "$UDP_SERVER" c2 "$SCENARIO_TMP/udp-c2"
check "ADD c2 with the same mappings succeeds" with_env CNI_CONTAINERID="$ID2" CAP_ARGS="$MAPS" cni_run "$NODE" add pmnet "$C2"
IP2="$(result_ip)"
check "c2 has another address" test -n "$IP2" -a "$IP2" != "$IP1"
check "the continuing UDP flow (same source port) reaches c2" wait_until 10 grep -q ping "$SCENARIO_TMP/udp-c2" \
    || ip netns exec "$NODE" conntrack -L -p udp 2>&1 | sed 's/^/    | /'
run_bg HTTPD2 60 ip netns exec "$C2" busybox httpd -f -p 80 -h "$WWW/c2"
wait_until 5 answers "$C2" "http://127.0.0.1:80/" "c2"
check "client reaches c2 on 192.0.2.1:8080" answers "$EXT" "http://192.0.2.1:8080/" "hello from c2"

# DEL without prevResult and without runtimeConfig: the libcni cache is gone, no CAP_ARGS.
rm -rf "$CNI_CACHE_DIR_FOR_TESTS"/results
check "DEL c2 without cached result or mappings succeeds" with_env CNI_CONTAINERID="$ID2" cni_run "$NODE" del pmnet "$C2"
check_lacks "no rule or element names c2 after DEL" "$ID2" ip netns exec "$NODE" nft list ruleset
check_lacks "no DNAT element is left" 'elements' ip netns exec "$NODE" nft list map inet sharpcni pm-any4
readdress "$C2" "$IP2"
check "c2's server answers again at its old address $IP2:80 (after DEL, on a fresh veth)" wait_until 5 answers "$NODE" "http://$IP2:80/" "c2"
check_fails "after DEL 192.0.2.1:8080 no longer answers, with c2's server up at $IP2" answers "$EXT" "http://192.0.2.1:8080/" "hello from c2"
kill "$FLOW" "$UDP2" "$HTTPD2" 2>/dev/null
finish
