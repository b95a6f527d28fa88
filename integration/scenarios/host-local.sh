#!/usr/bin/env bash
# host-local called directly (it touches no network): 100 parallel ADDs on one network all succeed
# with unique addresses, a repeated ADD keeps its address, DEL and GC release, STATUS reports an
# unusable store as code 50, and the reference host-local and ours share one store.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
expect_checks 19

HL="$CNI_BIN_DIR/host-local"
if [ ! -x "$HL" ]; then skip_scenario "no $HL (run ./build.sh)"; fi
require_cmd jq || skip_scenario "jq is needed"
DATA="$SCENARIO_TMP/ipam"
conf() { # VERSION
    printf '{"cniVersion":"%s","name":"hlnet","type":"host-local","ipam":{"type":"host-local","ranges":[[{"subnet":"10.77.0.0/24","exclude":["10.77.0.10/31"]}]],"dataDir":"%s"}}' "$1" "$DATA"
}
# hl COMMAND ID [VERSION] [BINARY]: one host-local call, result on stdout
hl() {
    conf "${3:-1.1.0}" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS=/nonexistent CNI_IFNAME=eth0 \
        CNI_PATH="$CNI_BIN_DIR" "${4:-$HL}"
}
export -f hl conf
export DATA HL CNI_BIN_DIR REF_BIN_DIR

adds="$SCENARIO_TMP/adds"
mkdir -p "$adds"
par_add() {
    seq 1 100 | xargs -P 100 -I{} bash -c 'hl ADD c{} > "'"$adds"'/c{}.json"'
}
check "100 parallel ADDs all succeed" par_add
addresses() { cat "$adds"/*.json | jq -r '.ips[0].address' | sort; }
check "100 results, 100 distinct addresses" test "$(addresses | sort -u | wc -l)" -eq 100
check_lacks "excluded 10.77.0.10/31, network, gateway and broadcast never handed out" '^10\.77\.0\.(0|1|10|11|255)/' \
    bash -c "set -o pipefail; cat $adds/*.json | jq -er '.ips[0].address'"
check "100 reservation files on disk" test "$(ls "$DATA/hlnet" | grep -c '^10\.77\.0\.')" -eq 100
first=$(jq -r '.ips[0].address' "$adds/c1.json")
check "repeated ADD keeps the same address" bash -c "[ \"\$(hl ADD c1 | jq -r '.ips[0].address')\" = '$first' ]"
check "CHECK finds the reservation" hl CHECK c1
exhaust() {
    # 254 hosts in the /24, less the gateway and the two excluded: 251, of which 100 are taken.
    local i ok=0 out
    for i in $(seq 101 260); do
        if out=$(hl ADD x$i); then ok=$((ok + 1)); else break; fi
    done
    echo "$ok more ADDs succeeded; then: $out"
    [ "$ok" -eq 151 ] && [ "$(printf '%s' "$out" | jq -r .code)" != 0 ] && printf '%s' "$out" | jq -r .msg | grep -q "10.77.0"
}
check "the range runs out after exactly 251 addresses, with an error naming the range" exhaust
par_del() { seq 1 260 | xargs -P 50 -I{} bash -c 'hl DEL c{} >/dev/null && hl DEL x{} >/dev/null'; }
check "parallel DELs all succeed" par_del
check "DEL of an unknown container succeeds" hl DEL never-added
check "only the 0 reservations of GC candidates are left" test "$(ls "$DATA/hlnet" | grep -c '^10\.77\.0\.')" -eq 0

hl ADD keep >/dev/null; hl ADD drop >/dev/null
gc() { conf 1.1.0 | jq -c '. + {"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]}' \
    | env CNI_COMMAND=GC CNI_PATH="$CNI_BIN_DIR" "$HL"; }
check "GC succeeds" gc
check "GC kept the valid attachment" bash -c "grep -rl '^keep' '$DATA/hlnet' | grep -q ."
# leases_of PCRE : the reservation files whose content matches; fails only when the store cannot be read.
leases_of() { grep -rlP "$1" "$DATA/hlnet"; [ $? -le 1 ]; }
check_lacks "GC released the other" . leases_of '^drop\r?$'
check "STATUS succeeds on a usable store" bash -c 'conf 1.1.0 | env CNI_COMMAND=STATUS CNI_PATH=x "$HL"'
status50() {
    local out
    out=$(printf '{"cniVersion":"1.1.0","name":"hlnet","type":"host-local","ipam":{"type":"host-local","subnet":"10.77.0.0/24","dataDir":"/proc/version/x"}}' \
        | env CNI_COMMAND=STATUS CNI_PATH=x "$HL") && return 1
    [ "$(printf '%s' "$out" | jq -r .code)" = 50 ]
}
check "STATUS on an unusable store answers code 50" status50

if [ -x "$REF_BIN_DIR/host-local" ]; then
    mixed() {
        local i out seen="$SCENARIO_TMP/seen"
        : > "$seen"
        for i in $(seq 1 20); do
            bin=$HL; [ $((i % 2)) = 0 ] && bin="$REF_BIN_DIR/host-local"
            out=$(hl ADD m$i 1.0.0 "$bin") || return 1
            printf '%s' "$out" | jq -r '.ips[0].address' >> "$seen"
        done
        [ "$(sort -u "$seen" | wc -l)" -eq 20 ]
    }
    check "reference and ours alternating on one store never hand out the same address" mixed
    check "ours reserved an address for m1" bash -c 'grep -rlP "^m1\\r?$" "$DATA/hlnet" | grep -q .'
    check "the reference releases what ours reserved" hl DEL m1 1.0.0 "$REF_BIN_DIR/host-local"
    check_lacks "no reservation of m1 is left" . leases_of '^m1\r?$'
else
    skip "no reference host-local in $REF_BIN_DIR" 4
fi
finish
