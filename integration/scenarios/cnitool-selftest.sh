#!/usr/bin/env bash
# HARNESS SELF-TEST - checks cnitool itself with a fake "recorder" plugin that
# logs its stdin and CNI_* environment: what libcni and cnitool hand to
# plugins for ADD/CHECK/DEL/GC/STATUS, the 1.1.0 version bridge, CNI_ARGS,
# CAP_ARGS, container ID derivation and error handling. No kernel objects are
# made besides two throwaway namespaces.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
harness_scenario
expect_checks 45
require_cmd jq sha512sum || skip_scenario "jq and sha512sum are needed"

new_tmpdir PLUGINS || exit 1
new_tmpdir RECORDS || exit 1
TEST_CNI_PATH="$PLUGINS"

# The recorder: one script, installed under two type names.
cat >"$PLUGINS/recorder-a" <<PLUGIN
#!/usr/bin/env bash
records="$RECORDS"
PLUGIN
cat >>"$PLUGINS/recorder-a" <<'PLUGIN'
type="$(basename "$0")"
stdin="$(cat)"
if [ "$CNI_COMMAND" = VERSION ]; then
    echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}'
    exit 0
fi
n=$(( $(cat "$records/seq" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$records/seq"
base="$(printf '%s/%03d-%s-%s' "$records" "$n" "$type" "$CNI_COMMAND")"
printf '%s' "$stdin" >"$base.json"
env | grep '^CNI_' | sort >"$base.env"
ver="$(printf '%s' "$stdin" | jq -r .cniVersion)"
case "$CNI_COMMAND" in
ADD)
    if printf '%s' "$stdin" | jq -e .prevResult >/dev/null; then
        printf '%s' "$stdin" | jq -c --arg v "$ver" '.prevResult | .cniVersion = $v'
    else
        jq -nc --arg v "$ver" --arg ifn "$CNI_IFNAME" --arg ns "$CNI_NETNS" \
            '{cniVersion:$v, interfaces:[{name:$ifn, sandbox:$ns}], ips:[{address:"192.0.2.5/24", interface:0}]}'
    fi
    ;;
STATUS)
    if [ -e "$records/not-ready-$type" ]; then
        jq -nc --arg v "$ver" '{cniVersion:$v, code:50, msg:"recorder not ready"}'
        exit 1
    fi
    ;;
esac
exit 0
PLUGIN
chmod +x "$PLUGINS/recorder-a"
cp "$PLUGINS/recorder-a" "$PLUGINS/recorder-b"

write_conf 10-rec11.conflist '{"cniVersion":"1.1.0","name":"rec11","plugins":[
  {"type":"recorder-a","capabilities":{"portMappings":true},"answer":42},
  {"type":"recorder-b"}]}'
write_conf 20-rec10.conflist '{"cniVersion":"1.0.0","name":"rec10","plugins":[{"type":"recorder-a"}]}'

new_netns NODE node || exit 1
new_netns CTR ctr || exit 1
CTR_PATH="$(netns_path "$CTR")"
EXPECTED_ID="cnitool-$(printf '%s' "$CTR_PATH" | sha512sum | cut -c1-20)"

# rec TYPE COMMAND : the newest record file base for that plugin and command.
rec() { ls "$RECORDS"/*-"$1"-"$2".json 2>/dev/null | sort | tail -n 1 | sed 's/\.json$//'; }
rec_count() { ls "$RECORDS"/*-"$1"-"$2".json 2>/dev/null | wc -l; }
stdin_of() { jq -e "$3" "$(rec "$1" "$2").json"; }
env_of() { grep -qx "$3" "$(rec "$1" "$2").env"; }

PORTS='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'

# ----- ADD on a 1.1.0 list (through the version bridge)
check "ADD on a 1.1.0 list succeeds" \
    with_env CNI_ARGS="K1=v1;K2=a=b" CAP_ARGS="{\"portMappings\":$PORTS}" cni_run "$NODE" add rec11 "$CTR"
check "ADD prints the result labelled 1.1.0" json_get "$LAST_OUTPUT" '.cniVersion == "1.1.0" and .ips[0].address == "192.0.2.5/24"'
check "first plugin got cniVersion 1.1.0, list name, own keys" stdin_of recorder-a ADD '.cniVersion == "1.1.0" and .name == "rec11" and .answer == 42'
check "first plugin got CAP_ARGS portMappings in runtimeConfig" stdin_of recorder-a ADD ".runtimeConfig.portMappings == $PORTS"
check "first plugin got no prevResult" stdin_of recorder-a ADD '.prevResult == null'
check "second plugin got prevResult labelled 1.1.0" stdin_of recorder-b ADD '.prevResult.cniVersion == "1.1.0" and .prevResult.ips[0].address == "192.0.2.5/24"'
check "second plugin (no capability) got no runtimeConfig" stdin_of recorder-b ADD '.runtimeConfig == null'
check "CNI_ARGS passed verbatim" env_of recorder-a ADD 'CNI_ARGS=K1=v1;K2=a=b'
check "CNI_IFNAME defaults to eth0" env_of recorder-a ADD 'CNI_IFNAME=eth0'
check "CNI_NETNS is the absolute netns path" env_of recorder-a ADD "CNI_NETNS=$CTR_PATH"
check "container ID derived from the netns path like upstream" env_of recorder-a ADD "CNI_CONTAINERID=$EXPECTED_ID"
check "cache entry records the netns" jq -e --arg ns "$CTR_PATH" '.netns == $ns' \
    "$CNI_CACHE_DIR_FOR_TESTS/results/rec11-$EXPECTED_ID-eth0"

check "CHECK succeeds" cni_run "$NODE" check rec11 "$CTR"
check "CHECK sends the cached result as prevResult, labelled 1.1.0" stdin_of recorder-a CHECK '.prevResult.cniVersion == "1.1.0" and .cniVersion == "1.1.0"'

# ----- STATUS
check "STATUS succeeds when every plugin is ready" cni_run "$NODE" status rec11
check "STATUS reached both plugins" test "$(rec_count recorder-a STATUS)" -eq 1 -a "$(rec_count recorder-b STATUS)" -eq 1
check "STATUS stdin has list name and version" stdin_of recorder-b STATUS '.name == "rec11" and .cniVersion == "1.1.0"'
check "STATUS env has no container ID" env_of recorder-a STATUS 'CNI_CONTAINERID='
touch "$RECORDS/not-ready-recorder-b"
check_fails "STATUS fails when a plugin is not ready" cni_run "$NODE" status rec11
check "STATUS failure reports the plugin's CNI error code" grep -q 'code 50' <<<"$LAST_OUTPUT"
rm -f "$RECORDS/not-ready-recorder-b"

# ----- GC
check "GC with the container as netns argument succeeds" cni_run "$NODE" gc rec11 "$CTR"
check "GC sent the container as the only valid attachment" stdin_of recorder-a GC \
    "(.\"cni.dev/valid-attachments\" == [{containerID: \"$EXPECTED_ID\", ifname: \"eth0\"}]) and .name == \"rec11\""
check "GC reached every plugin" test "$(rec_count recorder-b GC)" -eq 1
check "GC kept the valid attachment (no DEL)" test "$(rec_count recorder-a DEL)" -eq 0
check_fails_with "GC rejects malformed CNI_VALID_ATTACHMENTS" 'invalid CNI_VALID_ATTACHMENTS' with_env CNI_VALID_ATTACHMENTS='{"x":1}' cni_run "$NODE" gc rec11
check "GC with an empty valid list succeeds" with_env CNI_VALID_ATTACHMENTS='[]' cni_run "$NODE" gc rec11
check "GC DELeted the stale cached attachment in its netns" env_of recorder-a DEL "CNI_NETNS=$CTR_PATH"
check "GC sent an empty valid-attachments list" stdin_of recorder-b GC '."cni.dev/valid-attachments" == []'
check "stale attachment's cache entry is gone" test ! -e "$CNI_CACHE_DIR_FOR_TESTS/results/rec11-$EXPECTED_ID-eth0"
check "DEL after GC succeeds" cni_run "$NODE" del rec11 "$CTR"
check "DEL reached plugins in reverse order" bash -c "[[ \$(basename '$(rec recorder-b DEL)') < \$(basename '$(rec recorder-a DEL)') ]]"

gc_before="$(rec_count recorder-a GC)"
check "GC on a 1.0.0 list succeeds" cni_run "$NODE" gc rec10
check "GC on a 1.0.0 list does not call plugin GC" test "$(rec_count recorder-a GC)" -eq "$gc_before"

# ----- explicit container ID and plain 1.0.0 lists
check "ADD on a 1.0.0 list with CNI_CONTAINERID succeeds" with_env CNI_CONTAINERID=explicit-1 CNI_IFNAME=net9 cni_run "$NODE" add rec10 "$CTR"
check "1.0.0 result printed as 1.0.0" json_get "$LAST_OUTPUT" '.cniVersion == "1.0.0" and .interfaces[0].name == "net9"'
check "CNI_CONTAINERID overrides the derived ID" env_of recorder-a ADD 'CNI_CONTAINERID=explicit-1'
check "DEL with CNI_CONTAINERID succeeds" with_env CNI_CONTAINERID=explicit-1 CNI_IFNAME=net9 cni_run "$NODE" del rec10 "$CTR"

# ----- errors
exit_code() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
check "unknown command exits 2" test "$(exit_code cni_run "$NODE" frobnicate rec11 "$CTR")" -eq 2
check "add without netns exits 2" test "$(exit_code cni_run "$NODE" add rec11)" -eq 2
check_fails "unknown network fails" cni_run "$NODE" add no-such-net "$CTR"
check "unknown network error names it" grep -q 'no-such-net' <<<"$LAST_OUTPUT"
check_fails_with "CNI_ARGS pair without '=' fails" 'invalid CNI_ARGS pair "novalue"' with_env CNI_ARGS="novalue" cni_run "$NODE" add rec10 "$CTR"
check_fails_with "CAP_ARGS that is not a JSON object fails" 'invalid CAP_ARGS' with_env CAP_ARGS='[1,2]' cni_run "$NODE" add rec10 "$CTR"
with_plugin_path() { local TEST_CNI_PATH="$1"; shift; "$@"; }
check_fails "missing plugin binary fails" with_plugin_path /nonexistent cni_run "$NODE" add rec10 "$CTR"
check "missing plugin error names the plugin type" grep -q 'recorder-a' <<<"$LAST_OUTPUT"

finish
