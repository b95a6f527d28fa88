#!/usr/bin/env bash
# cluster-ipam (ours) on a real 3-member etcd cluster with TLS (integration/etcd-cluster.sh: each member a process
# in its own namespace on a switch namespace, certificates made with openssl, data in a temp dir). Three host
# namespaces on the same switch run bridge + cluster-ipam through cnitool, one pool 10.244.0.0/16 in /26 blocks.
# Proves: 300 ADDs spread over the three hosts in parallel give 300 distinct addresses, each inside a block held
# by the host that got it; DEL of all leaves no allocation in etcd; empty blocks go back to the pool after the
# (shortened) grace period; the admin command lists and releases a node; one member killed during a run of ADDs
# changes nothing; two members killed: ADD fails with code 11 within the timeout and leaves no link and no
# record, DEL fails; members restarted: ADD works and the pending DELs succeed; a wrong CA is a clear error, a
# client certificate from another CA is refused by etcd; user/password auth with the password in a file, and a
# wrong password appears in no output; static addresses (the ips capability, CNI_ARGS IP=): taken from an unclaimed
# block that the host then holds, refused in another host's block (strict affinity) and when already in use, the
# recorded address on a repeated ADD; an ADD whose interface plugin fails after the IPAM call, and ADDs killed at
# any moment followed by the runtime's DEL, leave nothing in etcd. sharpcni-agent's etcd relay: a host with no route to
# etcd allocates and releases through it; an identity the agent's configuration does not name is not relayed; with
# the agent killed a host that can reach etcd goes there itself past the dead socket; a restarted agent takes over.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/etcd-cluster.sh"
expect_checks 83

if [ ! -x "$CNI_BIN_DIR/cluster-ipam" ] || [ ! -x "$CNI_BIN_DIR/bridge" ]; then
    skip "no cluster-ipam or bridge plugin in $CNI_BIN_DIR (run ./build.sh)"
    finish
fi
require_cmd etcd etcdctl openssl jq python3 || finish

new_tmpdir WORK || exit 1
new_tmpdir PLUGINS || exit 1
cp "$CNI_BIN_DIR/bridge" "$CNI_BIN_DIR/cluster-ipam" "$PLUGINS/"
TEST_CNI_PATH="$PLUGINS"
trap 'etcd_cluster_stop; _cnit_cleanup' EXIT

# Started in this shell (not inside check's subshell): its variables and namespaces must stay here.
if etcd_cluster_start "$WORK/etcd" "$RUN_ID"; then check "3-member etcd cluster with TLS starts" true
else check "3-member etcd cluster with TLS starts" false; finish; fi
PREFIX=/sharpcni/ipam/v1
# etcd.timeoutSeconds of the hosts: the default. Killing the leader costs an election (1-2 s, longer on a loaded
# machine) during which no write commits; the budget must cover it for "one member down changes nothing".
ETCD_TIMEOUT=5

HOSTS=()
for i in 1 2 3; do
    new_netns H "h$i" || exit 1
    HOSTS+=("$H")
    etcd_cluster_attach "$H" "$ETCD_SUBNET_PREFIX.10$i" || exit 1
done

# conf NAME NODE [CA CERT KEY [AUTH-JSON]] : bridge + cluster-ipam for one host.
conf() {
    local name="$1" node="$2" ca="${3:-$ETCD_CA}" cert="${4:-$ETCD_CERT}" key="${5:-$ETCD_KEY}" auth="${6:-}"
    write_conf "$name.conflist" "$(cat <<EOF
{"cniVersion":"1.1.0","name":"$name","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"capabilities":{"ips":true},
  "ipam":{"type":"cluster-ipam",
   "etcd":{"endpoints":$ETCD_ENDPOINTS_JSON,"caFile":"$ca","certFile":"$cert","keyFile":"$key","timeoutSeconds":$ETCD_TIMEOUT$auth},
   "nodeName":"$node","blockGraceSeconds":2,"cacheDir":"$WORK/ipam-cache",
   "pools":[{"subnet":"10.244.0.0/16","blockSize":26,"gateway":"10.244.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}]}
EOF
)"
}
for i in 1 2 3; do conf "cl$i" "host$i"; done

# add_ctr HOST-INDEX N : a container namespace and an ADD through cnitool; result in $WORK/res/N.json, exit code in N.rc.
mkdir -p "$WORK/res"
add_ctr() {
    local h="$1" n="$2" rc=0
    ip netns add "cnit-c$n-$RUN_ID" 2>/dev/null
    CNI_CONTAINERID="ctr-$n" cni_run "${HOSTS[$((h - 1))]}" add "cl$h" "cnit-c$n-$RUN_ID" >"$WORK/res/$n.json" 2>"$WORK/res/$n.err" || rc=$?
    echo "$h $rc" >"$WORK/res/$n.rc"
}
del_ctr() {
    local h="$1" n="$2" rc=0
    CNI_CONTAINERID="ctr-$n" cni_run "${HOSTS[$((h - 1))]}" del "cl$h" "cnit-c$n-$RUN_ID" >"$WORK/res/$n.del" 2>&1 || rc=$?
    echo "$rc" >"$WORK/res/$n.delrc"
}
for n in $(seq 1 360); do _cnit_netns+=("cnit-c$n-$RUN_ID"); done

# run_parallel FUNC FIRST LAST [JOBS] : FUNC (host n) for n in FIRST..LAST, host = n mod 3 + 1, JOBS at a time.
run_parallel() {
    # Waits only for its own jobs: a plain "wait" would also wait for the etcd members started from this shell.
    local f="$1" first="$2" last="$3" jobs="${4:-9}" n pids=()
    for ((n = first; n <= last; n++)); do
        "$f" $((n % 3 + 1)) "$n" &
        pids+=($!)
        if [ "${#pids[@]}" -ge "$jobs" ]; then wait -n "${pids[@]}"; _live_pids; fi
    done
    wait "${pids[@]}" 2>/dev/null
}
_live_pids() { local p live=(); for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && live+=("$p"); done; pids=("${live[@]}"); }

rcs_ok() { # FIRST LAST SUFFIX : every call FIRST..LAST exited 0
    local n bad=0
    for ((n = $1; n <= $2; n++)); do
        if [ "$3" = rc ]; then [ "$(cut -d' ' -f2 "$WORK/res/$n.rc" 2>/dev/null)" = 0 ] || { bad=$((bad + 1)); [ $bad -le 3 ] && cat "$WORK/res/$n.err"; }
        else [ "$(cat "$WORK/res/$n.delrc" 2>/dev/null)" = 0 ] || { bad=$((bad + 1)); [ $bad -le 3 ] && cat "$WORK/res/$n.del"; }; fi
    done
    echo "$bad failed"
    [ "$bad" -eq 0 ]
}

admin() { ip netns exec "${HOSTS[0]}" "$PLUGINS/cluster-ipam" "$@" --config "$NETCONFPATH_DIR/cl1.conflist"; }

# ---- 300 ADDs in parallel over three hosts ----------------------------------------------------------------
t0=$EPOCHREALTIME
run_parallel add_ctr 1 300 9
echo "    300 ADDs took $(echo "$EPOCHREALTIME - $t0" | bc) s"
check "300 parallel ADDs on three hosts succeed" rcs_ok 1 300 rc

# Addresses and the admin list: distinct, each inside a block held by the host that got it.
admin list >"$WORK/list.json"
verify_blocks() {
    python3 - "$WORK" "$1" "$2" <<'EOF'
import ipaddress, json, sys
work, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blocks = json.load(open(f"{work}/list.json"))["blocks"]
held = [(ipaddress.ip_network(b["cidr"]), b["node"]) for b in blocks]
seen = {}
for n in range(first, last + 1):
    host = "host" + open(f"{work}/res/{n}.rc").read().split()[0]
    addr = ipaddress.ip_interface(json.load(open(f"{work}/res/{n}.json"))["ips"][0]["address"]).ip
    if addr in seen: sys.exit(f"duplicate {addr}: containers {seen[addr]} and {n}")
    seen[addr] = n
    owners = [node for net, node in held if addr in net]
    if owners != [host]: sys.exit(f"{addr} (container {n} on {host}) is in blocks of {owners}")
nets = [net for net, _ in held]
if len(set(nets)) != len(nets): sys.exit("a block is held twice")
print(f"{len(seen)} distinct addresses in {len(held)} blocks, each held by its host")
EOF
}
check "300 distinct addresses, each in a block of the host that got it" verify_blocks 1 300
check "admin list counts 300 allocations on three nodes" \
    test "$(jq '[.nodes[].allocations] | add' "$WORK/list.json") $(jq '.nodes | length' "$WORK/list.json")" = "300 3"
check "etcd holds 300 attachment records" test "$(etcd_count "$PREFIX/attachments/")" = 300

# Repeated ADD for the same attachment: the same address (the IPAM plugin called directly, as the bridge would).
ipam_call() { # HOST-INDEX COMMAND CONTAINER-ID NETNS
    jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$NETCONFPATH_DIR/cl$1.conflist" |
        ip netns exec "${HOSTS[$(($1 - 1))]}" env CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="$4" CNI_IFNAME=eth0 \
            CNI_PATH="$PLUGINS" "$PLUGINS/cluster-ipam"
}
repeat_add_same() { [ "$(ipam_call 1 ADD ctr-3 "/var/run/netns/cnit-c3-$RUN_ID" | jq -r '.ips[0].address')" = "$(jq -r '.ips[0].address' "$WORK/res/3.json")" ]; }
check "a repeated ADD for the same attachment returns the same address" repeat_add_same
check "CHECK passes" with_env CNI_CONTAINERID=ctr-3 cni_run "${HOSTS[0]}" check cl1 "cnit-c3-$RUN_ID"

# ---- DEL of all -----------------------------------------------------------------------------------------
run_parallel del_ctr 1 300 9
check "300 parallel DELs succeed" rcs_ok 1 300 delrc
check "no allocation left in etcd" test "$(etcd_count "$PREFIX/attachments/")" = 0
admin list >"$WORK/list.json"
check "every block is empty" test "$(jq '[.blocks[].allocations] | add' "$WORK/list.json")" = 0
check "a second DEL of a container succeeds" with_env CNI_CONTAINERID=ctr-7 cni_run "${HOSTS[0]}" del cl1 "cnit-c7-$RUN_ID"
check "DEL of an unknown container succeeds" with_env CNI_CONTAINERID=never-added cni_run "${HOSTS[0]}" del cl1 "cnit-c8-$RUN_ID"
sleep 2.2
for i in 1 2 3; do
    check "GC on host$i after the grace period" with_env CNI_VALID_ATTACHMENTS='[]' cni_run "${HOSTS[$((i - 1))]}" gc "cl$i"
done
check "the empty blocks went back to the pool" test "$(etcd_count "$PREFIX/claims/")" = 0
for n in $(seq 1 300); do ip netns delete "cnit-c$n-$RUN_ID" 2>/dev/null; done

# ---- admin: release a departed node ---------------------------------------------------------------------
run_parallel add_ctr 301 306 6
check "6 ADDs for the release test" rcs_ok 301 306 rc
check "release-node host2 succeeds" admin release-node host2
check "host2 holds no block any more" test "$(etcd_count "$PREFIX/blocks/host2/")" = 0
run_parallel del_ctr 301 306 6
check "DELs after the release succeed (host2's are unknown now)" rcs_ok 301 306 delrc

# ---- static addresses -----------------------------------------------------------------------------------
# ip_of N : the address container N got.  claim_of BLOCK : the node holding a block of the pool.
ip_of() { jq -r '.ips[0].address' "$WORK/res/$1.json"; }
claim_of() { etcd_ctl get --print-value-only "$PREFIX/claims/10.244.0.0-16/$1"; }
ip netns add "cnit-c340-$RUN_ID"; ip netns add "cnit-c341-$RUN_ID"; ip netns add "cnit-c342-$RUN_ID"
check "ADD with the ips capability in an unclaimed block works" \
    with_env CNI_CONTAINERID=ctr-340 CAP_ARGS='{"ips":["10.244.100.10/16"]}' cni_run "${HOSTS[0]}" add cl1 "cnit-c340-$RUN_ID"
check "... and gives the requested address" grep -q '"address": *"10.244.100.10/16"' <<<"$LAST_OUTPUT"
check "... in the block it claimed for host1" test "$(claim_of 10.244.100.0-26)" = host1
links_before=$(ip -n "${HOSTS[1]}" -o link | wc -l)
check_fails "ADD on host2 of an address in host1's block fails" \
    with_env CNI_CONTAINERID=ctr-341 CNI_ARGS="IgnoreUnknown=1;IP=10.244.100.11" cni_run "${HOSTS[1]}" add cl2 "cnit-c341-$RUN_ID"
check "... with a clear error naming the holder (strict affinity)" grep -q "which node host1 holds.*strict affinity" <<<"$LAST_OUTPUT"
check "... and leaves no record and no container link" \
    test "$(etcd_count "$PREFIX/attachments/host2/ctr-341/")$(ip -n "cnit-c341-$RUN_ID" -o link | wc -l)" = 01
check_fails "ADD of an address in use on the same host fails" \
    with_env CNI_CONTAINERID=ctr-342 CNI_ARGS="IgnoreUnknown=1;IP=10.244.100.10" cni_run "${HOSTS[0]}" add cl1 "cnit-c342-$RUN_ID"
check "... with a clear error naming its holder" grep -q "10.244.100.10 is already allocated to ctr-340/eth0" <<<"$LAST_OUTPUT"
check "ADD on host1 of another address of that block (CNI_ARGS IP=) works" \
    with_env CNI_CONTAINERID=ctr-342 CNI_ARGS="IgnoreUnknown=1;IP=10.244.100.11" cni_run "${HOSTS[0]}" add cl1 "cnit-c342-$RUN_ID"
repeat_static() { [ "$(CNI_ARGS=IP=10.244.100.11 ipam_call 1 ADD ctr-342 "/var/run/netns/cnit-c342-$RUN_ID" | jq -r '.ips[0].address')" = 10.244.100.11/16 ]; }
check "a repeated ADD with the request returns the recorded address" repeat_static
check "DEL of the first static container succeeds" with_env CNI_CONTAINERID=ctr-340 cni_run "${HOSTS[0]}" del cl1 "cnit-c340-$RUN_ID"
check "DEL of the second static container succeeds" with_env CNI_CONTAINERID=ctr-342 cni_run "${HOSTS[0]}" del cl1 "cnit-c342-$RUN_ID"
check "no static allocation left in etcd" test "$(etcd_count "$PREFIX/attachments/")" = 0

# ---- one member down during a run of ADDs ---------------------------------------------------------------
pid1=$(cat "$ETCD_DIR/member-1.pid")
( sleep 0.5; etcd_member_kill 1 ) &
killer=$!
run_parallel add_ctr 307 336 6
wait "$killer"
check "member 1 was killed during the ADDs" bash -c "! kill -0 $pid1 2>/dev/null"
check "30 ADDs while a member was killed all succeed" rcs_ok 307 336 rc
run_parallel del_ctr 307 321 6
check "DELs with one member down succeed" rcs_ok 307 321 delrc

# ---- two members down: no quorum ------------------------------------------------------------------------
etcd_member_kill 2
links_before=$(ip -n "${HOSTS[0]}" -o link | wc -l)
ip netns add "cnit-c337-$RUN_ID"
t0=$EPOCHREALTIME
check_fails "ADD without quorum fails" with_env CNI_CONTAINERID=ctr-337 cni_run "${HOSTS[0]}" add cl1 "cnit-c337-$RUN_ID"
elapsed=$(echo "$EPOCHREALTIME - $t0" | bc)
out="$LAST_OUTPUT"
check "... with CNI error code 11" grep -q "CNI error code 11" <<<"$out"
check "... within the timeout ($ETCD_TIMEOUT s + process overhead; took ${elapsed}s)" test "$(echo "$elapsed < $ETCD_TIMEOUT + 2.5" | bc)" = 1
check "... and leaves no link on the host" test "$(ip -n "${HOSTS[0]}" -o link | wc -l)" = "$links_before"
check "... nor in the container" test "$(ip -n "cnit-c337-$RUN_ID" -o link | wc -l)" = 1
check_fails "DEL without quorum fails (the runtime retries)" with_env CNI_CONTAINERID=ctr-322 cni_run "${HOSTS[1]}" del cl2 "cnit-c322-$RUN_ID"
status_unavailable() { local out; out=$(cni_run "${HOSTS[0]}" status cl1 2>&1); echo "$out"; grep -q "CNI error code 50" <<<"$out"; }
check "STATUS without quorum reports the plugin unavailable (code 50)" status_unavailable

etcd_member_start 1
etcd_member_start 2
check "members restarted: quorum is back" etcd_cluster_wait_healthy 30
# A write that timed out without quorum may still be committed once quorum is back (it can sit uncommitted in the
# log of the member that was leader when the others died): etcd gives no way to withdraw it. The runtime sends DEL
# after every failed ADD, and that DEL removes the record by its attachment key: checked here, with no record left.
check "the DEL a runtime sends after the failed ADD succeeds" with_env CNI_CONTAINERID=ctr-337 cni_run "${HOSTS[0]}" del cl1 "cnit-c337-$RUN_ID"
check "after it the failed ADD has left no record in etcd" test "$(etcd_count "$PREFIX/attachments/host1/ctr-337/eth0")" = 0
check "ADD works again" with_env CNI_CONTAINERID=ctr-337 cni_run "${HOSTS[0]}" add cl1 "cnit-c337-$RUN_ID"
run_parallel del_ctr 322 336 6
check "the pending DELs succeed" rcs_ok 322 336 delrc
check "DEL of the container added after the restart" with_env CNI_CONTAINERID=ctr-337 cni_run "${HOSTS[0]}" del cl1 "cnit-c337-$RUN_ID"
check "no allocation left in etcd after the faults" test "$(etcd_count "$PREFIX/attachments/")" = 0

# ---- a failed ADD and killed ADDs leave nothing in etcd ------------------------------------------------------
# The interface plugin fails after the IPAM call (a route whose gateway is not on-link): its rollback releases the
# address. Then ADDs SIGKILLed at staggered moments (before, during and after their etcd commit), each followed by
# the DEL a runtime sends: no record, no block entry and no host link of theirs is left.
write_conf badroute.conflist "$(jq -c '.name = "badroute" | .plugins[0].ipam.routes = [{"dst":"192.0.2.0/24","gw":"10.99.99.99"}]' "$NETCONFPATH_DIR/cl1.conflist")"
ip netns add "cnit-c343-$RUN_ID"
check_fails "ADD whose interface plugin fails after the IPAM call fails" \
    with_env CNI_CONTAINERID=ctr-343 cni_run "${HOSTS[0]}" add badroute "cnit-c343-$RUN_ID"
check "... and leaves no record in etcd" test "$(etcd_count "$PREFIX/attachments/host1/ctr-343/")" = 0
check "... and no entry in host1's blocks" bash -c '! grep -q ctr-343 <<<"$1"' _ "$(etcd_ctl get --prefix "$PREFIX/blocks/host1/" --print-value-only)"
# killed_add N DELAY-MS : bridge + cluster-ipam ADD for container N on host1, SIGKILLed (with any IPAM child) after DELAY.
killed_add() {
    local n="$1" ms="$2" pid kids
    ip netns add "cnit-c$n-$RUN_ID" 2>/dev/null
    jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$NETCONFPATH_DIR/cl1.conflist" >"$WORK/kill.json"
    ip netns exec "${HOSTS[0]}" env CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$n" CNI_NETNS="/var/run/netns/cnit-c$n-$RUN_ID" \
        CNI_IFNAME=eth0 CNI_PATH="$PLUGINS" "$PLUGINS/bridge" <"$WORK/kill.json" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '0.%03d' "$ms")"
    kids=$(pgrep -P "$pid" || true)
    kill -KILL "$pid" $kids 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
for k in $(seq 0 11); do killed_add $((344 + k)) $((k * 4)); done
killed_dels() {
    local n bad=0
    for n in $(seq 344 355); do
        with_env CNI_CONTAINERID="ctr-$n" cni_run "${HOSTS[0]}" del cl1 "cnit-c$n-$RUN_ID" >/dev/null 2>&1 || bad=$((bad + 1))
    done
    echo "$bad DELs failed"; [ "$bad" = 0 ]
}
check "the DELs after 12 killed ADDs succeed" killed_dels
check "... and no record of a killed ADD is left in etcd" test "$(etcd_count "$PREFIX/attachments/")" = 0
check "... nor an entry in host1's blocks" bash -c '! grep -q "ctr-3[45][0-9]" <<<"$1"' _ "$(etcd_ctl get --prefix "$PREFIX/blocks/host1/" --print-value-only)"
check "... nor a container veth on host1" bash -c '! ip -n "$1" -o link show type veth | grep -v ": etcd0@" | grep .' _ "${HOSTS[0]}"

# ---- sharpcni-agent's etcd relay -------------------------------------------------------------------------
# A fourth host with no way to etcd (not on the switch); an agent on host1 relays for it over a Unix socket (a path:
# the namespaces share it). ADD/DEL on host4 can only work through the relay.
if [ -x "$CNI_BIN_DIR/sharpcni-agent" ]; then
    new_netns H4 "h4" || exit 1
    RELAY="$WORK/relay/etcd.sock"
    mkdir -p "$WORK/agent-conf" "$WORK/agent-names" "$WORK/relay"
    : >"$WORK/agent-resolv.conf"
    conf relayed host4 "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY" ",\"agentSocket\":\"$RELAY\""
    cp "$NETCONFPATH_DIR/relayed.conflist" "$WORK/agent-conf/"
    # The same etcd with a certificate at another path: an identity the agent's configuration does not name.
    cp "$ETCD_CERT" "$WORK/client-copy.crt"
    conf unnamed host4 "$ETCD_CA" "$WORK/client-copy.crt" "$ETCD_KEY" ",\"agentSocket\":\"$RELAY\""
    AGENT_PID=
    start_relay() {
        local before
        before=$(grep -c relaying "$WORK/agent.log" 2>/dev/null || true)
        ip netns exec "${HOSTS[0]}" "$CNI_BIN_DIR/sharpcni-agent" --conf-dir "$WORK/agent-conf" --names-dir "$WORK/agent-names" \
            --resolv-conf "$WORK/agent-resolv.conf" --etcd-socket "$RELAY" 2>>"$WORK/agent.log" &
        AGENT_PID=$!
        local _
        for _ in $(seq 50); do test -S "$RELAY" && [ "$(grep -c relaying "$WORK/agent.log")" -gt "${before:-0}" ] && return 0; sleep 0.1; done
        return 1
    }
    trap '[ -n "$AGENT_PID" ] && kill -KILL "$AGENT_PID" 2>/dev/null; etcd_cluster_stop; _cnit_cleanup' EXIT
    start_relay
    check "sharpcni-agent --etcd-socket serves the relay (socket mode 0600)" test "$(stat -c %a "$RELAY" 2>&1)" = 600
    ip netns add "cnit-c357-$RUN_ID"; ip netns add "cnit-c358-$RUN_ID"
    _cnit_netns+=("cnit-c357-$RUN_ID" "cnit-c358-$RUN_ID")
    check "host4 cannot reach etcd itself" bash -c '! ip netns exec "$1" timeout 3 etcdctl --endpoints "$2" --cacert "$3" --cert "$4" --key "$5" --command-timeout 1s get /x' \
        _ "$H4" "$ETCD_ENDPOINTS" "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY"
    check "ADD on host4 works through the relay" with_env CNI_CONTAINERID=ctr-357 cni_run "$H4" add relayed "cnit-c357-$RUN_ID"
    check "... and etcd records its address for host4" grep -q "ctr-357" <<<"$(etcd_ctl get --prefix "$PREFIX/attachments/")"
    check_fails_with "an identity the agent's configuration does not name is not relayed (no route: code 11)" "code 11|CNI error code 11" \
        with_env CNI_CONTAINERID=ctr-358 cni_run "$H4" add unnamed "cnit-c358-$RUN_ID"
    check "DEL on host4 works through the relay" with_env CNI_CONTAINERID=ctr-357 cni_run "$H4" del relayed "cnit-c357-$RUN_ID"
    check "... and the record is gone from etcd" bash -c '! grep -q "ctr-357" <<<"$1"' _ "$(etcd_ctl get --prefix "$PREFIX/attachments/")"
    kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
    check_fails_with "agent killed: host4's ADD fails with code 11 (it has no way of its own)" "code 11|CNI error code 11" \
        with_env CNI_CONTAINERID=ctr-357 cni_run "$H4" add relayed "cnit-c357-$RUN_ID"
    conf relayed1 host1 "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY" ",\"agentSocket\":\"$RELAY\""
    check "... while host1, with the same conflist, goes to etcd itself past the dead socket" \
        with_env CNI_CONTAINERID=ctr-358 cni_run "${HOSTS[0]}" add relayed1 "cnit-c358-$RUN_ID"
    check "... and its DEL too" with_env CNI_CONTAINERID=ctr-358 cni_run "${HOSTS[0]}" del relayed1 "cnit-c358-$RUN_ID"
    # Started here, not inside check's output capture, which would wait for the agent's end.
    start_relay
    check "a restarted agent takes over the socket its killed predecessor left" test "$(grep -c relaying "$WORK/agent.log")" = 2
    check "... and host4's ADD works again" with_env CNI_CONTAINERID=ctr-357 cni_run "$H4" add relayed "cnit-c357-$RUN_ID"
    check "... and its DEL" with_env CNI_CONTAINERID=ctr-357 cni_run "$H4" del relayed "cnit-c357-$RUN_ID"
    kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
    check "a stopped agent removes its socket" test ! -e "$RELAY"
else
    skip "no sharpcni-agent in $CNI_BIN_DIR: the relay checks"
fi

# ---- security ------------------------------------------------------------------------------------------
conf badca host1 "$ETCD_ROGUE_CA"
ip netns add "cnit-c338-$RUN_ID"
check_fails "ADD with a wrong CA fails" with_env CNI_CONTAINERID=ctr-338 cni_run "${HOSTS[0]}" add badca "cnit-c338-$RUN_ID"
check "... with a clear TLS error (code 100, names the CA check)" grep -E -q "TLS with etcd .*(certificate chain|caFile).*CNI error code 100" <<<"$LAST_OUTPUT"
check_fails "etcd refuses a client certificate of another CA" \
    ip netns exec "${HOSTS[0]}" etcdctl --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_CA" --cert "$ETCD_ROGUE_CERT" --key "$ETCD_ROGUE_KEY" --command-timeout 2s get /x
conf badcert host1 "$ETCD_CA" "$ETCD_ROGUE_CERT" "$ETCD_ROGUE_KEY"
check_fails "ADD with a client certificate etcd does not accept fails" with_env CNI_CONTAINERID=ctr-338 cni_run "${HOSTS[0]}" add badcert "cnit-c338-$RUN_ID"

# User and password (the password in a file): etcd's auth on, a user limited to the prefix.
printf 'S3cret-pw-%s\n' "$RUN_ID" >"$WORK/password"
printf 'Wrong-pw-%s\n' "$RUN_ID" >"$WORK/wrong"
chmod 600 "$WORK/password" "$WORK/wrong"
enable_auth() {
    etcd_ctl user add root --new-user-password "root-$RUN_ID" >/dev/null &&
    etcd_ctl user grant-role root root >/dev/null &&
    etcd_ctl role add cni >/dev/null &&
    etcd_ctl role grant-permission cni readwrite /sharpcni/ --prefix=true >/dev/null &&
    etcd_ctl user add cni --new-user-password "$(head -1 "$WORK/password")" >/dev/null &&
    etcd_ctl user grant-role cni cni >/dev/null &&
    etcd_ctl auth enable >/dev/null
}
check "etcd authentication enabled" enable_auth
# etcd's JSON gateway refuses certificates with a CommonName once auth is on: a CN-less certificate, and the user
# name and password decide.
conf authcn host1 "$ETCD_CA" "$ETCD_CERT" "$ETCD_KEY" ",\"username\":\"cni\",\"passwordFile\":\"$WORK/password\""
check_fails "with auth on, a client certificate with a CN is refused" with_env CNI_CONTAINERID=ctr-338 cni_run "${HOSTS[0]}" add authcn "cnit-c338-$RUN_ID"
check "... with an error that says to use one without a CN (code 100)" grep -q "without a CommonName.*CNI error code 100" <<<"$LAST_OUTPUT"
conf auth host1 "$ETCD_CA" "$ETCD_NOCN_CERT" "$ETCD_NOCN_KEY" ",\"username\":\"cni\",\"passwordFile\":\"$WORK/password\""
conf wrongpw host1 "$ETCD_CA" "$ETCD_NOCN_CERT" "$ETCD_NOCN_KEY" ",\"username\":\"cni\",\"passwordFile\":\"$WORK/wrong\""
check "ADD with user and password file works" with_env CNI_CONTAINERID=ctr-338 cni_run "${HOSTS[0]}" add auth "cnit-c338-$RUN_ID"
check_fails "ADD with a wrong password fails" with_env CNI_CONTAINERID=ctr-339 cni_run "${HOSTS[0]}" add wrongpw "cnit-c338-$RUN_ID"
check "... with code 100 and without the password in the error" \
    bash -c "grep -q 'CNI error code 100' <<<\"\$1\" && ! grep -q -e 'Wrong-pw' -e 'S3cret-pw' <<<\"\$1\"" _ "$LAST_OUTPUT"
check "DEL with user and password file works" with_env CNI_CONTAINERID=ctr-338 cni_run "${HOSTS[0]}" del auth "cnit-c338-$RUN_ID"
check "no plugin output or etcd log line carries a password" \
    bash -c "! grep -r -l -e 'S3cret-pw' -e 'Wrong-pw' '$WORK/res' '$ETCD_DIR'/member*/*.log"

finish
