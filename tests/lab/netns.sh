#!/usr/bin/env bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this one
# Network namespaces for the interop lab: client, relay/router, SGW, and a host behind the SGW.
#
#   client (cli)            relay/router (rel)                 sgw (sgw)            host (host)
#   c0 198.51.100.10 ---- rc 198.51.100.1 | rs 203.0.113.254 ---- s0 203.0.113.1
#   lo 10.8.0.1 (inner)                                            s1 10.9.0.1 ---- h0 10.9.0.2
#
# Sourceable library (lab_netns_* functions) and a CLI:
#   netns.sh up [--prefix P] [--nat none|client] [--loss PCT[:IFACE[:in|out]]] [--ipv6]
#               [--relay-mode router|relay]
#   netns.sh down PREFIX      delete PREFIX-{cli,rel,sgw,host} and whatever runs inside them
#   netns.sh gc               delete namespaces left by dead runs (xl-<pid>-* with <pid> gone)
#   netns.sh list             show lab namespaces
# Every name carries a per-run prefix, so parallel or leftover runs never collide. Interfaces are
# created directly inside their namespaces; nothing is added to the caller's namespace.

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -n "${LAB_NETNS_SOURCED:-}" ]] && return 0 2>/dev/null
LAB_NETNS_SOURCED=1

# --- address plan (documentation ranges only) ------------------------------------------------
LAB_CLIENT_ADDR=198.51.100.10
LAB_RELAY_C_ADDR=198.51.100.1
LAB_RELAY_S_ADDR=203.0.113.254
LAB_SGW_ADDR=203.0.113.1
LAB_SGW_LAN_ADDR=10.9.0.1
LAB_HOST_ADDR=10.9.0.2
LAB_LAN_NET=10.9.0.0/24
LAB_CLIENT_INNER=10.8.0.1
LAB_NAT_CLIENT_ADDR=198.51.100.200 # the client as the relay sees it with --nat client (relay mode)
# Sources of the bad-input burst (suite.sh), added next to the client and the SGW for it only
LAB_ATTACKER_C=198.51.100.66
LAB_ATTACKER_S=203.0.113.66
# IPv6 analogues, only configured with --ipv6
LAB_CLIENT_ADDR6=2001:db8:c::10
LAB_RELAY_C_ADDR6=2001:db8:c::1
LAB_RELAY_S_ADDR6=2001:db8:5::fe
LAB_SGW_ADDR6=2001:db8:5::1
LAB_SGW_LAN_ADDR6=2001:db8:9::1
LAB_HOST_ADDR6=2001:db8:9::2
LAB_LAN_NET6=2001:db8:9::/64
LAB_CLIENT_INNER6=2001:db8:8::1

# Interface names (per namespace, so fixed names are fine)
LAB_IF_CLIENT=c0 LAB_IF_RELAY_C=rc LAB_IF_RELAY_S=rs LAB_IF_SGW=s0 LAB_IF_SGW_LAN=s1 LAB_IF_HOST=h0

# lab_netns_prefix: a fresh prefix naming this process, so `gc` can tell live runs from dead.
lab_netns_prefix() { printf 'xl-%d-%04x%04x' "$$" "$RANDOM" "$RANDOM"; }

lab_netns_names() {
    local p=$1
    LAB_NS_CLIENT=$p-cli LAB_NS_RELAY=$p-rel LAB_NS_SGW=$p-sgw LAB_NS_HOST=$p-host
}

lab_in() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

_lab_ns_add() {
    local ns=$1
    [[ -e /run/netns/$ns ]] && lab_die "namespace $ns already exists (leftover? try: netns.sh down ${ns%-*})"
    ip netns add "$ns"
    lab_register_netns "$ns"
    # IPv6 off before any link exists: no link-local, no RS/MLD noise in captures.
    lab_in "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6="$((1 - LAB_IPV6))"
    lab_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6="$((1 - LAB_IPV6))"
    lab_in "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    # No duplicate address detection: link-locals would stay "tentative" for a second or two and
    # neighbour discovery (which needs them) would fail meanwhile.
    ((LAB_IPV6 == 0)) || lab_in "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
    ip -n "$ns" link set lo up
}

# _lab_veth NS_A IF_A NS_B IF_B: a veth pair created directly inside the two namespaces.
_lab_veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

_lab_addr6() { ip -n "$1" -6 addr add "$2" dev "$3" nodad; }

# lab_netns_up PREFIX [RELAY_MODE]: build the four namespaces and their links.
#   RELAY_MODE router: the relay namespace forwards (baseline: strongSwan client -> SGW directly)
#   RELAY_MODE relay:  no forwarding; only a relay process there can carry traffic
lab_netns_up() {
    local prefix=$1 mode=${2:-router}
    LAB_IPV6=${LAB_IPV6:-0}
    LAB_NETNS_PREFIX=$prefix
    LAB_RELAY_MODE=$mode
    lab_netns_names "$prefix"
    _lab_ns_add "$LAB_NS_CLIENT"
    _lab_ns_add "$LAB_NS_RELAY"
    _lab_ns_add "$LAB_NS_SGW"
    _lab_ns_add "$LAB_NS_HOST"

    _lab_veth "$LAB_NS_CLIENT" "$LAB_IF_CLIENT" "$LAB_NS_RELAY" "$LAB_IF_RELAY_C"
    _lab_veth "$LAB_NS_RELAY" "$LAB_IF_RELAY_S" "$LAB_NS_SGW" "$LAB_IF_SGW"
    _lab_veth "$LAB_NS_SGW" "$LAB_IF_SGW_LAN" "$LAB_NS_HOST" "$LAB_IF_HOST"

    ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_ADDR/24" dev "$LAB_IF_CLIENT"
    ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_INNER/32" dev lo
    ip -n "$LAB_NS_RELAY" addr add "$LAB_RELAY_C_ADDR/24" dev "$LAB_IF_RELAY_C"
    ip -n "$LAB_NS_RELAY" addr add "$LAB_RELAY_S_ADDR/24" dev "$LAB_IF_RELAY_S"
    ip -n "$LAB_NS_SGW" addr add "$LAB_SGW_ADDR/24" dev "$LAB_IF_SGW"
    ip -n "$LAB_NS_SGW" addr add "$LAB_SGW_LAN_ADDR/24" dev "$LAB_IF_SGW_LAN"
    ip -n "$LAB_NS_HOST" addr add "$LAB_HOST_ADDR/24" dev "$LAB_IF_HOST"

    # The client only knows the way to the SGW network through the relay/router.
    ip -n "$LAB_NS_CLIENT" route add 203.0.113.0/24 via "$LAB_RELAY_C_ADDR"
    ip -n "$LAB_NS_HOST" route add default via "$LAB_SGW_LAN_ADDR"
    lab_in "$LAB_NS_SGW" sysctl -qw net.ipv4.ip_forward=1
    if [[ $mode == router ]]; then
        lab_in "$LAB_NS_RELAY" sysctl -qw net.ipv4.ip_forward=1
        # Without NAT the SGW must reach the client network; with NAT it never needs to.
        ip -n "$LAB_NS_SGW" route add 198.51.100.0/24 via "$LAB_RELAY_S_ADDR"
    else
        lab_in "$LAB_NS_RELAY" sysctl -qw net.ipv4.ip_forward=0
    fi

    if ((LAB_IPV6)); then
        _lab_addr6 "$LAB_NS_CLIENT" "$LAB_CLIENT_ADDR6/64" "$LAB_IF_CLIENT"
        _lab_addr6 "$LAB_NS_CLIENT" "$LAB_CLIENT_INNER6/128" lo
        _lab_addr6 "$LAB_NS_RELAY" "$LAB_RELAY_C_ADDR6/64" "$LAB_IF_RELAY_C"
        _lab_addr6 "$LAB_NS_RELAY" "$LAB_RELAY_S_ADDR6/64" "$LAB_IF_RELAY_S"
        _lab_addr6 "$LAB_NS_SGW" "$LAB_SGW_ADDR6/64" "$LAB_IF_SGW"
        _lab_addr6 "$LAB_NS_SGW" "$LAB_SGW_LAN_ADDR6/64" "$LAB_IF_SGW_LAN"
        _lab_addr6 "$LAB_NS_HOST" "$LAB_HOST_ADDR6/64" "$LAB_IF_HOST"
        ip -n "$LAB_NS_CLIENT" -6 route add 2001:db8:5::/64 via "$LAB_RELAY_C_ADDR6"
        ip -n "$LAB_NS_HOST" -6 route add default via "$LAB_SGW_LAN_ADDR6"
        lab_in "$LAB_NS_SGW" sysctl -qw net.ipv6.conf.all.forwarding=1
        if [[ $mode == router ]]; then
            lab_in "$LAB_NS_RELAY" sysctl -qw net.ipv6.conf.all.forwarding=1
            ip -n "$LAB_NS_SGW" -6 route add 2001:db8:c::/64 via "$LAB_RELAY_S_ADDR6"
        fi
    fi
}

# lab_netns_nat_client [UDP_TIMEOUT] [UDP_STREAM_TIMEOUT]: put the client behind a NAT.
#   router mode: masquerade the client leg behind the relay's s-side address (203.0.113.254) with
#                UDP source ports remapped to 40000-40999 (a NAT that kept 500/4500 would hide
#                port-handling bugs), so the SGW sees e.g. 203.0.113.254[40123].
#   relay mode:  the relay terminates the client leg itself, so the NAT sits in front of it: an
#                input-hook SNAT rewrites the client's IKE/NAT-T datagrams to 198.51.100.200 with a
#                source port from 40000-40999 (a different one per flow, like a real NAT box).
# Conntrack UDP timeouts are set in the relay namespace; a two-way flow moves to the _stream
# timeout, so both matter for NAT keepalive tests.
# shellcheck disable=SC2120 # the timeouts are optional
lab_netns_nat_client() {
    local t=${1:-30} ts=${2:-120}
    if [[ $LAB_RELAY_MODE == router ]]; then
        lab_in "$LAB_NS_RELAY" nft -f - <<EOF
table ip lab_nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$LAB_IF_RELAY_S" ip saddr 198.51.100.0/24 meta l4proto udp counter masquerade to :40000-40999
        oifname "$LAB_IF_RELAY_S" ip saddr 198.51.100.0/24 counter masquerade
    }
}
EOF
        # The SGW must not be able to reach the client network except through the NAT.
        ip -n "$LAB_NS_SGW" route del 198.51.100.0/24 2>/dev/null || true
    else
        lab_in "$LAB_NS_RELAY" nft -f - <<EOF
table ip lab_nat {
    chain in {
        type nat hook input priority 100; policy accept;
        iifname "$LAB_IF_RELAY_C" ip saddr $LAB_CLIENT_ADDR udp dport { 500, 4500 } counter snat to $LAB_NAT_CLIENT_ADDR:40000-40999
    }
}
EOF
    fi
    # The conntrack sysctls appear once nft has pulled in nf_conntrack for this namespace.
    lab_in "$LAB_NS_RELAY" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$t" \
        net.netfilter.nf_conntrack_udp_timeout_stream="$ts"
}

# lab_netns_sgw_peer_expected NAT: the address the SGW should see as its IKE peer.
lab_netns_sgw_peer_expected() {
    if [[ $LAB_RELAY_MODE == relay || $1 == client ]]; then echo "$LAB_RELAY_S_ADDR"; else echo "$LAB_CLIENT_ADDR"; fi
}

# lab_netns_loss PCT [IFACE] [in|out]: drop PCT% of UDP/ESP/AH packets at the relay namespace,
# on packets arriving on IFACE (in) or leaving by IFACE (out). Hooks pre/postrouting so it works
# whether the relay namespace forwards (baseline) or terminates the traffic (relay process).
lab_netns_loss() {
    local pct=$1 ifc=${2:-$LAB_IF_RELAY_S} dir=${3:-in} hook match
    if ! [[ $pct =~ ^[0-9]+$ ]] || ((pct > 100)); then lab_die "loss PCT must be 0..100"; fi
    case $dir in
        in) hook=prerouting match="iifname \"$ifc\"" ;;
        out) hook=postrouting match="oifname \"$ifc\"" ;;
        *) lab_die "loss direction must be in or out" ;;
    esac
    lab_in "$LAB_NS_RELAY" nft -f - <<EOF
table inet lab_loss_${ifc}_${dir} {
    chain lossy {
        type filter hook $hook priority -300; policy accept;
        $match meta l4proto { udp, esp, ah } numgen random mod 100 < $pct counter drop
    }
}
EOF
}

# lab_netns_loss_counter IFACE DIR: packets dropped so far by lab_netns_loss.
lab_netns_loss_counter() {
    lab_in "$LAB_NS_RELAY" nft list table inet "lab_loss_${1}_${2}" 2>/dev/null |
        awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}

# lab_netns_down PREFIX: remove a lab by prefix, killing whatever runs inside its namespaces.
lab_netns_down() {
    local prefix=$1 ns p
    [[ $prefix =~ ^xl-[A-Za-z0-9-]+$ ]] || lab_die "not a lab prefix: $prefix"
    for ns in "$prefix-host" "$prefix-sgw" "$prefix-rel" "$prefix-cli"; do
        [[ -e /run/netns/$ns ]] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
        sleep 0.2
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns"
        echo "deleted $ns"
    done
}

lab_netns_list() { ip netns list 2>/dev/null | awk '$1 ~ /^xl-/ { print $1 }'; }

# lab_netns_gc: remove labs whose creating process (the pid in the prefix) no longer exists.
lab_netns_gc() {
    local ns prefix pid
    for ns in $(lab_netns_list); do
        [[ $ns =~ ^(xl-([0-9]+)-[0-9a-f]+)-(cli|rel|sgw|host)$ ]] || continue
        prefix=${BASH_REMATCH[1]} pid=${BASH_REMATCH[2]}
        kill -0 "$pid" 2>/dev/null && continue
        lab_netns_down "$prefix"
    done
}

_lab_netns_usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

_lab_netns_main() {
    set -euo pipefail
    local cmd=${1:-}
    [[ -n $cmd ]] || _lab_netns_usage 2
    shift
    case $cmd in
        up)
            lab_require_root
            local prefix nat=none loss='' mode=router
            prefix="xl-m-$(printf '%04x%04x' "$RANDOM" "$RANDOM")"
            LAB_IPV6=0
            while (($#)); do
                case $1 in
                    --prefix) prefix=$2 && shift ;;
                    --nat) nat=$2 && shift ;;
                    --loss) loss=$2 && shift ;;
                    --ipv6) LAB_IPV6=1 ;;
                    --relay-mode) mode=$2 && shift ;;
                    -h | --help) _lab_netns_usage 0 ;;
                    *) lab_die "unknown option $1" ;;
                esac
                shift
            done
            [[ $prefix =~ ^xl-[A-Za-z0-9-]+$ ]] || lab_die "prefix must look like xl-NAME"
            [[ $mode == router || $mode == relay ]] || lab_die "--relay-mode router|relay"
            # On failure half-way, remove what was built; on success keep it for the user.
            trap lab_cleanup EXIT
            lab_netns_up "$prefix" "$mode"
            case $nat in none) ;; client) lab_netns_nat_client 30 120 ;; *) lab_die "--nat none|client" ;; esac
            if [[ -n $loss ]]; then
                local pct ifc dir
                IFS=: read -r pct ifc dir <<<"$loss"
                lab_netns_loss "$pct" "${ifc:-$LAB_IF_RELAY_S}" "${dir:-in}"
            fi
            LAB_NETNS=()
            trap - EXIT
            echo "LAB_PREFIX=$prefix"
            echo "namespaces: $LAB_NS_CLIENT $LAB_NS_RELAY $LAB_NS_SGW $LAB_NS_HOST"
            echo "remove with: $0 down $prefix"
            ;;
        down)
            lab_require_root
            [[ $# -eq 1 ]] || lab_die "usage: netns.sh down PREFIX"
            lab_netns_down "$1"
            ;;
        gc) lab_require_root && lab_netns_gc ;;
        list) lab_netns_list ;;
        -h | --help | help) _lab_netns_usage 0 ;;
        *) lab_die "unknown command $cmd" ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _lab_netns_main "$@"
fi
