//! Properties of the rewrite over generated packets: it changes only SPIs, AH's Reserved and
//! the outer header; and arbitrary bytes never panic it nor make it send anywhere but to the
//! other leg of an entry whose SPI they carry.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod relay_support;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipsec_xlat::relay::{
    Action, Arrival, BatchPacket, BundleShape, Datapath, DatapathConfig, Entry, Framing,
    LegTransport, Table, TableConfig, Verdict, HEADROOM,
};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat::Leg;
use proptest::prelude::*;
use relay_support::*;

fn shape() -> impl Strategy<Value = BundleShape> {
    prop_oneof![
        Just(BundleShape::Esp),
        Just(BundleShape::Ah),
        Just(BundleShape::AhEsp)
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Ipv4),
        Just(Kind::Ipv6),
        Just(Kind::UdpV4),
        Just(Kind::UdpV6)
    ]
}

fn leg() -> impl Strategy<Value = Leg> {
    prop_oneof![Just(Leg::CSide), Just(Leg::SSide)]
}

/// Byte offsets within the IPsec part that the relay may change: AH's Reserved and SPI, and
/// a bundle's inner ESP SPI; ESP's SPI.
fn may_change(shape: BundleShape, ah_len: usize) -> HashSet<usize> {
    match shape {
        BundleShape::Esp => (0..4).collect(),
        BundleShape::Ah => (2..8).collect(),
        BundleShape::AhEsp => (2..8).chain(ah_len..ah_len + 4).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn only_spis_reserved_and_outer_header_change(
        shape in shape(), client in kind(), gateway in kind(), from in leg(),
        seq in any::<u32>(), reserved in any::<u16>(), ident in any::<u16>(),
        dont_frag in any::<bool>(), tos in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..1600),
        in_place in any::<bool>(),
    ) {
        let gateway = if shape.has_ah() && matches!(gateway, Kind::UdpV4 | Kind::UdpV6) {
            Kind::Ipv4
        } else {
            gateway
        };
        let entry = entry(shape, client_path(client), gateway_path(gateway));
        let mut table = Table::new(TableConfig::default());
        table.insert(entry, t(0)).unwrap();
        let mut relay = Datapath::new(table, DatapathConfig::default());

        let spis = if from == Leg::CSide { C2 } else { S2 };
        let reserved = if from == Leg::CSide { reserved } else { 0 };
        let part = ipsec_part(shape, spis, seq, reserved, &body);
        let fields = V4Fields { ident, dont_frag, tos, ttl: 9 };
        let protocol = if shape.has_ah() { 51 } else { 50 };
        let (arrival, bytes) = arriving(&entry.partition(from).path, protocol, fields, &part);

        let mut out = vec![0u8; HEADROOM + bytes.len()];
        let action = if in_place {
            out[HEADROOM..].copy_from_slice(&bytes);
            relay.rewrite_in_place(t(1), arrival, &mut out, HEADROOM)
        } else {
            relay.rewrite(t(1), arrival, &bytes, &mut out)
        };
        let Action::Forward(transmit) = action else { panic!("{action:?}") };
        assert_sent_on(&transmit, from.other(), &entry.partition(from.other()).path);
        let sent = sent_part(&transmit);
        prop_assert_eq!(sent.len(), part.len());
        let allowed = may_change(shape, 24);
        for (i, (a, b)) in part.iter().zip(sent).enumerate() {
            if a != b {
                prop_assert!(allowed.contains(&i), "byte {} changed ({:#04x} -> {:#04x})", i, a, b);
            }
        }
        // The SPIs are the other leg's, so the change is real.
        let out_spis = if from == Leg::CSide { S3 } else { C1 };
        prop_assert_eq!(sent, &ipsec_part(shape, out_spis, seq, u16::from_be_bytes([sent.get(2).copied().unwrap_or(0), sent.get(3).copied().unwrap_or(0)]), &body)[..]);
    }
}

/// A relay with a few entries of every shape and path, and the (SPI → entry) of each.
fn populated() -> (Datapath, Vec<Entry>) {
    let mut table = Table::new(TableConfig::default());
    let mut entries = Vec::new();
    let combos = [
        (BundleShape::Esp, Kind::UdpV4, Kind::Ipv4),
        (BundleShape::Ah, Kind::Ipv6, Kind::Ipv4),
        (BundleShape::AhEsp, Kind::UdpV6, Kind::Ipv6),
        (BundleShape::Esp, Kind::Ipv4, Kind::UdpV4),
    ];
    for (n, (shape, c, g)) in combos.into_iter().enumerate() {
        let mut e = entry(shape, client_path(c), gateway_path(g));
        let bump = |s: ipsec_xlat::relay::SpiSet| ipsec_xlat::relay::SpiSet {
            esp: s.esp.map(|x| spi(x.get() + n as u32 * 16)),
            ah: s.ah.map(|x| spi(x.get() + n as u32 * 16)),
        };
        e.client.relay_spis = bump(e.client.relay_spis);
        e.gateway.relay_spis = bump(e.gateway.relay_spis);
        table.insert(e, t(0)).unwrap();
        entries.push(e);
    }
    (Datapath::new(table, DatapathConfig::default()), entries)
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just(v4("198.51.100.10")),
        Just(v4("198.51.100.1")),
        Just(v4("203.0.113.1")),
        Just(v4("203.0.113.2")),
        Just(v6("2001:db8:100::10")),
        Just(v6("2001:db8:100::1")),
        Just(v6("2001:db8:113::1")),
        Just(v6("2001:db8:113::2")),
    ]
}

fn arrival() -> impl Strategy<Value = Arrival> {
    let v6 = prop_oneof![
        Just("2001:db8:100::10"),
        Just("2001:db8:100::1"),
        Just("2001:db8:113::2"),
        Just("2001:db8:113::1")
    ]
    .prop_map(|s| s.parse::<Ipv6Addr>().unwrap());
    prop_oneof![
        Just(Arrival::Ip),
        (
            v6.clone(),
            v6,
            prop_oneof![Just(50u8), Just(51), any::<u8>()]
        )
            .prop_map(|(src, dst, p)| Arrival::Ipv6Payload {
                src,
                dst,
                protocol: IpProtocol(p)
            }),
        (
            address(),
            address(),
            prop_oneof![Just(4500u16), Just(40123), any::<u16>()],
            prop_oneof![Just(4500u16), any::<u16>()]
        )
            .prop_map(|(s, d, sp, dp)| Arrival::Udp {
                src: SocketAddr::new(s, sp),
                dst: SocketAddr::new(d, dp)
            }),
    ]
}

/// Bytes that are often nearly valid: a real SPI of the table at a plausible place.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let spis: Vec<u32> = [C2.0, C2.1, S2.0, S2.1]
        .iter()
        .flat_map(|s| (0..4).map(move |n| s + n * 16))
        .collect();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            proptest::sample::select(spis),
            proptest::collection::vec(any::<u8>(), 0..200),
            0usize..48
        )
            .prop_map(|(spi, mut v, at)| {
                let at = at.min(v.len());
                v.splice(at..at, spi.to_be_bytes());
                v
            }),
    ]
}

/// A valid packet for one of [`populated`]'s entries, then damaged: bytes overwritten at
/// random places (often in the outer header and SPIs), cut short or extended.
fn damaged() -> impl Strategy<Value = (Arrival, Vec<u8>)> {
    let edits = proptest::collection::vec((0usize..64, any::<u8>()), 0..3);
    (
        0usize..4,
        leg(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        edits,
        0usize..8,
        any::<bool>(),
    )
        .prop_map(|(n, from, seq, body, edits, cut, shorten)| {
            let (_, entries) = populated();
            let e = entries[n];
            let shape = e.client.relay_spis.shape().unwrap();
            let set = e.partition(from).relay_spis;
            let spis = (
                set.ah.map_or(0, |s| s.get()),
                set.esp.map_or(0, |s| s.get()),
            );
            let part = ipsec_part(shape, spis, seq, 0, &body);
            let protocol = if shape.has_ah() { 51 } else { 50 };
            let (arrival, mut bytes) =
                arriving(&e.partition(from).path, protocol, V4_DEFAULT, &part);
            for (at, value) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            if shorten {
                bytes.truncate(bytes.len().saturating_sub(cut));
            } else {
                bytes.extend(std::iter::repeat_n(0x5a, cut));
            }
            (arrival, bytes)
        })
}

fn input() -> impl Strategy<Value = (Arrival, Vec<u8>)> {
    prop_oneof![(arrival(), bytes()), damaged()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn arbitrary_input_never_panics_and_never_reflects((arrival, bytes) in input(), start in 0usize..32) {
        let (mut relay, entries) = populated();
        let mut out = vec![0u8; 512];
        let copied = match relay.rewrite(t(0), arrival, &bytes, &mut out) {
            Action::Forward(transmit) => Some((transmit.leg, transmit.framing, transmit.bytes.to_vec())),
            Action::Drop(_) => None,
        };
        let mut buf = vec![0u8; start];
        buf.extend_from_slice(&bytes);
        let in_place = match relay.rewrite_in_place(t(0), arrival, &mut buf, start) {
            Action::Forward(transmit) => Some((transmit.leg, transmit.framing, transmit.bytes.to_vec())),
            Action::Drop(_) => None,
        };
        let counters = relay.counters();
        prop_assert_eq!(counters.forwarded(Leg::CSide) + counters.forwarded(Leg::SSide) + counters.dropped_total(), 2);
        if let (Some(a), Some(b)) = (&copied, &in_place) {
            prop_assert_eq!(a, b);
        }
        if let Some((leg, framing, _)) = copied {
            // Only ever to the other-leg peer of some entry, from that entry's relay address.
            let (src, dst) = match framing {
                Framing::Ipv4 { src, dst } => (IpAddr::V4(src), IpAddr::V4(dst)),
                Framing::Ipv6 { src, dst, .. } => (IpAddr::V6(src), IpAddr::V6(dst)),
                Framing::Udp { src, dst } => (src.ip(), dst.ip()),
            };
            let ok = entries.iter().any(|e| {
                let p = e.partition(leg).path;
                p.relay_addr == src && p.peer_addr == dst
                    && matches!((framing, p.transport), (Framing::Udp { .. }, LegTransport::Udp { .. }) | (Framing::Ipv4 { .. } | Framing::Ipv6 { .. }, LegTransport::Ip))
            });
            prop_assert!(ok, "sent to {:?}", framing);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A batch has exactly the outcome of rewriting its packets one at a time: same verdicts,
    /// same bytes, same counters and activity.
    #[test]
    fn a_batch_equals_packets_one_at_a_time(inputs in proptest::collection::vec(input(), 0..80)) {
        let (mut batched, entries) = populated();
        let (mut single, _) = populated();
        let mut buffers: Vec<Vec<u8>> = inputs.iter().map(|(_, bytes)| {
            let mut buf = vec![0u8; HEADROOM];
            buf.extend_from_slice(bytes);
            buf
        }).collect();
        let mut copies = buffers.clone();
        let mut batch: Vec<BatchPacket<'_>> = inputs
            .iter()
            .zip(buffers.iter_mut())
            .map(|((arrival, _), buf)| BatchPacket::new(*arrival, buf, HEADROOM))
            .collect();
        batched.rewrite_batch(t(3), &mut batch);
        for (packet, ((arrival, _), copy)) in batch.iter().zip(inputs.iter().zip(copies.iter_mut())) {
            let expected = match single.rewrite_in_place(t(3), *arrival, copy, HEADROOM) {
                Action::Forward(transmit) => Some((transmit.leg, transmit.framing, transmit.bytes.to_vec())),
                Action::Drop(reason) => { prop_assert_eq!(&packet.verdict, &Verdict::Drop(reason)); None }
            };
            if let Some((leg, framing, bytes)) = expected {
                let Verdict::Forward { leg: l, framing: f, range } = packet.verdict.clone() else {
                    panic!("batch said {:?}", packet.verdict)
                };
                prop_assert_eq!((l, f), (leg, framing));
                prop_assert_eq!(&packet.buf[range], &bytes[..]);
            }
        }
        prop_assert_eq!(batched.counters(), single.counters());
        for e in &entries {
            let id = e.id().unwrap();
            prop_assert_eq!(batched.table().activity(id), single.table().activity(id));
        }
    }
}
