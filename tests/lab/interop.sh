#!/usr/bin/env bash
# shellcheck disable=SC2034 # S_DRIVER is read by lab_suite_main
# Interop suite: client -> relay -> unmodified strongSwan SGW -> host, with the SGW's side as
# parameters, e.g.
#   tests/lab/interop.sh --ike aes256-sha256-modp2048 --esp aes128gcm16 --auth rsa --nat none
#   tests/lab/interop.sh --ike aes128-sha256-modp2048 --esp aes128-sha256 --auth psk --nat client --loss 5
# Prints "ok - ..."/"not ok - ..." per check and "N passed, M failed"; exit 0 only if all passed.
#
# Client side:
#   --client auto    (default) xlat-client + xlat-relay when both binaries exist, else the
#                    direct strongSwan baseline, saying so
#   --client xlat    require the binaries (fails if absent)
#   --client direct  always the strongSwan baseline
# Binaries are looked up in $XLAT_BIN_DIR, target/release, target/debug.
set -euo pipefail
# shellcheck source=SCRIPTDIR/suite.sh
source "$(dirname "$0")/suite.sh"

want=auto
args=()
while (($#)); do
    case $1 in
        --client) want=$2 && shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
lab_suite_parse_args ${args[@]+"${args[@]}"}

case $want in
    xlat)
        xlat_available || lab_die "--client xlat: xlat-client/xlat-relay not found (XLAT_BIN_DIR, target/release, target/debug)"
        S_DRIVER=xlat
        ;;
    direct) S_DRIVER=direct ;;
    auto)
        if xlat_available; then
            S_DRIVER=xlat
        else
            S_DRIVER=direct
            echo "# NOTE: xlat-client/xlat-relay binaries not found (looked in \${XLAT_BIN_DIR:-unset}, target/release, target/debug)."
            echo "# NOTE: running the DIRECT BASELINE instead: strongSwan client -> router -> strongSwan SGW."
            echo "# NOTE: these results say nothing about ipsec-xlat; they check the lab and the SGW side."
        fi
        ;;
    *) lab_die "--client auto|xlat|direct" ;;
esac
lab_suite_main
