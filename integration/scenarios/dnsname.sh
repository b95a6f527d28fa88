#!/usr/bin/env bash
# Names between containers: bridge + host-local + dnsname (ours), and the node agent's resolver, inside a node
# namespace; busybox nslookup from the containers.
# - a container resolves another's name, its alias and name.dns.podman (A over UDP, A over TCP, PTR); two containers
#   under one alias give two records; an unknown name under the domain is NXDOMAIN, never forwarded;
# - a name is there within a second of ADD and gone within a second of DEL, without restarting anything;
# - a container on another network cannot resolve it; an internal network forwards nothing;
# - other names go to the host's resolvers (resolv.conf): the first one is silent, the second (dnsmasq on
#   127.0.0.53, a loopback resolver reached from the node namespace) answers within the client's usual 5 s;
# - the agent killed with -9 and started again answers from the files, nothing re-added;
# - a container publishing port 53 on the node does not take the networks' resolver addresses;
# - resolv.conf missing: forwarded names get SERVFAIL and the agent's log says why;
# - DEL of everything leaves no names file.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 35

for p in bridge host-local portmap dnsname sharpcni-agent; do
    [ -x "$CNI_BIN_DIR/$p" ] || skip_scenario "no $p at $CNI_BIN_DIR/$p (run ./build.sh)"
done
require_cmd jq busybox dnsmasq python3 || skip_scenario "a required command is missing"
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$CNI_BIN_DIR/portmap" "$CNI_BIN_DIR/dnsname" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"
new_tmpdir WORK || exit 1
NAMES="$WORK/names"
mkdir -p "$WORK/empty"

netconf() { # NAME BRIDGE SUBNET-PREFIX INTERNAL [PORTMAP] [IPV6-SUBNET]
    jq -n --arg net "$1" --arg br "$2" --arg sub "$3" --arg ipam "$WORK/ipam" --arg names "$NAMES" --argjson internal "$4" \
        --argjson portmap "${5:-false}" --arg v6 "${6:-}" '{
      cniVersion: "1.0.0", name: $net,
      plugins: ([
        {type: "bridge", bridge: $br, isGateway: true, ipMasq: false,
         ipam: {type: "host-local", dataDir: $ipam, ranges: ([[{subnet: ($sub + ".0/24")}]] + (if $v6 != "" then [[{subnet: $v6}]] else [] end)),
                routes: [{dst: "0.0.0.0/0"}]}}]
        + (if $portmap then [{type: "portmap", capabilities: {portMappings: true}}] else [] end)
        + [{type: "dnsname", domainName: "dns.podman", dataDir: $names, internal: $internal, capabilities: {aliases: true}}])}'
}
write_conf 10-podnet.conflist "$(netconf podnet cni-dns0 10.77.0 false false fd77::/64)"
write_conf 20-othernet.conflist "$(netconf othernet cni-dns1 10.78.0 false true)"
write_conf 30-internal.conflist "$(netconf internalnet cni-dns2 10.76.0 true)"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns C3 c3 || exit 1
new_netns C4 c4 || exit 1
new_netns C5 c5 || exit 1

# Upstreams, in the node namespace: 127.0.0.2 and 127.0.0.3 take queries and never answer; dnsmasq on 127.0.0.53
# knows upstream.test and answers NXDOMAIN for everything else. resolv.conf lists the dead one first.
ip -n "$NODE" addr add 127.0.0.53/8 dev lo
run_bg SILENT 600 ip netns exec "$NODE" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.2', 53))
while True: s.recv(512)"
run_bg SILENT2 600 ip netns exec "$NODE" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.3', 53))
while True: s.recv(512)"
run_bg DNSMASQ 600 ip netns exec "$NODE" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.53 --port=53 --address=/upstream.test/192.0.2.99 --address=/#/ --pid-file= --user=root
printf 'nameserver 127.0.0.2\nnameserver 127.0.0.53\nnameserver 127.0.0.3\n' >"$WORK/resolv.conf"

AGENT=""
start_agent() {
    ip netns exec "$NODE" "$CNI_BIN_DIR/sharpcni-agent" --conf-dir "$WORK/empty" --names-dir "$NAMES" \
        --resolv-conf "$WORK/resolv.conf" >>"$WORK/agent.log" 2>&1 &
    AGENT=$!
    _cnit_pids+=("$AGENT")
}
start_agent

add() { # NET NS NAME [ALIASES-JSON]
    with_env CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=$3" CAP_ARGS="{\"aliases\":{\"$1\":${4:-[]}}}" cni_run "$NODE" add "$1" "$2"
}
# lookup NS NAME SERVER [TYPE] : busybox nslookup's output (bounded); TYPE "-" for an address, which busybox turns
# into a PTR query of its reverse name itself (with -type=ptr it would ask for the address as a name)
lookup() {
    local type=(-type="${4:-a}")
    [ "${4:-}" = - ] && type=()
    ip netns exec "$1" timeout 8 busybox nslookup "${type[@]}" "$2" "$3" 2>&1
}
# resolves NS NAME SERVER ADDRESS [TYPE] : the answer holds ADDRESS
resolves() { lookup "$1" "$2" "$3" "${5:-a}" | grep -qx "Address: *$4"; }
# nxdomain NS NAME SERVER : the answer is NXDOMAIN (said by a resolver, not a timeout)
nxdomain() { lookup "$1" "$2" "$3" | grep -q "NXDOMAIN"; }
ip_of() { json_get "$1" '.ips[0].address' | cut -d/ -f1; }

check "ADD web (alias www) on podnet" add podnet "$C1" web '["www"]'
IP1=$(ip_of "$LAST_OUTPUT")
check "the result names the resolver first and the domain" json_get "$LAST_OUTPUT" \
    '.dns.nameservers[0] == "10.77.0.1" and .dns.search[0] == "dns.podman"'
check "ADD client on podnet" add podnet "$C2" client
check "ADD web2 (alias www) on podnet" add podnet "$C5" web2 '["www"]'
IP5=$(ip_of "$LAST_OUTPUT")
check "ADD other on othernet" add othernet "$C3" other
check "ADD secret on the internal network" add internalnet "$C4" secret

# listening ADDRESS : the node has a UDP socket on ADDRESS:53 (fails when ss fails); not_listening: ss works and has none
listening() { local out; out=$(ip netns exec "$NODE" ss -lnuH) || return 2; grep -qF " $1:53 " <<<"$out"; }
not_listening() { local out; out=$(ip netns exec "$NODE" ss -lnuH) || return 2; ! grep -qF " $1:53 " <<<"$out"; }
check "the resolver listens on the gateways" wait_until 3 listening 10.77.0.1
check "client resolves web" resolves "$C2" web 10.77.0.1 "$IP1"
check "client resolves www.dns.podman to both containers" bash -c "$(declare -f lookup); out=\$(lookup $C2 www.dns.podman 10.77.0.1); grep -qx 'Address: *$IP1' <<<\"\$out\" && grep -qx 'Address: *$IP5' <<<\"\$out\""
check "client resolves web.dns.podman" resolves "$C2" web.dns.podman 10.77.0.1 "$IP1"
IP1_6=$(ip netns exec "$C1" ip -6 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1)
check "AAAA of web is its IPv6 address ($IP1_6)" resolves "$C2" web 10.77.0.1 "$IP1_6" aaaa
check "PTR of web's address names web.dns.podman" bash -c "$(declare -f lookup); lookup $C2 $IP1 10.77.0.1 - | grep -q 'name = web.dns.podman'"
tcp_query() {
    ip netns exec "$C2" timeout 5 python3 -c "
import socket, struct, sys
q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0) + b''.join(bytes([len(l)]) + l.encode() for l in 'web'.split('.')) + b'\0' + struct.pack('>HH', 1, 1)
s = socket.create_connection(('10.77.0.1', 53), timeout=3)
s.sendall(struct.pack('>H', len(q)) + q)
n = struct.unpack('>H', s.recv(2))[0]
r = b''
while len(r) < n: r += s.recv(n - len(r))
sys.exit(0 if r[:2] == b'\x42\x42' and r.endswith(socket.inet_aton('$IP1')) else 1)"
}
check "web answers over TCP too" tcp_query
check "an unknown name under the domain is NXDOMAIN" nxdomain "$C2" nobody.dns.podman 10.77.0.1
check "a container on another network cannot resolve web" nxdomain "$C3" web 10.78.0.1
check "... but resolves its own network's names" resolves "$C3" other 10.78.0.1 "$(ip netns exec "$C3" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"

t0=$EPOCHREALTIME
check "other names are forwarded past a silent first upstream (of three)" resolves "$C2" upstream.test 10.77.0.1 192.0.2.99
elapsed=$(echo "$EPOCHREALTIME - $t0" | bc)
check "... within 5 s (took ${elapsed}s)" test "$(echo "$elapsed < 5" | bc)" = 1
check "the internal network forwards nothing" nxdomain "$C4" upstream.test 10.76.0.1
check "... and still resolves its own names" resolves "$C4" secret 10.76.0.1 "$(ip netns exec "$C4" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"

# A container publishing port 53 on the node (aardvark-dns's users lost their names to one): the mapping works on
# the node's other addresses, and the network's resolver address stays with the agent.
new_netns C7 c7 || exit 1
ip -n "$NODE" addr add 198.51.100.1/32 dev lo
check "ADD a container on othernet publishing port 53" with_env CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=squatter" \
    CAP_ARGS='{"portMappings":[{"hostPort":53,"containerPort":53,"protocol":"udp"}]}' cni_run "$NODE" add othernet "$C7"
run_bg SQUATTER 600 ip netns exec "$C7" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 53))
while True:
    d, a = s.recvfrom(512)
    s.sendto(d[:2] + b'\\x81\\x80\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00' + d[12:] + b'\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x05\\x00\\x04\\x06\\x06\\x06\\x06', a)"
check "the published port 53 answers on another node address" wait_until 3 resolves "$C2" anything 198.51.100.1 6.6.6.6
check "... but web still resolves through the network's resolver" resolves "$C2" web 10.77.0.1 "$IP1"
check "... from the node itself too" resolves "$NODE" web 10.77.0.1 "$IP1"

# A name added now answers within a second, without restarting anything.
new_netns C6 c6 || exit 1
check "ADD late on podnet" add podnet "$C6" late
IP6=$(ip_of "$LAST_OUTPUT")
check "late resolves within a second of its ADD" wait_until 1 resolves "$C2" late 10.77.0.1 "$IP6"
check "DEL web" with_env CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=web" cni_run "$NODE" del podnet "$C1"
check "web is gone within a second of its DEL" wait_until 1 nxdomain "$C2" web 10.77.0.1
check "www still answers with web2" resolves "$C2" www 10.77.0.1 "$IP5"

# The agent killed and started again: the names come from the files.
kill -9 "$AGENT"
wait "$AGENT" 2>/dev/null
start_agent
check "after kill -9 and a restart, web2 resolves again" wait_until 5 resolves "$C2" web2 10.77.0.1 "$IP5"

mv "$WORK/resolv.conf" "$WORK/resolv.conf.away"
check "without resolv.conf forwarded names get SERVFAIL" bash -c "$(declare -f lookup); lookup $C2 upstream.test 10.77.0.1 | grep -q SERVFAIL"
check "... and the agent's log says why" grep -q "cannot read $WORK/resolv.conf" "$WORK/agent.log"
mv "$WORK/resolv.conf.away" "$WORK/resolv.conf"
check "resolv.conf back: forwarding works again (the file is read again when it changes)" resolves "$C2" upstream.test 10.77.0.1 192.0.2.99

for pair in "podnet $C2" "podnet $C5" "podnet $C6" "othernet $C3" "othernet $C7" "internalnet $C4"; do
    set -- $pair
    cni_run "$NODE" del "$1" "$2" >/dev/null 2>&1 || echo "DEL $pair failed"
done
check "after every DEL no names file is left" bash -c "[ -z \"\$(ls -A $NAMES 2>/dev/null | grep '\\.names\$')\" ]"
check "the resolver stopped listening on the gateways" wait_until 3 not_listening 10.77.0.1
finish
