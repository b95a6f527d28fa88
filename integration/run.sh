#!/usr/bin/env bash
# Runs the integration scenarios (integration/scenarios/*.sh), each in its own
# bash process, and prints one final line: "N passed, N failed[, N skipped]".
# Exits non-zero when anything failed.
#
# Checks of the harness itself (cnitool-selftest) and checks that run only the
# reference plugins (ref-bridge-smoke, the reference half of comparisons) are
# printed apart on a "harness: ..." line; the final line's passed and skipped
# counts are the product's, its failed count includes harness failures. A run
# that executes no check at all fails.
#
#   integration/run.sh [name-filter]
#
# Environment:
#   CNI_BIN_DIR       our plugins (default <repo>/bin)
#   REF_BIN_DIR       reference plugins (default /usr/lib/cni)
#   SCENARIO_TIMEOUT  seconds per scenario (default 300)
#   CNIT_VERBOSE=1    show command output for passing checks too
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
filter="${1:-}"

export CNI_BIN_DIR="${CNI_BIN_DIR:-$repo/bin}"
export REF_BIN_DIR="${REF_BIN_DIR:-/usr/lib/cni}"
scenario_timeout="${SCENARIO_TIMEOUT:-300}"

if [ "$(id -u)" != 0 ]; then
    echo "run.sh: needs root (network namespaces)" >&2
    exit 1
fi

# Build cnitool when it is missing or older than its sources.
tool="$here/cnitool/cnitool"
if [ ! -x "$tool" ] || [ -n "$(find "$here/cnitool" -name '*.go' -newer "$tool" 2>/dev/null)" ]; then
    "$here/cnitool/build.sh" >&2 || { echo "run.sh: building cnitool failed" >&2; exit 1; }
fi

# What the root namespace looks like; must be the same afterwards.
root_state() {
    echo "# netns"
    ip netns list 2>/dev/null | awk '{print $1}' | grep '^cnit-' | sort
    echo "# links"
    ip -br link 2>/dev/null | awk '{print $1}' | sort
    echo "# nft"
    nft list tables 2>/dev/null | sort
}

# The first ifb device created anywhere loads the ifb module, which by default also makes ifb0 and ifb1 in the
# root namespace (numifbs=2): load it first with none, before the snapshot (a no-op when loaded or built in).
if command -v modprobe >/dev/null 2>&1; then modprobe ifb numifbs=0 2>/dev/null || true; fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cnit-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root_state >"$work/before"

passed=0 failed=0 skipped=0 ran=0
hpassed=0 hfailed=0 hskipped=0
for scenario in "$here"/scenarios/*.sh; do
    [ -e "$scenario" ] || continue
    name="$(basename "$scenario" .sh)"
    case "$name" in *"$filter"*) ;; *) continue ;; esac
    ran=$((ran + 1))
    echo "== $name"
    result="$work/$name.result"
    rc=0
    # A scenario may declare a longer limit in a "# scenario-timeout: SECONDS" line (the fault-injection one does).
    limit="$(sed -nE 's/^# scenario-timeout: ([0-9]+)$/\1/p' "$scenario" | head -1)"
    [ -n "$limit" ] && [ "$limit" -gt "$scenario_timeout" ] || limit="$scenario_timeout"
    CNIT_RESULT_FILE="$result" timeout -k 30 "$limit" bash "$scenario" || rc=$?
    if [ -s "$result" ]; then
        read -r p f s hp hf hs <"$result"
        # Harness counts are a subset of the totals (older lib.sh: three fields, no harness part).
        hp="${hp:-0}" hf="${hf:-0}" hs="${hs:-0}"
        passed=$((passed + p - hp)) failed=$((failed + f - hf)) skipped=$((skipped + s - hs))
        hpassed=$((hpassed + hp)) hfailed=$((hfailed + hf)) hskipped=$((hskipped + hs))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "FAIL: $name: exited $rc without a failed check"
            failed=$((failed + 1))
        fi
    else
        why="exit $rc"
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after ${scenario_timeout}s"; fi
        echo "FAIL: $name: produced no summary ($why)"
        failed=$((failed + 1))
    fi
done

if [ "$ran" -eq 0 ]; then
    echo "FAIL: run: no scenario matches '$filter'"
    echo "0 passed, 1 failed"
    exit 1
fi

# Checks the scenarios executed (passed or failed, harness included); the root-namespace check below is the
# run's own and does not count.
executed=$((passed + failed + hpassed + hfailed))

root_state >"$work/after"
if diff -u "$work/before" "$work/after" >"$work/diff"; then
    echo "PASS: run: root namespace unchanged (netns, links, nft tables)"
    passed=$((passed + 1))
else
    echo "FAIL: run: root namespace changed during the run"
    sed 's/^/    | /' "$work/diff"
    failed=$((failed + 1))
fi

if [ "$executed" -eq 0 ]; then
    echo "FAIL: run: no scenario executed a check ($ran scenarios, $((skipped + hskipped)) checks skipped)"
    failed=$((failed + 1))
fi

# The harness line comes first; the last line stays the one build.sh parses.
if [ $((hpassed + hfailed + hskipped)) -gt 0 ]; then
    echo "harness: $hpassed passed, $hfailed failed, $hskipped skipped (not counted as product passes below)"
fi
failed=$((failed + hfailed))
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
