#!/usr/bin/env bash
# The same conflist through the reference bridge ($REF_BIN_DIR) and ours gives results of the same shape:
# same keys, same interface order (bridge, host veth, container with sandbox), ips on interface 2 with
# gateways, same routes, same cniVersion; for 1.0.0 and 0.4.0 configs.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 10

if [ ! -x "$CNI_BIN_DIR/bridge" ] || [ ! -x "$REF_BIN_DIR/bridge" ]; then
    skip_scenario "need both $CNI_BIN_DIR/bridge and $REF_BIN_DIR/bridge"
fi
require_cmd jq || skip_scenario "jq is needed"
new_tmpdir OURS || exit 1
new_tmpdir REF || exit 1
cp "$CNI_BIN_DIR/bridge" "$OURS/"
cp "$REF_BIN_DIR/host-local" "$OURS/"
cp "$REF_BIN_DIR/bridge" "$REF_BIN_DIR/host-local" "$REF/"

new_netns NODE node || exit 1

# shape JSON : the result with values that differ per run (names, MACs, addresses) replaced by their type.
shape() {
    printf '%s' "$1" | jq -S 'walk(if type == "object" then with_entries(
        if (.key == "name" or .key == "mac" or .key == "sandbox") then .value = "<string>"
        elif (.key == "address") then .value = (.value | sub("\\.[0-9]+/"; ".N/") | sub("::[0-9a-f]+/"; "::N/"))
        else . end) else . end)'
}

for version in 1.0.0 0.4.0; do
    for impl in REF OURS; do
        dir="${!impl}"
        net="cmp${impl,,}${version//./}"
        write_conf "$net.conflist" "$(jq -n --arg dir "$SCENARIO_TMP/ipam-$net" --arg br "b${impl:0:1}${version//./}$RUN_ID" --arg v "$version" --arg n "$net" '{
          cniVersion: $v, name: $n,
          plugins: [{type: "bridge", bridge: $br, isGateway: true, isDefaultGateway: true, hairpinMode: true,
                     ipam: {type: "host-local", dataDir: $dir,
                            ranges: [[{subnet: "10.99.10.0/24"}], [{subnet: "fd00:99:10::/64"}]],
                            routes: [{dst: "192.168.0.0/16"}]}}]}')"
        new_netns CTR "c${impl,,}${version//./}" || exit 1
        TEST_CNI_PATH="$dir"
        kind=check
        if [ "$impl" = REF ]; then kind="harness check"; fi # the reference alone: not a check of ours
        $kind "$impl ADD ($version) succeeds" cni_run "$NODE" add "$net" "$CTR"
        printf -v "RESULT_$impl" '%s' "$LAST_OUTPUT"
        $kind "$impl DEL ($version) succeeds" cni_run "$NODE" del "$net" "$CTR"
    done
    ref_shape="$(shape "$RESULT_REF")"
    our_shape="$(shape "$RESULT_OURS")"
    if check "results ($version) have the same shape" test -n "$our_shape" -a "$ref_shape" = "$our_shape"; then :; else
        diff <(echo "$ref_shape") <(echo "$our_shape") | sed 's/^/    | /'
    fi
done
finish
