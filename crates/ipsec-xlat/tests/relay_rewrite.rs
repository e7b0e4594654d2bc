//! The relay rewrite: every leg combination, every bundle shape, every drop reason.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod relay_support;

use std::net::{IpAddr, SocketAddr};

use ipsec_xlat::relay::{
    Action, Arrival, BundleShape, Datapath, DatapathConfig, DropReason, Entry, Framing,
    LegTransport, Table, TableConfig, HEADROOM,
};
use ipsec_xlat::wire::ipv4::Ipv4Packet;
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat::Leg;
use relay_support::*;

const BODY: &[u8] = b"IV-and-ciphertext-and-ICV: opaque to the relay, never to change.";

fn relay_with(entry: Entry) -> Datapath {
    let mut table = Table::new(TableConfig::default());
    table.insert(entry, t(0)).unwrap();
    Datapath::new(table, DatapathConfig::default())
}

fn protocol_of(shape: BundleShape) -> u8 {
    if shape.has_ah() {
        51
    } else {
        50
    }
}

/// Sends one packet of `shape` through a relay with legs `client`/`gateway` from `from`, and
/// checks every byte of what comes out.
fn check_one(shape: BundleShape, client: Kind, gateway: Kind, from: Leg, fields: V4Fields) {
    let entry = entry(shape, client_path(client), gateway_path(gateway));
    let mut relay = relay_with(entry);
    let (here, there) = (entry.partition(from), entry.partition(from.other()));
    let (in_spis, out_spis) = match from {
        Leg::CSide => (C2, S3),
        Leg::SSide => (S2, C1),
    };
    // The gateway leg's IPv4 Identification (AH covers it) crosses the client leg in the
    // client-leg IPv4 header if there is one, else in AH's Reserved field.
    let gateway_v4 = matches!(gateway, Kind::Ipv4);
    let client_v4_header = matches!(client, Kind::Ipv4);
    let in_reserved = gateway_v4 && !client_v4_header && shape.has_ah();
    let reserved_in = match from {
        Leg::CSide if in_reserved => 0xbeef,
        _ => 0,
    };
    let part = ipsec_part(shape, in_spis, 7, reserved_in, BODY);
    let (arrival, bytes) = arriving(&here.path, protocol_of(shape), fields, &part);
    let mut out = vec![0u8; 2048];
    let transmit = forwarded(relay.rewrite(t(5), arrival, &bytes, &mut out));
    assert_sent_on(&transmit, from.other(), &there.path);

    let sent = sent_part(&transmit);
    let reserved_out = match from {
        Leg::SSide if in_reserved => fields.ident, // the SGW's Identification
        _ => 0,
    };
    assert_eq!(
        sent,
        ipsec_part(shape, out_spis, 7, reserved_out, BODY),
        "{shape:?} {client:?}->{gateway:?} from {from:?}"
    );

    if let Framing::Ipv4 { .. } = transmit.framing {
        let header = Ipv4Packet::new_checked(transmit.bytes).unwrap();
        assert!(header.verify_checksum());
        assert_eq!(header.header_len(), 20);
        assert_eq!(usize::from(header.total_len()), transmit.bytes.len());
        assert_eq!(header.protocol(), IpProtocol(protocol_of(shape)));
        assert_eq!(header.ttl(), 64);
        assert!(!header.is_fragment());
        let arrived_v4 = matches!(here.path.relay_addr, IpAddr::V4(_))
            && here.path.transport == LegTransport::Ip;
        let expected_ident = match (shape.has_ah(), from) {
            // Toward the SGW: the Identification the client signed, from wherever it came.
            (true, Leg::CSide) if arrived_v4 => fields.ident,
            (true, Leg::CSide) => 0xbeef,
            // Toward a raw IPv4 client leg: the SGW's (none from an IPv6 gateway leg).
            (true, Leg::SSide) if gateway_v4 => fields.ident,
            (true, Leg::SSide) => 0,
            (false, _) if arrived_v4 => fields.ident,
            (false, _) => 0,
        };
        assert_eq!(header.ident(), expected_ident);
        let expected_df = if arrived_v4 { fields.dont_frag } else { true } || expected_ident == 0;
        assert_eq!(header.dont_frag(), expected_df);
        if arrived_v4 {
            assert_eq!(header.tos(), fields.tos);
        }
    }
    if let Framing::Ipv6 { next_header, .. } = transmit.framing {
        assert_eq!(next_header, IpProtocol(protocol_of(shape)));
    }
    assert_eq!(relay.counters().forwarded(from.other()), 1);
    assert_eq!(relay.counters().dropped_total(), 0);
    let activity = relay.table().activity(entry.id().unwrap()).unwrap();
    assert_eq!(activity.last_seen, t(5));
    let traffic = match from {
        Leg::CSide => activity.to_gateway,
        Leg::SSide => activity.to_client,
    };
    assert_eq!((traffic.packets, traffic.bytes), (1, part.len() as u64));
}

#[test]
fn esp_is_forwarded_on_every_combination_of_legs() {
    for client in KINDS {
        for gateway in KINDS {
            for from in [Leg::CSide, Leg::SSide] {
                check_one(BundleShape::Esp, client, gateway, from, V4_DEFAULT);
            }
        }
    }
}

#[test]
fn ah_and_ah_esp_are_forwarded_on_every_allowed_combination() {
    for shape in [BundleShape::Ah, BundleShape::AhEsp] {
        for client in KINDS {
            // AH toward a standard SGW is never UDP-encapsulated.
            for gateway in [Kind::Ipv4, Kind::Ipv6] {
                for from in [Leg::CSide, Leg::SSide] {
                    check_one(shape, client, gateway, from, V4_DEFAULT);
                }
            }
        }
    }
}

#[test]
fn outer_fields_are_carried_from_an_ipv4_arrival() {
    let fields = V4Fields {
        ident: 0x4321,
        dont_frag: false,
        tos: 0xb8,
        ttl: 3,
    };
    for shape in [BundleShape::Esp, BundleShape::Ah] {
        for from in [Leg::CSide, Leg::SSide] {
            check_one(shape, Kind::Ipv4, Kind::Ipv4, from, fields);
        }
    }
}

#[test]
fn identification_zero_is_sent_with_dont_fragment() {
    // Linux would replace a 0 with a random value if DF were clear, breaking AH's ICV.
    let fields = V4Fields {
        ident: 0,
        dont_frag: false,
        tos: 0,
        ttl: 64,
    };
    for shape in [BundleShape::Esp, BundleShape::Ah] {
        check_one(shape, Kind::Ipv4, Kind::Ipv4, Leg::SSide, fields);
    }
    let entry = entry(
        BundleShape::Ah,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let part = ipsec_part(BundleShape::Ah, C2, 1, 0, BODY);
    let (arrival, bytes) = arriving(&entry.client.path, 51, fields, &part);
    let mut out = [0u8; 512];
    let transmit = forwarded(relay.rewrite(t(0), arrival, &bytes, &mut out));
    let header = Ipv4Packet::new_checked(transmit.bytes).unwrap();
    assert_eq!((header.ident(), header.dont_frag()), (0, true));
}

#[test]
fn in_place_and_copying_rewrites_agree() {
    for client in KINDS {
        for gateway in [Kind::Ipv4, Kind::Ipv6] {
            for shape in [BundleShape::Esp, BundleShape::AhEsp] {
                for from in [Leg::CSide, Leg::SSide] {
                    let entry = entry(shape, client_path(client), gateway_path(gateway));
                    let in_spis = if from == Leg::CSide { C2 } else { S2 };
                    let reserved = if from == Leg::CSide { 0x77 } else { 0 };
                    let part = ipsec_part(shape, in_spis, 9, reserved, BODY);
                    let path = entry.partition(from).path;
                    let (arrival, bytes) = arriving(&path, protocol_of(shape), V4_DEFAULT, &part);

                    let mut copying = relay_with(entry);
                    let mut out = vec![0u8; 2048];
                    let copied = forwarded(copying.rewrite(t(1), arrival, &bytes, &mut out));

                    let mut in_place = relay_with(entry);
                    let mut buf = vec![0u8; HEADROOM];
                    buf.extend_from_slice(&bytes);
                    let rewritten =
                        forwarded(in_place.rewrite_in_place(t(1), arrival, &mut buf, HEADROOM));
                    assert_eq!(copied, rewritten);
                }
            }
        }
    }
}

#[test]
fn too_small_buffers_are_refused_not_overrun() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let part = ipsec_part(BundleShape::Esp, C2, 1, 0, BODY);
    let (arrival, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &part);
    let mut out = vec![0u8; 20 + part.len() - 1];
    assert_eq!(
        relay.rewrite(t(0), arrival, &bytes, &mut out),
        Action::Drop(DropReason::BufferTooSmall)
    );
    // UDP in, IPv4 out: in place needs 20 bytes in front of the ESP header.
    let mut buf = vec![0u8; 19];
    buf.extend_from_slice(&bytes);
    assert_eq!(
        relay.rewrite_in_place(t(0), arrival, &mut buf, 19),
        Action::Drop(DropReason::BufferTooSmall)
    );
    assert_eq!(
        relay.rewrite_in_place(t(0), arrival, &mut buf, 1000),
        Action::Drop(DropReason::BufferTooSmall)
    );
    assert_eq!(relay.counters().dropped(DropReason::BufferTooSmall), 3);
    assert_eq!(relay.counters().forwarded(Leg::SSide), 0);
}

/// A relay holding one entry of each shape, client leg UDP/IPv4, gateway leg raw IPv4, with
/// the drop case's packet; returns the action and the relay.
fn drop_case(shape: BundleShape, from: Leg, part: &[u8]) -> (Option<DropReason>, Datapath) {
    let entry = entry(shape, client_path(Kind::UdpV4), gateway_path(Kind::Ipv4));
    let mut relay = relay_with(entry);
    let (arrival, bytes) = arriving(
        &entry.partition(from).path,
        protocol_of(shape),
        V4_DEFAULT,
        part,
    );
    let action = drop_of(&mut relay, arrival, &bytes);
    (action, relay)
}

/// Runs one packet through `relay`: `Some(reason)` if dropped, `None` if forwarded.
fn drop_of(relay: &mut Datapath, arrival: Arrival, bytes: &[u8]) -> Option<DropReason> {
    let mut out = vec![0u8; 70_000];
    match relay.rewrite(t(0), arrival, bytes, &mut out) {
        Action::Drop(reason) => Some(reason),
        Action::Forward(_) => None,
    }
}

fn assert_dropped(action: Option<DropReason>, relay: &Datapath, reason: DropReason) {
    assert_eq!(action, Some(reason));
    assert_eq!(relay.counters().dropped(reason), 1);
    assert_eq!(relay.counters().dropped_total(), 1);
    assert_eq!(
        relay.counters().forwarded(Leg::CSide) + relay.counters().forwarded(Leg::SSide),
        0
    );
}

#[test]
fn unknown_spi_is_dropped_and_counted_never_reflected() {
    // A peer SPI (which the relay writes, never receives), and a random one.
    for spi in [S3.1, C1.1, 0x0bad_cafe] {
        let (action, relay) = drop_case(BundleShape::Esp, Leg::CSide, &esp(spi, 1, BODY));
        assert_dropped(action, &relay, DropReason::UnknownSpi);
    }
}

#[test]
fn reserved_spis_are_dropped() {
    for spi in [1, 255] {
        let (action, relay) = drop_case(BundleShape::Esp, Leg::SSide, &esp(spi, 1, BODY));
        assert_dropped(action, &relay, DropReason::ReservedSpi);
    }
    let (action, relay) = drop_case(BundleShape::Ah, Leg::SSide, &ah(0, 1, 4, 24, 0, BODY));
    assert_dropped(action, &relay, DropReason::ReservedSpi);
}

#[test]
fn a_reserved_but_uninstalled_spi_is_pending() {
    let mut table = Table::new(TableConfig::default());
    let pending = table.allocate_spi(&mut rand::thread_rng(), t(0)).unwrap();
    let mut relay = Datapath::new(table, DatapathConfig::default());
    let (arrival, bytes) = arriving(
        &gateway_path(Kind::Ipv4),
        50,
        V4_DEFAULT,
        &esp(pending.get(), 1, BODY),
    );
    let action = drop_of(&mut relay, arrival, &bytes);
    assert_dropped(action, &relay, DropReason::PendingSpi);
}

#[test]
fn an_spi_in_the_wrong_protocol_header_is_dropped() {
    // The ESP SPI of an AH+ESP bundle as an AH SPI, and an AH SPI in an ESP header.
    let (action, relay) = drop_case(BundleShape::AhEsp, Leg::SSide, &ah(S2.1, 1, 4, 24, 0, BODY));
    assert_dropped(action, &relay, DropReason::ProtocolMismatch);
    let entry = entry(
        BundleShape::Ah,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let (arrival, bytes) = arriving(&entry.gateway.path, 50, V4_DEFAULT, &esp(S2.0, 1, BODY));
    let action = drop_of(&mut relay, arrival, &bytes);
    assert_dropped(action, &relay, DropReason::ProtocolMismatch);
}

#[test]
fn a_packet_off_the_bundle_layout_is_dropped() {
    // ESP of the bundle sent alone (outermost).
    let entry = entry(
        BundleShape::AhEsp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let (arrival, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &esp(C2.1, 1, BODY));
    let action = drop_of(&mut relay, arrival, &bytes);
    assert_dropped(action, &relay, DropReason::BundleMismatch);
    // AH not followed by ESP.
    let (action, relay) = drop_case(BundleShape::AhEsp, Leg::CSide, &ah(C2.0, 1, 4, 24, 0, BODY));
    assert_dropped(action, &relay, DropReason::BundleMismatch);
    // AH followed by ESP with another SPI (the other leg's).
    let inner = esp(S2.1, 1, BODY);
    let (action, relay) = drop_case(
        BundleShape::AhEsp,
        Leg::CSide,
        &ah(C2.0, 1, 50, 24, 0, &inner),
    );
    assert_dropped(action, &relay, DropReason::BundleMismatch);
    // AH followed by too little ESP.
    let (action, relay) = drop_case(
        BundleShape::AhEsp,
        Leg::CSide,
        &ah(C2.0, 1, 50, 24, 0, &[0xc2, 0xe5]),
    );
    assert_dropped(action, &relay, DropReason::Truncated);
}

#[test]
fn a_packet_off_the_entry_path_is_dropped() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let part = esp(C2.1, 1, BODY);
    let client = SocketAddr::new(entry.client.path.peer_addr, 40123);
    let relay_c = SocketAddr::new(entry.client.path.relay_addr, 4500);
    let other = SocketAddr::new(v4("198.51.100.99"), 40123);
    let cases = [
        Arrival::Udp {
            src: other,
            dst: relay_c,
        }, // spoofed source
        Arrival::Udp {
            src: SocketAddr::new(client.ip(), 40124),
            dst: relay_c,
        }, // NAT rebinding
        Arrival::Udp {
            src: client,
            dst: SocketAddr::new(relay_c.ip(), 4501),
        }, // other port
        Arrival::Udp {
            src: client,
            dst: SocketAddr::new(v4("203.0.113.1"), 4500),
        },
    ];
    for arrival in cases {
        let mut relay = relay_with(entry);
        let action = drop_of(&mut relay, arrival, &part);
        assert_dropped(action, &relay, DropReason::PathMismatch);
    }
    // Raw IP on a UDP leg, and a client-leg SPI arriving on the gateway leg.
    let mut relay = relay_with(entry);
    let bytes = ipv4_packet(client.ip(), relay_c.ip(), 50, V4_DEFAULT, &part);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::PathMismatch);
    let mut relay = relay_with(entry);
    let (arrival, bytes) = arriving(&entry.gateway.path, 50, V4_DEFAULT, &part);
    let action = drop_of(&mut relay, arrival, &bytes);
    assert_dropped(action, &relay, DropReason::PathMismatch);
}

#[test]
fn dual_stack_mapped_addresses_match_ipv4_paths() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let mapped = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        IpAddr::V6(_) => ip,
    };
    let arrival = Arrival::Udp {
        src: SocketAddr::new(mapped(entry.client.path.peer_addr), 40123),
        dst: SocketAddr::new(mapped(entry.client.path.relay_addr), 4500),
    };
    forwarded(relay.rewrite(t(0), arrival, &esp(C2.1, 1, BODY), &mut [0u8; 512]));
}

#[test]
fn ah_from_the_gateway_with_nonzero_reserved_is_dropped() {
    let (action, relay) = drop_case(BundleShape::Ah, Leg::SSide, &ah(S2.0, 1, 4, 24, 1, BODY));
    assert_dropped(action, &relay, DropReason::AhReservedNonZero);
}

#[test]
fn ah_behind_headers_the_relay_cannot_reproduce_is_dropped() {
    let entry = entry(
        BundleShape::Ah,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    // IPv4 with a 4-byte option (NOP x3 + EOL).
    let part = ah(S2.0, 1, 4, 24, 0, BODY);
    let mut bytes = ipv4_packet(
        entry.gateway.path.peer_addr,
        entry.gateway.path.relay_addr,
        51,
        V4_DEFAULT,
        &part,
    );
    bytes.splice(20..20, [1, 1, 1, 0]);
    bytes[0] = 0x46;
    let total = (bytes.len() as u16).to_be_bytes();
    bytes[2..4].copy_from_slice(&total);
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::UnsupportedHeader);

    // IPv6 with a Destination Options header before AH.
    let entry6 = relay_support::entry(
        BundleShape::Ah,
        client_path(Kind::Ipv6),
        gateway_path(Kind::Ipv6),
    );
    let mut payload = vec![51, 0, 1, 4, 0, 0, 0, 0]; // next=AH, len 0, PadN(4)
    payload.extend(ah(S2.0, 1, 41, 24, 0, BODY));
    let bytes = ipv6_packet(
        entry6.gateway.path.peer_addr,
        entry6.gateway.path.relay_addr,
        60,
        &payload,
    );
    let mut relay = relay_with(entry6);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::UnsupportedHeader);
}

#[test]
fn esp_behind_ipv6_extension_headers_is_forwarded() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::Ipv6),
        gateway_path(Kind::Ipv4),
    );
    let mut payload = vec![50, 0, 1, 4, 0, 0, 0, 0];
    payload.extend(esp(C2.1, 3, BODY));
    let bytes = ipv6_packet(
        entry.client.path.peer_addr,
        entry.client.path.relay_addr,
        60,
        &payload,
    );
    let mut relay = relay_with(entry);
    let mut out = [0u8; 512];
    let transmit = forwarded(relay.rewrite(t(0), Arrival::Ip, &bytes, &mut out));
    assert_eq!(sent_part(&transmit), esp(S3.1, 3, BODY));
}

#[test]
fn fragments_are_dropped() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    let mut bytes = ipv4_packet(
        entry.client.path.peer_addr,
        entry.client.path.relay_addr,
        50,
        V4_DEFAULT,
        &esp(C2.1, 1, BODY),
    );
    bytes[6] = 0x20; // MF
    bytes[10..12].fill(0);
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::Fragment);
}

#[test]
fn non_ipsec_and_keepalives_are_dropped_as_such() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let arrival = Arrival::Udp {
        src: SocketAddr::new(entry.client.path.peer_addr, 40123),
        dst: SocketAddr::new(entry.client.path.relay_addr, 4500),
    };
    let mut ike = vec![0u8; 4];
    ike.extend([0x11; 28]);
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, arrival, &ike);
    assert_dropped(action, &relay, DropReason::NotIpsec);
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, arrival, &[0xff]);
    assert_dropped(action, &relay, DropReason::Keepalive);
    // A raw IPv4 packet of another protocol.
    let bytes = ipv4_packet(
        entry.gateway.path.peer_addr,
        entry.gateway.path.relay_addr,
        17,
        V4_DEFAULT,
        BODY,
    );
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::NotIpsec);
    // An IPv6 raw socket of another protocol.
    let entry6 = relay_support::entry(
        BundleShape::Esp,
        client_path(Kind::Ipv6),
        gateway_path(Kind::Ipv6),
    );
    let (IpAddr::V6(src), IpAddr::V6(dst)) =
        (entry6.client.path.peer_addr, entry6.client.path.relay_addr)
    else {
        panic!()
    };
    let mut relay = relay_with(entry6);
    let action = drop_of(
        &mut relay,
        Arrival::Ipv6Payload {
            src,
            dst,
            protocol: IpProtocol::UDP,
        },
        &esp(C2.1, 1, BODY),
    );
    assert_dropped(action, &relay, DropReason::NotIpsec);
}

#[test]
fn malformed_outer_headers_and_ah_are_dropped() {
    let entry = entry(
        BundleShape::Ah,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, Arrival::Ip, &[0x55; 60]);
    assert_dropped(action, &relay, DropReason::MalformedOuter);
    let mut bytes = ipv4_packet(
        entry.gateway.path.peer_addr,
        entry.gateway.path.relay_addr,
        51,
        V4_DEFAULT,
        &ah(S2.0, 1, 4, 24, 0, BODY),
    );
    bytes[21] = 0; // AH Payload Length 0
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, Arrival::Ip, &bytes);
    assert_dropped(action, &relay, DropReason::MalformedAh);
}

#[test]
fn every_truncation_is_dropped_as_truncated() {
    for shape in [BundleShape::Esp, BundleShape::Ah, BundleShape::AhEsp] {
        for kind in KINDS {
            let gateway = if shape.has_ah() { Kind::Ipv4 } else { kind };
            let entry = entry(shape, client_path(kind), gateway_path(gateway));
            let part = ipsec_part(shape, C2, 1, 0, &[]);
            let (arrival, bytes) =
                arriving(&entry.client.path, protocol_of(shape), V4_DEFAULT, &part);
            let mut relay = relay_with(entry);
            for len in 0..bytes.len() {
                let action = drop_of(&mut relay, arrival, &bytes[..len]);
                assert_eq!(
                    action,
                    Some(DropReason::Truncated),
                    "{shape:?} {kind:?} len {len}"
                );
            }
            assert_eq!(
                relay.counters().dropped(DropReason::Truncated),
                bytes.len() as u64
            );
            forwarded(relay.rewrite(t(0), arrival, &bytes, &mut [0u8; 512]));
        }
    }
}

#[test]
fn an_ipv6_payload_too_long_for_ipv4_is_dropped() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::Ipv6),
        gateway_path(Kind::Ipv4),
    );
    let part = esp(C2.1, 1, &vec![0u8; 65_516 - 8]);
    let (arrival, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &part);
    let mut relay = relay_with(entry);
    let action = drop_of(&mut relay, arrival, &bytes);
    assert_dropped(action, &relay, DropReason::TooLong);
    let part = esp(C2.1, 1, &vec![0u8; 65_515 - 8]);
    let (arrival, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &part);
    let mut relay = relay_with(entry);
    let mut out = vec![0u8; 70_000];
    let transmit = forwarded(relay.rewrite(t(0), arrival, &bytes, &mut out));
    assert_eq!(transmit.bytes.len(), 65_535);
}

#[test]
fn removed_and_expired_entries_stop_forwarding() {
    let mut entry = entry(
        BundleShape::Esp,
        client_path(Kind::Ipv4),
        gateway_path(Kind::Ipv4),
    );
    entry.expires_at = t(1_000);
    let mut relay = relay_with(entry);
    let part = esp(C2.1, 1, BODY);
    let (arrival, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &part);
    forwarded(relay.rewrite(t(999), arrival, &bytes, &mut [0u8; 512]));
    let expired = relay.table_mut().pop_expired(t(1_000)).unwrap();
    assert_eq!(expired.activity.to_gateway.packets, 1);
    assert_eq!(
        relay.rewrite(t(1_000), arrival, &bytes, &mut [0u8; 512]),
        Action::Drop(DropReason::UnknownSpi)
    );
}

#[test]
fn a_moved_client_is_reached_at_its_new_path() {
    let entry = entry(
        BundleShape::Esp,
        client_path(Kind::UdpV4),
        gateway_path(Kind::Ipv4),
    );
    let mut relay = relay_with(entry);
    let moved = client_path(Kind::Ipv6);
    relay
        .table_mut()
        .update_path(entry.id().unwrap(), Leg::CSide, moved)
        .unwrap();
    // Old path refused, new path accepted, replies go to the new path.
    let part = esp(C2.1, 1, BODY);
    let (old, bytes) = arriving(&entry.client.path, 50, V4_DEFAULT, &part);
    assert_eq!(
        relay.rewrite(t(0), old, &bytes, &mut [0u8; 512]),
        Action::Drop(DropReason::PathMismatch)
    );
    let (new, bytes) = arriving(&moved, 50, V4_DEFAULT, &part);
    forwarded(relay.rewrite(t(0), new, &bytes, &mut [0u8; 512]));
    let (reply, bytes) = arriving(&entry.gateway.path, 50, V4_DEFAULT, &esp(S2.1, 1, BODY));
    let mut out = [0u8; 512];
    let transmit = forwarded(relay.rewrite(t(0), reply, &bytes, &mut out));
    assert_sent_on(&transmit, Leg::CSide, &moved);
}
