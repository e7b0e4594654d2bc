//! Property tests: what the builders write parses back to the same values
//! (`parse(write(x)) == x`), re-emitting a valid parse gives the same bytes
//! (`write(parse(b)) == b`), and arbitrary bytes never panic the parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_xlat::wire::isakmp::*;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn cookie() -> impl Strategy<Value = Cookie> {
    any::<[u8; 8]>().prop_map(Cookie)
}

fn header() -> impl Strategy<Value = HeaderRepr> {
    (
        cookie(),
        cookie(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(i, r, np, v, x, f, mid, len)| HeaderRepr {
            initiator_cookie: i,
            responder_cookie: r,
            next_payload: PayloadType(np),
            version: v,
            exchange_type: ExchangeType(x),
            flags: Flags(f),
            message_id: mid,
            length: len,
        })
}

fn attribute() -> impl Strategy<Value = AttributeRepr> {
    (
        0u16..0x8000,
        prop_oneof![
            any::<u16>().prop_map(AttrValue::Basic),
            bytes(12).prop_map(AttrValue::Variable)
        ],
    )
        .prop_map(|(attr_type, value)| AttributeRepr { attr_type, value })
}

fn transform() -> impl Strategy<Value = TransformRepr> {
    (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(attribute(), 0..6),
    )
        .prop_map(|(number, transform_id, attributes)| TransformRepr {
            number,
            transform_id,
            attributes,
        })
}

fn proposal() -> impl Strategy<Value = ProposalRepr> {
    (
        any::<u8>(),
        any::<u8>(),
        bytes(16),
        proptest::collection::vec(transform(), 1..4),
    )
        .prop_map(|(number, protocol, spi, transforms)| ProposalRepr {
            number,
            protocol: ProtocolId(protocol),
            spi,
            transforms,
        })
}

fn sa() -> impl Strategy<Value = SaRepr> {
    (any::<bool>(), proptest::collection::vec(proposal(), 1..4)).prop_map(
        |(identity_only, proposals)| SaRepr {
            doi: Doi::IPSEC,
            situation: u32::from(identity_only),
            proposals,
        },
    )
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)]
}

/// Identification data valid for its type: exact lengths for address types, anything else for
/// the rest (including types we do not know).
fn identification() -> impl Strategy<Value = IdRepr> {
    let data = prop_oneof![
        ipv4().prop_map(|a| (IdType::IPV4_ADDR, a.octets().to_vec())),
        (ipv4(), ipv4())
            .prop_map(|(a, m)| (IdType::IPV4_ADDR_SUBNET, [a.octets(), m.octets()].concat())),
        (ipv4(), ipv4())
            .prop_map(|(a, m)| (IdType::IPV4_ADDR_RANGE, [a.octets(), m.octets()].concat())),
        ipv6().prop_map(|a| (IdType::IPV6_ADDR, a.octets().to_vec())),
        (ipv6(), ipv6())
            .prop_map(|(a, m)| (IdType::IPV6_ADDR_SUBNET, [a.octets(), m.octets()].concat())),
        (ipv6(), ipv6())
            .prop_map(|(a, m)| (IdType::IPV6_ADDR_RANGE, [a.octets(), m.octets()].concat())),
        (
            prop::sample::select(vec![2u8, 3, 9, 10, 11, 0, 12, 200]),
            bytes(40)
        )
            .prop_map(|(t, d)| (IdType(t), d)),
    ];
    (data, any::<u8>(), any::<u16>()).prop_map(|((id_type, data), protocol, port)| IdRepr {
        id_type,
        protocol,
        port,
        data,
    })
}

fn payload() -> impl Strategy<Value = PayloadRepr> {
    prop_oneof![
        sa().prop_map(PayloadRepr::Sa),
        bytes(300).prop_map(PayloadRepr::KeyExchange),
        identification().prop_map(PayloadRepr::Identification),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| PayloadRepr::Certificate {
            encoding: CertEncoding(e),
            data
        }),
        (any::<u8>(), bytes(64)).prop_map(|(t, authority)| PayloadRepr::CertificateRequest {
            cert_type: CertEncoding(t),
            authority
        }),
        bytes(64).prop_map(PayloadRepr::Hash),
        bytes(64).prop_map(PayloadRepr::Signature),
        bytes(64).prop_map(PayloadRepr::Nonce),
        (
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            bytes(16),
            bytes(16)
        )
            .prop_map(|(doi, p, t, spi, data)| {
                PayloadRepr::Notification(NotifyRepr {
                    doi: Doi(doi),
                    protocol: ProtocolId(p),
                    notify_type: NotifyType(t),
                    spi,
                    data,
                })
            }),
        (any::<u32>(), any::<u8>(), 0u8..20, 0usize..5, any::<u8>()).prop_map(
            |(doi, p, size, n, fill)| {
                PayloadRepr::Delete(DeleteRepr {
                    doi: Doi(doi),
                    protocol: ProtocolId(p),
                    spi_size: size,
                    spis: (0..n)
                        .map(|i| vec![fill.wrapping_add(i as u8); usize::from(size)])
                        .collect(),
                })
            }
        ),
        bytes(32).prop_map(PayloadRepr::VendorId),
        (prop::sample::select(vec![20u8, 130]), bytes(32)).prop_map(|(t, hash)| {
            PayloadRepr::NatDiscovery {
                payload_type: PayloadType(t),
                hash,
            }
        }),
        (prop::sample::select(vec![21u8, 131]), ip()).prop_map(|(t, address)| {
            PayloadRepr::NatOriginalAddress {
                payload_type: PayloadType(t),
                address,
            }
        }),
        (any::<u16>(), any::<u8>(), any::<u8>(), bytes(32)).prop_map(
            |(fragment_id, number, flags, data)| PayloadRepr::Fragment {
                fragment_id,
                number,
                flags,
                data
            }
        ),
        // Payload types with no typed view: kept verbatim.
        (
            prop::sample::select(vec![14u8, 15, 16, 100, 128, 255]),
            bytes(32)
        )
            .prop_map(|(t, body)| PayloadRepr::Other {
                payload_type: PayloadType(t),
                body
            }),
    ]
}

fn reprs_of(bytes: &[u8]) -> (HeaderRepr, Vec<PayloadRepr>) {
    let msg = Message::parse_exact(bytes).unwrap();
    let payloads = msg
        .payloads()
        .unwrap()
        .map(|g| Payload::parse(&g.unwrap()).unwrap().to_repr())
        .collect();
    (HeaderRepr::from(&msg.header()), payloads)
}

proptest! {
    #[test]
    fn header_round_trips(h in header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(HeaderRepr::parse(&bytes).unwrap(), h);
        prop_assert_eq!(HeaderRepr::from(&Header::new_checked(&bytes[..]).unwrap()), h);
    }

    #[test]
    fn built_messages_parse_back(
        h in header(),
        payloads in proptest::collection::vec(payload(), 0..8),
    ) {
        let h = HeaderRepr { version: IKEV1_VERSION, ..h };
        let mut m = MessageBuilder::from_header(h);
        for p in &payloads {
            m.push(p).unwrap();
        }
        let bytes = m.build().unwrap();
        let (parsed_header, parsed) = reprs_of(&bytes);
        prop_assert_eq!(&parsed, &payloads);
        prop_assert_eq!(parsed_header.initiator_cookie, h.initiator_cookie);
        prop_assert_eq!(parsed_header.message_id, h.message_id);
        prop_assert_eq!(parsed_header.flags, h.flags.without(Flags::ENCRYPTION));
        prop_assert_eq!(parsed_header.length as usize, bytes.len());
        prop_assert_eq!(parsed_header.next_payload, payloads.first().map_or(PayloadType::NONE, PayloadRepr::payload_type));

        // write(parse(b)) == b
        let mut again = MessageBuilder::from_header(parsed_header);
        for p in &parsed {
            again.push(p).unwrap();
        }
        prop_assert_eq!(again.build().unwrap(), bytes);
    }

    #[test]
    fn sealed_bodies_walk_after_decryption(
        payloads in proptest::collection::vec(payload(), 1..6),
        padding in bytes(15),
    ) {
        let mut m = MessageBuilder::new(Cookie([1; 8]), Cookie([2; 8]), ExchangeType::QUICK_MODE, 7);
        for p in &payloads {
            m.push(p).unwrap();
        }
        // A toy "cipher" (xor) stands in for AES-CBC: the layer under test only moves bytes.
        let mut plaintext = Vec::new();
        let sealed = m.seal(|mut chain| {
            chain.extend_from_slice(&padding);
            plaintext = chain.clone();
            chain.iter().map(|b| b ^ 0x5a).collect()
        }).unwrap();
        let msg = Message::parse_exact(&sealed).unwrap();
        prop_assert!(msg.is_encrypted());
        prop_assert_eq!(msg.payloads().unwrap_err(), IsakmpError::Encrypted);
        let decrypted: Vec<u8> = msg.body().iter().map(|b| b ^ 0x5a).collect();
        prop_assert_eq!(&decrypted, &plaintext);
        let mut chain = msg.decrypted_payloads(&decrypted);
        let parsed: Vec<PayloadRepr> = chain.by_ref().map(|g| Payload::parse(&g.unwrap()).unwrap().to_repr()).collect();
        prop_assert_eq!(parsed, payloads);
        prop_assert_eq!(chain.remaining(), &padding[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600)) {
        if let Ok((msg, rest)) = Message::parse(&data) {
            prop_assert_eq!(msg.as_bytes().len() + rest.len(), data.len());
            let chain = match msg.payloads() {
                Ok(c) => c,
                Err(_) => msg.decrypted_payloads(msg.body()),
            };
            let mut total = 0;
            for g in chain {
                let Ok(g) = g else { break };
                total += g.length();
                let _ = Payload::parse(&g);
            }
            prop_assert!(total <= msg.body().len());
        }
    }

    /// Mutating one byte of a valid message gives Ok or a typed error, and whatever parses
    /// still re-emits consistently.
    #[test]
    fn mutated_messages_fail_cleanly(
        payloads in proptest::collection::vec(payload(), 1..5),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut m = MessageBuilder::new(Cookie([1; 8]), Cookie::ZERO, ExchangeType::MAIN_MODE, 0);
        for p in &payloads {
            m.push(p).unwrap();
        }
        let mut bytes = m.build().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = value;
        let Ok(msg) = Message::parse_exact(&bytes) else { return Ok(()) };
        let Ok(chain) = msg.payloads() else { return Ok(()) };
        let mut rebuilt = MessageBuilder::from_header(HeaderRepr::from(&msg.header()));
        for g in chain {
            let Ok(g) = g else { return Ok(()) };
            let Ok(p) = Payload::parse(&g) else { return Ok(()) };
            rebuilt.push(&p.to_repr()).unwrap();
        }
        let (_, before) = reprs_of(&bytes);
        let rebuilt = rebuilt.build().unwrap();
        let (_, after) = reprs_of(&rebuilt);
        prop_assert_eq!(before, after);
    }
}
