#!/usr/bin/env bash
# bandwidth plugin, chained after bridge + host-local, on our binaries alone (CNI_PATH holds only them):
#  ADD through the `bandwidth` capability (CAP_ARGS, as containerd/Kubernetes send it) shapes both ways:
#  a TBF on the host veth (towards the container), an ingress qdisc + u32/mirred redirect to the IFB
#  "bwp<sha512(net+id)>" with its own TBF (from the container); the IFB is in the result. A bounded TCP
#  transfer each way measures within ±20% of 1 Mbit/s. CHECK passes, and fails once the IFB's TBF is gone.
#  DEL removes the IFB; DEL again and DEL without netns succeed; nothing is left (no ifb, no qdisc).
#  A macvlan container interface (no veth peer) is refused with a clear error. The top-level
#  ingressRate/egressRate form works the same. GC removes the IFB of an attachment that is not valid.
#  On a host veth that stays (bandwidth called alone), DEL removes the TBF and ingress qdisc it made, and an ADD
#  again (after DEL, or over an ADD whose DEL never ran) succeeds.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 37

for p in bridge host-local bandwidth; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR (run ./build.sh)"
        finish
    fi
done
require_cmd jq tc python3 || finish
command -v modprobe >/dev/null 2>&1 && modprobe ifb numifbs=0 2>/dev/null
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$CNI_BIN_DIR/bandwidth" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"
RATE="$INTEGRATION_DIR/rate.py"

BR="bwb$RUN_ID"
write_conf 10-bw.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam" --arg br "$BR" '{
  cniVersion: "1.1.0", name: "bwnet",
  plugins: [{type: "bridge", bridge: $br, isGateway: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.31.0/24"}]]}},
            {type: "bandwidth", capabilities: {bandwidth: true}}]}')"
write_conf 20-bwtop.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam2" --arg br "c$BR" '{
  cniVersion: "1.1.0", name: "bwtop",
  plugins: [{type: "bridge", bridge: $br, isGateway: true,
             ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.32.0/24"}]]}},
            {type: "bandwidth", ingressRate: 2000000, ingressBurst: 200000, egressRate: 3000000, egressBurst: 300000}]}')"

new_netns NODE node || exit 1
new_netns C1 c1 || exit 1
new_netns C2 c2 || exit 1

# 1 Mbit/s each way; bursts of 80 kbit (10 KB) so the burst adds ~3% to a 400 KB transfer.
CAP='{"bandwidth":{"ingressRate":1000000,"ingressBurst":80000,"egressRate":1000000,"egressBurst":80000}}'
ID=bwctr1
check "ADD with the bandwidth capability" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" add bwnet "$C1" || finish
RES="$LAST_OUTPUT"
IFB="bwp$(printf '%s' "bwnet$ID" | sha512sum | cut -c1-12)"
IP1="$(json_get "$RES" '.ips[0].address' | cut -d/ -f1)"
HOSTVETH="$(json_get "$RES" '.interfaces[] | select(.name != "'"$BR"'" and (.sandbox // "") == "" and (.name | startswith("bwp") | not)) | .name')"
check "the result lists the IFB $IFB (name as the reference: bwp + sha512(network+containerID))" json_get "$RES" ".interfaces[] | select(.name == \"$IFB\") | .mac"
check "IFB $IFB exists in the node and is up" link_is_up "$NODE" "$IFB"
check "TBF on the host veth $HOSTVETH (rate 1Mbit)" bash -c "tc -n $NODE qdisc show dev $HOSTVETH | grep -q 'tbf 1: root.*rate 1Mbit'"
check "ingress qdisc on the host veth" bash -c "tc -n $NODE qdisc show dev $HOSTVETH | grep -q 'ingress ffff:'"
check "u32 filter redirects to the IFB (mirred)" bash -c "tc -n $NODE filter show dev $HOSTVETH parent ffff: | grep -q 'Egress Redirect to device $IFB'"
check "TBF on the IFB (rate 1Mbit)" bash -c "tc -n $NODE qdisc show dev $IFB | grep -q 'tbf 1: root.*rate 1Mbit'"
check "CHECK passes" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" check bwnet "$C1"

GW="$(ip -n "$NODE" -4 -o addr show dev "$BR" | awk '{print $4}' | cut -d/ -f1)"
measure() { # from-ns to-ns to-addr port -> prints bits/s
    local out
    out="$SCENARIO_TMP/rate.$4"
    run_bg SRV 20 ip netns exec "$2" python3 "$RATE" serve "$4" 15 >"$out"
    sleep 0.3
    timeout 20 ip netns exec "$1" python3 "$RATE" send "$3" "$4" 400000 15 || return 1
    wait "$SRV"
    cut -d' ' -f1 <"$out"
}
within20() { # measured wanted
    [ -n "$1" ] && [ "$1" -ge $(($2 * 8 / 10)) ] && [ "$1" -le $(($2 * 12 / 10)) ]
}
IN="$(measure "$NODE" "$C1" "$IP1" 5201)"
echo "    towards the container (ingress): ${IN:-?} bit/s"
check "towards the container: within ±20% of 1 Mbit/s (${IN:-none} bit/s)" within20 "$IN" 1000000
OUT="$(measure "$C1" "$NODE" "$GW" 5202)"
echo "    from the container (egress): ${OUT:-?} bit/s"
check "from the container: within ±20% of 1 Mbit/s (${OUT:-none} bit/s)" within20 "$OUT" 1000000

tc -n "$NODE" qdisc del dev "$IFB" root
check_fails "CHECK fails once the IFB's TBF is gone" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" check bwnet "$C1"

check "DEL" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" del bwnet "$C1"
check "DEL removes the IFB" link_absent "$NODE" "$IFB"
check "no ifb device is left in the node" bash -c "! ip -n $NODE -o link show type ifb | grep -q ."
check "no qdisc but the defaults is left in the node" bash -c "! tc -n $NODE qdisc show | grep -Eq 'tbf|ingress'"
check "DEL again succeeds" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" del bwnet "$C1"
C1PATH="$(netns_path "$C1")"
delete_netns "$C1"
check "DEL after the netns is gone succeeds" with_env CNI_CONTAINERID=$ID CAP_ARGS="$CAP" cni_run "$NODE" del bwnet "$C1PATH"

# Top-level rates (no capability).
check "ADD with top-level ingressRate/egressRate" with_env CNI_CONTAINERID=top1 cni_run "$NODE" add bwtop "$C2"
IFB2="bwp$(printf '%s' "bwtoptop1" | sha512sum | cut -c1-12)"
check "top-level: TBF 2Mbit on the host side, 3Mbit on the IFB" bash -c "tc -n $NODE qdisc show | grep -q 'rate 2Mbit' && tc -n $NODE qdisc show dev $IFB2 | grep -q 'rate 3Mbit'"
check "top-level: CHECK passes" with_env CNI_CONTAINERID=top1 cni_run "$NODE" check bwtop "$C2"
rm -f "$CNI_CACHE_DIR_FOR_TESTS"/results/bwtop-top1-*   # no cache entry: cnitool's gc sends no DEL, only the plugin's GC acts
check "GC with no valid attachment removes the IFB" with_env CNI_VALID_ATTACHMENTS='[]' cni_run "$NODE" gc bwtop
check "GC removed $IFB2" link_absent "$NODE" "$IFB2"
check "DEL after GC succeeds" with_env CNI_CONTAINERID=top1 cni_run "$NODE" del bwtop "$C2"

# A host veth that outlives bandwidth's DEL (the interface plugin's DEL failed, or only bandwidth was retried):
# bandwidth called on its own, the veth made by a bridge-only list. DEL removes the TBF and the ingress qdisc it
# made there (the reference leaves them for the veth's deletion, and its next ADD on that veth fails with EEXIST);
# an ADD over an earlier ADD whose DEL never ran replaces that ADD's qdiscs and IFB.
write_conf 40-bwveth.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam5" --arg br "v$BR" '{
  cniVersion: "1.0.0", name: "bwveth",
  plugins: [{type: "bridge", bridge: $br, ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.33.0/24"}]]}}]}')"
new_netns C5 c5 || exit 1
bw_alone() { # CMD: bandwidth on its own, with the bridge's result as prevResult
    printf '%s' "$(jq -c --argjson prev "$RES5" '{cniVersion: "1.0.0", name: "bwveth", type: "bandwidth",
        ingressRate: 1000000, ingressBurst: 80000, egressRate: 1000000, egressBurst: 80000, prevResult: $prev}' <<<'{}')" |
        ip netns exec "$NODE" env CNI_COMMAND="$1" CNI_CONTAINERID=veth1 CNI_IFNAME=eth0 CNI_NETNS="$(netns_path "$C5")" \
        CNI_PATH="$PLUGINS" "$PLUGINS/bandwidth" >/dev/null
}
if check "bridge-only ADD for bandwidth on its own" with_env CNI_CONTAINERID=veth1 cni_run "$NODE" add bwveth "$C5"; then
    RES5="$LAST_OUTPUT"
    VETH5="$(json_get "$RES5" '.interfaces[] | select(.sandbox == null and .name != "v'"$BR"'") | .name')"
    check "bandwidth ADD on its own shapes $VETH5" bw_alone ADD
    check "bandwidth DEL succeeds and the veth stays" eval 'bw_alone DEL && ip -n "$NODE" link show "$VETH5" >/dev/null'
    check_lacks "bandwidth DEL removed the TBF and the ingress qdisc from $VETH5" 'tbf|ingress' tc -n "$NODE" qdisc show dev "$VETH5"
    check "bandwidth ADD again on the same veth succeeds" bw_alone ADD
    check "bandwidth ADD over an ADD whose DEL never ran succeeds (replaces its qdiscs and IFB)" bw_alone ADD
    check "... and leaves one TBF and one ingress qdisc on $VETH5" \
        eval '[ "$(tc -n "$NODE" qdisc show dev "$VETH5" | grep -c -E "^qdisc (tbf 1: root|ingress ffff:)")" = 2 ]'
    bw_alone DEL
    check "bridge-only DEL" with_env CNI_CONTAINERID=veth1 cni_run "$NODE" del bwveth "$C5"
else
    skip "bandwidth on a veth that stays: no bridge" 7
fi

# Differential: the same chain with the reference bandwidth ($REF_BIN_DIR) and ours gives the same result
# (interfaces and their order, the IFB's name; MACs, veth names and addresses normalised).
if [ -x "$REF_BIN_DIR/bandwidth" ]; then
    new_tmpdir REFPLUGINS || exit 1
    cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/host-local" "$REFPLUGINS/" && cp "$REF_BIN_DIR/bandwidth" "$REFPLUGINS/"
    new_netns C4 c4 || exit 1
    write_conf 40-bwdiff.conflist "$(jq -n --arg dir "$SCENARIO_TMP/ipam4" --arg br "d$BR" '{
      cniVersion: "1.0.0", name: "bwdiff",
      plugins: [{type: "bridge", bridge: $br, isGateway: true,
                 ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: "10.99.34.0/24"}]]}},
                {type: "bandwidth", capabilities: {bandwidth: true}}]}')"
    norm='del(.cniVersion) | .interfaces |= map(del(.mac) | if (.name | startswith("veth")) then .name = "VETH" else . end | if .sandbox then .sandbox = "NS" else . end)
          | .ips |= map(.address = "ADDR")'
    DIFFCAP='{"bandwidth":{"ingressRate":4000000,"ingressBurst":400000,"egressRate":4000000,"egressBurst":400000}}'
    if with_env TEST_CNI_PATH="$REFPLUGINS" CNI_CONTAINERID=diff1 CAP_ARGS="$DIFFCAP" cni_run "$NODE" add bwdiff "$C4" >"$SCENARIO_TMP/ref.json" 2>&1; then
        REFTC="$(tc -n "$NODE" qdisc show | grep -E 'tbf|ingress' | sed -E 's/dev [^ ]+//; s/refcnt [0-9]+//' | sort)"
        with_env TEST_CNI_PATH="$REFPLUGINS" CNI_CONTAINERID=diff1 CAP_ARGS="$DIFFCAP" cni_run "$NODE" del bwdiff "$C4" >/dev/null 2>&1
        check "differential: ADD on ours" with_env CNI_CONTAINERID=diff1 CAP_ARGS="$DIFFCAP" cni_run "$NODE" add bwdiff "$C4"
        OURS="$LAST_OUTPUT"
        OURTC="$(tc -n "$NODE" qdisc show | grep -E 'tbf|ingress' | sed -E 's/dev [^ ]+//; s/refcnt [0-9]+//' | sort)"
        check "differential: the result is the reference's (normalised)" \
            test "$(jq -S "$norm" "$SCENARIO_TMP/ref.json")" = "$(printf '%s' "$OURS" | jq -S "$norm")"
        check "differential: the qdiscs are the reference's (tbf rate/burst/limit, ingress)" test -n "$REFTC" -a "$REFTC" = "$OURTC"
        check "differential: DEL on ours" with_env CNI_CONTAINERID=diff1 CAP_ARGS="$DIFFCAP" cni_run "$NODE" del bwdiff "$C4"
    else
        check "differential: ADD on the reference bandwidth" false
        sed 's/^/    | /' "$SCENARIO_TMP/ref.json"
    fi
else
    skip "differential: no reference bandwidth at $REF_BIN_DIR"
fi

# A macvlan container interface has no veth peer.
new_netns C3 c3 || exit 1
ip -n "$NODE" link add up0 type veth peer name up0p
ip -n "$NODE" link set up0 up
write_conf 30-mv.conflist "$(jq -n '{cniVersion: "1.0.0", name: "bwmv",
  plugins: [{type: "bandwidth", ingressRate: 1000000, ingressBurst: 80000,
             prevResult: {cniVersion: "1.0.0", interfaces: [{name: "eth0", sandbox: "x"}], ips: []}}]}')"
ip -n "$NODE" link add mv0 link up0 type macvlan
ip -n "$NODE" link set mv0 netns "$C3" name eth0 2>/dev/null || ip -n "$NODE" link set mv0 netns "$(netns_path "$C3")"
ip -n "$C3" link set eth0 up 2>/dev/null
check_fails "a macvlan container interface is refused" cni_run "$NODE" add bwmv "$C3"
check "... with 'has no veth peer'" bash -c "grep -q 'has no veth peer' <<<\"\$1\"" _ "$LAST_OUTPUT"
finish
