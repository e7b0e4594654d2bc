//! Known answers from an independent implementation (scapy, `tests/data/vectors/`): the relay
//! turns each vector's client-leg packet (`relay_side_outer_hex`) into the SGW-side packet
//! (`outer_hex`) byte for byte, and back. For AH this proves that the header the relay writes
//! is the one the ICV was computed over: Total Length, Identification, protocol, addresses.
//!
//! Covered: ESP and AH, IPv4 and IPv6, ESN, UDP encapsulation, AH+ESP bundles (`bundle/`).
//! LegTransport-mode vectors (`transport/`) are not relayed: the relay carries tunnel mode.
//!
//! The vectors' client legs are raw IP of the gateway leg's version, so AH's Identification
//! crosses in the client-leg IPv4 header and the packets need no change. The relay's TTL is set
//! to the vector's: TTL is the relay's choice, outside every ICV.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod relay_support;

use std::net::{IpAddr, SocketAddr};

use ipsec_xlat::relay::{
    Action, Arrival, BundleShape, Datapath, DatapathConfig, Entry, Framing, LegPath, LegTransport,
    Partition, SpiSet, Table, TableConfig,
};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat::Timestamp;
use relay_support::{spi, t};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/vectors");

/// One side of a vector's translation: SPIs (AH, ESP; 0 when absent) and addresses.
#[derive(Clone, Copy)]
struct Side {
    spis: (u32, u32),
    src: IpAddr,
    dst: IpAddr,
}

struct Vector {
    name: String,
    shape: BundleShape,
    nat_t: Option<(u16, u16)>,
    sgw: Side,
    relay: Side,
    outer: Vec<u8>,
    relay_side: Vec<u8>,
}

fn hex_u32(v: &Value) -> u32 {
    u32::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn side(v: &Value, proto: &str) -> Side {
    let addr = |x: &Value| x.as_str().unwrap().parse::<IpAddr>().unwrap();
    let spis = match proto {
        "AH" => (hex_u32(&v["spi"]), 0),
        "ESP" => (0, hex_u32(&v["spi"])),
        _ => (hex_u32(&v["ah_spi"]), hex_u32(&v["esp_spi"])),
    };
    Side {
        spis,
        src: addr(&v["src"]),
        dst: addr(&v["dst"]),
    }
}

fn load_dir(dir: &str, vectors: &mut Vec<Vector>) {
    for file in std::fs::read_dir(dir).unwrap() {
        let path = file.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let proto = v["sa"]["proto"].as_str().unwrap().to_owned();
        let shape = match proto.as_str() {
            "ESP" => BundleShape::Esp,
            "AH" => BundleShape::Ah,
            _ => BundleShape::AhEsp,
        };
        let nat_t = v["sa"].get("nat_t").map(|n| {
            (
                n["sport"].as_u64().unwrap() as u16,
                n["dport"].as_u64().unwrap() as u16,
            )
        });
        let tr = &v["translation"];
        vectors.push(Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            shape,
            nat_t,
            sgw: side(&tr["sgw_side"], &proto),
            relay: side(&tr["relay_side"], &proto),
            outer: hex::decode(v["outer_hex"].as_str().unwrap()).unwrap(),
            relay_side: hex::decode(tr["relay_side_outer_hex"].as_str().unwrap()).unwrap(),
        });
    }
}

fn load() -> Vec<Vector> {
    let mut vectors = Vec::new();
    load_dir(VECTORS, &mut vectors);
    load_dir(&format!("{VECTORS}/bundle"), &mut vectors);
    assert!(vectors.len() >= 30, "vectors missing: {}", vectors.len());
    vectors
}

fn set(shape: BundleShape, (ah, esp): (u32, u32)) -> SpiSet {
    match shape {
        BundleShape::Esp => SpiSet::esp(spi(esp)),
        BundleShape::Ah => SpiSet::ah(spi(ah)),
        BundleShape::AhEsp => SpiSet::ah_esp(spi(ah), spi(esp)),
    }
}

/// Header length of a whole packet's outer IP header (+ UDP when NAT-T).
fn outer_len(v: &Vector, packet: &[u8]) -> usize {
    let ip = if packet[0] >> 4 == 4 {
        usize::from(packet[0] & 0xf) * 4
    } else {
        40
    };
    ip + if v.nat_t.is_some() { 8 } else { 0 }
}

/// How a whole packet (as in a vector) arrives: raw IP, or its UDP payload when NAT-T.
fn arrival(v: &Vector, packet: &[u8]) -> (Arrival, Vec<u8>) {
    match v.nat_t {
        None => (Arrival::Ip, packet.to_vec()),
        Some(_) => {
            let ip = outer_len(v, packet) - 8;
            let port = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
            let (src, dst) = if packet[0] >> 4 == 4 {
                (
                    IpAddr::from(<[u8; 4]>::try_from(&packet[12..16]).unwrap()),
                    IpAddr::from(<[u8; 4]>::try_from(&packet[16..20]).unwrap()),
                )
            } else {
                (
                    IpAddr::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap()),
                    IpAddr::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap()),
                )
            };
            let arrival = Arrival::Udp {
                src: SocketAddr::new(src, port(ip)),
                dst: SocketAddr::new(dst, port(ip + 2)),
            };
            (arrival, packet[ip + 8..].to_vec())
        }
    }
}

fn transport(v: &Vector, relay_port: u16, peer_port: u16) -> LegTransport {
    match v.nat_t {
        None => LegTransport::Ip,
        Some(_) => LegTransport::Udp {
            relay_port,
            peer_port,
        },
    }
}

/// Runs `input` (a whole packet) through a relay holding `entry` and checks it leaves as the
/// whole packet `expected`.
fn check(v: &Vector, entry: Entry, input: &[u8], expected: &[u8], what: &str) {
    let mut table = Table::new(TableConfig::default());
    table.insert(entry, t(0)).unwrap();
    let ttl = if expected[0] >> 4 == 4 {
        expected[8]
    } else {
        64
    };
    let mut relay = Datapath::new(table, DatapathConfig { ttl });
    let (arrival, bytes) = arrival(v, input);
    let mut out = vec![0u8; 4096];
    let action = relay.rewrite(t(0), arrival, &bytes, &mut out);
    let Action::Forward(transmit) = action else {
        panic!("{} {what}: {action:?}", v.name)
    };
    let ip_of = |b: &[u8], at: usize, len: usize| -> IpAddr {
        if len == 4 {
            IpAddr::from(<[u8; 4]>::try_from(&b[at..at + 4]).unwrap())
        } else {
            IpAddr::from(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap())
        }
    };
    let v4 = expected[0] >> 4 == 4;
    let (src, dst) = if v4 {
        (ip_of(expected, 12, 4), ip_of(expected, 16, 4))
    } else {
        (ip_of(expected, 8, 16), ip_of(expected, 24, 16))
    };
    let name = format!("{} {what}", v.name);
    match transmit.framing {
        Framing::Ipv4 { .. } => {
            assert_eq!(hex::encode(transmit.bytes), hex::encode(expected), "{name}")
        }
        Framing::Ipv6 {
            src: s,
            dst: d,
            next_header,
        } => {
            assert_eq!((IpAddr::V6(s), IpAddr::V6(d)), (src, dst), "{name}");
            assert_eq!(next_header, IpProtocol(expected[6]), "{name}");
            assert_eq!(
                hex::encode(transmit.bytes),
                hex::encode(&expected[40..]),
                "{name}"
            );
        }
        Framing::Udp { src: s, dst: d } => {
            let udp = outer_len(v, expected) - 8;
            let port = |at: usize| u16::from_be_bytes([expected[at], expected[at + 1]]);
            assert_eq!(s, SocketAddr::new(src, port(udp)), "{name}");
            assert_eq!(d, SocketAddr::new(dst, port(udp + 2)), "{name}");
            assert_eq!(
                hex::encode(transmit.bytes),
                hex::encode(&expected[udp + 8..]),
                "{name}"
            );
        }
    }
}

fn ports(v: &Vector) -> (u16, u16) {
    v.nat_t.unwrap_or((0, 0))
}

#[test]
fn client_leg_packets_become_the_independent_sgw_side_packets() {
    for v in load() {
        // relay_side: peer relay.src → relay relay.dst; sgw_side: relay sgw.src → peer sgw.dst.
        let (sport, dport) = ports(&v);
        let entry = Entry {
            client: Partition {
                path: LegPath {
                    relay_addr: v.relay.dst,
                    peer_addr: v.relay.src,
                    transport: transport(&v, dport, sport),
                },
                relay_spis: set(v.shape, v.relay.spis),
                peer_spis: set(v.shape, (0xc1c1_00a1, 0xc1c1_00e1)),
            },
            gateway: Partition {
                path: LegPath {
                    relay_addr: v.sgw.src,
                    peer_addr: v.sgw.dst,
                    transport: transport(&v, sport, dport),
                },
                relay_spis: set(v.shape, (0x5252_00a2, 0x5252_00e2)),
                peer_spis: set(v.shape, v.sgw.spis),
            },
            expires_at: Timestamp::NEVER,
        };
        let input = &v.relay_side;
        check(&v, entry, input, &v.outer, "client leg to SGW");

        if let (None, IpAddr::V6(src), IpAddr::V6(dst)) = (v.nat_t, v.relay.src, v.relay.dst) {
            // The same through an IPv6 raw socket, which strips the header.
            let arrival = Arrival::Ipv6Payload {
                src,
                dst,
                protocol: IpProtocol(input[6]),
            };
            let mut table = Table::new(TableConfig::default());
            table.insert(entry, t(0)).unwrap();
            let mut relay = Datapath::new(table, DatapathConfig::default());
            let mut out = vec![0u8; 4096];
            let Action::Forward(transmit) = relay.rewrite(t(0), arrival, &input[40..], &mut out)
            else {
                panic!("{}: raw IPv6 arrival dropped", v.name)
            };
            assert_eq!(transmit.bytes, &v.outer[40..], "{}", v.name);
        }
    }
}

#[test]
fn independent_sgw_side_packets_become_client_leg_packets() {
    for v in load() {
        // Read the vector the other way round: its SGW-side packet arrives from sgw.src at the
        // relay's sgw.dst, and must leave as the relay-side packet (relay.src → relay.dst).
        let (sport, dport) = ports(&v);
        let entry = Entry {
            client: Partition {
                path: LegPath {
                    relay_addr: v.relay.src,
                    peer_addr: v.relay.dst,
                    transport: transport(&v, sport, dport),
                },
                relay_spis: set(v.shape, (0xc2c2_00a2, 0xc2c2_00e2)),
                peer_spis: set(v.shape, v.relay.spis),
            },
            gateway: Partition {
                path: LegPath {
                    relay_addr: v.sgw.dst,
                    peer_addr: v.sgw.src,
                    transport: transport(&v, dport, sport),
                },
                relay_spis: set(v.shape, v.sgw.spis),
                peer_spis: set(v.shape, (0x5353_00a3, 0x5353_00e3)),
            },
            expires_at: Timestamp::NEVER,
        };
        check(&v, entry, &v.outer, &v.relay_side, "SGW to client leg");
    }
}

#[test]
fn the_vectors_cover_every_shape_family_and_encapsulation() {
    let vectors = load();
    let kinds: Vec<(BundleShape, bool, bool)> = vectors
        .iter()
        .map(|v| (v.shape, v.sgw.src.is_ipv4(), v.nat_t.is_some()))
        .collect();
    for kind in [
        (BundleShape::Esp, true, false),
        (BundleShape::Esp, false, false),
        (BundleShape::Esp, true, true),
        (BundleShape::Ah, true, false),
        (BundleShape::Ah, false, false),
        (BundleShape::AhEsp, true, false),
        (BundleShape::AhEsp, false, false),
    ] {
        assert!(kinds.contains(&kind), "no vector of kind {kind:?}");
    }
}
