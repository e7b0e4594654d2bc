//! Builders shared by the relay tests: entries with fixed SPIs, and packets as each kind of
//! socket delivers them.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipsec_xlat::relay::{
    Action, Arrival, BundleShape, Entry, Framing, LegPath, LegTransport, Outgoing, Partition, Spi,
    SpiSet,
};
use ipsec_xlat::wire::encap::AH_IN_UDP_MARKER;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Repr};
use ipsec_xlat::wire::ipv6::Ipv6Repr;
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat::Leg;
use ipsec_xlat::Timestamp;

pub fn spi(value: u32) -> Spi {
    Spi::new(value).unwrap()
}

/// The SPIs of the test entries: (AH, ESP) per role.
pub const C1: (u32, u32) = (0xc1a4_0001, 0xc1e5_0001); // client receives
pub const C2: (u32, u32) = (0xc2a4_0002, 0xc2e5_0002); // relay receives from the client
pub const S2: (u32, u32) = (0x52a4_0002, 0x52e5_0002); // relay receives from the SGW
pub const S3: (u32, u32) = (0x53a4_0003, 0x53e5_0003); // SGW receives

pub fn set(shape: BundleShape, (ah, esp): (u32, u32)) -> SpiSet {
    match shape {
        BundleShape::Esp => SpiSet::esp(spi(esp)),
        BundleShape::Ah => SpiSet::ah(spi(ah)),
        BundleShape::AhEsp => SpiSet::ah_esp(spi(ah), spi(esp)),
    }
}

/// Which kind of path a leg uses in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ipv4,
    Ipv6,
    UdpV4,
    UdpV6,
}

pub const KINDS: [Kind; 4] = [Kind::Ipv4, Kind::Ipv6, Kind::UdpV4, Kind::UdpV6];

pub fn client_path(kind: Kind) -> LegPath {
    let (relay, peer) = match kind {
        Kind::Ipv4 | Kind::UdpV4 => (v4("198.51.100.1"), v4("198.51.100.10")),
        Kind::Ipv6 | Kind::UdpV6 => (v6("2001:db8:100::1"), v6("2001:db8:100::10")),
    };
    let transport = match kind {
        Kind::Ipv4 | Kind::Ipv6 => LegTransport::Ip,
        _ => LegTransport::Udp {
            relay_port: 4500,
            peer_port: 40123,
        },
    };
    LegPath {
        relay_addr: relay,
        peer_addr: peer,
        transport,
    }
}

pub fn gateway_path(kind: Kind) -> LegPath {
    let (relay, peer) = match kind {
        Kind::Ipv4 | Kind::UdpV4 => (v4("203.0.113.1"), v4("203.0.113.2")),
        Kind::Ipv6 | Kind::UdpV6 => (v6("2001:db8:113::1"), v6("2001:db8:113::2")),
    };
    let transport = match kind {
        Kind::Ipv4 | Kind::Ipv6 => LegTransport::Ip,
        _ => LegTransport::Udp {
            relay_port: 4500,
            peer_port: 4500,
        },
    };
    LegPath {
        relay_addr: relay,
        peer_addr: peer,
        transport,
    }
}

pub fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

pub fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

pub fn entry(shape: BundleShape, client: LegPath, gateway: LegPath) -> Entry {
    Entry {
        client: Partition {
            path: client,
            relay_spis: set(shape, C2),
            peer_spis: set(shape, C1),
        },
        gateway: Partition {
            path: gateway,
            relay_spis: set(shape, S2),
            peer_spis: set(shape, S3),
        },
        expires_at: Timestamp::NEVER,
    }
}

/// An ESP packet: SPI, sequence number, then `rest` (IV, ciphertext, ICV: opaque).
pub fn esp(spi: u32, seq: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + rest.len());
    out.extend_from_slice(&spi.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(rest);
    out
}

/// An AH header of `header_len` bytes (auth data filled with 0xa5..) followed by `rest`.
pub fn ah(spi: u32, seq: u32, next: u8, header_len: usize, reserved: u16, rest: &[u8]) -> Vec<u8> {
    assert!(header_len >= 12 && header_len % 4 == 0);
    let mut out = vec![next, (header_len / 4 - 2) as u8];
    out.extend_from_slice(&reserved.to_be_bytes());
    out.extend_from_slice(&spi.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend((0..header_len - 12).map(|i| 0xa5 ^ i as u8));
    out.extend_from_slice(rest);
    out
}

/// The IPsec part of a packet of `shape` with the given outer SPI pair and AH reserved.
pub fn ipsec_part(
    shape: BundleShape,
    (ah_spi, esp_spi): (u32, u32),
    seq: u32,
    reserved: u16,
    body: &[u8],
) -> Vec<u8> {
    match shape {
        BundleShape::Esp => esp(esp_spi, seq, body),
        BundleShape::Ah => ah(ah_spi, seq, 4, 24, reserved, body),
        BundleShape::AhEsp => ah(ah_spi, seq, 50, 24, reserved, &esp(esp_spi, seq, body)),
    }
}

/// IPv4 header fields a test may choose.
#[derive(Debug, Clone, Copy)]
pub struct V4Fields {
    pub ident: u16,
    pub dont_frag: bool,
    pub tos: u8,
    pub ttl: u8,
}

pub const V4_DEFAULT: V4Fields = V4Fields {
    ident: 0x1234,
    dont_frag: true,
    tos: 0,
    ttl: 64,
};

pub fn ipv4_packet(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    fields: V4Fields,
    payload: &[u8],
) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
        panic!("not v4")
    };
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol(protocol),
        payload_len: payload.len(),
        ttl: fields.ttl,
        tos: fields.tos,
        ident: fields.ident,
        dont_frag: fields.dont_frag,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
    };
    let mut out = vec![0; 20 + payload.len()];
    repr.emit(&mut out).unwrap();
    out[20..].copy_from_slice(payload);
    out
}

pub fn ipv6_packet(src: IpAddr, dst: IpAddr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) else {
        panic!("not v6")
    };
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol(next_header),
        payload_len: payload.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut out = vec![0; 40 + payload.len()];
    repr.emit(&mut out).unwrap();
    out[40..].copy_from_slice(payload);
    out
}

/// How a packet with IPsec part `part` sent by the peer of `path` to the relay arrives: the
/// arrival and the bytes the socket delivers. IPv6 raw arrivals use the raw-socket form.
pub fn arriving(path: &LegPath, protocol: u8, v4: V4Fields, part: &[u8]) -> (Arrival, Vec<u8>) {
    match path.transport {
        LegTransport::Udp {
            relay_port,
            peer_port,
        } => {
            let mut bytes = Vec::new();
            if protocol == 51 {
                bytes.extend_from_slice(&AH_IN_UDP_MARKER);
            }
            bytes.extend_from_slice(part);
            let arrival = Arrival::Udp {
                src: SocketAddr::new(path.peer_addr, peer_port),
                dst: SocketAddr::new(path.relay_addr, relay_port),
            };
            (arrival, bytes)
        }
        LegTransport::Ip => match (path.peer_addr, path.relay_addr) {
            (IpAddr::V4(_), _) => (
                Arrival::Ip,
                ipv4_packet(path.peer_addr, path.relay_addr, protocol, v4, part),
            ),
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let arrival = Arrival::Ipv6Payload {
                    src,
                    dst,
                    protocol: IpProtocol(protocol),
                };
                (arrival, part.to_vec())
            }
            _ => panic!("mixed path"),
        },
    }
}

/// The forwarded packet, or a panic naming the drop reason.
pub fn forwarded(action: Action<'_>) -> Outgoing<'_> {
    match action {
        Action::Forward(transmit) => transmit,
        Action::Drop(reason) => panic!("dropped: {reason}"),
    }
}

/// The IPsec part of a transmitted packet (outer header and AH marker removed).
pub fn sent_part<'a>(transmit: &Outgoing<'a>) -> &'a [u8] {
    let bytes = transmit.bytes;
    match transmit.framing {
        Framing::Ipv4 { .. } => &bytes[20..],
        Framing::Ipv6 { .. } => bytes,
        Framing::Udp { .. } if bytes.starts_with(&AH_IN_UDP_MARKER) => &bytes[4..],
        Framing::Udp { .. } => bytes,
    }
}

/// Checks that `transmit` goes to the peer of `path` from the relay, over its transport.
pub fn assert_sent_on(transmit: &Outgoing<'_>, leg: Leg, path: &LegPath) {
    assert_eq!(transmit.leg, leg);
    match (transmit.framing, path.transport) {
        (
            Framing::Udp { src, dst },
            LegTransport::Udp {
                relay_port,
                peer_port,
            },
        ) => {
            assert_eq!(src, SocketAddr::new(path.relay_addr, relay_port));
            assert_eq!(dst, SocketAddr::new(path.peer_addr, peer_port));
        }
        (Framing::Ipv4 { src, dst }, LegTransport::Ip) => {
            assert_eq!(
                (IpAddr::V4(src), IpAddr::V4(dst)),
                (path.relay_addr, path.peer_addr)
            );
        }
        (Framing::Ipv6 { src, dst, .. }, LegTransport::Ip) => {
            assert_eq!(
                (IpAddr::V6(src), IpAddr::V6(dst)),
                (path.relay_addr, path.peer_addr)
            );
        }
        (framing, transport) => panic!("sent as {framing:?} on a {transport:?} path"),
    }
}

pub fn t(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}
