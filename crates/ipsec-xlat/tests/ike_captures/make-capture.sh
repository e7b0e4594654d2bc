#!/usr/bin/env bash
# Makes one IKEv1 main mode + quick mode capture between two strongSwan 5.9.8 instances in
# network namespaces (PSK auth), with both charons logging key material (ike = 4, chd = 4).
# Usage (root): make-capture.sh NAME IKE_PROPOSAL ESP_PROPOSAL   -> /tmp/ikekat/out/NAME
# Not run by CI; see README.md beside this file.
set -u
N=$1; IKE=$2; ESP=$3
D=/tmp/ikekat/out/$N
rm -rf "$D"; mkdir -p "$D"/c/run "$D"/s/run
C=ikkc; S=ikks
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.5
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
}
PIDS=()
trap cleanup EXIT
ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
ip netns add $C; ip netns add $S
for ns in $C $S; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add ikkc0 type veth peer name ikks0
ip link set ikkc0 netns $C; ip link set ikks0 netns $S
ip -n $C addr add 198.51.100.10/24 dev ikkc0; ip -n $C link set ikkc0 up
ip -n $S addr add 203.0.113.1/24 dev ikks0; ip -n $S link set ikks0 up
ip -n $C route add 203.0.113.0/24 dev ikkc0
ip -n $S route add 198.51.100.0/24 dev ikks0
ip -n $C addr add 10.8.0.1/32 dev lo
ip -n $S addr add 10.9.0.1/24 dev lo

conf() { # role dir
cat > "$2/strongswan.conf" <<EOC
charon {
  load_modular = no
  load = random nonce openssl aes sha1 sha2 md5 hmac gmp gcrypt gcm curve25519 pem pkcs1 pkcs8 x509 pubkey constraints revocation kdf kernel-libipsec kernel-netlink socket-default vici
  port = 500
  port_nat_t = 4500
  install_routes = no
  retransmit_tries = 3
  plugins { vici { socket = unix://$2/charon.vici } }
  filelog {
    kat {
      path = $2/charon.log
      time_format = %H:%M:%S
      time_add_ms = yes
      ike_name = yes
      append = no
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
      cfg = 2
    }
  }
  syslog { daemon { default = -1 } auth { default = -1 } }
}
swanctl { load = pem pkcs1 pkcs8 x509 pubkey }
EOC
}
conf c "$D/c"; conf s "$D/s"
cat > "$D/c/swanctl.conf" <<EOC
connections {
  lab {
    version = 1
    aggressive = no
    local_addrs = 198.51.100.10
    remote_addrs = 203.0.113.1
    proposals = $IKE
    encap = no
    local { auth = psk
      id = 198.51.100.10 }
    remote { auth = psk
      id = 203.0.113.1 }
    children { lab { mode = tunnel
        local_ts = 10.8.0.1/32
        remote_ts = 10.9.0.0/24
        esp_proposals = $ESP
        start_action = none } }
  }
}
secrets { ike-lab { secret = "lab-only-preshared-key-0123456789" } }
EOC
cat > "$D/s/swanctl.conf" <<EOC
connections {
  lab {
    version = 1
    aggressive = no
    local_addrs = 203.0.113.1
    remote_addrs = %any
    proposals = $IKE
    encap = no
    local { auth = psk
      id = 203.0.113.1 }
    remote { auth = psk
      id = %any }
    children { lab { mode = tunnel
        local_ts = 10.9.0.0/24
        remote_ts = 10.8.0.1/32
        esp_proposals = $ESP
        start_action = none } }
  }
}
secrets { ike-lab { secret = "lab-only-preshared-key-0123456789" } }
EOC
for r in s c; do
  ns=$C; [ $r = s ] && ns=$S
  ip netns exec $ns unshare --mount --propagation private sh -c "mount --bind $D/$r/run /run && exec env STRONGSWAN_CONF=$D/$r/strongswan.conf /usr/lib/ipsec/charon" >"$D/$r/stdout" 2>&1 &
  PIDS+=($!)
done
for i in $(seq 50); do [ -S "$D/c/charon.vici" ] && [ -S "$D/s/charon.vici" ] && break; sleep 0.1; done
ip netns exec $C dumpcap -q -P -i ikkc0 -f udp -w "$D/client.pcap" >"$D/dumpcap.out" 2>&1 &
PIDS+=($!)
sleep 1
for r in s c; do
  STRONGSWAN_CONF=$D/$r/strongswan.conf swanctl --load-all --uri unix://$D/$r/charon.vici --file $D/$r/swanctl.conf >"$D/$r/load.out" 2>&1
done
STRONGSWAN_CONF=$D/c/strongswan.conf timeout 20 swanctl --initiate --child lab --uri unix://$D/c/charon.vici >"$D/c/initiate.out" 2>&1
echo "initiate rc=$?"
sleep 1
tail -3 "$D/c/initiate.out"
