#!/usr/bin/env bash
# Through the relay vs directly, measured in the namespace lab (BENCHMARKS.md).
#   tests/lab/bench.sh [--rounds N] [--samples N] [--iperf-secs N] [--out DIR] [ROW...]
# Each ROW is a set of interop.sh options (default: two rows, MODP-2048 and ECP-256). For every
# row it runs the suite directly (strongSwan client -> router -> strongSwan SGW) and through the
# relay (xlat-client -> xlat-relay -> the same SGW), interleaved round by round (direct, xlat,
# direct, xlat ...) so that machine load hits both alike, and prints per key the median of the
# rounds' values for both, and the ratio. Every run's full output and key=value results stay in
# DIR (default: a new directory under /tmp, printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=3 samples=31 iperf=5 out=''
rows=()
while (($#)); do
    case $1 in
        --rounds) rounds=$2 && shift ;;
        --samples) samples=$2 && shift ;;
        --iperf-secs) iperf=$2 && shift ;;
        --out) out=$2 && shift ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
        -*) echo "bench.sh: unknown option $1" >&2 && exit 2 ;;
        *) rows+=("$1") ;;
    esac
    shift
done
((${#rows[@]})) || rows=(
    "--auth psk --ike aes128-sha256-modp2048 --esp aes128-sha256 --nat none"
    "--auth psk --ike aes128-sha256-ecp256 --esp aes128gcm16 --nat none"
)
[[ -n $out ]] || out=$(mktemp -d /tmp/xlat-bench.XXXXXX)
mkdir -p "$out"
echo "# results in $out; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
keys=(establish_ms_median first_establish_ms sgw_exchange_ms_median middle_transit_ms_median client_think_ms_median
    sgw_think_ms_median tunnel_rtt_median_ms tunnel_rtt_min_ms outer_rtt_median_ms middle_esp_up_us_median
    middle_esp_down_us_median tcp_up_mbps tcp_down_mbps)

value() { awk -F= -v k="$2" '$1 == k { print $2 }' "$1"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "NA" }'; }

r=0
for row in "${rows[@]}"; do
    r=$((r + 1))
    read -r -a argv <<<"$row"
    for ((i = 1; i <= rounds; i++)); do
        for c in direct xlat; do
            f=$out/row$r.$c.$i
            echo "# row $r round $i $c: $row"
            "$here/interop.sh" --client "$c" "${argv[@]}" --samples "$samples" --iperf-secs "$iperf" \
                --results "$f.txt" >"$f.log" 2>&1 || echo "#   (run had failed checks: see $f.log)"
            tail -n 1 "$f.log" | sed 's/^/#   /'
        done
    done
    echo
    echo "row $r: $row ($rounds rounds, medians of the rounds' values)"
    printf '| %-26s | %10s | %10s | %8s |\n' key direct xlat ratio
    printf '| %-26s | %10s | %10s | %8s |\n' --- --- --- ---
    for k in "${keys[@]}"; do
        d=$(for ((i = 1; i <= rounds; i++)); do value "$out/row$r.direct.$i.txt" "$k"; done | median)
        x=$(for ((i = 1; i <= rounds; i++)); do value "$out/row$r.xlat.$i.txt" "$k"; done | median)
        ratio=$(awk -v d="$d" -v x="$x" 'BEGIN { if (d + 0 > 0 && x != "NA") printf "%.2f", x / d; else print "-" }')
        printf '| %-26s | %10s | %10s | %8s |\n' "$k" "$d" "$x" "$ratio"
    done
done | tee "$out/summary.md"
