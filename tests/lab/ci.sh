#!/usr/bin/env bash
# CI entry for the namespace lab: a small matrix of interop.sh rows plus the capture self-test.
#   tests/lab/ci.sh [--results-dir DIR] [--quick]
# Skips (exit 0, with the reason) when not root, without network namespaces, or without charon;
# set LAB_REQUIRE=1 to turn a skip into a failure. LAB_MATRIX (rows separated by ';') replaces
# the default matrix. LAB_CLIENT=auto|xlat|direct is passed to interop.sh --client (auto: through
# xlat-client/xlat-relay when both binaries are built, else the strongSwan baseline).
# Ends with "N passed, M failed" over all rows; exit 0 only if all passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

results_dir='' extra=()
while (($#)); do
    case $1 in
        --results-dir) results_dir=$2 && shift ;;
        --quick) extra=(--xfer-mb 20 --samples 3 --iperf-secs 2) ;;
        -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
        *) echo "ci.sh: unknown option $1" >&2 && exit 2 ;;
    esac
    shift
done

skip() {
    echo "SKIP: namespace lab not run: $*"
    if [[ ${LAB_REQUIRE:-0} == 1 ]]; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "0 passed, 0 failed"
    exit 0
}
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, nftables, charon)"
if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then skip "no 'ip netns' (iproute2 missing?)"; fi
unshare --net true 2>/dev/null || skip "cannot create network namespaces here"
[[ -x ${LAB_CHARON:-/usr/lib/ipsec/charon} ]] || skip "no strongSwan charon (run tests/lab/deps.sh)"
"$here/deps.sh" --check >/dev/null || skip "$("$here/deps.sh" --check) (run tests/lab/deps.sh)"

DEFAULT_MATRIX="--auth psk --ike aes128-sha256-modp2048 --esp aes128-sha256 --nat none;\
--auth rsa --ike aes256-sha256-modp2048 --esp aes128gcm16 --nat none;\
--auth psk --ike aes128-sha256-ecp256 --esp aes128-sha1 --nat client"
IFS=';' read -r -a rows <<<"${LAB_MATRIX:-$DEFAULT_MATRIX}"

[[ -z $results_dir ]] || mkdir -p "$results_dir"
total_pass=0 total_fail=0 t_all=$(date +%s)
summary=()
run_row() { # run_row NAME CMD...: streams output, adds the row's "N passed, M failed"
    local name=$1 log rc=0 t0 line p f
    shift
    log=$(mktemp)
    t0=$(date +%s)
    echo "=== $name"
    "$@" 2>&1 | tee "$log" || rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
    rm -f "$log"
    if [[ -z $line ]]; then
        p=0 f=1
        echo "not ok - $name produced no summary line (exit $rc)"
    else
        read -r p _ f _ <<<"$line"
        ((rc == 0 || f > 0)) || f=1
    fi
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
    summary+=("$(printf '%-75s %3d passed %3d failed %4ds' "$name" "$p" "$f" $(($(date +%s) - t0)))")
}

run_row "capture-check self-test" "$here/selftest.sh"
i=0
for row in "${rows[@]}"; do
    i=$((i + 1))
    read -r -a argv <<<"$row"
    res=()
    [[ -z $results_dir ]] || res=(--results "$results_dir/row$i.txt")
    run_row "interop $row" "$here/interop.sh" --client "${LAB_CLIENT:-auto}" "${argv[@]}" \
        ${extra[@]+"${extra[@]}"} ${res[@]+"${res[@]}"}
done

echo "=== lab matrix summary"
printf '%s\n' "${summary[@]}"
echo "total time $(($(date +%s) - t_all)) s"
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
