#!/usr/bin/env bash
# Runs our main mode + quick mode initiator cores (tests/ike_interop_strongswan.rs, an ignored
# test) against an unmodified strongSwan 5.9.8 SGW in a network namespace. Root, packages of
# LAB-STRONGSWAN.md. Not run by CI.
# Usage: interop.sh [IKE_PROPOSAL [ESP_PROPOSAL]]   (strongSwan proposal strings)
# ROLE=responder swaps the roles: strongSwan initiates (as a client would) and our responder
# cores answer (ike_interop_strongswan.rs, the test-SGW's phase 1 and quick mode).
# ROLE=relay runs our Client and Relay state machines (one process, client 198.51.100.10 and
# relay c-side 198.51.100.1 / s-side 203.0.113.254 in one namespace) against the SGW.
set -u
# AUTH=rsa uses the lab PKI in pki/ (certificates with FQDN IDs) instead of the PSK.
# SGW_REKEY=5s makes the SGW rekey its child SAs itself (ROLE=relay: the client answers).
IKE=${1:-aes128-sha256-modp2048}; ESP=${2:-aes128-sha256}; ROLE=${ROLE:-initiator}; AUTH=${AUTH:-psk}
SGW_REKEY=${SGW_REKEY:-}
# SGW_DPD=2s makes the SGW run dead peer detection (R-U-THERE every 2 s).
SGW_DPD=${SGW_DPD:-}
SGW_CONN_EXTRA=""; [ -n "$SGW_DPD" ] && SGW_CONN_EXTRA="dpd_delay = $SGW_DPD"
# SGW_LIFE=8s also makes the SGW delete each old child SA when it expires (DELETE to the client).
SGW_LIFE=${SGW_LIFE:-120s}
SGW_CHILD_EXTRA=""; [ -n "$SGW_REKEY" ] && SGW_CHILD_EXTRA="rekey_time = $SGW_REKEY
        life_time = $SGW_LIFE
        rand_time = 0"
# auth_block ROLE(c|s): the local/remote sections of a connection.
auth_block() {
  if [ "$AUTH" = rsa ]; then
    if [ "$1" = s ]; then
      echo "local { auth = pubkey
      certs = sgw.crt
      id = sgw.lab.test }
    remote { auth = pubkey
      id = %any }"
    else
      echo "local { auth = pubkey
      certs = client.crt
      id = client.lab.test }
    remote { auth = pubkey
      id = sgw.lab.test }"
    fi
  else
    if [ "$1" = s ]; then
      echo "local { auth = psk
      id = 203.0.113.1 }
    remote { auth = psk
      id = %any }"
    else
      echo "local { auth = psk
      id = 198.51.100.10 }
    remote { auth = psk
      id = 203.0.113.1 }"
    fi
  fi
}
# pki_dir DIR NAME: swanctl credential folders for NAME (client|sgw).
pki_dir() {
  mkdir -p "$1/x509" "$1/x509ca" "$1/private"
  cp "$here/pki/$2.crt" "$1/x509/"; cp "$here/pki/ca.crt" "$1/x509ca/"; cp "$here/pki/$2.key" "$1/private/"
}
here=$(cd "$(dirname "$0")" && pwd)
D=/tmp/ikekat/interop; rm -rf "$D"; mkdir -p "$D"/s/run
C=ikic; S=ikis
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.5; ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
trap cleanup EXIT
ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
ip netns add $C; ip netns add $S
for ns in $C $S; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add ikic0 type veth peer name ikis0
ip link set ikic0 netns $C; ip link set ikis0 netns $S
ip -n $C addr add 198.51.100.10/24 dev ikic0; ip -n $C link set ikic0 up
ip -n $S addr add 203.0.113.1/24 dev ikis0; ip -n $S link set ikis0 up
ip -n $C route add 203.0.113.0/24 dev ikic0
ip -n $S route add 198.51.100.0/24 dev ikis0
ip -n $S addr add 10.9.0.1/24 dev lo
if [ "$ROLE" = relay ]; then
  # One namespace holds the client and both relay legs; the SGW sees only 203.0.113.254.
  ip -n $C addr flush dev ikic0
  ip -n $C addr add 203.0.113.254/24 dev ikic0
  ip -n $C addr add 198.51.100.10/32 dev lo
  ip -n $C addr add 198.51.100.1/32 dev lo
  ip -n $S route del 198.51.100.0/24 dev ikis0 2>/dev/null
fi
cat > "$D/s/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 md5 hmac gmp gcrypt gcm curve25519 pem pkcs1 pkcs8 x509 pubkey constraints revocation kdf kernel-libipsec kernel-netlink socket-default vici
  port = 500
  port_nat_t = 4500
  install_routes = no
  plugins { vici { socket = unix://$D/s/charon.vici } }
  filelog { kat { path = $D/s/charon.log
      time_format = %H:%M:%S
      time_add_ms = yes
      append = no
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
      enc = 2
      cfg = 2 } }
  syslog { daemon { default = -1 } auth { default = -1 } }
}
EOC
if [ "$ROLE" = responder ]; then
  # strongSwan is the client in namespace C; our responder runs in S.
  sed -i "s|unix://$D/s/|unix://$D/c/|; s|path = $D/s/|path = $D/c/|" "$D/s/strongswan.conf"
  mkdir -p "$D/c/run"; mv "$D/s/strongswan.conf" "$D/c/strongswan.conf"
  cat > "$D/c/swanctl.conf" <<EOC
connections { lab { version = 1
    aggressive = no
    local_addrs = 198.51.100.10
    remote_addrs = 203.0.113.1
    proposals = $IKE
    encap = no
    $(auth_block c)
    children { lab { mode = tunnel
        local_ts = 10.8.0.1/32
        remote_ts = 10.9.0.0/24
        esp_proposals = $ESP
        start_action = none } } } }
secrets { ike-lab { secret = "lab-only-preshared-key-0123456789" } }
EOC
  ip -n $C addr add 10.8.0.1/32 dev lo
  ip netns exec $C unshare --mount --propagation private sh -c "mount --bind $D/c/run /run && exec env STRONGSWAN_CONF=$D/c/strongswan.conf /usr/lib/ipsec/charon" >"$D/c/stdout" 2>&1 &
  PIDS+=($!)
  for i in $(seq 50); do [ -S "$D/c/charon.vici" ] && break; sleep 0.1; done
  pki_dir "$D/c" client
  STRONGSWAN_CONF=$D/c/strongswan.conf SWANCTL_DIR=$D/c swanctl --load-all --uri unix://$D/c/charon.vici --file $D/c/swanctl.conf >"$D/c/load.out" 2>&1
  ip netns exec $C dumpcap -q -P -i ikic0 -f udp -w "$D/client.pcap" >"$D/dumpcap.out" 2>&1 &
  PIDS+=($!)
  cd "$here/../../../.." || exit 1
  cargo test --offline -q -p ipsec-xlat --test ike_interop_strongswan --no-run 2>/dev/null
  ( sleep 2; STRONGSWAN_CONF=$D/c/strongswan.conf timeout 20 swanctl --initiate --child lab --uri unix://$D/c/charon.vici >"$D/c/initiate.out" 2>&1 ) &
  IKE_INTEROP_AUTH=$AUTH IKE_INTEROP_IKE=$IKE IKE_INTEROP_ESP=$ESP IKE_INTEROP_CLIENT_LOG=$D/c/charon.log ip netns exec $S \
    cargo test --offline -q -p ipsec-xlat --test ike_interop_strongswan -- --ignored --nocapture responder
  rc=$?
  sleep 0.5
  echo "client log: $D/c/charon.log, capture: $D/client.pcap"
  exit $rc
fi
cat > "$D/s/swanctl.conf" <<EOC
connections { lab { version = 1
    aggressive = no
    local_addrs = 203.0.113.1
    remote_addrs = %any
    $SGW_CONN_EXTRA
    proposals = $IKE
    encap = no
    $(auth_block s)
    children { lab { mode = tunnel
        local_ts = 10.9.0.0/24
        remote_ts = 10.8.0.1/32
        esp_proposals = $ESP
        $SGW_CHILD_EXTRA
        start_action = none } } } }
secrets { ike-lab { secret = "lab-only-preshared-key-0123456789" } }
EOC
ip netns exec $S unshare --mount --propagation private sh -c "mount --bind $D/s/run /run && exec env STRONGSWAN_CONF=$D/s/strongswan.conf /usr/lib/ipsec/charon" >"$D/s/stdout" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do [ -S "$D/s/charon.vici" ] && break; sleep 0.1; done
pki_dir "$D/s" sgw
STRONGSWAN_CONF=$D/s/strongswan.conf SWANCTL_DIR=$D/s swanctl --load-all --uri unix://$D/s/charon.vici --file $D/s/swanctl.conf >"$D/s/load.out" 2>&1
ip netns exec $C dumpcap -q -P -i ikic0 -f udp -w "$D/client.pcap" >"$D/dumpcap.out" 2>&1 &
PIDS+=($!)
sleep 0.5
cd "$here/../../../.." || exit 1
IKE_INTEROP_SGW_DPD=$SGW_DPD IKE_INTEROP_SGW_LIFE=$SGW_LIFE IKE_INTEROP_SGW_REKEY=$SGW_REKEY IKE_INTEROP_AUTH=$AUTH IKE_INTEROP_IKE=$IKE IKE_INTEROP_ESP=$ESP IKE_INTEROP_SGW_LOG=$D/s/charon.log ip netns exec $C \
  cargo test --offline -q -p ipsec-xlat --test ike_interop_strongswan -- --ignored --nocapture "$( [ "$ROLE" = relay ] && echo relay || echo initiator )"
rc=$?
sleep 0.3
echo "SGW log: $D/s/charon.log, capture: $D/client.pcap"
exit $rc
