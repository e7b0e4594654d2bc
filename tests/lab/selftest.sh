#!/usr/bin/env bash
# Self-test of the lab's capture checks: each must fail on a capture built to violate it, and pass
# on a clean one. Needs no root and no namespaces (text2pcap + tshark only), so it is cheap enough
# to run first in CI; it proves the interop suite's "only standard ISAKMP/ESP" checks can fail.
# With the oracle's virtualenv (tests/lab/venv.sh) it also proves that ah.sh's oracle check fails
# on AH packets whose covered fields changed.
set -euo pipefail
# shellcheck source=SCRIPTDIR/suite.sh
source "$(dirname "$0")/suite.sh"
lab_need tshark text2pcap
trap lab_cleanup EXIT
lab_mkrundir
RUN=$LAB_RUNDIR

# isakmp LENGTH HEXBODY: an ISAKMP main mode header (VID first) with the given length field.
isakmp() { printf '1122334455667788 0000000000000000 0d 10 02 00 00000000 %08x %s' "$1" "$2"; }
# pcap NAME SPORT,DPORT HEX...: one UDP datagram per HEX, 203.0.113.254 -> 203.0.113.1.
pcap() {
    local name=$1 ports=$2 h
    shift 2
    : >"$RUN/$name.txt"
    for h in "$@"; do
        echo "$h" | tr -d ' ' | sed 's/../& /g; s/^/000000 /' >>"$RUN/$name.txt"
    done
    text2pcap -q -u "$ports" -4 203.0.113.254,203.0.113.1 "$RUN/$name.txt" "$RUN/$name.pcap" >/dev/null 2>&1
}
RFC3947=4a131c81070358455c5728f20e95452f
pcap clean 500,500 "$(isakmp 48 "00000014 $RFC3947")"
pcap tail 500,500 "$(isakmp 48 "00000014 $RFC3947 deadbeefdeadbeefdeadbeefdeadbeef")"
pcap tail4500 4500,4500 "00000000 $(isakmp 48 "00000014 $RFC3947 00")"
pcap vid 500,500 "$(isakmp 48 "00000014 0123456789abcdef0123456789abcdef")"
pcap short 500,500 "$(isakmp 256 "00000014 $RFC3947")"
pcap other 53,53 "$(isakmp 48 "00000014 $RFC3947")"
head -c 200 /dev/urandom >"$RUN/garbage.pcap" # not a capture file: tshark fails

expect() { # expect pass|fail PREDICATE FILE
    local want=$1 pred=$2 f=$3 got=fail
    "$pred" "$RUN/$f.pcap" && got=pass
    if [[ $got == "$want" ]]; then lab_ok "$pred $f.pcap: $want ($CAP_WHY)"; else lab_notok "$pred $f.pcap: expected $want, got $got ($CAP_WHY)"; fi
}
for p in cap_decodes_clean cap_only_ipsec cap_no_tail cap_known_vids; do expect pass "$p" clean; done
expect fail cap_no_tail tail
expect fail cap_no_tail tail4500
expect pass cap_known_vids tail
expect fail cap_known_vids vid
expect fail cap_decodes_clean short
expect fail cap_only_ipsec other
# A capture tshark cannot read must fail every check, never pass for lack of output.
for p in cap_decodes_clean cap_only_ipsec cap_no_tail cap_known_vids; do expect fail "$p" garbage; done

# The AH oracle check of ah.sh (verify_capture.py) must fail too when a covered field changes.
if py=$("$LAB_DIR/venv.sh" --check 2>/dev/null); then
    mkdir -p "$RUN/oracle"
    while IFS= read -r line; do
        case $line in
            "ok - "*) lab_ok "${line#ok - }" ;;
            "not ok - "*) lab_notok "${line#not ok - }" ;;
            *) lab_log "$line" ;;
        esac
    done < <(timeout 120 "$py" "$LAB_DIR/verify_capture.py" --selftest "$RUN/oracle" 2>&1 || echo "not ok - oracle self-test ran to the end")
else
    lab_log "oracle self-test skipped: no oracle virtualenv (tests/lab/venv.sh; deps.sh makes it)"
fi
lab_summary
