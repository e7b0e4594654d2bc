//! Known answers from an independent implementation (scapy, `tests/data/vectors/`): the relay
//! turns each vector's client-leg packet (`relay_side_outer_hex`) into the SGW-side packet
//! (`outer_hex`) byte for byte, and back. For AH this proves that the header the relay writes
//! is the one the ICV was computed over: Total Length, Identification, protocol, addresses.
//!
//! The vectors' relay-side packets predate our client-leg contract, under which AH's Reserved
//! field carries the gateway leg's IPv4 Identification; the tests put it there.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod relay_support;

use std::net::IpAddr;

use ipsec_xlat::relay::{
    Action, Arrival, Entry, Framing, Partition, Path, Relay, RelayConfig, SpiSet, Table,
    TableConfig, Timestamp, Transport,
};
use ipsec_xlat::wire::IpProtocol;
use relay_support::{spi, t};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/vectors");

struct Vector {
    name: String,
    ah: bool,
    sgw_spi: u32,
    sgw_src: IpAddr,
    sgw_dst: IpAddr,
    relay_spi: u32,
    relay_src: IpAddr,
    relay_dst: IpAddr,
    outer: Vec<u8>,
    relay_side: Vec<u8>,
}

fn hex_spi(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn load() -> Vec<Vector> {
    let mut vectors = Vec::new();
    for file in std::fs::read_dir(VECTORS).unwrap() {
        let path = file.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if v["sa"].get("nat_t").is_some() {
            continue; // UDP-encapsulated vectors carry no outer header to compare
        }
        let tr = &v["translation"];
        let addr = |x: &Value| x.as_str().unwrap().parse::<IpAddr>().unwrap();
        vectors.push(Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            ah: v["sa"]["proto"] == "AH",
            sgw_spi: hex_spi(&tr["sgw_side"]["spi"]),
            sgw_src: addr(&tr["sgw_side"]["src"]),
            sgw_dst: addr(&tr["sgw_side"]["dst"]),
            relay_spi: hex_spi(&tr["relay_side"]["spi"]),
            relay_src: addr(&tr["relay_side"]["src"]),
            relay_dst: addr(&tr["relay_side"]["dst"]),
            outer: hex::decode(v["outer_hex"].as_str().unwrap()).unwrap(),
            relay_side: hex::decode(tr["relay_side_outer_hex"].as_str().unwrap()).unwrap(),
        });
    }
    assert!(vectors.len() >= 7, "vectors missing: {}", vectors.len());
    vectors
}

fn set(ah: bool, value: u32) -> SpiSet {
    if ah {
        SpiSet::ah(spi(value))
    } else {
        SpiSet::esp(spi(value))
    }
}

/// Puts the client-leg contract into a vector's relay-side packet: for AH over IPv4, the
/// packet's Identification goes into AH's Reserved field.
fn with_carried_ident(v: &Vector, mut packet: Vec<u8>, ident: u16) -> Vec<u8> {
    if v.ah && packet[0] >> 4 == 4 {
        packet[22..24].copy_from_slice(&ident.to_be_bytes());
    }
    packet
}

fn ipv4_ident(packet: &[u8]) -> u16 {
    u16::from_be_bytes([packet[4], packet[5]])
}

fn relay(entry: Entry) -> Relay {
    let mut table = Table::new(TableConfig::default());
    table.insert(entry, t(0)).unwrap();
    Relay::new(table, RelayConfig::default())
}

/// Checks `action` is exactly `expected` (a whole IP packet) leaving toward `dst`.
fn assert_sent_as(v: &Vector, action: Action<'_>, expected: &[u8]) {
    let Action::Forward(transmit) = action else {
        panic!("{}: {action:?}", v.name)
    };
    match transmit.framing {
        Framing::Ipv4 { .. } => assert_eq!(
            hex::encode(transmit.bytes),
            hex::encode(expected),
            "{}",
            v.name
        ),
        Framing::Ipv6 {
            src,
            dst,
            next_header,
        } => {
            assert_eq!(
                IpAddr::V6(src).to_string(),
                ipv6_addr(&expected[8..24]).to_string()
            );
            assert_eq!(
                IpAddr::V6(dst).to_string(),
                ipv6_addr(&expected[24..40]).to_string()
            );
            assert_eq!(next_header, IpProtocol(expected[6]));
            assert_eq!(
                hex::encode(transmit.bytes),
                hex::encode(&expected[40..]),
                "{}",
                v.name
            );
        }
        Framing::Udp { .. } => panic!("{}: unexpected UDP", v.name),
    }
}

fn ipv6_addr(bytes: &[u8]) -> IpAddr {
    let octets: [u8; 16] = bytes.try_into().unwrap();
    IpAddr::from(octets)
}

#[test]
fn client_leg_packets_become_the_independent_sgw_side_packets() {
    for v in load() {
        // Client (relay_src) → relay (relay_dst) with SPI relay_spi; relay (sgw_src) → SGW
        // (sgw_dst) with SPI sgw_spi.
        let entry = Entry {
            client: Partition {
                path: Path {
                    relay_addr: v.relay_dst,
                    peer_addr: v.relay_src,
                    transport: Transport::Ip,
                },
                relay_spis: set(v.ah, v.relay_spi),
                peer_spis: set(v.ah, 0xc1c1_0001),
            },
            gateway: Partition {
                path: Path {
                    relay_addr: v.sgw_src,
                    peer_addr: v.sgw_dst,
                    transport: Transport::Ip,
                },
                relay_spis: set(v.ah, 0x5252_0002),
                peer_spis: set(v.ah, v.sgw_spi),
            },
            expires_at: Timestamp::NEVER,
        };
        let ident = if v.outer[0] >> 4 == 4 {
            ipv4_ident(&v.outer)
        } else {
            0
        };
        let input = with_carried_ident(&v, v.relay_side.clone(), ident);
        let mut out = vec![0u8; 4096];
        let mut r = relay(entry);
        assert_sent_as(&v, r.rewrite(t(0), Arrival::Ip, &input, &mut out), &v.outer);

        if let (IpAddr::V6(src), IpAddr::V6(dst)) = (v.relay_src, v.relay_dst) {
            // The same through an IPv6 raw socket, which strips the header.
            let protocol = IpProtocol(input[6]);
            let arrival = Arrival::Ipv6Payload { src, dst, protocol };
            let mut r = relay(entry);
            assert_sent_as(
                &v,
                r.rewrite(t(0), arrival, &input[40..], &mut out),
                &v.outer,
            );
        }
    }
}

#[test]
fn independent_sgw_side_packets_become_client_leg_packets() {
    for v in load() {
        // Read the vector the other way round: its SGW-side packet arrives from an SGW at
        // sgw_src to the relay at sgw_dst, and must leave as the relay-side packet.
        let entry = Entry {
            client: Partition {
                path: Path {
                    relay_addr: v.relay_src,
                    peer_addr: v.relay_dst,
                    transport: Transport::Ip,
                },
                relay_spis: set(v.ah, 0xc2c2_0002),
                peer_spis: set(v.ah, v.relay_spi),
            },
            gateway: Partition {
                path: Path {
                    relay_addr: v.sgw_dst,
                    peer_addr: v.sgw_src,
                    transport: Transport::Ip,
                },
                relay_spis: set(v.ah, v.sgw_spi),
                peer_spis: set(v.ah, 0x5353_0003),
            },
            expires_at: Timestamp::NEVER,
        };
        let ident = if v.outer[0] >> 4 == 4 {
            ipv4_ident(&v.outer)
        } else {
            0
        };
        let expected = with_carried_ident(&v, v.relay_side.clone(), ident);
        let mut out = vec![0u8; 4096];
        let mut r = relay(entry);
        assert_sent_as(
            &v,
            r.rewrite(t(0), Arrival::Ip, &v.outer, &mut out),
            &expected,
        );
    }
}

#[test]
fn the_vectors_cover_esp_ah_ipv4_and_ipv6() {
    let vectors = load();
    let kinds: Vec<(bool, bool)> = vectors
        .iter()
        .map(|v| (v.ah, v.sgw_src.is_ipv4()))
        .collect();
    for kind in [(false, true), (false, false), (true, true), (true, false)] {
        assert!(kinds.contains(&kind), "no vector of kind {kind:?}");
    }
}
