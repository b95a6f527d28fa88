#!/usr/bin/env bash
# Differential: the same input through the reference plugins ($REF_BIN_DIR) and ours, results compared field by
# field. static: the binary run directly (CNI_COMMAND=ADD) on configs covering addresses, routes, dns, CNI_ARGS
# IP/GATEWAY, args.cni.ips and the ips capability, in several spec versions: the printed results are equal (an
# empty "dns" object, which the reference always prints, left out), and configs the reference refuses we refuse.
# ptp (+ host-local) and ptp + tuning (sysctl, mtu, mac): each side's own binaries through cnitool, results of the
# same shape with names, MACs and sandboxes normalised (tuning's MAC compared exactly); CHECK passes on ours
# (and on the reference's ptp; its tuning 1.1.1 CHECK does not substitute IFNAME).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 46

for p in static ptp tuning host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ] || [ ! -x "$REF_BIN_DIR/$p" ]; then
        skip "need both $CNI_BIN_DIR/$p and $REF_BIN_DIR/$p"
        finish
    fi
done
require_cmd jq || finish

# ---- static ------------------------------------------------------------------------------------------------------
run_static() { # dir config cni-args
    printf '%s' "$2" | env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=diff1 CNI_NETNS=/var/run/netns/none CNI_IFNAME=eth0 \
        CNI_PATH="$1" CNI_ARGS="$3" "$1/static"
}
normalise() { jq -S 'if .dns == {} then del(.dns) else . end' 2>/dev/null <<<"$1"; }
static_case() { # label config [cni-args]
    local label="$1" config="$2" args="${3:-}" ref ours rref rours
    ref="$(run_static "$REF_BIN_DIR" "$config" "$args")" && rref=0 || rref=$?
    ours="$(run_static "$CNI_BIN_DIR" "$config" "$args")" && rours=0 || rours=$?
    if [ "$rref" -ne 0 ]; then
        check "static $label: refused by both" test "$rours" -ne 0
        return
    fi
    if check "static $label: same result" test "$(normalise "$ref")" = "$(normalise "$ours")"; then :; else
        diff <(normalise "$ref") <(normalise "$ours") | sed 's/^/    | /'
    fi
}
base='{"name":"sdiff","type":"macvlan","ipam":{"type":"static",
  "addresses":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"},{"address":"3ffe:ffff:0:01ff::1/64","gateway":"3ffe:ffff:0::1"}],
  "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.10.5.1"},{"dst":"3ffe:ffff:0:01ff::1/64"}],
  "dns":{"nameservers":["8.8.8.8"],"domain":"example.com","search":["example.com"],"options":["ndots:2"]}}}'
# (Debian's reference is 1.1.1, which predates spec 1.1.0.)
for v in 1.0.0 0.4.0 0.3.1; do
    static_case "$v addresses, routes, dns" "$(jq -c --arg v "$v" '. + {cniVersion: $v}' <<<"$base")"
    static_case "$v CNI_ARGS IP/GATEWAY" "$(jq -c --arg v "$v" '. + {cniVersion: $v}' <<<"$base")" "IP=10.1.1.1/24,fd00::5/64;GATEWAY=10.1.1.254,10.10.0.3"
    static_case "$v args.cni.ips" "$(jq -c --arg v "$v" '. + {cniVersion: $v, args: {cni: {ips: ["10.5.0.5/16"]}}}' <<<"$base")"
    static_case "$v ips capability" "$(jq -c --arg v "$v" '. + {cniVersion: $v, runtimeConfig: {ips: ["10.6.0.6/24", "fd00:6::6/64"]}}' <<<"$base")"
done
static_case "0.2.0 one address" '{"cniVersion":"0.2.0","name":"s","ipam":{"type":"static","addresses":[{"address":"10.1.0.4/16","gateway":"10.1.0.1"}]}}'
# Go-cased keys as encoding/json matches them. ("Address" inside an address is not among them: the reference's
# Address struct has an untagged field named Address, which an exact "Address" key selects and fails on; we read it
# as "address".)
static_case "Go-cased keys" '{"CNIVersion":"1.0.0","Name":"s","IPAM":{"Type":"static","Addresses":[{"address":"10.0.0.2/24","Gateway":"10.0.0.1"}],"Routes":[{"Dst":"0.0.0.0/0","GW":"10.0.0.1"}],"DNS":{"Nameservers":["10.0.0.1"]}}}'
static_case "Go-cased capability" '{"CNIVersion":"1.0.0","Name":"s","IPAM":{"Type":"static"},"RuntimeConfig":{"IPs":["10.0.0.9/24"]},"Args":{"CNI":{"IPs":["10.0.0.8/24"]}}}'
static_case "no addresses" '{"cniVersion":"1.0.0","name":"s","ipam":{"type":"static"}}'
static_case "0.2.0 two addresses of one family" '{"cniVersion":"0.2.0","name":"s","ipam":{"type":"static","addresses":[{"address":"10.1.0.4/16"},{"address":"10.1.0.5/16"}]}}'
static_case "address without prefix" '{"cniVersion":"1.0.0","name":"s","ipam":{"type":"static","addresses":[{"address":"10.1.0.4"}]}}'
static_case "unknown CNI_ARGS" '{"cniVersion":"1.0.0","name":"s","ipam":{"type":"static"}}' "FOO=1"
static_case "no ipam" '{"cniVersion":"1.0.0","name":"s"}'

# ---- ptp, ptp + tuning through cnitool ---------------------------------------------------------------------------
new_tmpdir OURS || exit 1
new_tmpdir REF || exit 1
cp "$CNI_BIN_DIR/ptp" "$CNI_BIN_DIR/tuning" "$CNI_BIN_DIR/host-local" "$OURS/"
cp "$REF_BIN_DIR/ptp" "$REF_BIN_DIR/tuning" "$REF_BIN_DIR/host-local" "$REF/"
new_netns NODE node || exit 1

shape() {
    printf '%s' "$1" | jq -S 'walk(if type == "object" then with_entries(
        if (.key == "name" and (.value | startswith("veth"))) then .value = "<host veth>"
        elif (.key == "mac" and .value != "c2:77:00:00:00:01") then .value = "<mac>"
        elif (.key == "sandbox") then .value = "<sandbox>"
        else . end) else . end) | if .dns == {} then del(.dns) else . end'
}

for chain in ptp ptp+tuning; do
    for version in 1.0.0 0.4.0; do
        for impl in REF OURS; do
            dir="${!impl}"
            net="d${chain//+/}${impl,,}${version//./}"
            write_conf "$net.conflist" "$(jq -n --arg dir "$SCENARIO_TMP/ipam-$net" --arg state "$SCENARIO_TMP/state-$net" \
                --arg v "$version" --arg n "$net" --arg chain "$chain" '{
              cniVersion: $v, name: $n,
              plugins: ([{type: "ptp", ipMasq: false, mtu: 1400,
                         ipam: {type: "host-local", dataDir: $dir,
                                ranges: [[{subnet: "10.95.10.0/24"}], [{subnet: "fd00:95:10::/64"}]],
                                routes: [{dst: "0.0.0.0/0"}, {dst: "192.168.0.0/16", gw: "10.95.10.1"}]}}]
                        + (if $chain == "ptp+tuning" then [{type: "tuning", dataDir: $state, mac: "c2:77:00:00:00:01", mtu: 1300,
                                                            sysctl: {"net.ipv4.conf.IFNAME.rp_filter": "2"}}] else [] end))}')"
            new_netns CTR "c${impl,,}" || exit 1
            TEST_CNI_PATH="$dir"
            check "$chain $impl ADD ($version)" cni_run "$NODE" add "$net" "$CTR"
            printf -v "RESULT_$impl" '%s' "$LAST_OUTPUT"
            # The reference tuning 1.1.1 does not substitute IFNAME in CHECK (fixed later): its CHECK fails on this list.
            if [ "$impl" = OURS ] || [ "$chain" = ptp ]; then
                check "$chain $impl CHECK ($version)" cni_run "$NODE" check "$net" "$CTR"
            fi
            check "$chain $impl DEL ($version)" cni_run "$NODE" del "$net" "$CTR"
            delete_netns "$CTR"
        done
        ref_shape="$(shape "$RESULT_REF")"
        our_shape="$(shape "$RESULT_OURS")"
        if check "$chain results ($version) are the same with names, MACs and sandboxes normalised" test "$ref_shape" = "$our_shape"; then :; else
            diff <(echo "$ref_shape") <(echo "$our_shape") | sed 's/^/    | /'
        fi
    done
done
finish
