//! The relay rewrite on arbitrary input against a small table of ESP, AH and AH+ESP entries on
//! raw IPv4, raw IPv6 and UDP legs. Invariants beyond "no panic":
//! - a forwarded packet goes to the other-leg peer of the entry its outermost SPI names, from
//!   the relay's address on that leg, over that leg's transport;
//! - it carries the other leg's peer SPI(s); between the received IPsec part and the sent one
//!   only the SPIs and AH's Reserved differ (sequence numbers and everything after: identical);
//! - the copying and in-place rewrites agree, and every call is counted exactly once.
//!
//! Input: byte 0 chooses how the packet arrived (raw IP, IPv6 raw socket, UDP) and, with
//! byte 1, its addresses and ports; the rest is the packet.
#![no_main]
use std::net::{IpAddr, SocketAddr};

use ipsec_xlat::Timestamp;
use ipsec_xlat::relay::{Action, Arrival, BundleShape, Entry, Framing, Partition, LegPath, Datapath, DatapathConfig, Spi, SpiSet, Table, TableConfig, LegTransport, HEADROOM};
use ipsec_xlat::wire::encap::AH_IN_UDP_MARKER;
use ipsec_xlat::Leg;
use ipsec_xlat::wire::ipv6::Ipv6Packet;
use ipsec_xlat::wire::IpProtocol;
use libfuzzer_sys::fuzz_target;

const ADDRESSES: [&str; 8] = [
    "198.51.100.10",
    "198.51.100.1",
    "203.0.113.1",
    "203.0.113.2",
    "2001:db8:100::10",
    "2001:db8:100::1",
    "2001:db8:113::1",
    "2001:db8:113::2",
];
const PORTS: [u16; 4] = [4500, 40123, 4501, 500];

fn addr(i: usize) -> IpAddr {
    ADDRESSES[i % ADDRESSES.len()].parse().unwrap()
}

fn set(shape: BundleShape, base: u32) -> SpiSet {
    let spi = |v| Spi::new(v).unwrap();
    match shape {
        BundleShape::Esp => SpiSet::esp(spi(base + 1)),
        BundleShape::Ah => SpiSet::ah(spi(base)),
        BundleShape::AhEsp => SpiSet::ah_esp(spi(base), spi(base + 1)),
    }
}

fn path(relay: usize, peer: usize, udp: Option<(u16, u16)>) -> LegPath {
    let transport = match udp {
        Some((relay_port, peer_port)) => LegTransport::Udp {
            relay_port,
            peer_port,
        },
        None => LegTransport::Ip,
    };
    LegPath {
        relay_addr: addr(relay),
        peer_addr: addr(peer),
        transport,
    }
}

/// Relay SPIs: 0x1000_0000 + 0x100 * n (client leg), 0x2000_0000 + ... (gateway leg);
/// peer SPIs 0x3000_0000 + ... (client), 0x4000_0000 + ... (gateway). AH = base, ESP = base + 1.
fn entries() -> Vec<Entry> {
    let legs = [
        (
            BundleShape::Esp,
            path(1, 0, Some((4500, 40123))),
            path(2, 3, None),
        ),
        (BundleShape::Ah, path(5, 4, None), path(2, 3, None)),
        (
            BundleShape::AhEsp,
            path(5, 4, Some((4500, 40123))),
            path(6, 7, None),
        ),
        (
            BundleShape::Esp,
            path(1, 0, None),
            path(6, 7, Some((4500, 4500))),
        ),
    ];
    legs.iter()
        .enumerate()
        .map(|(n, (shape, client, gateway))| {
            let n = n as u32 * 0x100;
            Entry {
                client: Partition {
                    path: *client,
                    relay_spis: set(*shape, 0x1000_0000 + n),
                    peer_spis: set(*shape, 0x3000_0000 + n),
                },
                gateway: Partition {
                    path: *gateway,
                    relay_spis: set(*shape, 0x2000_0000 + n),
                    peer_spis: set(*shape, 0x4000_0000 + n),
                },
                expires_at: Timestamp::NEVER,
            }
        })
        .collect()
}

fn relay(entries: &[Entry]) -> Datapath {
    let mut table = Table::new(TableConfig::default());
    for e in entries {
        table.insert(*e, Timestamp::from_millis(0)).unwrap();
    }
    Datapath::new(table, DatapathConfig::default())
}

fn arrival(selector: u8, ports: u8) -> Arrival {
    let src = usize::from(selector >> 2 & 7);
    let dst = usize::from(selector >> 5);
    match selector & 3 {
        0 => Arrival::Ip,
        1 => match (addr(src | 4), addr(dst | 4)) {
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let protocol = if ports & 1 == 0 {
                    IpProtocol::ESP
                } else {
                    IpProtocol::AH
                };
                Arrival::Ipv6Payload { src, dst, protocol }
            }
            _ => unreachable!(),
        },
        _ => Arrival::Udp {
            src: SocketAddr::new(addr(src), PORTS[usize::from(ports & 3)]),
            dst: SocketAddr::new(addr(dst), PORTS[usize::from(ports >> 2 & 3)]),
        },
    }
}

/// Where the IPsec part starts in what was received.
fn received_start(arrival: &Arrival, packet: &[u8]) -> usize {
    match arrival {
        Arrival::Ip if packet[0] >> 4 == 4 => usize::from(packet[0] & 0xf) * 4,
        Arrival::Ip => {
            Ipv6Packet::new_checked(packet)
                .unwrap()
                .ipsec_header()
                .unwrap()
                .offset
        }
        Arrival::Ipv6Payload { .. } => 0,
        Arrival::Udp { .. } if packet.starts_with(&AH_IN_UDP_MARKER) => 4,
        Arrival::Udp { .. } => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, ports, packet @ ..] = data else {
        return;
    };
    let arrival = arrival(*selector, *ports);
    let entries = entries();
    let mut copying = relay(&entries);
    let mut in_place = relay(&entries);

    let mut out = vec![0u8; packet.len() + HEADROOM];
    let copied = match copying.rewrite(Timestamp::from_millis(1), arrival, packet, &mut out) {
        Action::Forward(t) => Ok((t.leg, t.framing, t.bytes.to_vec())),
        Action::Drop(reason) => Err(reason),
    };
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(packet);
    let rewritten =
        match in_place.rewrite_in_place(Timestamp::from_millis(1), arrival, &mut buf, HEADROOM) {
            Action::Forward(t) => Ok((t.leg, t.framing, t.bytes.to_vec())),
            Action::Drop(reason) => Err(reason),
        };
    assert_eq!(copied, rewritten, "copying and in-place rewrites agree");
    for relay in [&copying, &in_place] {
        let c = relay.counters();
        assert_eq!(
            c.forwarded(Leg::CSide) + c.forwarded(Leg::SSide) + c.dropped_total(),
            1
        );
    }
    let Ok((leg, framing, bytes)) = copied else {
        return;
    };

    // The received IPsec part and the sent one.
    let start = received_start(&arrival, packet);
    let sent = match framing {
        Framing::Ipv4 { .. } => &bytes[20..],
        Framing::Ipv6 { .. } => &bytes[..],
        Framing::Udp { .. } if bytes.starts_with(&AH_IN_UDP_MARKER) => &bytes[4..],
        Framing::Udp { .. } => &bytes[..],
    };
    let received = &packet[start..start + sent.len()];

    // Some entry receives on the packet's SPI, and the packet left exactly as that entry says.
    let explained = entries.iter().any(|e| {
        [Leg::CSide, Leg::SSide]
            .into_iter()
            .any(|from| consistent(e, from, leg, framing, received, sent))
    });
    assert!(explained, "forwarded {framing:?} that no entry explains");
});

/// Whether forwarding `received` (arrived on `from`) as `sent` out of `leg` framed as
/// `framing` is what entry `e` prescribes: its relay SPI on `from`, its other leg's peer SPIs
/// and path, and no other change than SPIs and AH's Reserved.
fn consistent(
    e: &Entry,
    from: Leg,
    leg: Leg,
    framing: Framing,
    received: &[u8],
    sent: &[u8],
) -> bool {
    let here = e.partition(from);
    let there = e.partition(from.other());
    let word = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|w| u32::from_be_bytes(w.try_into().unwrap()))
    };
    let shape = here.relay_spis.shape().unwrap();
    let receives = match shape {
        BundleShape::Esp => word(received, 0) == here.relay_spis.esp.map(Spi::get),
        _ => word(received, 4) == here.relay_spis.ah.map(Spi::get),
    };
    if !receives || leg != from.other() {
        return false;
    }
    let (src, dst) = match framing {
        Framing::Ipv4 { src, dst } => (IpAddr::V4(src), IpAddr::V4(dst)),
        Framing::Ipv6 { src, dst, .. } => (IpAddr::V6(src), IpAddr::V6(dst)),
        Framing::Udp { src, dst } => {
            let LegTransport::Udp {
                relay_port,
                peer_port,
            } = there.path.transport
            else {
                return false;
            };
            if (src.port(), dst.port()) != (relay_port, peer_port) {
                return false;
            }
            (src.ip(), dst.ip())
        }
    };
    if (src, dst) != (there.path.relay_addr, there.path.peer_addr) {
        return false; // never a reflector
    }
    let mut allowed: Vec<usize> = match shape {
        BundleShape::Esp => (0..4).collect(),
        _ => (2..8).collect(),
    };
    let spis_written = match shape {
        BundleShape::Esp => word(sent, 0) == there.peer_spis.esp.map(Spi::get),
        BundleShape::Ah => word(sent, 4) == there.peer_spis.ah.map(Spi::get),
        BundleShape::AhEsp => {
            let ah_len = (usize::from(sent[1]) + 2) * 4;
            allowed.extend(ah_len..ah_len + 4);
            word(sent, 4) == there.peer_spis.ah.map(Spi::get)
                && word(sent, ah_len) == there.peer_spis.esp.map(Spi::get)
        }
    };
    spis_written
        && received
            .iter()
            .zip(sent)
            .enumerate()
            .all(|(i, (a, b))| a == b || allowed.contains(&i))
}
