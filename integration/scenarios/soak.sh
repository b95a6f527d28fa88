#!/usr/bin/env bash
# scenario-timeout: 1200
# The short soak of issue 19 in CI: bench/soak.sh with 500 ADD/DEL cycles of bridge + host-local + portmap over 20
# containers, 5 in parallel, 1% of plugin processes killed with SIGKILL and the attachment DELeted as a runtime
# would (retried). At the end, after GC: no veth, nftables element, conntrack entry, reservation or stale lock or temp
# file left, and no DEL that failed every retry. (The 10,000-cycle run and its cost ratio are in the README.)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 3

for p in bridge host-local portmap; do
    [ -x "$CNI_BIN_DIR/$p" ] || skip_scenario "no $p at $CNI_BIN_DIR/$p (run ./build.sh)"
done
require_cmd jq nft conntrack || skip_scenario "jq, nft and conntrack are needed"

soak() { OURS_BIN_DIR="$CNI_BIN_DIR" CNITOOL="$CNITOOL" bash "$REPO_ROOT/bench/soak.sh" 500 20 5; }
check "500 cycles with 1% of plugin processes killed end clean" soak
out="$LAST_OUTPUT"
echo "$out" | grep -E '^(cycles|left after GC)' | sed 's/^/   /'
check "... nothing left after GC" grep -q 'left after GC: veths 0, nft elements 0, conntrack entries 0, reservations 0, stale lock/temp files 0' <<<"$out"
check "... and every killed attachment's DEL succeeded within its retries" grep -q 'DELs failed after 5 attempts: 0$' <<<"$out"
finish
