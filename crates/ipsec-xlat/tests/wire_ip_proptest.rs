//! Property tests for the IP-layer wire formats: `parse(emit(x)) == x` for every
//! representation, `emit(parse(b)) == b` for every valid byte string, and totality (no panic,
//! `Ok` or typed `Err`) on arbitrary bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ipsec_xlat::wire::ah::{self, AhPacket, AhRepr};
use ipsec_xlat::wire::encap::{self, classify, Encapsulated};
use ipsec_xlat::wire::esp::{EspPacket, EspRepr, EspTrailer};
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use ipsec_xlat::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use ipsec_xlat::wire::udp::{UdpPacket, UdpRepr};
use ipsec_xlat::wire::{IpProtocol, IpVersion};
use proptest::prelude::*;

fn valid_spi() -> impl Strategy<Value = u32> {
    256u32..=u32::MAX
}

/// Well-formed IPv4 options: NOPs and type-length-value options, then zero padding.
fn ipv4_options() -> impl Strategy<Value = Ipv4Options> {
    let option = prop_oneof![
        Just(vec![1u8]),
        (2u8..=255, proptest::collection::vec(any::<u8>(), 0..6)).prop_map(|(kind, data)| {
            let mut o = vec![kind, u8::try_from(data.len() + 2).unwrap()];
            o.extend(data);
            o
        }),
    ];
    proptest::collection::vec(option, 0..5).prop_filter_map("fits in 40 bytes", |opts| {
        let mut bytes: Vec<u8> = opts.concat();
        if bytes.len() > 40 {
            return None;
        }
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        Ipv4Options::new(&bytes).ok()
    })
}

prop_compose! {
    fn ipv4_repr()(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(),
        payload_len in 0usize..2000, ttl in any::<u8>(), tos in any::<u8>(),
        ident in any::<u16>(), dont_frag in any::<bool>(), more_frags in any::<bool>(),
        frag_offset in 0u16..0x2000, options in ipv4_options(),
    ) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::from(src), dst_addr: Ipv4Addr::from(dst),
            protocol: IpProtocol(protocol), payload_len, ttl, tos, ident,
            dont_frag, more_frags, frag_offset, options,
        }
    }
}

prop_compose! {
    fn ipv6_repr()(
        src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), next in any::<u8>(),
        payload_len in 0usize..2000, hop_limit in any::<u8>(), traffic_class in any::<u8>(),
        flow_label in 0u32..0x10_0000,
    ) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: Ipv6Addr::from(src), dst_addr: Ipv6Addr::from(dst),
            next_header: IpProtocol(next), payload_len, hop_limit, traffic_class, flow_label,
        }
    }
}

fn version() -> impl Strategy<Value = IpVersion> {
    prop_oneof![Just(IpVersion::V4), Just(IpVersion::V6)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ipv4_parse_emit(repr in ipv4_repr()) {
        let mut buf = vec![0u8; repr.total_len()];
        let n = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(n, repr.header_len());
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn ipv4_emit_parse_on_valid_bytes(mut header in proptest::collection::vec(any::<u8>(), 60),
                                      ihl in 5u8..=15, reserved in any::<bool>()) {
        let hl = usize::from(ihl) * 4;
        header.truncate(hl);
        header[0] = 0x40 | ihl;
        header[2..4].copy_from_slice(&u16::try_from(hl).unwrap().to_be_bytes());
        if !reserved { header[6] &= 0x7f; }
        let mut p = Ipv4Packet::new_checked(&mut header[..]).unwrap();
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&header[..]).unwrap();
        match Ipv4Repr::parse(&p) {
            Ok(repr) => {
                let mut out = vec![0u8; hl];
                repr.emit(&mut out).unwrap();
                prop_assert_eq!(out, header);
            }
            Err(_) => {
                // Only the reserved flag or malformed options may refuse a checksummed header.
                let options_bad = p.for_each_option(|_| ()).is_err();
                prop_assert!(reserved && header[6] & 0x80 != 0 || options_bad);
            }
        }
    }

    #[test]
    fn ipv4_total(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
            prop_assert!(p.header_len() <= usize::from(p.total_len()));
            prop_assert!(usize::from(p.total_len()) <= bytes.len());
            prop_assert_eq!(p.header().len() + p.payload().len(), usize::from(p.total_len()));
            let _ = Ipv4Repr::parse(&p);
        }
    }

    #[test]
    fn ipv6_parse_emit(repr in ipv6_repr()) {
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf).unwrap();
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn ipv6_emit_parse_on_valid_bytes(mut header in proptest::collection::vec(any::<u8>(), 40)) {
        header[0] = 0x60 | (header[0] & 0x0f);
        header[4] = 0;
        header[5] = 0;
        let p = Ipv6Packet::new_checked(&header[..]).unwrap();
        let repr = Ipv6Repr::parse(&p).unwrap();
        let mut out = vec![0u8; 40];
        repr.emit(&mut out).unwrap();
        prop_assert_eq!(out, header);
    }

    #[test]
    fn ipv6_walk_finds_upper_layer(chain in proptest::collection::vec((prop_oneof![Just(43u8), Just(44), Just(60)], 0u8..4), 0..6),
                                   hbh in any::<bool>(), tail in prop_oneof![Just(50u8), Just(51), Just(17)]) {
        // Build: optional hop-by-hop, then the chain, then `tail`.
        let mut kinds: Vec<(u8, u8)> = Vec::new();
        if hbh { kinds.push((0, 0)); }
        kinds.extend(chain);
        let mut payload = Vec::new();
        let mut expected_offsets = Vec::new();
        for (i, (kind, len)) in kinds.iter().enumerate() {
            let next = kinds.get(i + 1).map_or(tail, |k| k.0);
            expected_offsets.push(40 + payload.len());
            if *kind == 44 {
                payload.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 1]); // first fragment
            } else {
                let size = (usize::from(*len) + 1) * 8;
                let mut h = vec![0u8; size];
                h[0] = next;
                h[1] = *len;
                if *kind != 43 {
                    // PadN filling the rest of an options header.
                    h[2] = 1;
                    h[3] = u8::try_from(size - 4).unwrap();
                }
                payload.extend(h);
            }
        }
        let upper_at = 40 + payload.len();
        payload.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1]);
        let repr = Ipv6Repr {
            src_addr: Ipv6Addr::LOCALHOST, dst_addr: Ipv6Addr::LOCALHOST,
            next_header: IpProtocol(kinds.first().map_or(tail, |k| k.0)),
            payload_len: payload.len(), hop_limit: 1, traffic_class: 0, flow_label: 0,
        };
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf).unwrap();
        buf[40..].copy_from_slice(&payload);
        let mut offsets = Vec::new();
        let upper = ipv6::walk_extension_headers(&buf, |h| {
            offsets.push(h.offset);
            if h.protocol == IpProtocol::HOP_BY_HOP || h.protocol == IpProtocol::IPV6_OPTS {
                ipv6::for_each_option(h.bytes, h.offset, |_| {}).unwrap();
            }
        }).unwrap();
        prop_assert_eq!(upper.protocol, IpProtocol(tail));
        prop_assert_eq!(upper.offset, upper_at);
        prop_assert_eq!(offsets, expected_offsets);
    }

    #[test]
    fn ipv6_total(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = ipv6::walk_extension_headers(&bytes, |h| {
            let _ = ipv6::for_each_option(h.bytes, h.offset, |_| {});
        });
        if let Ok(p) = Ipv6Packet::new_checked(&bytes[..]) {
            if let Ok(up) = p.upper_layer() {
                prop_assert!(up.offset <= p.total_len());
            }
        }
    }

    #[test]
    fn udp_round_trips_and_checksums(src_port in any::<u16>(), dst_port in any::<u16>(),
                                     payload in proptest::collection::vec(any::<u8>(), 0..300),
                                     s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
                                     s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>()) {
        let repr = UdpRepr { src_port, dst_port, payload_len: payload.len() };
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf).unwrap();
        buf[8..].copy_from_slice(&payload);
        let before = buf.clone();
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        prop_assert_eq!(UdpRepr::parse(&p).unwrap(), repr);
        p.fill_checksum_ipv4(s4.into(), d4.into());
        prop_assert!(p.verify_checksum_ipv4(s4.into(), d4.into()));
        p.fill_checksum_ipv6(s6.into(), d6.into());
        prop_assert!(p.verify_checksum_ipv6(s6.into(), d6.into()));
        p.set_checksum(0);
        prop_assert_eq!(buf, before, "emit(parse(b)) == b with zero checksum");
    }

    #[test]
    fn esp_round_trips(spi in valid_spi(), seq in any::<u32>(), rest in proptest::collection::vec(any::<u8>(), 0..64)) {
        let repr = EspRepr { spi, seq };
        let mut buf = vec![0u8; 8];
        repr.emit(&mut buf).unwrap();
        buf.extend_from_slice(&rest);
        let p = EspPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EspRepr::parse(&p).unwrap(), repr);
        prop_assert_eq!(p.payload(), &rest[..]);
    }

    #[test]
    fn esp_header_total(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
        match EspPacket::new_checked(&bytes[..]) {
            Ok(p) => {
                prop_assert!(p.spi() > 255);
                let mut out = [0u8; 8];
                EspRepr::parse(&p).unwrap().emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &bytes[..8]);
            }
            Err(_) => prop_assert!(bytes.len() < 8 || u32::from_be_bytes(bytes[..4].try_into().unwrap()) <= 255),
        }
    }

    #[test]
    fn esp_trailer_round_trips(payload_len in 0usize..600, next in any::<u8>(), align_log in 2u32..=8) {
        let align = 1usize << align_log;
        let t = EspTrailer::for_payload(payload_len, IpProtocol(next), align).unwrap();
        prop_assert_eq!((payload_len + t.len()) % align, 0);
        prop_assert!(usize::from(t.pad_len) < align);
        let mut pt = vec![0xabu8; payload_len + t.len()];
        t.emit(&mut pt[payload_len..]).unwrap();
        prop_assert_eq!(EspTrailer::parse(&pt).unwrap(), t);
    }

    #[test]
    fn esp_trailer_total_and_reemits(pt in proptest::collection::vec(any::<u8>(), 0..40)) {
        let lenient = EspTrailer::parse_unverified(&pt);
        if let Ok(t) = EspTrailer::parse(&pt) {
            prop_assert_eq!(Ok(t), lenient);
            let mut out = vec![0u8; t.len()];
            t.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..], &pt[t.payload_len..]);
        }
        if let Ok(t) = lenient {
            prop_assert_eq!(t.payload_len + t.len(), pt.len());
        }
    }

    #[test]
    fn ah_round_trips(spi in valid_spi(), seq in any::<u32>(), next in any::<u8>(),
                      icv_len in 0usize..64, version in version()) {
        let repr = AhRepr { next_header: IpProtocol(next), spi, seq, icv_len, version };
        let hl = repr.header_len().unwrap();
        prop_assert_eq!(hl % version.ah_alignment(), 0);
        let mut buf = vec![0xeeu8; hl + 3];
        prop_assert_eq!(repr.emit(&mut buf).unwrap(), hl);
        let p = AhPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(p.header_len(), hl);
        prop_assert_eq!(AhRepr::parse(&p, icv_len, version).unwrap(), repr);
        prop_assert_eq!(p.payload().len(), 3);
        // emit(parse(b)) == b: the header as written (zeroed ICV) is reproduced.
        let mut again = vec![0u8; hl];
        AhRepr::parse(&p, icv_len, version).unwrap().emit(&mut again).unwrap();
        prop_assert_eq!(&again[..], &buf[..hl]);
    }

    #[test]
    fn ah_total(bytes in proptest::collection::vec(any::<u8>(), 0..80), icv_len in 0usize..40, version in version()) {
        if let Ok(p) = AhPacket::new_checked(&bytes[..]) {
            prop_assert!(p.header_len() >= 12 && p.header_len() <= bytes.len());
            prop_assert!(p.icv(icv_len).len() <= p.auth_data().len());
            let _ = p.check_icv_len(icv_len, version);
        }
    }

    #[test]
    fn ah_icv_input_stream_equals_in_place(bytes in proptest::collection::vec(any::<u8>(), 0..160), icv_len in prop_oneof![Just(12usize), Just(16)]) {
        let mut streamed = Vec::new();
        let streamed_result = ah::icv_input(&bytes, icv_len, |c| streamed.extend_from_slice(c));
        let mut copy = bytes.clone();
        let in_place = ah::zero_mutable_fields(&mut copy, icv_len);
        prop_assert_eq!(&streamed_result, &in_place);
        match in_place {
            Ok(layout) => {
                prop_assert_eq!(streamed.len(), layout.packet_len);
                prop_assert_eq!(&copy[..layout.packet_len], &streamed[..]);
                prop_assert!(streamed[layout.icv.clone()].iter().all(|b| *b == 0));
            }
            Err(_) => {
                prop_assert!(streamed.is_empty());
                prop_assert_eq!(copy, bytes);
            }
        }
    }

    #[test]
    fn encap_builders_round_trip(msg in proptest::collection::vec(any::<u8>(), 28..100),
                                 spi in valid_spi(), seq in any::<u32>()) {
        let mut buf = vec![0u8; 200];
        let n = encap::emit_ike(&mut buf, &msg).unwrap();
        prop_assert_eq!(classify(&buf[..n]), Encapsulated::Ike(&msg[..]));
        let mut esp = vec![0u8; 12];
        EspRepr { spi, seq }.emit(&mut esp).unwrap();
        let n = encap::emit_esp(&mut buf, &esp).unwrap();
        let is_esp_with_spi = matches!(classify(&buf[..n]), Encapsulated::Esp(p) if p.spi() == spi);
        prop_assert!(is_esp_with_spi);
    }

    #[test]
    fn classify_total_and_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        match classify(&bytes) {
            Encapsulated::Esp(p) => {
                prop_assert!(bytes.len() >= 8 && p.spi() > 255);
                prop_assert_eq!(p.as_bytes(), &bytes[..]);
            }
            Encapsulated::Ike(m) => {
                prop_assert_eq!(&bytes[..4], &[0u8; 4]);
                prop_assert_eq!(m, &bytes[4..]);
            }
            Encapsulated::Keepalive => prop_assert_eq!(&bytes[..], &[0xffu8]),
            Encapsulated::Garbage(_) => {}
        }
    }
}
