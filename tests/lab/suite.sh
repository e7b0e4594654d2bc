# shellcheck shell=bash disable=SC2034
# The interop suite: one parameterised run of "client -> relay/router -> strongSwan SGW -> host".
#
# The SGW side is always an unmodified strongSwan charon configured from --ike/--esp/--auth. The
# client side is a driver:
#   direct  strongSwan charon in the client namespace, the relay namespace a plain router
#           (the baseline: what "directly" means in BENCHMARKS.md)
#   xlat    xlat-client in the client namespace, xlat-relay in the relay namespace (no forwarding)
# Both drivers go through the same checks, so a result through the relay is directly comparable
# with the baseline. Sourced by baseline.sh and interop.sh; lab_suite_main is the entry.

# shellcheck source=SCRIPTDIR/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
# shellcheck source=SCRIPTDIR/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/strongswan.sh"

# --- parameters (set by lab_suite_parse_args) ---------------------------------------------------
S_IKE=aes128-sha256-modp2048
S_ESP=aes128-sha256
S_OFFER_IKE='' # what the client offers; default: the SGW's proposals
S_OFFER_ESP=''
S_AUTH=psk
S_NAT=none
S_LOSS=''
S_DRIVER=direct
S_SAMPLES=5
S_XFER_MB=200
S_IPERF_SECS=3
S_CLIENT_IKE_SECS=
S_RESULTS=''
S_NAME=''

# Vendor IDs strongSwan 5.9.8 sends in main mode 1/2 (XAUTH, RFC 3706 DPD, Cisco fragmentation,
# RFC 3947 NAT-T, draft-ietf-ipsec-nat-t-ike-02\n). Anything else on the SGW link is not standard
# strongSwan traffic (e.g. a vendor ID of ours leaking).
S_KNOWN_VIDS=(
    09002689dfd6b712
    afcad71368a1f1c96b8696fc77570100
    4048b7d56ebce88525e7de7f00d6c2d380000000
    4a131c81070358455c5728f20e95452f
    90cb80913ebb696e086381b5ec427b1f
)

lab_suite_usage() {
    cat <<EOF
usage: ${0##*/} [options]
  --ike PROPOSALS    IKE (phase 1) proposal(s) of the SGW, strongSwan syntax,
                     comma-separated                              [$S_IKE]
  --esp PROPOSALS    ESP (phase 2) proposal(s) of the SGW         [$S_ESP]
  --offer-ike LIST   what the client offers, in order (default: the SGW's), e.g.
                     aes256-sha256-modp2048,aes128-sha256-ecp256: the SGW must pick
                     the one it has from several
  --offer-esp LIST   the same for ESP
  --auth psk|rsa     main mode authentication                     [$S_AUTH]
  --nat none|client  NAT the client leg in the relay namespace    [$S_NAT]
  --loss PCT         drop PCT% of UDP/ESP/AH arriving at the relay namespace on both links
  --samples N        establishment timing samples                 [$S_SAMPLES]
  --xfer-mb N        size of each checksum-compared TCP transfer  [$S_XFER_MB]
  --iperf-secs N     duration of each iperf3 throughput run       [$S_IPERF_SECS]
  --client-ike-secs N  xlat client's IKE SA lifetime; at most 300 adds a check that it
                     reauthenticates on its own during the run (default: 14400, none)
  --results FILE     also write measurements as key=value lines to FILE
  --name NAME        label for this run in the output
Environment: LAB_KEEP=1 keeps the run directory (configs, logs, captures) for inspection.
Prints one "ok - ..." / "not ok - ..." line per check and ends with "N passed, M failed";
exit status 0 only if every check passed.
EOF
}

lab_suite_parse_args() {
    while (($#)); do
        case $1 in
            --ike) S_IKE=$2 && shift ;;
            --esp) S_ESP=$2 && shift ;;
            --offer-ike) S_OFFER_IKE=$2 && shift ;;
            --offer-esp) S_OFFER_ESP=$2 && shift ;;
            --auth) S_AUTH=$2 && shift ;;
            --nat) S_NAT=$2 && shift ;;
            --loss) S_LOSS=$2 && shift ;;
            --samples) S_SAMPLES=$2 && shift ;;
            --xfer-mb) S_XFER_MB=$2 && shift ;;
            --iperf-secs) S_IPERF_SECS=$2 && shift ;;
            --client-ike-secs) S_CLIENT_IKE_SECS=$2 && shift ;;
            --results) S_RESULTS=$2 && shift ;;
            --name) S_NAME=$2 && shift ;;
            -h | --help) lab_suite_usage && exit 0 ;;
            *) lab_suite_usage >&2 && lab_die "unknown option: $1" ;;
        esac
        shift
    done
    [[ $S_AUTH == psk || $S_AUTH == rsa ]] || lab_die "--auth psk|rsa"
    [[ $S_NAT == none || $S_NAT == client ]] || lab_die "--nat none|client"
    S_OFFER_IKE=${S_OFFER_IKE:-$S_IKE} S_OFFER_ESP=${S_OFFER_ESP:-$S_ESP}
    local p
    for p in "$S_IKE" "$S_ESP" "$S_OFFER_IKE" "$S_OFFER_ESP"; do
        [[ $p =~ ^[a-z0-9_-]+(,[a-z0-9_-]+)*$ ]] || lab_die "bad proposal syntax: $p"
    done
    [[ -z $S_LOSS || $S_LOSS =~ ^[0-9]+$ ]] || lab_die "--loss PCT"
    [[ $S_SAMPLES =~ ^[1-9][0-9]*$ && $S_XFER_MB =~ ^[1-9][0-9]*$ ]] || lab_die "bad number"
    [[ $S_IPERF_SECS =~ ^[1-9][0-9]*$ ]] || lab_die "bad --iperf-secs"
    [[ -z ${S_CLIENT_IKE_SECS:-} || $S_CLIENT_IKE_SECS =~ ^[1-9][0-9]*$ ]] || lab_die "bad --client-ike-secs"
    ((${S_CLIENT_IKE_SECS:-14400} >= 30)) || lab_die "--client-ike-secs: at least 30 (the client reauthenticates at 85-90 % of it)"
    ((S_XFER_MB >= 20)) || lab_log "warning: a transfer under 20 MB may end before its rekey does (~300 Mbit/s here)"
    local offer=''
    [[ $S_OFFER_IKE == "$S_IKE" && $S_OFFER_ESP == "$S_ESP" ]] || offer=" offer=$S_OFFER_IKE/$S_OFFER_ESP"
    [[ -n $S_NAME ]] || S_NAME="$S_AUTH ike=$S_IKE esp=$S_ESP$offer nat=$S_NAT${S_LOSS:+ loss=$S_LOSS%}"
}

# record KEY VALUE: a measurement, printed and (with --results) stored.
record() {
    lab_measure "$1=$2${3:+ ($3)}"
    [[ -z $S_RESULTS ]] || printf '%s=%s\n' "$1" "$2" >>"$S_RESULTS"
}

# --- processes inside namespaces ------------------------------------------------------------------
# bg NS LOG CMD...: start CMD in NS in the background, registered for cleanup; pid in $BG_PID.
bg() {
    local ns=$1 log=$2
    shift 2
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    BG_PID=$!
    lab_register_pid "$BG_PID"
}

# wait_pid PID TIMEOUT: wait for a child, at most TIMEOUT seconds; its exit status, 124 on timeout.
wait_pid() {
    local pid=$1 t=$2 rc=0
    if ! lab_wait_until "$t" pid_gone "$pid"; then
        lab_kill_pid "$pid" 2
        return 124
    fi
    wait "$pid" || rc=$?
    return "$rc"
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }
file_at_least() { (($(stat -c %s "$1" 2>/dev/null || echo 0) >= $2)); }

tcp_listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep LISTEN >/dev/null; }

# --- the "direct" driver: strongSwan charon as the client ---------------------------------------
drv_direct_describe() { echo "strongSwan charon (client ns) -> router ns -> strongSwan SGW"; }
drv_direct_netns_mode() { echo router; }
drv_direct_setup() {
    CLI=$RUN/client
    mkdir -p "$CLI"
    sw_write_strongswan_conf "$CLI"
    sw_write_swanctl "$CLI" initiator "$LAB_CLIENT_ADDR" "$LAB_SGW_ADDR" "$LAB_CLIENT_INNER/32" \
        "$LAB_LAN_NET" "$S_OFFER_IKE" "$S_OFFER_ESP" "$S_AUTH" "$RUN/pki"
    sw_start "$CLI" "$LAB_NS_CLIENT" && sw_load "$CLI"
}
drv_direct_initiate() { sw_initiate "$CLI"; }
drv_direct_terminate() { sw_terminate "$CLI"; }
drv_direct_installed() { sw_child_installed "$CLI"; }
drv_direct_idle() { sw_no_sas "$CLI" && sw_no_sas "$SGW"; }
drv_direct_spis() { sw_child_spis "$CLI"; }
drv_direct_can_rekey() { return 0; }
drv_direct_rekey() { sw_rekey_child "$CLI"; }
drv_direct_stop() { sw_stop "$CLI"; }
drv_direct_gap() { return 1; }
drv_direct_has_relay() { return 1; }

# --- the "xlat" driver: OUR CLIENT AND RELAY (hook for issue 5) ---------------------------------
# ============================================================================================
# HOOK: xlat-client (client namespace) and xlat-relay (relay namespace) start here.
# The configs follow the format of examples/config/{relay,client}.toml (io branch); docs/LAB.md
# explains each key as the lab uses it. Contract the suite assumes:
#   - `xlat-relay --config relay.toml` listens on 198.51.100.1:500/4500 (c-side) and talks to the
#     SGW from 203.0.113.254:500/4500 (s-side); the relay namespace does NOT forward, so nothing
#     reaches the SGW unless the relay sends it.
#   - `xlat-client --config client.toml --control client.ctl --no-initiate` creates TUN xlat0
#     with 10.8.0.1/32, routes 10.9.0.0/24 into it, and waits, as charon does with a loaded
#     config: it is started once, at setup, like the direct driver's charon.
#   - `xlat ctl --socket client.ctl initiate|terminate|rekey|status` is its swanctl: initiate
#     returns once the client installed the CHILD_SA (swanctl --initiate waits likewise), so
#     establish_ms spans the same thing for both drivers: the initiate command -> both ends'
#     CHILD_SA installed, with no process start in it. terminate sends the IKEv1 DELETEs for
#     the CHILD_SAs and the ISAKMP SA, as `swanctl --terminate` does; so does SIGTERM at stop.
#   - The client's side is judged by its --status-file (installed SAs, SGW's SPIs) and by
#     traffic through xlat0; the SGW's side by `swanctl --list-sas`.
#   - Rekeys: the upstream transfer's by the client (`xlat ctl rekey`), the downstream one's by
#     the SGW (`swanctl --rekey --child` there), the case a relay must translate without the
#     client having asked for anything.
# ============================================================================================
XLAT_BIN_DIR=${XLAT_BIN_DIR:-}
xlat_bin() {
    local name=$1 d
    for d in "$XLAT_BIN_DIR" "$LAB_DIR/../../target/release" "$LAB_DIR/../../target/debug"; do
        [[ -n $d && -x $d/$name ]] && { echo "$d/$name"; return 0; }
    done
    return 1
}
xlat_available() { xlat_bin xlat-client >/dev/null && xlat_bin xlat-relay >/dev/null && xlat_bin xlat >/dev/null; }

# xlat_noise_keypair FILE: a Noise static private key (32 random bytes, base64) in FILE and its
# X25519 public half, base64, on stdout (openssl derives it from a PKCS#8 wrapping of the key).
xlat_noise_keypair() {
    head -c 32 /dev/urandom | base64 >"$1"
    chmod 600 "$1"
    { printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x6e\x04\x22\x04\x20'; base64 -d "$1"; } |
        openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64
}

drv_xlat_describe() { echo "xlat-client (client ns) -> xlat-relay (relay ns) -> strongSwan SGW"; }
drv_xlat_netns_mode() { echo relay; }
drv_xlat_setup() {
    local relay_pub client_pub id_type id_value auth
    XL=$RUN/xlat
    mkdir -p "$XL"
    relay_pub=$(xlat_noise_keypair "$XL/relay.noise.key")
    client_pub=$(xlat_noise_keypair "$XL/client.noise.key")
    if [[ $S_AUTH == rsa ]]; then
        # The SGW expects the certificate's identity (swanctl remote id = client.lab.test).
        id_type=fqdn id_value=client.lab.test
        auth="certificate = \"$RUN/pki/client.crt\"
private_key = \"$RUN/pki/client.key\"
ca_certificate = \"$RUN/pki/ca.crt\""
    else
        # The SGW accepts any ID with the PSK (remote id = %any), as a road-warrior SGW does.
        id_type=user_fqdn id_value=client@lab.test
        printf '%s\n' "$LAB_PSK" >"$XL/lab.psk"
        chmod 600 "$XL/lab.psk"
        auth="psk_file = \"$XL/lab.psk\""
    fi
    cat >"$XL/relay.toml" <<EOF
# generated by tests/lab/suite.sh (xlat driver)
noise_private_key_file = "$XL/relay.noise.key"
[c_side]
addresses = ["$LAB_RELAY_C_ADDR"]
ike_port = 500
natt_port = 4500
raw_esp = true
raw_ah = true
raw_header_included = false
[s_side]
address = "$LAB_RELAY_S_ADDR"
ike_port = 500
natt_port = 4500
raw_esp = true
raw_ah = true
raw_header_included = true
[[authorized_clients]]
name = "lab-client"
public_key = "$client_pub"
[[identification]]
id_type = "$id_type"
id = "$id_value"
sgw = "$LAB_SGW_ADDR"
EOF
    cat >"$XL/client.toml" <<EOF
# generated by tests/lab/suite.sh (xlat driver)
noise_private_key_file = "$XL/client.noise.key"
[identity]
type = "$id_type"
value = "$id_value"
[relay]
address = "$LAB_RELAY_C_ADDR"
ike_port = 500
natt_port = 4500
noise_public_key = "$relay_pub"
[local]
addresses = ["$LAB_CLIENT_ADDR"]
ike_port = 500
natt_port = 4500
raw_esp = false
[auth]
$auth
[proposals]
ike = $(toml_list "$S_OFFER_IKE")
esp = $(toml_list "$S_OFFER_ESP")
ah = []
[traffic_selectors]
local = ["$LAB_CLIENT_INNER/32"]
remote = ["$LAB_LAN_NET"]
[tun]
name = "xlat0"
address = "$LAB_CLIENT_INNER/32"
mtu = 1400
routes = ["$LAB_LAN_NET"]
[lifetimes]
# swanctl's defaults on the SGW: rekey 4 h / 1 h, offered as 15840 s / 3960 s (+10 %);
# --client-ike-secs shortens the client's IKE SA so that it reauthenticates during the run.
ike_seconds = ${S_CLIENT_IKE_SECS:-14400}
ipsec_seconds = 3600
EOF
    # --report-every 1: tables and drop counters in the log every second (bad-input checks).
    bg "$LAB_NS_RELAY" "$XL/relay.log" "$(xlat_bin xlat-relay)" --config "$XL/relay.toml" -v --report-every 1
    XLAT_RELAY_PID=$BG_PID
    lab_wait_until 10 udp_listening "$LAB_NS_RELAY" 4500 && kill -0 "$XLAT_RELAY_PID" 2>/dev/null || return 1
    # The client, once and idle (as the direct driver's charon): every establishment is an
    # `xlat ctl initiate`. --status-file: its installed SAs, "IN OUT" SPIs as the SGW knows them.
    local t0
    rm -f "$XL/client.status"
    t0=$(lab_now_ms)
    bg "$LAB_NS_CLIENT" "$XL/client.log" "$(xlat_bin xlat-client)" --config "$XL/client.toml" -v \
        --status-file "$XL/client.status" --control "$XL/client.ctl" --no-initiate
    XLAT_CLIENT_PID=$BG_PID
    lab_wait_until 10 grep -q "control socket ready" "$XL/client.log" && kill -0 "$XLAT_CLIENT_PID" 2>/dev/null || return 1
    # What establish_ms no longer counts: starting the process (TUN device, sockets, config).
    local ready
    ready=$(xlat_log_ms "$XL/client.log" "control socket ready")
    [[ -z $ready ]] || record xlat_client_start_ms "$((ready - t0))" "xlat-client process start -> control socket ready (TUN, sockets, config)"
}
# xlat_log_ms LOG PATTERN: epoch-ms of the last line of an xlat daemon's log matching PATTERN
# (tracing's RFC 3339 timestamp, first field); nothing when none matches.
xlat_log_ms() {
    local ts
    ts=$(grep -E "$2" "$1" 2>/dev/null | tail -n 1 | awk '{ print $1 }') || true
    [[ -n $ts ]] || return 0
    date -d "$ts" +%s%3N 2>/dev/null || true
}
xlat_ctl() { timeout 120 "$(xlat_bin xlat)" ctl --socket "$XL/client.ctl" "$@" >>"$XL/ctl.out" 2>&1; }
# toml_list "a,b": ["a", "b"]
toml_list() { awk -F, '{ printf "["; for (i = 1; i <= NF; i++) printf "%s\"%s\"", (i > 1 ? ", " : ""), $i; print "]" }' <<<"$1"; }
udp_listening() { ip netns exec "$1" ss -Hlun "sport = :$2" | grep . >/dev/null; }
drv_xlat_initiate() {
    echo "# $(date +%T.%3N) initiate" >>"$XL/ctl.out"
    xlat_ctl initiate && lab_wait_until 30 sw_child_installed "$SGW"
}
drv_xlat_terminate() {
    echo "# $(date +%T.%3N) terminate" >>"$XL/ctl.out"
    xlat_ctl terminate
}
# The client's CHILD_SA installation time (its log), for establish_once.
drv_xlat_installed_ms() { xlat_log_ms "$XL/client.log" "child SA installed"; }
drv_xlat_installed() { kill -0 "${XLAT_CLIENT_PID:-0}" 2>/dev/null && [[ -s $XL/client.status ]] && sw_child_installed "$SGW"; }
# Idle, as for the direct driver: no SA left on either end (the client's terminate deleted the
# ISAKMP SA on the SGW too).
drv_xlat_idle() { [[ ! -s $XL/client.status ]] && sw_no_sas "$SGW"; }
# Known gaps of the client side (see lab_gap): what the IKE core does not do yet, in the words
# of crates/ipsec-xlat/src/ike/mod.rs. Remove a line when the gap closes; the check then counts.
drv_xlat_gap() {
    case $1 in
        reauth) echo "the relay drops main mode started by the SGW (IKEv1 reauthentication) as unknown cookies" ;;
        *) return 1 ;;
    esac
}
drv_xlat_spis() { cat "$XL/client.status" 2>/dev/null; }
drv_xlat_can_rekey() { return 0; }
drv_xlat_rekey() {
    echo "# $(date +%T.%3N) rekey" >>"$XL/ctl.out"
    xlat_ctl --timeout 15 rekey
}
drv_xlat_stop() {
    lab_kill_pid "${XLAT_CLIENT_PID:-}" 5
    lab_kill_pid "${XLAT_RELAY_PID:-}" 5
}
drv_xlat_has_relay() { return 0; }
# ============================================================================================

drv() {
    local op=$1
    shift
    "drv_${S_DRIVER}_$op" "$@"
}

# --- checks -----------------------------------------------------------------------------------------
# check_or_gap KEY DESCRIPTION CMD...: a check, or a known gap when the driver names KEY as one
# (something the client side does not do yet; see lab_gap in common.sh).
check_or_gap() {
    local key=$1 desc=$2 reason
    shift 2
    if reason=$(drv gap "$key"); then lab_gap "$reason" "$desc" "$@"; else lab_check "$desc" "$@"; fi
}

REAUTH_OK=0
reauth_done() {
    REAUTH_OK=0
    lab_wait_until 15 sgw_has_new_ike "$REAUTH_BEFORE" && lab_wait_until 10 sw_child_installed "$SGW" &&
        ping_both 5 && REAUTH_OK=1
}
# client_reauths: how many times xlat-client moved its traffic to a reauthenticated IKE SA.
client_reauths() { grep -c "reauthenticated: traffic moved" "$XL/client.log" 2>/dev/null || true; }
client_reauthed_since() { (($(client_reauths) > $1)); }
sgw_one_ike() { (($(sw_ike_cookies "$SGW" | wc -l) == 1)); }
# client_reauth_done N: the client reauthenticated after its N-th time, the SGW is left with
# one IKE_SA (the old one deleted) and an installed CHILD_SA, and the tunnel carries pings.
client_reauth_done() {
    lab_wait_until "$((S_CLIENT_IKE_SECS + 30))" client_reauthed_since "$1" &&
        lab_wait_until 15 sgw_one_ike && lab_wait_until 10 sw_child_installed "$SGW" && ping_both 5
}
# both_installed: a CHILD_SA installed on the SGW and on the client; both_idle: ready for the
# next establishment (the driver says what that takes on both ends).
both_installed() { sw_child_installed "$SGW" && drv installed; }
both_idle() { drv idle; }

sgw_established_more() { (($(sgw_established_count) > $1)); }
sgw_established_count() { grep -c "CHILD_SA $LAB_CHILD{[0-9]*} established" "$SGW/events.log" || true; }

# last_ts FILE PATTERN: epoch-ms of the last matching events.log line.
# Never fails (prints nothing when nothing matches), so it is safe in assignments under set -e.
last_ts() { awk -v re="$2" '$0 ~ re { split($1, t, "."); v = t[1] t[2] } END { print v }' "$1" 2>/dev/null || true; }

# ping_ok NS COUNT TARGET [ping args]: succeeds if at least the expected share answered
# (all of them without --loss; with loss at least one in four).
ping_ok() {
    local ns=$1 count=$2 target=$3 out rx
    shift 3
    out=$(timeout 60 ip netns exec "$ns" ping -n -q -c "$count" -i 0.05 -W 2 "$@" "$target" 2>&1) || true
    rx=$(awk '/packets transmitted/ { print $4 }' <<<"$out")
    [[ -n $rx ]] || return 1
    if [[ -z $S_LOSS || $S_LOSS == 0 ]]; then ((rx == count)); else ((rx * 4 >= count)); fi
}

ping_both() {
    ping_ok "$LAB_NS_CLIENT" "$1" "$LAB_HOST_ADDR" -I "$LAB_CLIENT_INNER" &&
        ping_ok "$LAB_NS_HOST" "$1" "$LAB_CLIENT_INNER"
}

# rtt_ms NS TARGET [ping args]: "min median p90" RTT in ms over 100 pings 10 ms apart. Medians,
# not ping's average: one scheduling hiccup on a 2-core machine moves an average by 50%.
rtt_ms() {
    local ns=$1 target=$2
    shift 2
    timeout 60 ip netns exec "$ns" ping -n -c 100 -i 0.01 -W 2 "$@" "$target" 2>/dev/null |
        sed -n 's/.* time=\([0-9.]*\) ms/\1/p' | sort -n |
        awk '{ a[NR] = $1 } END { if (NR) print a[1], a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.5)] }'
}

# sgw_has_new_ike "COOKIE LINES": an ESTABLISHED IKE_SA on the SGW that is not in the list.
sgw_has_new_ike() { [[ -n $(comm -13 <(echo "$1") <(sw_ike_cookies "$SGW" | sort)) ]]; }

# sgw_has_new_child "SPI LINES": an installed CHILD_SA on the SGW that is not in the list.
sgw_has_new_child() { [[ -n $(comm -13 <(echo "$1") <(sw_child_spis "$SGW" | sort)) ]]; }

# transfer FROM_NS TO_NS TO_ADDR BIND_ADDR REKEY_SIDE TAG: XFER_MB over TCP with a sha256 compare,
# rekeying the CHILD_SA from REKEY_SIDE (client|sgw) while the data flows.
transfer_with_rekey() {
    local from=$1 to=$2 addr=$3 bind=$4 side=$5 tag=$6 port=5001 t recv_pid send_pid
    local recv=$RUN/$tag.recv before after new_spi rc=0 progressed=0 ok_rekey=0 still_running=0
    t=$((30 + S_XFER_MB * 2))
    [[ -z $S_LOSS || $S_LOSS == 0 ]] || t=$((t * 5))
    rm -f "$recv"
    bg "$to" "$RUN/$tag.socat-recv.log" socat -u "TCP-LISTEN:$port,bind=$addr,reuseaddr" "OPEN:$recv,creat,trunc"
    recv_pid=$BG_PID
    if ! lab_wait_until 10 tcp_listening "$to" "$port"; then
        lab_notok "$tag: receiver listening on $addr:$port"
        return 0
    fi
    before=$(sw_child_spis "$SGW" | sort) || true
    bg "$from" "$RUN/$tag.socat-send.log" socat -u "OPEN:$RUN/xfer.bin" "TCP:$addr:$port,bind=$bind"
    send_pid=$BG_PID
    # Rekey once a tenth of the data has arrived, so the SA changes under a running transfer.
    lab_wait_until 30 file_at_least "$recv" $((S_XFER_MB * 1024 * 1024 / 10)) && progressed=1
    if [[ $side == client ]]; then drv rekey || true; else sw_rekey_child "$SGW" || true; fi
    if lab_wait_until 15 sgw_has_new_child "$before"; then
        ok_rekey=1
    fi
    kill -0 "$send_pid" 2>/dev/null && still_running=1
    wait_pid "$send_pid" "$t" || rc=$?
    wait_pid "$recv_pid" 20 || true
    after=$(sw_child_spis "$SGW" | sort) || true
    new_spi=$(comm -13 <(echo "$before") <(echo "$after") | awk 'NR == 1 { print $1 }') || true
    lab_log "$tag: SGW CHILD_SAs before rekey: $(tr '\n' ' ' <<<"$before"); after: $(tr '\n' ' ' <<<"$after")"

    if ((rc == 0)) && [[ -f $recv ]] && [[ $(sha256sum <"$recv") == "$XFER_SUM" ]]; then
        lab_ok "$tag: ${S_XFER_MB} MB TCP transfer, sha256 matches"
    else
        lab_notok "$tag: ${S_XFER_MB} MB TCP transfer, sha256 matches (sender rc=$rc, got $(stat -c %s "$recv" 2>/dev/null || echo 0) bytes)"
    fi
    if ((ok_rekey && progressed && still_running)); then
        lab_ok "$tag: $side-initiated CHILD_SA rekey completed while the transfer was running"
    else
        lab_notok "$tag: $side-initiated CHILD_SA rekey completed while the transfer was running (rekeyed=$ok_rekey data_flowing=$progressed sender_running=$still_running)"
    fi
    # The new SA must have carried the rest of the transfer: bytes on it in the data direction.
    local bytes
    bytes=$(sw_child_bytes "$SGW" "$new_spi") || true
    if [[ -n $new_spi ]] && awk -v b="$bytes" -v dir="$tag" 'BEGIN { split(b, x, " "); exit !((dir ~ /up/ ? x[1] : x[2]) > 1000000) }'; then
        lab_ok "$tag: traffic moved to the new CHILD_SA (SGW in/out bytes on it: $bytes)"
    else
        lab_notok "$tag: traffic moved to the new CHILD_SA (new SPI '${new_spi}', bytes '${bytes}')"
    fi
    rm -f "$recv"
}

# iperf_mbps FROM_NS SERVER_ADDR BIND_ADDR [-R]: receiver-side Mbit/s.
iperf_mbps() {
    local ns=$1 addr=$2 bind=$3
    shift 3
    timeout $((S_IPERF_SECS + 30)) ip netns exec "$ns" iperf3 -c "$addr" -B "$bind" -p 5201 \
        -t "$S_IPERF_SECS" -f m "$@" 2>/dev/null |
        awk '/receiver$/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }'
}

# capture_start NS IFACE FILE: dumpcap with a filter that keeps all IKE, small ESP (pings, ACKs)
# and anything that is not UDP, but not the bulk of the TCP transfers, nor the bad-input burst
# (its own capture checks what the relay sends back to its sender).
capture_start() {
    bg "$1" "$3.log" dumpcap -q -i "$2" -w "$3" \
        -f "not host $LAB_ATTACKER_C and not host $LAB_ATTACKER_S and (not udp or udp port 500 or (udp port 4500 and (udp[8:4] = 0 or less 400)))"
    CAPTURE_PIDS+=("$BG_PID")
    lab_wait_until 10 test -s "$3"
}

capture_stop() {
    local p
    sleep 0.3
    for p in "${CAPTURE_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${CAPTURE_PIDS[@]}"; do wait_pid "$p" 10 || true; done
}

# ts FILE ARGS...: tshark on FILE with an empty personal profile (a user's Wireshark preferences,
# e.g. "decode as" rules, must not change what the lab sees; an unreadable $HOME also made
# tshark crash when not run as root). Fails when tshark fails, so no check passes on no output.
ts() {
    local out rc=0
    mkdir -p "$RUN/wireshark-profile"
    out=$(HOME=$RUN/wireshark-profile WIRESHARK_CONFIG_DIR=$RUN/wireshark-profile \
        tshark -r "$1" "${@:2}" 2>>"$RUN/tshark.err") || rc=$?
    [[ -z $out ]] || printf '%s\n' "$out"
    return "$rc"
}
# ts_count FILE FILTER: number of packets matching the display filter; fails if tshark does.
ts_count() {
    local out
    out=$(ts "$1" -Y "$2") || return 1
    grep -c . <<<"$out" || true
}

# Capture predicates: each returns 0/1 and leaves a short explanation in CAP_WHY.
# cap_decodes_clean FILE: no malformed packet, no expert info of severity error.
cap_decodes_clean() {
    local bad
    bad=$(ts_count "$1" '_ws.malformed or _ws.expert.severity >= error') || { CAP_WHY="tshark failed"; return 1; }
    CAP_WHY="$bad packets malformed or with expert errors"
    ((bad == 0))
}
# cap_only_ipsec FILE: ISAKMP, ESP (in UDP), NAT-T keepalives and ARP, nothing else.
cap_only_ipsec() {
    local other
    other=$(ts_count "$1" 'not (isakmp or esp or udpencap.nat_keepalive or arp)') || { CAP_WHY="tshark failed"; return 1; }
    CAP_WHY="$other packets other than ISAKMP/ESP/keepalive/ARP"
    ((other == 0))
}
# cap_no_tail FILE: UDP payload == ISAKMP length (+4 for the non-ESP marker on 4500), i.e. no
# bytes appended after the ISAKMP message (where our client<->relay tail would be).
cap_no_tail() {
    local fields tails
    fields=$(ts "$1" -Y isakmp -T fields -E separator=, -e frame.number -e udp.length \
        -e udpencap.non_esp_marker -e isakmp.length) || { CAP_WHY="tshark failed"; return 1; }
    tails=$(awk -F, '{ m = ($3 != "") ? 4 : 0; if ($2 - 8 - m != $4) printf " %s", $1 }' <<<"$fields")
    CAP_WHY="frames with bytes beyond the ISAKMP length:$(cut -d' ' -f1-21 <<<"${tails:- none}")$( (($(wc -w <<<"$tails") > 20)) && echo " ... ($(wc -w <<<"$tails") frames)")"
    [[ -z $tails ]]
}
# cap_known_vids FILE: every vendor ID is one strongSwan itself sends.
cap_known_vids() {
    local v vids unknown=''
    vids=$(ts "$1" -Y isakmp.vid_bytes -T fields -e isakmp.vid_bytes) || { CAP_WHY="tshark failed"; return 1; }
    for v in $(tr ',' '\n' <<<"$vids" | sort -u); do
        [[ " ${S_KNOWN_VIDS[*]} " == *" $v "* ]] || unknown+=" $v"
    done
    CAP_WHY="unknown vendor IDs:${unknown:- none}"
    [[ -z $unknown ]]
}

# check_capture FILE LABEL STRICT: decode without error; with STRICT also the standard-only checks.
check_capture() {
    local f=$1 label=$2 strict=$3 n_ike n_esp p
    n_ike=$(ts_count "$f" isakmp) || n_ike=0
    n_esp=$(ts_count "$f" esp) || n_esp=0
    if cap_decodes_clean "$f" && ((n_ike > 0)); then
        lab_ok "$label capture: tshark decodes all packets without error ($n_ike ISAKMP, $n_esp ESP)"
    else
        lab_notok "$label capture: tshark decodes all packets without error ($CAP_WHY, $n_ike ISAKMP)"
    fi
    ((strict)) || return 0
    local want_ike=$(((S_SAMPLES + 1) * 9))
    if ((n_ike >= want_ike && n_esp > 0)); then
        lab_ok "$label capture: all exchanges seen ($n_ike >= $want_ike ISAKMP messages, ESP present)"
    else
        lab_notok "$label capture: all exchanges seen ($n_ike ISAKMP < $want_ike or no ESP)"
    fi
    for p in "cap_only_ipsec:only ISAKMP, ESP-in-UDP, NAT-T keepalives (and ARP)" \
        "cap_no_tail:every ISAKMP message fills its datagram exactly (no tail)" \
        "cap_known_vids:only strongSwan's own vendor IDs"; do
        if "${p%%:*}" "$f"; then lab_ok "$label capture: ${p#*:}"; else lab_notok "$label capture: ${p#*:} ($CAP_WHY)"; fi
    done
}

# middle_transit: how long the middle namespace (relay process or kernel router) holds each IKE
# message, from the two captures' timestamps: the last S_SAMPLES main mode + quick mode
# exchanges (9 messages each) on the client leg paired in order with those on the SGW leg.
# Recorded as the median over the exchanges of the sum over their 9 messages, in ms, and the
# client's and the SGW's own time (between receiving a message and sending the next) likewise.
middle_transit() {
    local n=$((S_SAMPLES * 9)) c s out
    c=$(ts "$RUN/client-side.pcapng" -Y 'isakmp.exchangetype == 2 or isakmp.exchangetype == 32' \
        -T fields -e frame.time_epoch -e ip.dst | tail -n "$n") || return 0
    s=$(ts "$RUN/sgw-side.pcapng" -Y 'isakmp.exchangetype == 2 or isakmp.exchangetype == 32' \
        -T fields -e frame.time_epoch -e ip.dst | tail -n "$n") || return 0
    if (($(grep -c . <<<"$c") != n || $(grep -c . <<<"$s") != n)); then
        lab_log "middle transit not measured: fewer than $n IKE messages on a link"
        return 0
    fi
    # Per line: c-time c-dst s-time s-dst. Toward the SGW when the SGW leg's dst is the SGW.
    out=$(paste <(echo "$c") <(echo "$s") | awk -v sgw="$LAB_SGW_ADDR" '
        { i = NR - 1; ex = int(i / 9); m = i % 9
          up = ($4 == sgw); d = up ? $3 - $1 : $1 - $3
          if (d < 0 || d > 1) bad = 1
          transit[ex] += d
          if (m > 0) { if (up) cli[ex] += $1 - prev_c; else srv[ex] += $3 - prev_s }
          prev_c = $1; prev_s = $3 }
        END { if (bad) { print "bad"; exit }
              for (e in transit) printf "%.3f %.3f %.3f\n", transit[e] * 1000, cli[e] * 1000, srv[e] * 1000 }')
    if [[ -z $out || $out == bad ]]; then
        lab_log "middle transit not measured: the two links' IKE messages do not pair up"
        return 0
    fi
    med() { awk -v k="$1" '{ print $k }' <<<"$out" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    record middle_transit_ms_median "$(med 1)" "relay/router time per exchange (9 IKE messages), n=$(grep -c . <<<"$out"): $(awk '{ printf "%s ", $1 }' <<<"$out")"
    record client_think_ms_median "$(med 2)" "client: message received -> next one sent, summed per exchange"
    record sgw_think_ms_median "$(med 3)" "SGW: message received -> next one sent, summed per exchange"
}

# udp_rcvbuf_errors NS: the namespace's UDP RcvbufErrors (datagrams dropped because a socket's
# receive buffer was full): IKE shares the NAT-T socket with ESP, so a full buffer under bulk
# traffic can eat a quick mode.
udp_rcvbuf_errors() {
    ip netns exec "$1" cat /proc/net/snmp 2>/dev/null |
        awk '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
             $1 == "Udp:" && h && c { print $c }'
}

# middle_esp_transit: how long the middle namespace holds an ESP packet, each way, during the
# RTT measurement (100 pings on an otherwise idle tunnel): the ESP packets both captures hold in
# that window are paired by direction, ESP sequence number and length (the relay rewrites
# addresses and SPIs, never the sequence number or the length) with the nearest match within
# 50 ms. Medians in microseconds; what the relay adds to a ping's RTT is the sum of the two
# directions minus the router's. (Under bulk traffic small packets queue behind big ones; that
# is what the throughput figures show.)
middle_esp_transit() {
    local c s out window
    [[ ${RTT_T0:-} =~ ^[0-9]+$ && ${RTT_T1:-} =~ ^[0-9]+$ ]] || return 0
    window="esp and frame.time_epoch >= $((RTT_T0 / 1000)).$(printf '%03d' $((RTT_T0 % 1000))) and frame.time_epoch <= $((RTT_T1 / 1000)).$(printf '%03d' $((RTT_T1 % 1000)))"
    c=$(ts "$RUN/client-side.pcapng" -Y "$window" -T fields -e frame.time_epoch -e ip.dst -e esp.sequence -e frame.len) || return 0
    s=$(ts "$RUN/sgw-side.pcapng" -Y "$window" -T fields -e frame.time_epoch -e ip.dst -e esp.sequence -e frame.len) || return 0
    out=$(awk -v cli="$LAB_CLIENT_ADDR" -v sgw="$LAB_SGW_ADDR" '
        FNR == NR { k = ($2 == sgw) SUBSEP $3 SUBSEP $4; n[k]++; t[k, n[k]] = $1; next }
        { up = ($2 != cli); k = up SUBSEP $3 SUBSEP $4; best = -1
          for (i = 1; i <= n[k]; i++) { d = up ? t[k, i] - $1 : $1 - t[k, i]
                                        if (d >= 0 && d < 0.05 && (best < 0 || d < best)) best = d }
          if (best >= 0) print (up ? "up" : "down"), best * 1e6 }' <(echo "$s") <(echo "$c"))
    [[ -n $out ]] || return 0
    local dir v nn
    for dir in up down; do
        v=$(awk -v d="$dir" '$1 == d { print $2 }' <<<"$out" | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.1f %d", a[int((NR + 1) / 2)], NR }')
        read -r v nn <<<"$v"
        [[ -n ${v:-} ]] && record "middle_esp_${dir}_us_median" "$v" "ESP packet held by the middle namespace, $dir (toward the $([[ $dir == up ]] && echo SGW || echo client)), n=$nn"
    done
    return 0
}

# --- the run ------------------------------------------------------------------------------------
lab_suite_main() {
    lab_require_root
    lab_need ip nft swanctl pki tshark dumpcap iperf3 socat ping ss sha256sum unshare timeout openssl python3
    lab_install_traps
    local mode
    T_RUN0=$(lab_now_ms)
    lab_mkrundir
    RUN=$LAB_RUNDIR
    CAPTURE_PIDS=()
    printf '# run: %s\n# path: %s\n# run dir: %s\n' "$S_NAME" "$(drv describe)" "$RUN"
    [[ -z $S_RESULTS ]] || : >"$S_RESULTS"
    record driver "$S_DRIVER"

    mode=$(drv netns_mode)
    lab_netns_up "$(lab_netns_prefix)" "$mode"
    [[ $S_NAT == client ]] && lab_netns_nat_client 30 120
    if [[ -n $S_LOSS ]]; then
        lab_netns_loss "$S_LOSS" "$LAB_IF_RELAY_C" in
        lab_netns_loss "$S_LOSS" "$LAB_IF_RELAY_S" in
    fi
    [[ $S_AUTH == rsa ]] && sw_pki "$RUN/pki"
    head -c "$((S_XFER_MB * 1024 * 1024))" /dev/urandom >"$RUN/xfer.bin"
    XFER_SUM=$(sha256sum <"$RUN/xfer.bin")

    # SGW: unmodified strongSwan, identical in every mode.
    SGW=$RUN/sgw
    mkdir -p "$SGW"
    sw_write_strongswan_conf "$SGW"
    sw_write_swanctl "$SGW" responder "$LAB_SGW_ADDR" - "$LAB_LAN_NET" "$LAB_CLIENT_INNER/32" \
        "$S_IKE" "$S_ESP" "$S_AUTH" "$RUN/pki"
    if sw_start "$SGW" "$LAB_NS_SGW" && sw_load "$SGW"; then
        lab_ok "SGW: strongSwan $(sw_swanctl "$SGW" --version | awk '/strongSwan/ && !done { print $NF; done = 1 }' || true) charon started, config loaded"
    else
        lab_notok "SGW: strongSwan charon started, config loaded"
    fi
    if drv setup; then lab_ok "client: $S_DRIVER client started"; else lab_notok "client: $S_DRIVER client started"; fi

    capture_start "$LAB_NS_RELAY" "$LAB_IF_RELAY_S" "$RUN/sgw-side.pcapng" || lab_log "s-side capture did not start"
    capture_start "$LAB_NS_RELAY" "$LAB_IF_RELAY_C" "$RUN/client-side.pcapng" || lab_log "c-side capture did not start"

    # 1. Establishment
    local established=0
    if establish_once && sw_ike_established "$SGW"; then
        established=1
        lab_ok "IKEv1 main mode + quick mode: IKE_SA established, CHILD_SA installed on both ends ($EST_WALL_MS ms)"
        record first_establish_ms "$EST_WALL_MS" "cold: first initiate after start (client and SGW freshly started, nothing cached)"
    else
        lab_notok "IKEv1 main mode + quick mode: IKE_SA established, CHILD_SA installed on both ends"
        lab_log "SGW charon.log, last IKE/NET/ENC lines:"
        grep -E '\[(IKE|NET|ENC)\]' "$SGW/charon.log" | tail -n 15 | sed 's/^/#   /' >&2 || true
        lab_notok "traffic, rekey, throughput and timing checks skipped: nothing established"
    fi
    if ((established)); then
        lab_suite_traffic
    fi
    lab_suite_finish
}

# establish_once: initiate and wait until both ends have the CHILD_SA installed. Sets
# EST_WALL_MS (initiate command -> the later of the two "CHILD_SA ... established" log lines) and,
# when the client is charon, EST_EXCH_MS (client's "initiating Main Mode" -> same end point).
# Timestamps come from charon's events.log (epoch ms), not from polling, so they are exact to 1 ms.
establish_once() {
    local n0 t0 t1 t_cli t_start
    EST_WALL_MS='' EST_EXCH_MS='' EST_SGW_MS=''
    n0=$(sgw_established_count)
    t0=$(lab_now_ms)
    # A failed initiate command (direct driver) still gets a moment, for the SGW side to settle.
    local wait=20
    drv initiate || wait=2
    lab_wait_until "$wait" sgw_established_more "$n0" && lab_wait_until 10 both_installed || return 1
    t1=$(last_ts "$SGW/events.log" "CHILD_SA ${LAB_CHILD}[{][0-9]+[}] established")
    if [[ $S_DRIVER == direct ]]; then
        t_cli=$(last_ts "$CLI/events.log" "CHILD_SA ${LAB_CHILD}[{][0-9]+[}] established")
        [[ $t_cli =~ ^[0-9]+$ && $t1 =~ ^[0-9]+$ ]] && ((t_cli > t1)) && t1=$t_cli
        t_start=$(last_ts "$CLI/events.log" "initiating Main Mode")
        [[ $t_start =~ ^[0-9]+$ ]] && EST_EXCH_MS=$((t1 - t_start))
    else
        # The client's own log says when it installed the CHILD_SA (usually before the SGW,
        # which installs on quick mode 3): the later of the two ends, as for charon.
        t_cli=$(drv installed_ms) || true
        [[ $t_cli =~ ^[0-9]+$ && $t1 =~ ^[0-9]+$ ]] && ((t_cli > t1)) && t1=$t_cli
    fi
    [[ $t1 =~ ^[0-9]+$ ]] || return 1
    EST_WALL_MS=$((t1 - t0))
    # The same span for every driver, from the SGW's own log: main mode 1 received -> its
    # CHILD_SA established (the round trips through the relay or router, both ends' crypto).
    local t_mm1 t_sgw
    t_mm1=$(last_ts "$SGW/events.log" "is initiating a Main Mode IKE_SA")
    t_sgw=$(last_ts "$SGW/events.log" "CHILD_SA ${LAB_CHILD}[{][0-9]+[}] established")
    [[ $t_mm1 =~ ^[0-9]+$ && $t_sgw =~ ^[0-9]+$ ]] && ((t_sgw >= t_mm1)) && EST_SGW_MS=$((t_sgw - t_mm1))
    return 0
}

# Everything that needs the tunnel up: pings, transfers with rekeys, throughput, timing.
lab_suite_traffic() {
    local sgw_spis cli_spis
    sgw_spis=$(sw_child_spis "$SGW") || true
    cli_spis=$(drv spis) || true
    # Through the relay the client reports the SPIs as the SGW knows them (s-side), which must
    # be the SGW's, crosswise; the c-side SPIs on the client-relay link are others.
    if [[ -n $sgw_spis ]] && [[ $(awk '{ print $2, $1 }' <<<"$sgw_spis") == "$cli_spis" ]]; then
        lab_ok "SPIs agree: SGW in/out $sgw_spis, client in/out $cli_spis"
    else
        lab_notok "SPIs agree: SGW '$sgw_spis' vs client '$cli_spis'"
    fi
    local encap peer want_peer
    encap=$(sw_list_sas "$SGW" | awk '/, INSTALLED,/ && !done { gsub(",", "", $6); print $6; done = 1 }') || true
    lab_log "SGW CHILD_SA mode: $encap (kernel-libipsec in 5.9.8 always UDP-encapsulates)"
    peer=$(sw_list_sas "$SGW" | awk '$1 == "remote" && $3 == "@" && !done { print $4; done = 1 }') || true
    want_peer=$(lab_netns_sgw_peer_expected "$S_NAT")
    if [[ ${peer%\[*} == "$want_peer" ]]; then
        lab_ok "SGW sees its IKE peer at $peer (nat=$S_NAT, $S_DRIVER)"
    else
        lab_notok "SGW sees its IKE peer at '$peer', expected $want_peer (nat=$S_NAT, $S_DRIVER)"
    fi

    # 2. Pings both ways
    lab_check "ping client 10.8.0.1 -> host 10.9.0.2 through the tunnel" \
        ping_ok "$LAB_NS_CLIENT" 10 "$LAB_HOST_ADDR" -I "$LAB_CLIENT_INNER"
    lab_check "ping host 10.9.0.2 -> client 10.8.0.1 through the tunnel" \
        ping_ok "$LAB_NS_HOST" 10 "$LAB_CLIENT_INNER"
    local rtt outer
    RTT_T0=$(lab_now_ms)
    rtt=$(rtt_ms "$LAB_NS_CLIENT" "$LAB_HOST_ADDR" -I "$LAB_CLIENT_INNER") || true
    RTT_T1=$(lab_now_ms)
    outer=$(rtt_ms "$LAB_NS_CLIENT" "$LAB_RELAY_C_ADDR") || true
    record tunnel_rtt_median_ms "$(awk '{ print $2 }' <<<"$rtt")" "client inner -> host, 100 pings, min/median/p90 ${rtt// //}"
    record tunnel_rtt_min_ms "$(awk '{ print $1 }' <<<"$rtt")"
    record outer_rtt_median_ms "$(awk '{ print $2 }' <<<"$outer")" "client -> relay c-side, no IPsec, min/median/p90 ${outer// //}"

    # 3. Checksum-compared transfers with a rekey under traffic, one per direction.
    local up_side=client
    drv can_rekey || up_side=sgw
    transfer_with_rekey "$LAB_NS_CLIENT" "$LAB_NS_HOST" "$LAB_HOST_ADDR" "$LAB_CLIENT_INNER" "$up_side" xfer-up
    transfer_with_rekey "$LAB_NS_HOST" "$LAB_NS_CLIENT" "$LAB_CLIENT_INNER" "$LAB_HOST_ADDR" sgw xfer-down
    lab_check "ping both ways after the rekeys" ping_both 5
    lab_log "SGW SAs after the rekeys:"
    sw_list_sas "$SGW" | sed 's/^/#   /' >&2

    # 3b. The SGW re-authenticates the IKE_SA itself, as strongSwan does on its own timer
    # (rekey_time 4 h minus up to 10 % jitter; a shorter lifetime offered by the client does not
    # move it). IKEv1 has no IKE_SA rekey: it is a new main mode, initiated by the SGW, straight
    # to the peer's NAT-T port 4500; the CHILD_SAs move to the new IKE_SA without a quick mode.
    local ike_before
    ike_before=$(sw_ike_cookies "$SGW" | sort) || true
    sw_swanctl "$SGW" --rekey --ike "$LAB_CHILD" --reauth >>"$SGW/rekey.out" 2>&1 || true
    REAUTH_BEFORE=$ike_before
    check_or_gap reauth "SGW-initiated IKE_SA reauthentication (new main mode from the SGW): new IKE_SA, CHILD_SA kept, ping both ways" \
        reauth_done
    if ((!REAUTH_OK)); then
        lab_log "SGW IKE_SAs before: $(tr '\n' ' ' <<<"$ike_before"); now: $(sw_ike_cookies "$SGW" | tr '\n' ' ')"
        # What follows must not inherit the failure: the SGW would retransmit its main mode
        # for minutes and then delete the session. Start over from a clean SGW.
        lab_log "recovering: terminating the SGW's IKE_SAs and establishing again"
        sw_swanctl "$SGW" --terminate --ike "$LAB_CHILD" --force --timeout 5 >>"$SGW/terminate.out" 2>&1 || true
        drv terminate || true
        if lab_wait_until 15 both_idle && establish_once && ping_both 3; then
            lab_ok "established again after the failed reauthentication"
        else
            lab_notok "established again after the failed reauthentication"
        fi
    fi

    # 3c. The client reauthenticates on its own before its IKE SA ends (make-before-break: new
    # main mode + quick mode through the relay, then DELETEs for the old SAs). Only with a short
    # --client-ike-secs (e.g. 60); with the default of 4 h it would not happen within a run.
    if ((${S_CLIENT_IKE_SECS:-14400} <= 300)) && drv has_relay; then
        local reauths_before
        reauths_before=$(client_reauths)
        lab_check "client-initiated reauthentication within ${S_CLIENT_IKE_SECS}s: a new IKE_SA at the SGW, the old one deleted, ping both ways" \
            client_reauth_done "$reauths_before"
    fi

    # 4. Throughput
    local up down
    bg "$LAB_NS_HOST" "$RUN/iperf3-server.log" iperf3 -s -B "$LAB_HOST_ADDR" -p 5201
    local iperf_srv=$BG_PID
    if lab_wait_until 10 tcp_listening "$LAB_NS_HOST" 5201; then
        up=$(iperf_mbps "$LAB_NS_CLIENT" "$LAB_HOST_ADDR" "$LAB_CLIENT_INNER") || true
        down=$(iperf_mbps "$LAB_NS_CLIENT" "$LAB_HOST_ADDR" "$LAB_CLIENT_INNER" -R) || true
    fi
    lab_kill_pid "$iperf_srv" 2
    if [[ -n ${up:-} && -n ${down:-} ]]; then
        lab_ok "iperf3 TCP through the tunnel both ways ($up / $down Mbit/s)"
    else
        lab_notok "iperf3 TCP through the tunnel both ways (up '${up:-}' down '${down:-}')"
    fi
    record tcp_up_mbps "${up:-NA}" "iperf3 ${S_IPERF_SECS}s client -> host"
    record tcp_down_mbps "${down:-NA}" "iperf3 ${S_IPERF_SECS}s host -> client"

    # 5. Establishment timing: terminate, then initiate again, S_SAMPLES times.
    local i wall=() exch=() sgwx=() fails=0
    for ((i = 0; i < S_SAMPLES; i++)); do
        drv terminate || true
        if ((i == 0)); then
            check_or_gap ike-delete "client terminate: the SGW deletes the IKE_SA and the CHILD_SAs (IKEv1 DELETEs)" \
                lab_wait_until 5 sw_no_sas "$SGW"
        fi
        if lab_wait_until 15 both_idle && establish_once; then
            wall+=("$EST_WALL_MS")
            [[ -z $EST_EXCH_MS ]] || exch+=("$EST_EXCH_MS")
            [[ -z $EST_SGW_MS ]] || sgwx+=("$EST_SGW_MS")
        else
            fails=$((fails + 1))
        fi
    done
    if ((fails == 0)); then
        lab_ok "re-establishment $S_SAMPLES times after terminate (ms: ${wall[*]})"
    else
        lab_notok "re-establishment $S_SAMPLES times after terminate ($fails failed)"
    fi
    record establish_ms_median "$(lab_median "${wall[@]}")" "initiate command -> both CHILD_SAs installed, n=${#wall[@]}: ${wall[*]}"
    record establish_ms_min "$(printf '%s\n' "${wall[@]}" | sort -n | awk 'NR == 1')"
    ((${#exch[@]} == 0)) ||
        record exchange_ms_median "$(lab_median "${exch[@]}")" "first main mode packet -> both CHILD_SAs installed (from charon logs)"
    ((${#sgwx[@]} == 0)) ||
        record sgw_exchange_ms_median "$(lab_median "${sgwx[@]}")" "SGW: main mode 1 received -> its CHILD_SA established, n=${#sgwx[@]}: ${sgwx[*]}"
    lab_check "ping after re-establishment" ping_ok "$LAB_NS_CLIENT" 5 "$LAB_HOST_ADDR" -I "$LAB_CLIENT_INNER"

    # 6. Bad input at the running relay (only where there is one).
    if drv has_relay; then bad_input_burst; fi
}

# --- bad input at the relay -------------------------------------------------------------------
# Random and malformed IKE, ESP-in-UDP, ESP and AH at the relay's c-side and s-side sockets,
# sent from an extra address on each neighbouring link (the "attacker": 198.51.100.66 next to
# the client, 203.0.113.66 next to the SGW), while pings run both ways through the tunnel.
# Checks: the relay keeps running, no ping is lost, the relay sends nothing to the attacker
# (no reflection: capture of everything the relay namespace addresses to it), and its drop
# counters (logged every second, --report-every 1) grew by at least 90 % of what was sent (the
# rest may be lost in socket buffers).
BURST_COUNT=${LAB_BURST_COUNT:-1500} # per kind and leg: 2 legs x 4 kinds x 1500 = 12 000 datagrams
BURST_SENT=0
bad_input_burst() {
    local cap=$RUN/attacker-replies.pcapng c_out=$RUN/burst-c.out s_out=$RUN/burst-s.out
    local p_up p_down b_c b_s rc_up=0 rc_down=0 sent_c sent_s replies ike0 dp0 ike1 dp1
    ip -n "$LAB_NS_CLIENT" addr add "$LAB_ATTACKER_C/24" dev "$LAB_IF_CLIENT"
    ip -n "$LAB_NS_SGW" addr add "$LAB_ATTACKER_S/24" dev "$LAB_IF_SGW"
    # (dumpcap: a -f before the first -i applies to every interface)
    bg "$LAB_NS_RELAY" "$cap.log" dumpcap -q -f "ip dst host $LAB_ATTACKER_C or ip dst host $LAB_ATTACKER_S" \
        -i "$LAB_IF_RELAY_C" -i "$LAB_IF_RELAY_S" -w "$cap"
    local cap_pid=$BG_PID
    lab_wait_until 10 test -s "$cap" || lab_log "attacker capture did not start"

    read -r ike0 dp0 <<<"$(relay_drops "$XL/relay.log")" || true
    # Pings both ways for the whole burst (60 x 50 ms), every reply expected.
    ( ping_ok "$LAB_NS_CLIENT" 60 "$LAB_HOST_ADDR" -I "$LAB_CLIENT_INNER" ) &
    p_up=$!
    ( ping_ok "$LAB_NS_HOST" 60 "$LAB_CLIENT_INNER" ) &
    p_down=$!
    bg "$LAB_NS_CLIENT" "$c_out" timeout 60 python3 "$LAB_DIR/burst.py" --src "$LAB_ATTACKER_C" \
        --dst "$LAB_RELAY_C_ADDR" --count "$BURST_COUNT" --pps 2000 --seed "$RANDOM"
    b_c=$BG_PID
    bg "$LAB_NS_SGW" "$s_out" timeout 60 python3 "$LAB_DIR/burst.py" --src "$LAB_ATTACKER_S" \
        --dst "$LAB_RELAY_S_ADDR" --count "$BURST_COUNT" --pps 2000 --seed "$RANDOM"
    b_s=$BG_PID
    wait_pid "$b_c" 70 || lab_log "c-side burst: exit $?"
    wait_pid "$b_s" 70 || lab_log "s-side burst: exit $?"
    wait "$p_up" || rc_up=$?
    wait "$p_down" || rc_down=$?
    sent_c=$(awk '$1 == "total" { print $2 }' "$c_out")
    sent_s=$(awk '$1 == "total" { print $2 }' "$s_out")
    BURST_SENT=$((${sent_c:-0} + ${sent_s:-0}))
    lab_log "burst sent: c-side $(grep -v total "$c_out" | tr '\n' ' '); s-side $(grep -v total "$s_out" | tr '\n' ' ')"
    record burst_sent "$BURST_SENT" "random/malformed IKE, ESP-in-UDP, ESP, AH at both legs"
    # Drops counted while the relay runs: its report before the burst vs after (the next
    # report, at most a second later, covers everything sent).
    sleep 1.5
    read -r ike1 dp1 <<<"$(relay_drops "$XL/relay.log")" || true
    lab_log "relay drop counters after the burst (latest report):"
    relay_drop_report "$XL/relay.log" | sed 's/^/#   /' >&2
    local d_ike=$((${ike1:-0} - ${ike0:-0})) d_dp=$((${dp1:-0} - ${dp0:-0}))
    record relay_burst_drops_ike "$d_ike" "IKE relay: malformed, unknown cookies, tail missing/rejected, ..."
    record relay_burst_drops_datapath "$d_dp" "datapath: truncated, not IPsec, reserved/unknown SPI, malformed AH, ..."
    if [[ -n ${ike0:-} && -n ${ike1:-} ]] && ((BURST_SENT > 0 && (d_ike + d_dp) * 10 >= BURST_SENT * 9)); then
        lab_ok "bad input: the running relay's drop counters show the burst ($((d_ike + d_dp)) dropped: IKE $d_ike, datapath $d_dp; $BURST_SENT sent)"
    else
        lab_notok "bad input: the running relay's drop counters show the burst (IKE +$d_ike, datapath +$d_dp of $BURST_SENT sent; reports: '${ike0:-}/${dp0:-}' -> '${ike1:-}/${dp1:-}')"
    fi
    if ((BURST_SENT > 0)) && kill -0 "$XLAT_RELAY_PID" 2>/dev/null; then
        lab_ok "bad input: relay still running after $BURST_SENT random/malformed datagrams at its UDP 500/4500 and raw ESP/AH sockets (both legs)"
    else
        lab_notok "bad input: relay still running after the burst (sent ${BURST_SENT})"
    fi
    if ((rc_up == 0 && rc_down == 0)); then
        lab_ok "bad input: pings both ways through the tunnel during the burst, none lost"
    else
        lab_notok "bad input: pings both ways through the tunnel during the burst (up rc=$rc_up, down rc=$rc_down)"
    fi
    lab_check "bad input: ping both ways after the burst" ping_both 5
    sleep 0.3
    kill -INT "$cap_pid" 2>/dev/null || true
    wait_pid "$cap_pid" 10 || true
    replies=$(ts_count "$cap" 'ip') || replies='?'
    if [[ $replies == 0 ]]; then
        lab_ok "bad input: the relay sent nothing back to the sender of the bad input (no reflection, no ICMP)"
    else
        lab_notok "bad input: the relay sent $replies packets to the sender of the bad input"
    fi
    ip -n "$LAB_NS_CLIENT" addr del "$LAB_ATTACKER_C/24" dev "$LAB_IF_CLIENT" 2>/dev/null || true
    ip -n "$LAB_NS_SGW" addr del "$LAB_ATTACKER_S/24" dev "$LAB_IF_SGW" 2>/dev/null || true
}

# relay_drops LOG: "IKE DATAPATH" drop totals from the relay's latest report in LOG (it logs
# one every second with --report-every 1, and one at exit).
relay_drops() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        /^IKE relay:/ { split($0, d, "dropped: "); n = split(d[2], a, ", "); ike = 0
                        for (i = 1; i <= n; i++) { m = split(a[i], w, " "); ike += w[m] } }
        /^Datapath:/ { dp = $NF }
        END { if (ike != "" && dp != "") print ike, dp }'
}

# relay_drop_report LOG: the drop lines of the latest report, for the log.
relay_drop_report() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        /^Datapath:/ { n = 0 } /^Datapath:|^  dropped|^IKE relay:/ { l[++n] = $0 }
        END { for (i = 1; i <= n; i++) print l[i] }'
}

# Captures, logs, teardown and the summary line; runs whether or not anything got established.
lab_suite_finish() {
    # 6. Captures: the SGW-side link must carry only standard ISAKMP and ESP-in-UDP.
    capture_stop
    check_capture "$RUN/sgw-side.pcapng" "relay-SGW link" 1
    check_capture "$RUN/client-side.pcapng" "client-relay link" 0
    middle_transit
    middle_esp_transit
    local ns
    for ns in "$LAB_NS_CLIENT" "$LAB_NS_RELAY" "$LAB_NS_SGW"; do
        record "udp_rcvbuf_errors_${ns##*-}" "$(udp_rcvbuf_errors "$ns")" "UDP datagrams the kernel dropped for a full socket buffer in the ${ns##*-} namespace"
    done

    # 7. Nothing in the SGW's log says it disliked a packet.
    local complaints
    complaints=$(grep -ciE 'ICV verification failed|integrity check failed|INVALID_(HASH|PAYLOAD|ID|SPI|KE)|INVAL_KE|AUTHENTICATION_FAILED|NO_PROPOSAL_CHOSEN|message parsing failed|decryption failed|no proposal found|no matching proposal' "$SGW/charon.log" || true)
    if [[ -s $SGW/charon.log && $complaints == 0 ]]; then
        lab_ok "SGW log: no integrity, parsing, proposal or authentication failures"
    else
        lab_notok "SGW log: $complaints integrity/parsing/proposal/authentication failure lines"
    fi
    if [[ -n $S_LOSS ]]; then
        record loss_dropped_c "$(lab_netns_loss_counter "$LAB_IF_RELAY_C" in)" "packets dropped arriving from the client"
        record loss_dropped_s "$(lab_netns_loss_counter "$LAB_IF_RELAY_S" in)" "packets dropped arriving from the SGW"
    fi
    drv stop || true
    sw_stop "$SGW"
    record run_seconds "$((($(lab_now_ms) - T_RUN0) / 1000))"
    lab_summary
}
