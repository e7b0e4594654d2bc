//! The wire layer against the independent (scapy) ESP/AH vectors in tests/data/vectors.
//!
//! The AH vectors are the sharp test of `ah::icv_input`: an HMAC over the bytes it yields must
//! equal the ICV scapy wrote, must still equal it after in-transit changes to mutable fields,
//! and must differ for the relay-side bytes (whose addresses and SPI the ICV covers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hmac::{Hmac, Mac};
use ipsec_xlat::wire::ah::{icv_input, zero_mutable_fields, AhPacket};
use ipsec_xlat::wire::esp::EspPacket;
use ipsec_xlat::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ipsec_xlat::wire::ipv6::Ipv6Packet;
use ipsec_xlat::wire::{IpProtocol, IpVersion};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/vectors/");

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DIR}{name}.json")).expect("vector file");
    serde_json::from_str(&text).expect("vector json")
}

fn hex_field(v: &Value, path: &[&str]) -> Vec<u8> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    hex::decode(cur.as_str().expect("hex string")).expect("hex")
}

fn spi_of(v: &Value) -> u32 {
    u32::from_str_radix(
        v["sa"]["spi"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

/// Truncated HMAC over the ICV input, streamed chunk by chunk.
fn ah_mac(algo: &str, key: &[u8], packet: &[u8], icv_len: usize) -> Vec<u8> {
    match algo {
        "HMAC-SHA1-96" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
            icv_input(packet, icv_len, |c| mac.update(c)).unwrap();
            mac.finalize().into_bytes()[..icv_len].to_vec()
        }
        "HMAC-SHA256-128" => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            icv_input(packet, icv_len, |c| mac.update(c)).unwrap();
            mac.finalize().into_bytes()[..icv_len].to_vec()
        }
        other => panic!("unexpected algo {other}"),
    }
}

fn icv_len_of(algo: &str) -> usize {
    match algo {
        "HMAC-SHA1-96" => 12,
        "HMAC-SHA256-128" => 16,
        other => panic!("unexpected algo {other}"),
    }
}

fn ah_offset(packet: &[u8]) -> (usize, IpVersion) {
    match IpVersion::of_packet(packet).unwrap() {
        IpVersion::V4 => (
            Ipv4Packet::new_checked(packet).unwrap().header_len(),
            IpVersion::V4,
        ),
        IpVersion::V6 => {
            let up = Ipv6Packet::new_checked(packet)
                .unwrap()
                .ipsec_header()
                .unwrap();
            assert_eq!(up.protocol, IpProtocol::AH);
            (up.offset, IpVersion::V6)
        }
    }
}

#[test]
fn ah_vectors_icv_input_reproduces_scapy_icv() {
    for name in [
        "ah-hmacsha1-ipv4",
        "ah-hmacsha256-ipv4",
        "ah-hmacsha256-ipv6",
    ] {
        let v = load(name);
        let algo = v["sa"]["auth_algo"].as_str().unwrap();
        let key = hex_field(&v, &["sa", "auth_key"]);
        let icv_len = icv_len_of(algo);
        let outer = hex_field(&v, &["outer_hex"]);

        let (off, version) = ah_offset(&outer);
        let ah = AhPacket::new_checked_with(&outer[off..], icv_len, version).unwrap();
        assert_eq!(ah.spi(), spi_of(&v), "{name}");
        assert_eq!(
            u64::from(ah.seq()),
            v["sa"]["seq"].as_u64().unwrap(),
            "{name}"
        );
        let inner = hex_field(&v, &["inner_hex"]);
        assert_eq!(
            ah.payload(),
            &inner[..],
            "{name}: AH payload is the inner packet"
        );
        let expected_next = if inner[0] >> 4 == 4 {
            IpProtocol::IPV4
        } else {
            IpProtocol::IPV6
        };
        assert_eq!(ah.next_header(), expected_next, "{name}");

        let icv = ah.icv(icv_len).to_vec();
        assert_eq!(
            ah_mac(algo, &key, &outer, icv_len),
            icv,
            "{name}: sgw side verifies"
        );

        let mutated = hex_field(&v, &["in_transit_mutated", "outer_hex"]);
        assert_ne!(mutated, outer);
        assert_eq!(
            ah_mac(algo, &key, &mutated, icv_len),
            icv,
            "{name}: mutable-field changes do not affect the ICV"
        );

        let relay = hex_field(&v, &["translation", "relay_side_outer_hex"]);
        assert_ne!(
            ah_mac(algo, &key, &relay, icv_len),
            icv,
            "{name}: relay-side addresses/SPI must break the ICV"
        );

        // The in-place variant yields the same bytes as the stream.
        let mut streamed = Vec::new();
        icv_input(&outer, icv_len, |c| streamed.extend_from_slice(c)).unwrap();
        let mut copy = outer.clone();
        let layout = zero_mutable_fields(&mut copy, icv_len).unwrap();
        assert_eq!(&copy[..layout.packet_len], &streamed[..], "{name}");
        assert_eq!(&outer[layout.icv.clone()], &icv[..], "{name}");
    }
}

#[test]
fn esp_vectors_header_fields() {
    for name in [
        "esp-null-hmacsha256-ipv4",
        "esp-aes128cbc-hmacsha256-ipv6",
        "esp-aes128gcm16-ipv4",
        "esp-aes128cbc-hmacsha256-ipv4",
    ] {
        let v = load(name);
        let outer = hex_field(&v, &["outer_hex"]);
        let esp_bytes = match IpVersion::of_packet(&outer).unwrap() {
            IpVersion::V4 => {
                let ip = Ipv4Packet::new_checked(&outer[..]).unwrap();
                let repr = Ipv4Repr::parse(&ip).unwrap();
                assert_eq!(repr.protocol, IpProtocol::ESP, "{name}");
                assert_eq!(repr.src_addr.to_string(), v["sa"]["outer"]["src"], "{name}");
                assert_eq!(
                    u64::from(repr.ident),
                    v["sa"]["outer"]["id"].as_u64().unwrap()
                );
                ip.payload().to_vec()
            }
            IpVersion::V6 => {
                let ip = Ipv6Packet::new_checked(&outer[..]).unwrap();
                let up = ip.ipsec_header().unwrap();
                assert_eq!(up.protocol, IpProtocol::ESP, "{name}");
                assert_eq!(ip.src_addr().to_string(), v["sa"]["outer"]["src"], "{name}");
                outer[up.offset..].to_vec()
            }
        };
        let esp = EspPacket::new_checked(&esp_bytes[..]).unwrap();
        assert_eq!(esp.spi(), spi_of(&v), "{name}");
        assert_eq!(
            u64::from(esp.seq()),
            v["sa"]["seq"].as_u64().unwrap(),
            "{name}"
        );
        if v["sa"]["iv"].is_string() {
            let iv = hex_field(&v, &["sa", "iv"]);
            assert!(esp.payload().starts_with(&iv), "{name}: IV follows seq");
        }
    }
}
