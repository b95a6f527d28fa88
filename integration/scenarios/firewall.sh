#!/usr/bin/env bash
# firewall plugin, chained after bridge + host-local, on our binaries alone (CNI_PATH holds only them), in a node
# whose iptables (iptables-nft) FORWARD policy is DROP, as Docker sets it:
#  without the firewall plugin a container does not reach the outside; with it, it does (replies come back), while a
#  new connection from outside to the container is still not let in (only RELATED,ESTABLISHED, as the reference);
#  `iptables -S` still reads the table (rules written in iptables-nft's format); CHECK passes and fails once a rule
#  is gone; DEL: the container is cut off again and no rule names it; DEL again and without netns succeed; GC removes
#  the rules of attachments that are not valid; ingressPolicy same-bridge drops traffic between two such bridges;
#  backend firewalld is refused clearly. The policy DROP and iptables' own rules are left as they were.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 38

for p in bridge host-local firewall; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR (run ./build.sh)"
        finish
    fi
done
require_cmd jq nft iptables || finish
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$CNI_BIN_DIR/firewall" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"

BR="fwb$RUN_ID"
conf() { # file name bridge subnet extra-firewall-fields [no-firewall]
    local plugins
    plugins='[{type: "bridge", bridge: $br, isGateway: true, isDefaultGateway: true, ipMasq: true,
               ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: $subnet}]]}}]'
    [ -z "${6:-}" ] && plugins="$plugins + [{type: \"firewall\"} + $5]"
    write_conf "$1" "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$3" --arg subnet "$4" --arg name "$2" \
        "{cniVersion: \"1.1.0\", name: \$name, plugins: ($plugins)}")"
}
conf 10-fw.conflist fwnet "$BR" 10.99.41.0/24 '{}'
conf 11-nofw.conflist nofw "n$BR" 10.99.42.0/24 '{}' no-firewall
conf 12-sb1.conflist sb1 "a$BR" 10.99.43.0/24 '{ingressPolicy: "same-bridge"}'
conf 13-sb2.conflist sb2 "b$BR" 10.99.44.0/24 '{ingressPolicy: "same-bridge"}'
conf 14-fwd.conflist fwd "d$BR" 10.99.45.0/24 '{backend: "firewalld"}'

new_netns NODE node || exit 1
new_netns EXT ext || exit 1
for c in C0 C1 C2 C3 C4 C5; do new_netns "$c" "$(tr 'A-Z' 'a-z' <<<"$c")" || exit 1; done
ip -n "$NODE" link add uplink type veth peer name uplink netns "$EXT"
ip -n "$NODE" addr add 192.0.2.1/24 dev uplink && ip -n "$NODE" link set uplink up
ip -n "$EXT" addr add 192.0.2.2/24 dev uplink && ip -n "$EXT" link set uplink up
ip -n "$EXT" route add 10.99.0.0/16 via 192.0.2.1
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NODE" iptables -P FORWARD DROP
ip netns exec "$NODE" iptables -A FORWARD -i uplink -o uplink -j ACCEPT   # an admin rule that must survive
POLICY_BEFORE="$(ip netns exec "$NODE" iptables -S FORWARD)"

ip_of() { json_get "$1" '.ips[0].address' | cut -d/ -f1; }

check "ADD without the firewall plugin" cni_run "$NODE" add nofw "$C0"
check_fails "without the firewall plugin the container does not reach the outside (FORWARD policy DROP)" netns_ping "$C0" 192.0.2.2

check "ADD bridge + firewall" cni_run "$NODE" add fwnet "$C1" || finish
IP1="$(ip_of "$LAST_OUTPUT")"
check "the result is prevResult passed through (the bridge's interfaces and address)" json_get "$LAST_OUTPUT" '(.interfaces | length) == 3 and (.ips | length) == 1'
check "the container reaches the outside, replies come back" wait_until 5 netns_ping "$C1" 192.0.2.2
check_fails "a new connection from outside to the container is not let in (only RELATED,ESTABLISHED)" netns_ping "$EXT" "$IP1"
check "iptables -S still reads the filter table, with our rules in its format" \
    bash -c "ip netns exec $NODE iptables -S CNI-FORWARD | grep -q -- '-d $IP1/32 -m conntrack --ctstate RELATED,ESTABLISHED .*-j ACCEPT'"
check "FORWARD jumps to CNI-FORWARD, CNI-FORWARD to CNI-ADMIN" \
    bash -c "ip netns exec $NODE iptables -S FORWARD | grep -q -- '-j CNI-FORWARD' && ip netns exec $NODE iptables -S CNI-FORWARD | grep -q -- '-j CNI-ADMIN'"
check "CHECK passes" cni_run "$NODE" check fwnet "$C1"
H="$(ip netns exec "$NODE" nft -a list chain ip filter CNI-FORWARD | grep "ip saddr $IP1 " | sed -E 's/.*# handle ([0-9]+).*/\1/')"
ip netns exec "$NODE" nft delete rule ip filter CNI-FORWARD handle "$H"
check_fails "CHECK fails once the container's rule is gone" cni_run "$NODE" check fwnet "$C1"
check "DEL" cni_run "$NODE" del fwnet "$C1"
check "no rule names the container after DEL" bash -c "! ip netns exec $NODE nft list ruleset | grep -q '$IP1 '"
check_fails "after DEL the container no longer reaches the outside" netns_ping "$C1" 192.0.2.2
check "DEL again succeeds" cni_run "$NODE" del fwnet "$C1"
C1PATH="$(netns_path "$C1")"
delete_netns "$C1"
check "DEL after the netns is gone succeeds" cni_run "$NODE" del fwnet "$C1PATH"
check "the FORWARD policy and the admin's rule are as they were" test "$(ip netns exec "$NODE" iptables -S FORWARD | grep -v CNI-FORWARD)" = "$POLICY_BEFORE"

check "ADD for GC" with_env CNI_CONTAINERID=gc1 cni_run "$NODE" add fwnet "$C2"
IP2="$(ip_of "$LAST_OUTPUT")"
check "ADD ingressPolicy same-bridge on bridge a" cni_run "$NODE" add sb1 "$C3"
IP3="$(ip_of "$LAST_OUTPUT")"
check "ADD ingressPolicy same-bridge on bridge b" cni_run "$NODE" add sb2 "$C4"
IP4="$(ip_of "$LAST_OUTPUT")"
check "same-bridge: the container still reaches the outside" wait_until 5 netns_ping "$C3" 192.0.2.2
check_fails "same-bridge: no traffic from bridge a to bridge b" netns_ping "$C3" "$IP4"
check "same-bridge: CHECK passes" cni_run "$NODE" check sb1 "$C3"
check "control: a container of an open network reaches the same-bridge container" wait_until 5 netns_ping "$C2" "$IP3"
check "DEL on bridge a" cni_run "$NODE" del sb1 "$C3"
check "DEL on bridge b" cni_run "$NODE" del sb2 "$C4"

check "GC keeps a valid attachment's rules" with_env CNI_VALID_ATTACHMENTS='[{"containerID":"gc1","ifname":"eth0"}]' cni_run "$NODE" gc fwnet
check "... its rules are there" bash -c "ip netns exec $NODE nft list chain ip filter CNI-FORWARD | grep -q '$IP2 '"
# The runtime lost track of gc1 (no cache entry, so cnitool's gc sends no DEL): only the plugin's GC can remove it.
rm -f "$CNI_CACHE_DIR_FOR_TESTS"/results/fwnet-gc1-*
check "GC with no valid attachment" with_env CNI_VALID_ATTACHMENTS='[]' cni_run "$NODE" gc fwnet
check "GC removed the stale attachment's rules" bash -c "! ip netns exec $NODE nft list chain ip filter CNI-FORWARD | grep -q '$IP2 '"

check_fails "backend firewalld is refused" cni_run "$NODE" add fwd "$C5"
check "... with a clear message" bash -c "grep -q 'firewalld backend is not supported' <<<\"\$1\"" _ "$LAST_OUTPUT"
check "a failed ADD leaves no rule for it" bash -c "! ip netns exec $NODE nft list chain ip filter CNI-FORWARD | grep -q sharpcni"

# Differential: the same chain with the reference firewall ($REF_BIN_DIR) and ours: the same result, and the same
# iptables rules for the container (ours carry one more thing, the comment that tags the attachment).
if [ -x "$REF_BIN_DIR/firewall" ]; then
    new_tmpdir REFPLUGINS || exit 1
    cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$REFPLUGINS/" && cp "$REF_BIN_DIR/firewall" "$REFPLUGINS/"
    conf 15-diff.conflist fwdiff "x$BR" 10.99.46.0/24 '{}'
    sed -i 's/"1.1.0"/"1.0.0"/' "$NETCONFPATH_DIR/15-diff.conflist"   # the reference 1.1.1 speaks up to 1.0.0
    new_netns C6 c6 || exit 1
    norm='.interfaces |= map(del(.mac) | if (.name | startswith("veth")) then .name = "VETH" else . end | if .sandbox then .sandbox = "NS" else . end) | .ips |= map(.address = "ADDR")'
    rules_of() { # ip -> the iptables -S lines naming it, the address and our tag comment normalised
        ip netns exec "$NODE" iptables -S | grep -F -- "$1/32" | sed -e "s#$1/32#IP#" -e 's/ -m comment --comment "sharpcni [^"]*"//' | sort
    }
    if with_env TEST_CNI_PATH="$REFPLUGINS" CNI_CONTAINERID=diff1 cni_run "$NODE" add fwdiff "$C6" >"$SCENARIO_TMP/ref.json" 2>&1; then
        REFIP="$(jq -r '.ips[0].address' "$SCENARIO_TMP/ref.json" | cut -d/ -f1)"
        REFRULES="$(rules_of "$REFIP")"
        check "binaries swapped in place: DEL on ours after the reference's ADD" with_env CNI_CONTAINERID=diff1 cni_run "$NODE" del fwdiff "$C6"
        check "... removes the reference's rules for the container (from prevResult)" test -z "$(rules_of "$REFIP")"
        check "differential: ADD on ours" with_env CNI_CONTAINERID=diff1 cni_run "$NODE" add fwdiff "$C6"
        OURS="$LAST_OUTPUT"
        check "differential: the result is the reference's (normalised)" \
            test "$(jq -S "$norm" "$SCENARIO_TMP/ref.json")" = "$(printf '%s' "$OURS" | jq -S "$norm")"
        check "differential: the container's iptables rules are the reference's ($(wc -l <<<"$REFRULES") lines)" \
            test -n "$REFRULES" -a "$REFRULES" = "$(rules_of "$(ip_of "$OURS")")"
        check "differential: DEL on ours" with_env CNI_CONTAINERID=diff1 cni_run "$NODE" del fwdiff "$C6"
    else
        check "differential: ADD on the reference firewall" false
        sed 's/^/    | /' "$SCENARIO_TMP/ref.json"
    fi
else
    skip "differential: no reference firewall at $REF_BIN_DIR"
fi
finish
