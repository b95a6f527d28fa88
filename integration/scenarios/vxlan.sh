#!/usr/bin/env bash
# vxlan plugin (ours) across three "hosts": namespaces h1..h3 joined by an underlay (a bridge in a "switch"
# namespace with a veth to each host, 192.168.77.0/24, default route via the underlay). Each host runs the
# plugin through cnitool with its own host-local range inside one shared overlay subnet (IPv4 + IPv6).
# Proves: cross-host pings (v4, v6), container MTU = underlay - 50 with a DF ping of exactly that size passing
# and one byte more failing, VXLAN on UDP 4789 counted on the underlay switch, the device created once and
# the flood list following the peer list, CHECK noticing a removed flood entry, multicast-group mode, bad
# configs failing with code 7 and leaving nothing, GC, DEL twice / after netns gone, every host clean after DEL.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 69

if [ ! -x "$CNI_BIN_DIR/vxlan" ]; then
    skip_scenario "no vxlan plugin at $CNI_BIN_DIR/vxlan (run ./build.sh)"
fi
require_cmd jq bridge nft || skip_scenario "jq, bridge and nft are needed"

new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/vxlan" "$PLUGINS/"
if [ -x "$CNI_BIN_DIR/host-local" ]; then cp "$CNI_BIN_DIR/host-local" "$PLUGINS/"; else cp "$REF_BIN_DIR/host-local" "$PLUGINS/"; fi
TEST_CNI_PATH="$PLUGINS"

# VNIs from the run id so parallel runs never share a lock file or a device.
VNI=$((0x$RUN_ID % 1000000 + 1000))
MVNI=$((VNI + 1))
LOCKS=("/run/sharpcni/vxlan-$VNI.lock" "/run/sharpcni/vxlan-$MVNI.lock")
cleanup_locks() { rm -f "${LOCKS[@]}"; rmdir /run/sharpcni 2>/dev/null; }
trap 'cleanup_locks; _cnit_cleanup' EXIT

# ---- underlay: switch namespace with a bridge, one veth per host -------------------------------------
new_netns SW sw || exit 1
ip -n "$SW" link add sw0 type bridge mcast_snooping 0 || exit 1
ip -n "$SW" link set sw0 up
HOSTS=()
for i in 1 2 3; do
    new_netns H "h$i" || exit 1
    HOSTS+=("$H")
    ip -n "$SW" link add "p$i" type veth peer name ul0 netns "$H" || exit 1
    ip -n "$SW" link set "p$i" master sw0 up
    ip -n "$H" addr add "192.168.77.$i/24" dev ul0
    ip -n "$H" link set ul0 up
    ip -n "$H" route add default via 192.168.77.254 dev ul0 onlink
done
H1=${HOSTS[0]} H2=${HOSTS[1]} H3=${HOSTS[2]}
# Count VXLAN packets crossing the switch (UDP 4789) in a bridge-family table inside the switch namespace.
ip netns exec "$SW" nft -f - <<'EOF'
table bridge vxcount {
  chain forward {
    type filter hook forward priority 0;
    udp dport 4789 counter
  }
}
EOF
vxlan_on_wire() { ip netns exec "$SW" nft list table bridge vxcount | grep -Eo 'packets [0-9]+' | awk '{print $2}'; }

# ---- configs: one network per host (same VNI, subnet, peers; own range) --------------------------------
PEERS='["192.168.77.1","192.168.77.2","192.168.77.3"]'
conf_for() { # host-index peers-json [extra-jq]
    local i="$1" peers="$2" extra="${3:-.}"
    jq -n --arg dir "$SCENARIO_TMP/ipam-h$i" --argjson vni "$VNI" --argjson peers "$peers" --argjson i "$i" '{
      cniVersion: "1.0.0", name: "ovl\($i)",
      plugins: [{
        type: "vxlan", vni: $vni, peers: $peers,
        ipam: {type: "host-local", dataDir: $dir, ranges: [
          [{subnet: "10.244.0.0/24", rangeStart: "10.244.0.\($i * 50)", rangeEnd: "10.244.0.\($i * 50 + 49)"}],
          [{subnet: "fd00:4244::/64", rangeStart: "fd00:4244::\($i):0", rangeEnd: "fd00:4244::\($i):ffff"}]]}
      }]}' | jq "$extra"
}
for i in 1 2 3; do write_conf "50-ovl$i.conflist" "$(conf_for "$i" "$PEERS")"; done

ctr_ip() { json_get "$1" '.ips[] | select(.address | contains(".")) | .address' | cut -d/ -f1; }
ctr_ip6() { json_get "$1" '.ips[] | select(.address | contains(":")) | .address' | cut -d/ -f1; }
flood_list() { bridge -n "$1" fdb show dev "vxlan$2" 2>/dev/null | awk '/^00:00:00:00:00:00/ {print $3}' | sort | tr '\n' ' '; }
ifindex() { ip -n "$1" -o link show dev "$2" 2>/dev/null | cut -d: -f1; }
network_gone() { # host-ns vni ipam-dir : no vxlan device, no bridge, no lease of that network
    link_absent "$1" "vxlan$2" && link_absent "$1" "vx$2" &&
        [ "$(find "$3" -maxdepth 2 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | wc -l)" = 0 ]
}
host_clean() { # host-ns vni ipam-dir : the network gone and no veth at all
    network_gone "$@" && [ "$(ip -n "$1" -o link show type veth | grep -vc ' ul0@')" = 0 ]
}

# ---- bad configs: code 7, nothing left behind ---------------------------------------------------------
new_netns CB cbad || exit 1
bad() { # label jq-edit
    write_conf 90-bad.conflist "$(conf_for 1 "$PEERS" "$2" | jq '.name = "bad"')"
    check_fails_with "bad config ($1) fails with error code 7" 'CNI error code 7\)' cni_run "$H1" add bad "$CB"
    check "bad config ($1): nothing left on the host" host_clean "$H1" "$VNI" "$SCENARIO_TMP/ipam-h1"
}
bad "vni 0" '.plugins[0].vni = 0'
bad "vni 16777216" '.plugins[0].vni = 16777216'
bad "port 0" '.plugins[0].port = 0'
bad "unknown underlay device" '.plugins[0].underlayDevice = "nosuchdev"'
bad "peers and group" '.plugins[0].group = "239.1.1.1"'
bad "mtu above the underlay" '.plugins[0].mtu = 1451'
rm -f "$NETCONFPATH_DIR/90-bad.conflist"

# ---- three containers, one per host -------------------------------------------------------------------
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1
new_netns C3 c3 || exit 1
check "ADD c1 on h1" cni_run "$H1" add ovl1 "$C1"; R1="$LAST_OUTPUT"
check "ADD c2 on h2" cni_run "$H2" add ovl2 "$C2"; R2="$LAST_OUTPUT"
check "ADD c3 on h3" cni_run "$H3" add ovl3 "$C3"; R3="$LAST_OUTPUT"
IP1=$(ctr_ip "$R1") IP2=$(ctr_ip "$R2") IP3=$(ctr_ip "$R3")
IP6_2=$(ctr_ip6 "$R2") IP6_3=$(ctr_ip6 "$R3")
check "each host allocates from its own range" test "${IP1%.*}" = 10.244.0 -a "${IP1##*.}" -ge 50 -a "${IP1##*.}" -lt 100 -a "${IP2##*.}" -ge 100 -a "${IP3##*.}" -ge 150
check "result: [bridge vx<vni>, host veth, eth0 in sandbox]" json_get "$R1" ".interfaces[0].name == \"vx$VNI\" and .interfaces[2].name == \"eth0\""
check "h1: vxlan device on bridge vx$VNI, up" bash -c "ip -n $H1 -d link show vxlan$VNI | grep -q 'master vx$VNI' && ip -n $H1 -d link show vxlan$VNI | grep -q 'vxlan id $VNI .*dstport 4789'"
check "h1: vxlan device local address pinned, learning off" bash -c "ip -n $H1 -d link show vxlan$VNI | grep -q 'local 192.168.77.1 dev ul0' && ip -n $H1 -d link show vxlan$VNI | grep -q nolearning"
check "h1: flood list = the two other hosts" test "$(flood_list "$H1" "$VNI")" = "192.168.77.2 192.168.77.3 "
check "container MTU is underlay 1500 - 50" bash -c "ip -n $C1 link show eth0 | grep -q 'mtu 1450 '"
check "vxlan device MTU is 1450" bash -c "ip -n $H1 link show vxlan$VNI | grep -q 'mtu 1450 '"

WIRE0=$(vxlan_on_wire)
check "c1 -> c2 (IPv4, across hosts)" netns_ping "$C1" "$IP2"
check "c1 -> c3 (IPv4, across hosts)" netns_ping "$C1" "$IP3"
check "c2 -> c3 (IPv4, across hosts)" netns_ping "$C2" "$IP3"
check "c1 -> c2 (IPv6 inside the overlay)" wait_until 5 ip netns exec "$C1" ping -6 -c 1 -W 1 "$IP6_2"
check "c3 -> c2 (IPv6 inside the overlay)" wait_until 5 ip netns exec "$C3" ping -6 -c 1 -W 1 "$IP6_3"
if command -v ping >/dev/null && ping -h 2>&1 | grep -q -- '-M'; then
    check "DF ping of exactly 1450 bytes passes" ip netns exec "$C1" ping -M do -s 1422 -c 1 -W 2 "$IP2"
    check_fails "DF ping of 1451 bytes fails" ip netns exec "$C1" ping -M do -s 1423 -c 1 -W 2 "$IP2"
else
    skip "iputils ping (for -M do) not installed: DF size checks" 2
fi
WIRE1=$(vxlan_on_wire)
check "VXLAN packets on UDP 4789 crossed the underlay switch ($WIRE0 -> $WIRE1)" test "$WIRE1" -gt "$WIRE0"
check "h1: vxlan device counters moved" bash -c "ip -n $H1 -s -j link show vxlan$VNI | jq -e '.[0].stats64.tx.packets > 0 and .[0].stats64.rx.packets > 0'"

check "CHECK c1 passes" cni_run "$H1" check ovl1 "$C1"

# ---- second container on h1: the device is reused, not re-created --------------------------------------
IDX=$(ifindex "$H1" "vxlan$VNI")
new_netns C4 c4 || exit 1
check "ADD c4 on h1" cni_run "$H1" add ovl1 "$C4"; R4="$LAST_OUTPUT"
check "the vxlan device was created once (same ifindex)" test "$(ifindex "$H1" "vxlan$VNI")" = "$IDX"
check "c4 -> c1 (same host, same bridge)" netns_ping "$C4" "$IP1"
check "c4 -> c3 (across hosts)" netns_ping "$C4" "$IP3"

# ---- CHECK notices a missing flood entry; the next ADD repairs it ---------------------------------------
bridge -n "$H1" fdb del 00:00:00:00:00:00 dev "vxlan$VNI" dst 192.168.77.3
check_fails_with "CHECK c1 fails after a flood entry was removed, naming the flood list" 'flood list' cni_run "$H1" check ovl1 "$C1"

# ---- changing the peer list updates the flood list --------------------------------------------------
write_conf 50-ovl1.conflist "$(conf_for 1 '["192.168.77.2"]')"
new_netns C5 c5 || exit 1
check "ADD c5 on h1 with peers [h2]" cni_run "$H1" add ovl1 "$C5"
check "h1: flood list = [h2] only" test "$(flood_list "$H1" "$VNI")" = "192.168.77.2 "
write_conf 50-ovl1.conflist "$(conf_for 1 "$PEERS")"
check "DEL c5" cni_run "$H1" del ovl1 "$C5"
check "ADD c5 again with all peers" cni_run "$H1" add ovl1 "$C5"
check "h1: flood list back to [h2, h3]" test "$(flood_list "$H1" "$VNI")" = "192.168.77.2 192.168.77.3 "
check "CHECK c1 passes again" cni_run "$H1" check ovl1 "$C1"
check "c1 -> c3 after the repair" netns_ping "$C1" "$IP3"

# ---- concurrent ADDs on one host -----------------------------------------------------------------------
CONC=()
for k in 1 2 3 4; do new_netns C "cc$k" || exit 1; CONC+=("$C"); done
conc_add() { cni_run "$H2" add ovl2 "$1" >"$SCENARIO_TMP/conc-$2.out" 2>&1; }
pids=()
for k in 0 1 2 3; do conc_add "${CONC[$k]}" "$k" & pids+=($!); done
ok=0; for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check "4 concurrent ADDs on h2 all succeed" test "$ok" = 4
check "h2: one vxlan device, four more veths on the bridge" test "$(ip -n "$H2" -o link show master "vx$VNI" | grep -c veth)" = 5
pids=()
for k in 0 1 2 3; do cni_run "$H2" del ovl2 "${CONC[$k]}" >/dev/null 2>&1 & pids+=($!); done
ok=0; for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
check "4 concurrent DELs on h2 all succeed" test "$ok" = 4
check "c1 -> c2 still works" netns_ping "$C1" "$IP2"

# ---- multicast-group mode on the same underlay ---------------------------------------------------------
for i in 1 2; do
    write_conf "60-mc$i.conflist" "$(jq -n --arg dir "$SCENARIO_TMP/ipam-mc$i" --argjson vni "$MVNI" --argjson i "$i" '{
      cniVersion: "1.0.0", name: "mc\($i)",
      plugins: [{type: "vxlan", vni: $vni, group: "239.1.1.43", underlayDevice: "ul0",
        ipam: {type: "host-local", dataDir: $dir,
               ranges: [[{subnet: "10.245.0.0/24", rangeStart: "10.245.0.\($i * 10)", rangeEnd: "10.245.0.\($i * 10 + 9)"}]]}}]}')"
done
new_netns M1 m1 || exit 1
new_netns M2 m2 || exit 1
check "ADD m1 on h1 (group mode)" cni_run "$H1" add mc1 "$M1"
check "ADD m2 on h2 (group mode)" cni_run "$H2" add mc2 "$M2"; RM2="$LAST_OUTPUT"
check "h1: device joined group 239.1.1.43" bash -c "ip -n $H1 -d link show vxlan$MVNI | grep -q 'group 239.1.1.43 .*dev ul0'"
check "m1 -> m2 over the multicast group" wait_until 5 netns_ping "$M1" "$(ctr_ip "$RM2")"
check "CHECK m1 passes" cni_run "$H1" check mc1 "$M1"
check "DEL m1" cni_run "$H1" del mc1 "$M1"
check "DEL m2" cni_run "$H2" del mc2 "$M2"
check "h1 clean of the group network" network_gone "$H1" "$MVNI" "$SCENARIO_TMP/ipam-mc1"
check "h2 clean of the group network" network_gone "$H2" "$MVNI" "$SCENARIO_TMP/ipam-mc2"

# ---- DEL: twice, after the netns is gone, and every host clean at the end -------------------------------
check "DEL c4" cni_run "$H1" del ovl1 "$C4"
check "device and bridge stay while c1 and c5 use them" bash -c "ip -n $H1 link show vxlan$VNI >/dev/null && ip -n $H1 link show vx$VNI >/dev/null"
check "DEL c4 again succeeds" cni_run "$H1" del ovl1 "$C4"
delete_netns "$C3"
check "DEL c3 after its netns is gone" cni_run "$H3" del ovl3 "$C3"
check "h3 clean" host_clean "$H3" "$VNI" "$SCENARIO_TMP/ipam-h3"
check "DEL c2" cni_run "$H2" del ovl2 "$C2"
check "h2 clean" host_clean "$H2" "$VNI" "$SCENARIO_TMP/ipam-h2"
check "DEL c1" cni_run "$H1" del ovl1 "$C1"
check "DEL c5" cni_run "$H1" del ovl1 "$C5"
check "h1 clean" host_clean "$H1" "$VNI" "$SCENARIO_TMP/ipam-h1"
check "DEL c1 again succeeds on a clean host" cni_run "$H1" del ovl1 "$C1"
check "no routes or addresses left but the underlay's" bash -c "for h in $H1 $H2 $H3; do [ \$(ip -n \$h -o addr show | grep -vc ' lo \| ul0 ') = 0 ] || exit 1; done"

finish
