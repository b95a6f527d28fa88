#!/usr/bin/env bash
# static IPAM under our macvlan, with tuning after it (Multus' chain), spec 1.0.0, CNI_PATH holding only our binaries
# (static then runs in-process: same build), and once more with the reference static on CNI_PATH (executed):
# - the address from the ips capability wins over the config's and CNI_ARGS IP=; the config's routes and dns reach
#   the result; the gateway route works (the container pings the LAN's gateway);
# - tuning gives the interface the mac capability's MAC; CHECK passes (static's CHECK included);
# - DEL, DEL again: no macvlan, no tuning state left; DEL without a namespace succeeds.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 24

for p in macvlan static tuning; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done
require_cmd jq || finish
new_tmpdir OURS || exit 1
new_tmpdir MIXED || exit 1
cp "$CNI_BIN_DIR/macvlan" "$CNI_BIN_DIR/static" "$CNI_BIN_DIR/tuning" "$OURS/"
cp "$CNI_BIN_DIR/macvlan" "$CNI_BIN_DIR/tuning" "$MIXED/"
[ -x "$REF_BIN_DIR/static" ] && cp "$REF_BIN_DIR/static" "$MIXED/"
STATE_DIR="$SCENARIO_TMP/tuning"
NET=mvstatic
write_conf 10-mvstatic.conflist "$(jq -n --arg state "$STATE_DIR" --arg net "$NET" '{
  cniVersion: "1.0.0", name: $net,
  plugins: [{type: "macvlan", master: "eth0", mode: "bridge", capabilities: {ips: true},
             ipam: {type: "static", addresses: [{address: "10.94.0.50/24", gateway: "10.94.0.1"}],
                    routes: [{dst: "0.0.0.0/0", gw: "10.94.0.1"}],
                    dns: {nameservers: ["10.94.0.1"], search: ["example.org"]}}},
            {type: "tuning", dataDir: $state, capabilities: {mac: true}}]}')"

new_netns LAN lan || exit 1
new_netns NODE node || exit 1
ip -n "$NODE" link add eth0 type veth peer name lan0 netns "$LAN"
ip -n "$NODE" link set eth0 up
ip -n "$LAN" addr add 10.94.0.1/24 dev lan0
ip -n "$LAN" link set lan0 up
state_files() { find "$STATE_DIR" -type f 2>/dev/null | wc -l; }

round() { # label plugin-dir
    local label="$1" C caps
    TEST_CNI_PATH="$2"
    new_netns C "c$label" || return 1
    caps='{"ips":["10.94.0.77/24"],"mac":"c2:94:00:00:00:77"}'
    check "$label: ADD" with_env CAP_ARGS="$caps" CNI_ARGS="IgnoreUnknown=1;IP=10.94.0.60/24" cni_run "$NODE" add "$NET" "$C" || return 1
    local r="$LAST_OUTPUT"
    check "$label: the capability's address wins" json_get "$r" '[.ips[].address] == ["10.94.0.77/24"] and .ips[0].interface == 0'
    check "$label: routes and dns from the config" json_get "$r" '.routes[0].gw == "10.94.0.1" and .dns.nameservers == ["10.94.0.1"] and .dns.search == ["example.org"]'
    check "$label: the result carries tuning's MAC" json_get "$r" '.interfaces[0].mac == "c2:94:00:00:00:77"'
    check "$label: eth0 has the MAC and the address" bash -c \
        "ip -n $C link show dev eth0 | grep -q 'link/ether c2:94:00:00:00:77' && ip -n $C addr show dev eth0 | grep -q 'inet 10.94.0.77/24'"
    check "$label: the container pings the LAN gateway" wait_until 5 netns_ping "$C" 10.94.0.1
    check "$label: CHECK" with_env CAP_ARGS="$caps" cni_run "$NODE" check "$NET" "$C"
    ip -n "$C" addr flush dev eth0
    check_fails "$label: CHECK fails once the address is gone" with_env CAP_ARGS="$caps" cni_run "$NODE" check "$NET" "$C"
    check "$label: DEL" with_env CAP_ARGS="$caps" cni_run "$NODE" del "$NET" "$C"
    check "$label: DEL again" with_env CAP_ARGS="$caps" cni_run "$NODE" del "$NET" "$C"
    check "$label: no eth0 left, no macvlan on the node" bash -c "! ip -n $C link show dev eth0 2>/dev/null && [ -z \"\$(ip -n $NODE -o link show type macvlan)\" ]"
    check "$label: no tuning state left" test "$(state_files)" -eq 0
}
round ours "$OURS"
if [ -x "$MIXED/static" ]; then round refstatic "$MIXED"; else skip "no reference static at $REF_BIN_DIR"; fi
finish
