# shellcheck shell=bash
# Helpers for integration scenarios. Source it first thing in a scenario:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#   new_netns NODE node
#   check "ADD succeeds" cni_run "$NODE" add mynet "$CTR"
#   finish
#
# Everything a scenario creates through these helpers (namespaces, background
# processes, temp dirs) is removed by an EXIT trap, also when the scenario
# fails or is interrupted. Nothing here touches the root network namespace.
#
# Environment (all optional):
#   CNI_BIN_DIR   our plugins (default <repo>/bin)
#   REF_BIN_DIR   reference plugins (default /usr/lib/cni)
#   CNITOOL       cnitool binary (default integration/cnitool/cnitool)
#   CNIT_RESULT_FILE  where the summary writes "passed failed skipped harness-passed harness-failed
#                     harness-skipped" (run.sh sets it; the harness counts are a subset of the first three)
#   CNIT_VERBOSE=1    print command output for passing checks too

if [ -n "${_CNIT_LIB_LOADED:-}" ]; then
    return 0
fi
_CNIT_LIB_LOADED=1

set -u

INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INTEGRATION_DIR/.." && pwd)"
CNI_BIN_DIR="${CNI_BIN_DIR:-$REPO_ROOT/bin}"
REF_BIN_DIR="${REF_BIN_DIR:-/usr/lib/cni}"
CNITOOL="${CNITOOL:-$INTEGRATION_DIR/cnitool/cnitool}"
SCENARIO_NAME="$(basename "$0" .sh)"

# Run against the reference plugins (CNI_BIN_DIR=$REF_BIN_DIR, to prove a scenario): nothing of ours is
# tested, so every check counts as harness/reference.
if [ -d "$CNI_BIN_DIR" ] && [ "$(cd "$CNI_BIN_DIR" && pwd -P)" = "$(cd "$REF_BIN_DIR" 2>/dev/null && pwd -P)" ]; then
    _cnit_kind_default=harness
    echo "   CNI_BIN_DIR is the reference plugins' directory: every check counts as harness/reference"
fi

# Plugin directories cni_run hands to cnitool as CNI_PATH. Scenarios set this
# to "$CNI_BIN_DIR" (ours) or "$REF_BIN_DIR" (reference), or a mix.
TEST_CNI_PATH="${TEST_CNI_PATH:-$CNI_BIN_DIR}"

# Seconds any single cnitool call may take before it is killed.
CNI_CALL_TIMEOUT="${CNI_CALL_TIMEOUT:-30}"

PASSED=0
FAILED=0
SKIPPED=0
# The part of PASSED/FAILED/SKIPPED that tested the harness or the reference plugins, not our product
# (see harness_scenario and harness below); run.sh prints it apart.
HPASSED=0
HFAILED=0
HSKIPPED=0
LAST_OUTPUT=""
# What the scenario declared it runs (expect_checks); empty: not declared.
_cnit_expected=""
# "product" or "harness": what the next check counts as.
_cnit_kind="${_cnit_kind_default:-product}"

_cnit_netns=()
_cnit_pids=()
_cnit_dirs=()
_cnit_finished=0
_cnit_summarised=0

# A short random tag shared by everything this scenario run creates.
RUN_ID="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"

# _cnit_cleanup (defined below) runs however the scenario ends.
trap _cnit_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- reporting

_cnit_show_output() {
    local text="$1"
    [ -n "$text" ] || return 0
    printf '%s\n' "$text" | head -n 60 | sed 's/^/    | /'
}

_cnit_pass() {
    PASSED=$((PASSED + 1))
    if [ "$_cnit_kind" = harness ]; then HPASSED=$((HPASSED + 1)); fi
}
_cnit_fail() {
    FAILED=$((FAILED + 1))
    if [ "$_cnit_kind" = harness ]; then HFAILED=$((HFAILED + 1)); fi
}

# check "description" command... : passes when the command exits 0.
# The command's combined stdout+stderr is kept in LAST_OUTPUT.
check() {
    local desc="$1"
    shift
    local rc=0
    LAST_OUTPUT="$("$@" 2>&1)" || rc=$?
    if [ "$rc" -eq 0 ]; then
        _cnit_pass
        echo "PASS: $SCENARIO_NAME: $desc"
        if [ "${CNIT_VERBOSE:-0}" = 1 ]; then _cnit_show_output "$LAST_OUTPUT"; fi
    else
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc (exit $rc): $*"
        _cnit_show_output "$LAST_OUTPUT"
    fi
    return "$rc"
}

# _cnit_not_a_failure RC : why an exit status is not the failure a check_fails expects, or nothing:
# a timeout (124 from timeout(1), 137/143 when it or cleanup killed the command, which is also what
# cni_run returns when CNI_CALL_TIMEOUT runs out) or a command that could not be run (126/127).
_cnit_not_a_failure() {
    case "$1" in
    124 | 137 | 143) echo "timed out or was killed (exit $1)" ;;
    126 | 127) echo "could not be run (exit $1)" ;;
    esac
}

# check_fails "description" command... : passes when the command exits non-zero, but not when it
# timed out, was killed or could not be run (see _cnit_not_a_failure).
check_fails() {
    local desc="$1"
    shift
    local rc=0 why
    LAST_OUTPUT="$("$@" 2>&1)" || rc=$?
    if [ "$rc" -eq 0 ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc (succeeded, expected failure): $*"
        _cnit_show_output "$LAST_OUTPUT"
        return 1
    fi
    why="$(_cnit_not_a_failure "$rc")"
    if [ -n "$why" ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc ($why, expected a failure): $*"
        _cnit_show_output "$LAST_OUTPUT"
        return 1
    fi
    _cnit_pass
    echo "PASS: $SCENARIO_NAME: $desc (failed as expected, exit $rc)"
    if [ "${CNIT_VERBOSE:-0}" = 1 ]; then _cnit_show_output "$LAST_OUTPUT"; fi
    return 0
}

# check_fails_with "description" ERE command... : as check_fails, and the command's output (stdout and
# stderr, where cnitool prints the plugin's error message and code) must match the extended regex ERE,
# so the check fails when the command fails for another reason than the one it names.
check_fails_with() {
    local desc="$1" ere="$2"
    shift 2
    local rc=0 why
    LAST_OUTPUT="$("$@" 2>&1)" || rc=$?
    if [ "$rc" -eq 0 ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc (succeeded, expected failure): $*"
        _cnit_show_output "$LAST_OUTPUT"
        return 1
    fi
    why="$(_cnit_not_a_failure "$rc")"
    if [ -z "$why" ] && ! grep -qE -- "$ere" <<<"$LAST_OUTPUT"; then
        why="failed (exit $rc) but the output does not match /$ere/"
    fi
    if [ -n "$why" ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc ($why): $*"
        _cnit_show_output "$LAST_OUTPUT"
        return 1
    fi
    _cnit_pass
    echo "PASS: $SCENARIO_NAME: $desc (failed as expected, exit $rc)"
    if [ "${CNIT_VERBOSE:-0}" = 1 ]; then _cnit_show_output "$LAST_OUTPUT"; fi
    return 0
}

# check_lacks "description" ERE command... : passes when the command exits 0 AND no line of its
# standard output matches the extended regex ERE. Use it instead of `! cmd | grep ...`, which also
# passes when cmd fails (nothing to read, nothing found). LAST_OUTPUT holds stdout then stderr.
check_lacks() {
    local desc="$1" ere="$2"
    shift 2
    local rc=0 out err hits
    out="$(mktemp "${TMPDIR:-/tmp}/cnit-lacks.XXXXXX")" || return 1
    err="$out.err"
    "$@" >"$out" 2>"$err" || rc=$?
    LAST_OUTPUT="$(cat "$out" "$err")"
    hits="$(grep -E -- "$ere" "$out")"
    rm -f "$out" "$err"
    if [ "$rc" -ne 0 ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc (the command failed, exit $rc, so its output proves nothing): $*"
        _cnit_show_output "$LAST_OUTPUT"
        return 1
    fi
    if [ -n "$hits" ]; then
        _cnit_fail
        echo "FAIL: $SCENARIO_NAME: $desc (output has lines matching /$ere/): $*"
        _cnit_show_output "$hits"
        return 1
    fi
    _cnit_pass
    echo "PASS: $SCENARIO_NAME: $desc"
    if [ "${CNIT_VERBOSE:-0}" = 1 ]; then _cnit_show_output "$LAST_OUTPUT"; fi
    return 0
}

# skip "reason" [N] : counts N (default 1) skipped checks: N is how many checks the skip stands for,
# so a scenario's total still reaches what expect_checks declared.
skip() {
    local n="${2:-1}"
    SKIPPED=$((SKIPPED + n))
    if [ "$_cnit_kind" = harness ]; then HSKIPPED=$((HSKIPPED + n)); fi
    if [ "$n" = 1 ]; then
        echo "SKIP: $SCENARIO_NAME: $1"
    else
        echo "SKIP: $SCENARIO_NAME: $1 ($n checks)"
    fi
}

# skip_scenario "reason" : skips every check the scenario has not run yet (what expect_checks declared
# minus what ran) and ends it. For the up-front "this plugin is not built" exits.
skip_scenario() {
    local done=$((PASSED + FAILED + SKIPPED)) n=1
    if [ -n "$_cnit_expected" ] && [ "$_cnit_expected" -gt "$done" ]; then n=$((_cnit_expected - done)); fi
    skip "$1" "$n"
    finish
}

# expect_checks N : the scenario runs at least N checks (passed + failed + skipped) when it runs to the
# end. Call it first thing; summary counts a shortfall (an early exit, a loop over nothing) as a failure.
# A scenario that does not call it gets a warning line, not a failure.
expect_checks() {
    _cnit_expected="$1"
}

# harness_scenario : every check of this scenario tests the harness (cnitool, lib.sh) or the reference
# plugins, not our product; run.sh prints them apart from the product's checks.
harness_scenario() {
    _cnit_kind=harness
}

# harness check|check_fails|... "description" command... : one check that runs only the reference plugins
# (or only the harness), counted apart from the product's checks.
harness() {
    local _cnit_kind=harness
    "$@"
}

# summary : prints this scenario's counts and records them for run.sh.
summary() {
    [ "$_cnit_summarised" = 0 ] || return 0
    _cnit_summarised=1
    local total=$((PASSED + FAILED + SKIPPED))
    if [ -z "$_cnit_expected" ]; then
        echo "WARN: $SCENARIO_NAME: declares no expect_checks; ran $total checks"
    elif [ "$total" -lt "$_cnit_expected" ]; then
        FAILED=$((FAILED + 1))
        echo "FAIL: $SCENARIO_NAME: ran $total checks (passed + failed + skipped), expected at least $_cnit_expected"
    fi
    local harness=""
    if [ $((HPASSED + HFAILED + HSKIPPED)) -gt 0 ]; then
        harness=" (of which harness/reference: $HPASSED passed, $HFAILED failed, $HSKIPPED skipped)"
    fi
    echo "-- $SCENARIO_NAME: $PASSED passed, $FAILED failed, $SKIPPED skipped$harness"
    if [ -n "${CNIT_RESULT_FILE:-}" ]; then
        echo "$PASSED $FAILED $SKIPPED $HPASSED $HFAILED $HSKIPPED" >"$CNIT_RESULT_FILE"
    fi
}

# finish : ends the scenario; exit status 1 if any check failed.
finish() {
    _cnit_finished=1
    if [ "$FAILED" -eq 0 ]; then exit 0; fi
    exit 1
}

# -------------------------------------------------------------- resources

# new_netns VAR [label] : creates namespace cnit-<label>-<run id>, stores its
# name in VAR and registers it for deletion.
new_netns() {
    local var="$1" label="${2:-ns}"
    local name="cnit-${label}-${RUN_ID}"
    if [ "${#name}" -gt 60 ]; then
        echo "new_netns: name too long: $name" >&2
        return 1
    fi
    ip netns add "$name" || return 1
    _cnit_netns+=("$name")
    ip -n "$name" link set lo up || return 1
    printf -v "$var" '%s' "$name"
}

# netns_path NAME-or-PATH : the bind-mount path of a namespace.
netns_path() {
    case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '/var/run/netns/%s\n' "$1" ;;
    esac
}

# delete_netns NAME : deletes a namespace early (it stays registered; cleanup
# ignores ones already gone). Kills our processes still inside it first.
delete_netns() {
    local name="$1" pid
    for pid in $(ip netns pids "$name" 2>/dev/null); do
        kill "$pid" 2>/dev/null
    done
    ip netns delete "$name"
}

# new_tmpdir VAR : creates a temp dir, stores its path in VAR, registers it.
new_tmpdir() {
    local var="$1" dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/cnit-${SCENARIO_NAME}.XXXXXX")" || return 1
    _cnit_dirs+=("$dir")
    printf -v "$var" '%s' "$dir"
}

# run_bg VAR <timeout_s> command... : starts a background command bounded by
# timeout(1); its pid goes into VAR and is killed at cleanup if still alive.
run_bg() {
    local var="$1" limit="$2"
    shift 2
    timeout "$limit" "$@" &
    local pid=$!
    _cnit_pids+=("$pid")
    printf -v "$var" '%s' "$pid"
}

# wait_until <timeout_s> command... : polls every 0.2 s until the command
# succeeds; returns 1 after the timeout. Bounded in count and time.
wait_until() {
    local limit="$1"
    shift
    local tries=$((limit * 5)) i
    [ "$tries" -ge 1 ] || tries=1
    for ((i = 0; i < tries; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

# --------------------------------------------------------------- CNI calls

# Per-scenario config directory and libcni cache (never /etc or /var/lib/cni).
new_tmpdir SCENARIO_TMP || exit 1
NETCONFPATH_DIR="$SCENARIO_TMP/net.d"
CNI_CACHE_DIR_FOR_TESTS="$SCENARIO_TMP/cache"
mkdir -p "$NETCONFPATH_DIR" "$CNI_CACHE_DIR_FOR_TESTS"

# write_conf FILE-NAME JSON : writes a network config into the scenario's
# NETCONFPATH (e.g. write_conf 10-br.conflist '{...}').
write_conf() {
    printf '%s\n' "$2" >"$NETCONFPATH_DIR/$1"
}

# cni_run <node-ns> <command> <net> [container-netns] : runs cnitool inside
# the node namespace with the scenario's NETCONFPATH, CNI_PATH and cache.
# container-netns is a namespace name or a path; gc/status may omit it.
# CNI_ARGS, CAP_ARGS, CNI_IFNAME, CNI_CONTAINERID and CNI_VALID_ATTACHMENTS
# pass through from the caller, e.g.  CNI_IFNAME=net1 cni_run ...
cni_run() {
    local node="$1" command="$2" net="$3"
    local target=()
    if [ $# -ge 4 ]; then target=("$(netns_path "$4")"); fi
    ip netns exec "$node" env \
        NETCONFPATH="$NETCONFPATH_DIR" \
        CNI_PATH="$TEST_CNI_PATH" \
        CNI_CACHE_DIR="$CNI_CACHE_DIR_FOR_TESTS" \
        timeout "$CNI_CALL_TIMEOUT" "$CNITOOL" "$command" "$net" "${target[@]}"
}

# with_env NAME=VALUE... command... : runs a command (or shell function, e.g.
# cni_run) in a subshell with extra exported variables:
#   check "ADD with args" with_env CNI_ARGS="IP=10.0.0.5" cni_run "$NODE" add net "$CTR"
with_env() {
    (
        while [ $# -gt 0 ] && [[ "$1" == [A-Za-z_]*=* ]]; do
            export "${1?}"
            shift
        done
        "$@"
    )
}

# ------------------------------------------------------------ assertions

# link_is_up NS IFNAME : the interface has the UP flag.
link_is_up() {
    ip -n "$1" -o link show dev "$2" 2>/dev/null | grep -q '[<,]UP[,>]'
}

# link_exists NS IFNAME : NS "" means the root namespace (read only).
link_exists() {
    if [ -z "$1" ]; then
        ip link show dev "$2" >/dev/null 2>&1
    else
        ip -n "$1" link show dev "$2" >/dev/null 2>&1
    fi
}

# link_absent NS IFNAME : the namespace can be read and has no such interface (a namespace that is gone
# or unreadable is a failure, not an absence).
link_absent() {
    if [ -z "$1" ]; then
        ip link show >/dev/null 2>&1 || return 1
    else
        ip -n "$1" link show >/dev/null 2>&1 || return 1
    fi
    ! link_exists "$1" "$2"
}

# netns_ping NS ADDR : one bounded ping from inside NS (ping or busybox ping).
netns_ping() {
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$1" ping -c 1 -W 2 "$2"
    else
        ip netns exec "$1" busybox ping -c 1 -W 2 "$2"
    fi
}

# json_get JSON FILTER : jq -r on a JSON string.
json_get() {
    printf '%s' "$1" | jq -er "$2"
}

# require_cmd NAME... : skips (returns 1) when a tool is missing.
require_cmd() {
    local c
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1; then
            skip "required command '$c' not installed"
            return 1
        fi
    done
}

# ---------------------------------------------------------------- cleanup

_cnit_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local pid name dir
    for pid in "${_cnit_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${_cnit_pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for name in "${_cnit_netns[@]}"; do
        if [ -e "/var/run/netns/$name" ]; then
            for pid in $(ip netns pids "$name" 2>/dev/null); do
                kill "$pid" 2>/dev/null
            done
            ip netns delete "$name" 2>/dev/null
        fi
    done
    for dir in "${_cnit_dirs[@]}"; do
        case "$dir" in
        /tmp/cnit-* | "${TMPDIR:-/tmp}"/cnit-*) rm -rf -- "$dir" ;;
        esac
    done
    # Cleanup itself is part of the contract: verify nothing of ours is left.
    local left
    _cnit_kind=product
    left="$(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "-$RUN_ID\$")"
    if [ -n "$left" ]; then
        FAILED=$((FAILED + 1))
        echo "FAIL: $SCENARIO_NAME: cleanup left namespaces: $(echo "$left" | tr '\n' ' ')"
    fi
    if [ "$_cnit_finished" = 0 ]; then
        FAILED=$((FAILED + 1))
        echo "FAIL: $SCENARIO_NAME: scenario ended before finish (exit $rc)"
    fi
    summary
    if [ "$FAILED" -ne 0 ]; then exit 1; fi
    exit 0
}


if [ "$(id -u)" != 0 ]; then
    echo "lib.sh: integration scenarios need root (network namespaces)" >&2
    exit 1
fi
if [ ! -x "$CNITOOL" ]; then
    echo "lib.sh: $CNITOOL not built; run integration/cnitool/build.sh" >&2
    exit 1
fi
