#!/usr/bin/env bash
# host-local on a full disk (issue 19): its dataDir on a small tmpfs that fills up. ADD fails with a clear CNI error,
# leaves no partial reservation file and a readable last_reserved_ip; once space is freed ADD works and the store is
# consistent (every reservation file names its owner, and DEL releases exactly what ADD reserved). The same through
# the bridge plugin, whose failed ADD also leaves no interface behind.
# The tmpfs is mounted in a private mount namespace (unshare -m) that only this scenario's plugin calls see.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$INTEGRATION_DIR/faults.sh"
expect_checks 13

require_cmd unshare nsenter jq dd || finish
for p in bridge host-local; do
    if [ ! -x "$CNI_BIN_DIR/$p" ]; then
        skip "no $p plugin at $CNI_BIN_DIR/$p (run ./build.sh)"
        finish
    fi
done

new_tmpdir WORK || exit 1
STORE="$WORK/store"
mkdir -p "$STORE"
new_netns NODE node || exit 1
new_netns CTR ctr || exit 1

# Everything below runs in one private mount namespace holding the tmpfs; it prints one line per check.
# shellcheck disable=SC2016
run_private() {
    unshare -m --propagation private bash -c '
        set -u
        STORE=$1 NODE=$2 CTR=$3 BIN=$4
        mount -t tmpfs -o size=256k,nr_inodes=64 tmpfs "$STORE" || { echo "FAIL mount tmpfs"; exit 0; }
        HL='"'"'{"cniVersion":"1.0.0","name":"disk","ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.140.0.0/24"}]]}}'"'"'
        HL=${HL/STORE/$STORE}
        BR='"'"'{"cniVersion":"1.0.0","name":"disk","type":"bridge","bridge":"dbr0","isGateway":true,"ipam":{"type":"host-local","dataDir":"STORE","ranges":[[{"subnet":"10.140.0.0/24"}]]}}'"'"'
        BR=${BR/STORE/$STORE}
        call() { # PLUGIN CMD ID CONFIG -> output in OUT, exit in RC
            RC=0
            OUT=$(printf "%s" "$4" | nsenter --net=/var/run/netns/$NODE env CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_IFNAME=eth0 \
                CNI_NETNS=/var/run/netns/$CTR CNI_PATH=$BIN $BIN/$1 2>/dev/null) || RC=$?
        }
        ok() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi; }
        files() { find "$STORE/disk" -maxdepth 1 -type f -name "10.*" | wc -l; }
        owners_named() {
            local f
            for f in "$STORE"/disk/10.*; do
                case "$(head -1 "$f" | tr -d "\r")" in first | second) ;; *) return 1 ;; esac
            done
        }

        call host-local ADD first "$HL"
        ok "ADD works while there is space" "[ $RC -eq 0 ]"
        # Fill the file system: data blocks, then inodes.
        dd if=/dev/zero of="$STORE/filler" bs=4k 2>/dev/null
        i=0; while [ $i -lt 100 ] && touch "$STORE/inode.$i" 2>/dev/null; do i=$((i + 1)); done
        before=$(files)
        call host-local ADD second "$HL"
        ok "ADD on a full disk fails" "[ $RC -ne 0 ]"
        ok "with a CNI error naming the store" "jq -e \".code and (.msg | test(\\\"No space|ENOSPC|space\\\"; \\\"i\\\"))\" <<<\"\$OUT\" >/dev/null"
        echo "INFO error: $(jq -c . <<<"$OUT" 2>/dev/null || echo "$OUT")"
        ok "no partial reservation file is left" "[ $(files) -eq $before ] && ! grep -L . $STORE/disk/10.* 2>/dev/null | grep -q ."
        ok "no temporary file is left in the store" "[ -z \"\$(find $STORE/disk -name \".*tmp*\")\" ]"
        ok "last_reserved_ip still reads as an address" "grep -qE \"^10\\.140\\.0\\.[0-9]+\$\" $STORE/disk/last_reserved_ip.0"
        call bridge ADD third "$BR"
        ok "bridge ADD on a full disk fails" "[ $RC -ne 0 ]"
        ok "and leaves no veth behind" "[ -z \"\$(ip -n $NODE -o link show type veth)\" ] && ! ip -n $CTR link show eth0 >/dev/null 2>&1"
        ok "and no reservation" "[ $(files) -eq $before ]"
        # Free the space.
        rm -f "$STORE/filler" "$STORE"/inode.*
        call host-local ADD second "$HL"
        ok "after space is freed ADD works" "[ $RC -eq 0 ]"
        ok "every reservation file names its owner" owners_named
        call host-local DEL second "$HL"; call host-local DEL first "$HL"
        ok "DEL releases exactly what ADD reserved" "[ $(files) -eq 0 ]"
        call bridge DEL third "$BR"
        ok "a DEL of the failed bridge ADD succeeds" "[ $RC -eq 0 ]"
        umount "$STORE"
    ' _ "$STORE" "$NODE" "$CTR" "$CNI_BIN_DIR"
}

while read -r verdict rest; do
    case "$verdict" in
    PASS) check "$rest" true ;;
    FAIL) check "$rest" false ;;
    INFO) echo "   $rest" ;;
    esac
done < <(run_private)

finish
