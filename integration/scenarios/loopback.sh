#!/usr/bin/env bash
# loopback plugin: ADD brings lo up in the container, CHECK passes, DEL is
# idempotent and works after the container namespace is gone.
#
# Runs our plugin ($CNI_BIN_DIR/loopback) by default; skips when it is not
# built yet. To prove the scenario against the reference plugin:
#   CNI_BIN_DIR=/usr/lib/cni integration/run.sh loopback
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 20

PLUGIN_DIR="$CNI_BIN_DIR"
if [ ! -x "$PLUGIN_DIR/loopback" ]; then
    skip_scenario "no loopback plugin at $PLUGIN_DIR/loopback (build ours, or set CNI_BIN_DIR=$REF_BIN_DIR)"
fi
TEST_CNI_PATH="$PLUGIN_DIR"
echo "   loopback under test: $PLUGIN_DIR/loopback"
require_cmd jq || skip_scenario "jq is needed"

# Use the example from conf/ when there is one (a list holding only loopback).
conf_file=""
for f in "$REPO_ROOT"/conf/*.conflist; do
    [ -e "$f" ] || continue
    if jq -e '(.plugins | length) == 1 and .plugins[0].type == "loopback"' "$f" >/dev/null 2>&1; then
        conf_file="$f"
        break
    fi
done
if [ -n "$conf_file" ]; then
    cp "$conf_file" "$NETCONFPATH_DIR/"
    NET="$(jq -r .name "$conf_file")"
    echo "   config: $conf_file"
else
    NET=lo
    write_conf 99-loopback.conflist '{"cniVersion":"1.0.0","name":"lo","plugins":[{"type":"loopback"}]}'
    echo "   config: generated"
fi

new_netns NODE node || exit 1
new_netns CTR ctr || exit 1
# Start from lo down so ADD has something to do.
ip -n "$CTR" link set lo down

cache_entries() {
    find "$CNI_CACHE_DIR_FOR_TESTS" -type f -name "$NET-*" 2>/dev/null | wc -l
}
cache_is_empty() { [ "$(cache_entries)" -eq 0 ]; }

check_lacks "lo is down before ADD" '[<,]UP[,>]' ip -n "$CTR" -o link show dev lo

check "ADD succeeds" cni_run "$NODE" add "$NET" "$CTR"
add_result="$LAST_OUTPUT"
check "ADD result names interface lo" json_get "$add_result" '.interfaces[0].name == "lo"'
check "ADD result reports 127.0.0.1/8" json_get "$add_result" '[.ips[].address] | index("127.0.0.1/8") != null'
check "ADD result carries cniVersion of the config" json_get "$add_result" '.cniVersion == "1.0.0"'
check "lo is UP in the container" link_is_up "$CTR" lo
check "127.0.0.1 answers inside the container" netns_ping "$CTR" 127.0.0.1
check "node namespace lo untouched by the call (still up)" link_is_up "$NODE" lo
check "libcni cached the attachment" test "$(cache_entries)" -eq 1

check "CHECK succeeds" cni_run "$NODE" check "$NET" "$CTR"
ip -n "$CTR" link set lo down
check_fails_with "CHECK fails when lo is down" 'loopback interface is down|lo is down|not up' cni_run "$NODE" check "$NET" "$CTR"
ip -n "$CTR" link set lo up

check "DEL succeeds" cni_run "$NODE" del "$NET" "$CTR"
check "DEL removed the cache entry" cache_is_empty
check "second DEL succeeds (idempotent)" cni_run "$NODE" del "$NET" "$CTR"

check_fails_with "ADD into a netns path that does not exist fails, naming the missing path" "cnit-missing-$RUN_ID.*no such file or directory" \
    cni_run "$NODE" add "$NET" "/var/run/netns/cnit-missing-$RUN_ID"

# A plugin's output to a regular file continues where the caller left off, and the caller continues after it
# (write(2) moves the descriptor's offset; pwrite at a position of the plugin's own would not).
seq_out="$SCENARIO_TMP/sequence.out"
{ echo before; CNI_COMMAND=VERSION "$PLUGIN_DIR/loopback" </dev/null; echo; echo after; } > "$seq_out"
check "VERSION into a shared regular file keeps the caller's lines around it" \
    bash -c "head -1 '$seq_out' | grep -qx before && tail -1 '$seq_out' | grep -qx after && sed '1d;\$d' '$seq_out' | jq -e .supportedVersions >/dev/null"

check "ADD again succeeds" cni_run "$NODE" add "$NET" "$CTR"
ctr_path="$(netns_path "$CTR")"
check "container namespace deleted" delete_netns "$CTR"
check "DEL after the container netns is gone succeeds" cni_run "$NODE" del "$NET" "$ctr_path"
check "DEL after netns gone removed the cache entry" cache_is_empty

finish
