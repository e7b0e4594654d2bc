//! Messages and payloads assembled byte by byte from the RFC figures (RFC 2408 §3, RFC 2407
//! §4.6, RFC 3947 §3-5), parsed field by field and rebuilt byte for byte. The RFCs give
//! layouts rather than hex dumps, so each test spells the bytes out with the figure's field
//! names; the vendor IDs are the values RFC 3947 §3 and RFC 3706 §3 print.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_xlat::wire::isakmp::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn only_payload(bytes: &[u8]) -> Payload<'_> {
    let msg = Message::parse_exact(bytes).unwrap();
    let mut chain = msg.payloads().unwrap();
    let g = chain.next().unwrap().unwrap();
    assert!(chain.next().is_none());
    Payload::parse(&g).unwrap()
}

/// RFC 2409 main mode message 1: SA with one ISAKMP proposal (RFC 2408 §3.4-3.6), one
/// KEY_IKE transform and RFC 2409 Appendix A attributes, then the RFC 3947 and RFC 3706 VIDs.
const MM1: &str = "
    0102030405060708 0000000000000000        initiator cookie, responder cookie (zero)
    01 10 02 00 00000000 00000080            np SA, version 1.0, main mode, no flags, mid 0, len 128
    0d 00 003c                               SA: np VID, reserved, length 60
      00000001 00000001                      DOI IPsec, situation SIT_IDENTITY_ONLY
      00 00 0030 01 01 00 01                 proposal: last, length 48, #1, ISAKMP, SPI size 0, 1 transform
        00 00 0028 01 01 0000                transform: last, length 40, #1, KEY_IKE, reserved2
          8001 0007                          encryption AES-CBC (TV)
          800e 0100                          key length 256 (TV)
          8002 0002                          hash SHA1 (TV)
          8003 0001                          auth pre-shared key (TV)
          8004 000e                          group 14 (TV)
          800b 0001                          life type seconds (TV)
          000c 0004 00015180                 life duration 86400 (TLV, 4 bytes)
    0d 00 0014 4a131c81070358455c5728f20e95452f   VID: RFC 3947 (MD5 of \"RFC 3947\")
    00 00 0014 afcad71368a1f1c96b8696fc77570100   VID: RFC 3706 DPD
";

#[test]
fn main_mode_1_parses_field_by_field() {
    let bytes = hex_fields(MM1);
    let msg = Message::parse_exact(&bytes).unwrap();
    let h = msg.header();
    assert_eq!(h.initiator_cookie(), Cookie([1, 2, 3, 4, 5, 6, 7, 8]));
    assert!(h.responder_cookie().is_zero());
    assert_eq!(h.next_payload(), PayloadType::SECURITY_ASSOCIATION);
    assert_eq!((h.major_version(), h.minor_version()), (1, 0));
    assert_eq!(h.exchange_type(), ExchangeType::MAIN_MODE);
    assert_eq!(h.flags(), Flags::NONE);
    assert_eq!(h.message_id(), 0);
    assert_eq!(h.length(), 128);

    let payloads: Vec<_> = msg.payloads().unwrap().map(Result::unwrap).collect();
    assert_eq!(payloads.len(), 3);
    assert_eq!(payloads[0].offset(), 28);
    assert_eq!(payloads[1].offset(), 88);
    assert_eq!(payloads[2].offset(), 108);
    let Payload::Sa(sa) = Payload::parse(&payloads[0]).unwrap() else {
        panic!("not an SA")
    };
    assert_eq!(sa.doi(), Doi::IPSEC);
    assert_eq!(sa.situation(), SIT_IDENTITY_ONLY);
    let proposals: Vec<_> = sa.proposals().collect();
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0];
    assert_eq!(
        (p.number(), p.protocol(), p.spi(), p.transform_count()),
        (1, ProtocolId::ISAKMP, &[][..], 1)
    );
    let t = p.transforms().next().unwrap();
    assert_eq!(
        IsakmpTransformId(t.transform_id()),
        IsakmpTransformId::KEY_IKE
    );
    assert_eq!(
        t.attribute_u64(IkeAttributeType::ENCRYPTION_ALGORITHM),
        Some(u64::from(IkeEncryption::AES_CBC.0))
    );
    assert_eq!(t.attribute_u64(IkeAttributeType::KEY_LENGTH), Some(256));
    assert_eq!(
        t.attribute_u64(IkeAttributeType::HASH_ALGORITHM),
        Some(u64::from(IkeHash::SHA1.0))
    );
    assert_eq!(
        t.attribute_u64(IkeAttributeType::AUTHENTICATION_METHOD),
        Some(u64::from(AuthMethod::PRE_SHARED_KEY.0))
    );
    assert_eq!(
        t.attribute_u64(IkeAttributeType::GROUP_DESCRIPTION),
        Some(u64::from(GroupDescription::MODP_2048.0))
    );
    assert_eq!(
        t.attribute_u64(IkeAttributeType::LIFE_TYPE),
        Some(u64::from(LifeType::SECONDS.0))
    );
    let life = t.attributes().last().unwrap();
    assert_eq!(life.attr_type(), IkeAttributeType::LIFE_DURATION.0);
    assert!(!life.is_basic());
    assert_eq!(life.value(), AttrValueRef::Variable(&[0, 1, 0x51, 0x80]));
    assert_eq!(life.as_u64(), Some(86_400));
    assert_eq!(life.offset(), 28 + 4 + 8 + 8 + 8 + 24);

    let vids: Vec<_> = payloads[1..]
        .iter()
        .map(|g| match Payload::parse(g).unwrap() {
            Payload::VendorId(v) => v.data(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        vids,
        [
            &hex("4a131c81070358455c5728f20e95452f")[..],
            &hex("afcad71368a1f1c96b8696fc77570100")[..]
        ]
    );
}

/// Strips the annotations: keeps only whitespace-separated tokens that are all hex digits.
fn hex_fields(annotated: &str) -> Vec<u8> {
    let digits: String = annotated
        .lines()
        .flat_map(|l| {
            l.split_whitespace()
                .take_while(|t| t.chars().all(|c| c.is_ascii_hexdigit()))
                .collect::<Vec<_>>()
        })
        .collect();
    hex(&digits)
}

#[test]
fn main_mode_1_builds_byte_for_byte() {
    let sa = SaRepr::ipsec(vec![ProposalRepr {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: vec![],
        transforms: vec![TransformRepr {
            number: 1,
            transform_id: IsakmpTransformId::KEY_IKE.0,
            attributes: vec![
                AttributeRepr::basic(
                    IkeAttributeType::ENCRYPTION_ALGORITHM,
                    IkeEncryption::AES_CBC,
                ),
                AttributeRepr::basic(IkeAttributeType::KEY_LENGTH, 256u16),
                AttributeRepr::basic(IkeAttributeType::HASH_ALGORITHM, IkeHash::SHA1),
                AttributeRepr::basic(
                    IkeAttributeType::AUTHENTICATION_METHOD,
                    AuthMethod::PRE_SHARED_KEY,
                ),
                AttributeRepr::basic(
                    IkeAttributeType::GROUP_DESCRIPTION,
                    GroupDescription::MODP_2048,
                ),
                AttributeRepr::basic(IkeAttributeType::LIFE_TYPE, LifeType::SECONDS),
                AttributeRepr::number(IkeAttributeType::LIFE_DURATION, 86_400),
            ],
        }],
    }]);
    let mut m = MessageBuilder::new(
        Cookie([1, 2, 3, 4, 5, 6, 7, 8]),
        Cookie::ZERO,
        ExchangeType::MAIN_MODE,
        0,
    );
    m.push_sa(&sa)
        .unwrap()
        .push_vendor_id(&hex("4a131c81070358455c5728f20e95452f"))
        .unwrap()
        .push_vendor_id(&hex("afcad71368a1f1c96b8696fc77570100"))
        .unwrap();
    assert_eq!(m.build().unwrap(), hex_fields(MM1));
}

/// Quick mode SA for an ESP+AH bundle: two proposals with the same number (RFC 2408 §4.2,
/// "AND"), each with a 4-byte SPI, IPsec DOI attributes (RFC 2407 §4.5).
const QM_SA: &str = "
    0102030405060708 1112131415161718 01 10 20 00 a1b2c3d4 00000068   header: SA first, quick mode, mid
    00 00 004c 00000001 00000001                               SA: last, length 76, IPsec, identity only
      02 00 0020 01 03 04 01 c0ffee01                          proposal #1 ESP, SPI size 4, 1 transform, more follow
        00 00 0014 01 0c 0000                                  transform #1 ESP_AES_CBC
          8006 0080 8005 0005 8004 0003                        key length 128, HMAC-SHA2-256, UDP tunnel
      00 00 0020 01 02 04 01 c0ffee02                          proposal #1 AH, SPI size 4, 1 transform, last
        00 00 0014 01 05 0000                                  transform #1 AH_SHA2_256
          8005 0005 8004 0001 8001 0001                        HMAC-SHA2-256, tunnel, life type seconds
";

#[test]
fn quick_mode_bundle_proposals_share_a_number() {
    let bytes = hex_fields(QM_SA);
    let Payload::Sa(sa) = only_payload(&bytes) else {
        panic!()
    };
    let ps: Vec<_> = sa.proposals().collect();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].number(), ps[1].number());
    assert_eq!(
        (ps[0].protocol(), ps[0].spi_u32()),
        (ProtocolId::IPSEC_ESP, Some(0xc0ffee01))
    );
    assert_eq!(
        (ps[1].protocol(), ps[1].spi_u32()),
        (ProtocolId::IPSEC_AH, Some(0xc0ffee02))
    );
    assert_eq!(ps[0].next_payload(), PayloadType::PROPOSAL);
    assert_eq!(ps[1].next_payload(), PayloadType::NONE);
    let esp = ps[0].transforms().next().unwrap();
    assert_eq!(EspTransformId(esp.transform_id()), EspTransformId::AES_CBC);
    assert_eq!(
        esp.attribute_u64(IpsecAttributeType::ENCAPSULATION_MODE),
        Some(u64::from(EncapsulationMode::UDP_TUNNEL.0))
    );
    assert_eq!(
        esp.attribute_u64(IpsecAttributeType::AUTHENTICATION_ALGORITHM),
        Some(u64::from(IpsecAuthAlgorithm::HMAC_SHA2_256.0))
    );
    let ah = ps[1].transforms().next().unwrap();
    assert_eq!(AhTransformId(ah.transform_id()), AhTransformId::SHA2_256);

    let mut m = MessageBuilder::new(
        Cookie([1, 2, 3, 4, 5, 6, 7, 8]),
        Cookie([0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]),
        ExchangeType::QUICK_MODE,
        0xa1b2c3d4,
    );
    m.push_sa(&sa.to_repr()).unwrap();
    assert_eq!(m.build().unwrap(), bytes);
}

fn message_with(payload_type: u8, payload: &str) -> Vec<u8> {
    let body = hex_fields(payload);
    let mut out = hex("0102030405060708 1112131415161718");
    out.extend_from_slice(&[payload_type, 0x10, 0x05, 0x00, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(28 + body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn rebuild(bytes: &[u8]) -> Vec<u8> {
    let msg = Message::parse_exact(bytes).unwrap();
    let mut m = MessageBuilder::from_header(HeaderRepr::from(&msg.header()));
    for g in msg.payloads().unwrap() {
        m.push(&Payload::parse(&g.unwrap()).unwrap().to_repr())
            .unwrap();
    }
    m.build().unwrap()
}

#[test]
fn delete_payload_lists_spis() {
    // RFC 2408 §3.15: DOI, Protocol-Id, SPI Size, # of SPIs, SPIs.
    let bytes = message_with(12, "00 00 0014  00000001 03 04 0002  11223344 55667788");
    let Payload::Delete(d) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(
        (d.doi(), d.protocol(), d.spi_size(), d.count()),
        (Doi::IPSEC, ProtocolId::IPSEC_ESP, 4, 2)
    );
    let spis: Vec<_> = d.spis().collect();
    assert_eq!(
        spis,
        [&[0x11, 0x22, 0x33, 0x44][..], &[0x55, 0x66, 0x77, 0x88][..]]
    );
    assert_eq!(rebuild(&bytes), bytes);
}

#[test]
fn notify_payload_carries_spi_and_data() {
    // RFC 2407 §4.6.3.1 RESPONDER-LIFETIME: ESP SPI, data = life type seconds, duration 3600.
    let bytes = message_with(
        11,
        "00 00 0018  00000001 03 04 6000  c0ffee01  800b0001 800c0e10",
    );
    let Payload::Notification(n) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(n.notify_type(), NotifyType::RESPONDER_LIFETIME);
    assert!(!n.notify_type().is_error());
    assert_eq!(
        (n.doi(), n.protocol(), n.spi()),
        (
            Doi::IPSEC,
            ProtocolId::IPSEC_ESP,
            &[0xc0, 0xff, 0xee, 0x01][..]
        )
    );
    assert_eq!(n.data(), hex("800b0001 800c0e10"));
    assert_eq!(rebuild(&bytes), bytes);
}

#[test]
fn identification_payload_decodes_each_address_form() {
    // RFC 2407 §4.6.2: ID type, protocol, port, data; phase 1 IDs may name UDP/500.
    let cases: [(&str, Identity<'_>); 5] = [
        (
            "00 00 000c 01 11 01f4 c6336401",
            Identity::Ipv4Addr(Ipv4Addr::new(198, 51, 100, 1)),
        ),
        (
            "00 00 0010 04 00 0000 0a090000 ffffff00",
            Identity::Ipv4Subnet {
                addr: Ipv4Addr::new(10, 9, 0, 0),
                mask: Ipv4Addr::new(255, 255, 255, 0),
            },
        ),
        (
            "00 00 0010 07 00 0000 0a090001 0a0900fe",
            Identity::Ipv4Range {
                start: Ipv4Addr::new(10, 9, 0, 1),
                end: Ipv4Addr::new(10, 9, 0, 254),
            },
        ),
        (
            "00 00 0018 05 00 0000 20010db8000000000000000000000001",
            Identity::Ipv6Addr("2001:db8::1".parse::<Ipv6Addr>().unwrap()),
        ),
        (
            "00 00 0019 03 00 0000 616c69636540 6578616d706c652e636f6d",
            Identity::UserFqdn(b"alice@example.com"),
        ),
    ];
    for (payload, identity) in cases {
        let bytes = message_with(5, payload);
        let Payload::Identification(id) = only_payload(&bytes) else {
            panic!()
        };
        assert_eq!(id.identity(), identity);
        assert_eq!(rebuild(&bytes), bytes);
    }
    let bytes = message_with(5, "00 00 000c 01 11 01f4 c6336401");
    let Payload::Identification(id) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!((id.protocol(), id.port()), (17, 500));
    assert_eq!(
        IdRepr::address(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))).with_protocol_port(17, 500),
        id.to_repr()
    );
}

#[test]
fn nat_payloads_in_rfc_and_draft_numbers() {
    // RFC 3947 §3.2 NAT-D (20; drafts 130) and §5.2 NAT-OA (21; drafts 131).
    for t in [20u8, 130] {
        let bytes = message_with(t, "00 00 0018 00112233445566778899aabbccddeeff00112233");
        let Payload::NatDiscovery(pt, d) = only_payload(&bytes) else {
            panic!()
        };
        assert_eq!(pt, PayloadType(t));
        assert_eq!(d.data().len(), 20);
        assert_eq!(rebuild(&bytes), bytes);
    }
    for t in [21u8, 131] {
        let bytes = message_with(t, "00 00 000c 01 000000 c633640a");
        let Payload::NatOriginalAddress(pt, oa) = only_payload(&bytes) else {
            panic!()
        };
        assert_eq!(pt, PayloadType(t));
        assert_eq!(oa.address(), IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)));
        assert_eq!(rebuild(&bytes), bytes);
    }
    let bytes = message_with(21, "00 00 0018 05 000000 20010db8000000000000000000000002");
    let Payload::NatOriginalAddress(_, oa) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(oa.address(), "2001:db8::2".parse::<IpAddr>().unwrap());
}

#[test]
fn cert_certreq_sig_hash_nonce_ke_fragment() {
    let cases: [(u8, &str); 7] = [
        (6, "00 00 0008 04 308201"),
        (7, "00 00 0005 04"),
        (9, "00 00 0008 deadbeef"),
        (8, "00 00 0008 01020304"),
        (10, "00 00 000c 0001020304050607"),
        (4, "00 00 0008 aabbccdd"),
        (132, "00 00 000b 0001 02 01 f0f1f2"),
    ];
    for (t, payload) in cases {
        let bytes = message_with(t, payload);
        let typed = only_payload(&bytes);
        assert_eq!(typed.payload_type(), PayloadType(t));
        assert!(!matches!(typed, Payload::Unknown(_)));
        assert_eq!(rebuild(&bytes), bytes);
    }
    let bytes = message_with(132, "00 00 000b 0001 02 01 f0f1f2");
    let Payload::Fragment(f) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(
        (f.fragment_id(), f.number(), f.is_last(), f.data()),
        (1, 2, true, &[0xf0, 0xf1, 0xf2][..])
    );
    let bytes = message_with(6, "00 00 0008 04 308201");
    let Payload::Certificate(c) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(
        (c.encoding(), c.data()),
        (CertEncoding::X509_SIGNATURE, &[0x30, 0x82, 0x01][..])
    );
}

#[test]
fn unknown_payload_types_are_walked_and_kept() {
    // Mode-config attributes (14) have no typed view: kept verbatim, not refused.
    let bytes = message_with(14, "00 00 0008 01000000");
    let Payload::Unknown(g) = only_payload(&bytes) else {
        panic!()
    };
    assert_eq!(g.payload_type(), PayloadType::ATTRIBUTES);
    assert_eq!(rebuild(&bytes), bytes);
}

#[test]
fn header_setters_rewrite_cookies_in_place() {
    let mut bytes = hex_fields(MM1);
    let mut h = Header::new_checked(&mut bytes[..]).unwrap();
    h.set_initiator_cookie(Cookie([9; 8]));
    h.set_responder_cookie(Cookie([7; 8]));
    let msg = Message::parse_exact(&bytes).unwrap();
    assert_eq!(msg.header().initiator_cookie(), Cookie([9; 8]));
    assert_eq!(msg.header().responder_cookie(), Cookie([7; 8]));
    assert_eq!(&bytes[16..], &hex_fields(MM1)[16..], "nothing else changed");
    assert_eq!(
        format!("{:?}", Cookie([0xab; 8])),
        "Cookie(abababababababab)"
    );
}

#[test]
fn numbers_show_their_names() {
    assert_eq!(
        format!("{}", ExchangeType::MAIN_MODE),
        "IDENTITY_PROTECTION(2)"
    );
    assert_eq!(format!("{:?}", PayloadType(99)), "PayloadType(99)");
    assert_eq!(NotifyType::INITIAL_CONTACT.name(), Some("INITIAL_CONTACT"));
    assert!(NotifyType::NO_PROPOSAL_CHOSEN.is_error());
    assert_eq!(
        format!("{:?}", Flags::ENCRYPTION | Flags::COMMIT),
        "Flags(0x03 E C)"
    );
}

#[test]
fn chains_append_and_walk_typed() {
    let mut rest = ChainBuilder::new();
    rest.push_nonce(&[1; 16])
        .unwrap()
        .push_vendor_id(&[2; 4])
        .unwrap();
    let mut empty = ChainBuilder::new();
    empty.append(&ChainBuilder::new());
    assert!(empty.is_empty());
    assert_eq!(empty.first_payload(), PayloadType::NONE);
    empty.append(&rest);
    assert_eq!(
        empty, rest,
        "appending to an empty chain is the other chain"
    );

    let mut m = MessageBuilder::new(Cookie([5; 8]), Cookie([6; 8]), ExchangeType::QUICK_MODE, 9);
    m.push_hash(&[3; 20])
        .unwrap()
        .append(&rest)
        .append(&ChainBuilder::new());
    m.push_nat_d(&[4; 20]).unwrap();
    let bytes = m.build().unwrap();
    let msg = Message::parse_exact(&bytes).unwrap();
    let types: Vec<PayloadType> = msg
        .payloads()
        .unwrap()
        .typed()
        .map(|p| p.unwrap().payload_type())
        .collect();
    assert_eq!(
        types,
        [
            PayloadType::HASH,
            PayloadType::NONCE,
            PayloadType::VENDOR_ID,
            PayloadType::NAT_DISCOVERY
        ]
    );
    let raws: Vec<Vec<u8>> = msg
        .payloads()
        .unwrap()
        .map(|p| p.unwrap().raw().to_vec())
        .collect();
    assert_eq!(raws.concat(), &bytes[28..]);
    // The appended payloads are `rest`'s bytes, except that its last payload (the VID, at
    // offset 20 of `rest`) now links to the NAT-D pushed after it.
    let mut expected = rest.as_bytes().to_vec();
    assert_eq!(expected[20], 0);
    expected[20] = PayloadType::NAT_DISCOVERY.0;
    assert_eq!(raws[1..3].concat(), expected);
}
