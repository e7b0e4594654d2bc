#!/usr/bin/env bash
# Regenerates wire_ip.tsv: what tshark says about every IPv4 packet of the strongSwan captures
# in ../captures, so that crates/ipsec-xlat/tests/wire_ip_tshark.rs can assert that our wire
# parsers agree with it field by field without needing tshark at test time.
#
# Each capture directory holds a Wireshark profile (<name>.wireshark/: preferences + esp_sa
# with the ESP keys from charon's log); we run tshark with it so that ESP is decrypted and the
# trailer fields (pad length, next header, padding) are known too. IPv4 and UDP checksum
# validation is switched on so the *.status columns say Good (1), Bad (0) or Unverified (2).
#
# Usage: tests/data/tshark/gen.sh   (from anywhere; needs tshark, tested with 4.0.17)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
captures="$here/../captures"
out="$here/wire_ip.tsv"

fields=(
  frame.number frame.protocols
  ip.hdr_len ip.dsfield ip.len ip.id ip.flags.rb ip.flags.df ip.flags.mf ip.frag_offset ip.ttl
  ip.proto ip.checksum ip.checksum.status ip.src ip.dst
  udp.srcport udp.dstport udp.length udp.checksum udp.checksum.status
  isakmp.ispi isakmp.length
  esp.spi esp.sequence esp.iv esp.pad_len esp.protocol esp.pad esp.icv esp.icv_good
)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

{
  printf 'capture'
  printf '\t%s' "${fields[@]}"
  printf '\n'
  for pcap in "$captures"/*/*.pcap; do
    dir="$(dirname "$pcap")"
    name="$(basename "$dir")"
    rel="${pcap#"$captures"/}"
    profile="$tmp/wireshark/profiles/$name"
    mkdir -p "$profile"
    cp "$dir/$name.wireshark/"* "$profile/"
    args=()
    for f in "${fields[@]}"; do args+=(-e "$f"); done
    XDG_CONFIG_HOME="$tmp" tshark -C "$name" -r "$pcap" \
      -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
      -Y ip -T fields -E separator=/t -E occurrence=f "${args[@]}" 2>/dev/null |
      sed "s|^|$rel\t|"
  done
} >"$out"
echo "wrote $(($(wc -l <"$out") - 1)) packets to $out"
