#!/usr/bin/env bash
# Baseline: strongSwan (client namespace) -> plain router namespace -> strongSwan SGW -> host.
#
# The "directly" side of BENCHMARKS.md: the same SGW configuration, proposals and checks as the
# interop suite through the relay, with a stock strongSwan as the client. Root only; builds its own
# namespaces with a per-run prefix and removes everything it started on exit.
#   tests/lab/baseline.sh --ike aes256-sha256-modp2048 --esp aes128gcm16 --auth rsa [--nat client]
# See --help for all options; docs/LAB.md for what is checked and measured.
set -euo pipefail
# shellcheck source=SCRIPTDIR/suite.sh
source "$(dirname "$0")/suite.sh"
lab_suite_parse_args "$@"
# shellcheck disable=SC2034 # read by lab_suite_main
S_DRIVER=direct
lab_suite_main
