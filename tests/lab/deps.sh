#!/usr/bin/env bash
# Debian packages the namespace lab needs, and the independent oracle's Python virtualenv
# (tests/lab/venv.sh: scapy + cryptography from PyPI, for ah.sh). CI calls this as root before
# tests/lab/ci.sh; the lab scripts themselves never install anything (ci.sh only makes the
# virtualenv when it is missing, through the same idempotent venv.sh).
#   tests/lab/deps.sh          apt-get install what is missing (root), then make the virtualenv
#   tests/lab/deps.sh --check  only report missing packages; exit 1 if any is
set -euo pipefail

PACKAGES=(
    strongswan-charon              # /usr/lib/ipsec/charon (the SGW and the baseline client)
    strongswan-swanctl             # swanctl, vici client
    strongswan-pki                 # pki: lab CA and certificates for --auth rsa
    libcharon-extra-plugins        # kernel-libipsec (ESP in userspace: this kernel has no ESP)
    libstrongswan-standard-plugins # gcm, openssl (AES-GCM ESP, ECP groups, speed)
    libstrongswan-extra-plugins    # curve25519 and friends in the load list
    tshark                         # tshark, dumpcap, text2pcap
    nftables                       # NAT and loss in the relay namespace
    iproute2                       # ip netns, ss
    iputils-ping                   # ping
    iperf3                         # throughput
    socat                          # checksum-compared TCP transfers
    procps                         # sysctl
    util-linux                     # unshare
    coreutils
    openssl                        # X25519 public halves of Noise keys (xlat driver)
    python3                        # burst.py (bad input at the relay), verify_capture.py
    python3-venv                   # the oracle's virtualenv (venv.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [[ ${1:-} == --check ]]; then
    if ((${#missing[@]})); then
        echo "missing: ${missing[*]}"
        exit 1
    fi
    echo "all lab packages installed"
    exit 0
fi

if ((${#missing[@]} == 0)); then
    echo "all lab packages installed"
else
    [[ $(id -u) -eq 0 ]] || { echo "deps.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "oracle virtualenv: $("$(dirname "$0")/venv.sh")"
