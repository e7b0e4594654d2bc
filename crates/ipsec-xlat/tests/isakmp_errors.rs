//! Every way a message can be malformed gives the typed error that names it, at the right
//! offset (counted from the first byte of the ISAKMP header).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ipsec_xlat::wire::isakmp::*;

/// A header with np `first`, flags and the length of `body`, followed by `body`.
fn message(first: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0];
    out.extend_from_slice(&[first, 0x10, 2, flags, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(28 + body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn walk(bytes: &[u8]) -> Result<Vec<Payload<'_>>, IsakmpError> {
    let msg = Message::parse_exact(bytes)?;
    msg.payloads()?
        .map(|g| g.and_then(|g| Payload::parse(&g)))
        .collect()
}

#[test]
fn header_errors() {
    assert_eq!(
        Message::parse(&[0; 27]).unwrap_err(),
        IsakmpError::Truncated {
            what: "ISAKMP header",
            offset: 0,
            needed: 28,
            available: 27
        }
    );
    let mut ikev2 = message(0, 0, &[]);
    ikev2[17] = 0x20;
    assert_eq!(
        Message::parse(&ikev2).unwrap_err(),
        IsakmpError::UnsupportedVersion { version: 0x20 }
    );
    let mut short = message(0, 0, &[]);
    short[27] = 27;
    assert_eq!(
        Message::parse(&short).unwrap_err(),
        IsakmpError::MessageLengthTooSmall { declared: 27 }
    );
    let mut long = message(0, 0, &[]);
    long[24..28].copy_from_slice(&100u32.to_be_bytes());
    assert_eq!(
        Message::parse(&long).unwrap_err(),
        IsakmpError::MessageTruncated {
            declared: 100,
            available: 28
        }
    );
    let mut huge = message(0, 0, &[]);
    huge[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Message::parse(&huge),
        Err(IsakmpError::MessageTruncated { .. })
    ));
    let mut trailing = message(0, 0, &[]);
    trailing.extend_from_slice(&[0xee; 5]);
    assert_eq!(
        Message::parse_exact(&trailing).unwrap_err(),
        IsakmpError::TrailingData {
            what: "ISAKMP message",
            offset: 28,
            len: 5
        }
    );
    let (msg, rest) = Message::parse(&trailing).unwrap();
    assert_eq!((msg.as_bytes().len(), rest), (28, &[0xee; 5][..]));
}

#[test]
fn chain_errors() {
    // Length 0 would never advance: the one way a chain could loop.
    for length in [0u8, 3] {
        assert_eq!(
            walk(&message(13, 0, &[0, 0, 0, length])).unwrap_err(),
            IsakmpError::LengthTooSmall {
                what: "payload",
                offset: 28,
                length: usize::from(length),
                minimum: 4
            }
        );
    }
    // The second payload's length runs past the message.
    assert_eq!(
        walk(&message(13, 0, &[13, 0, 0, 5, 0xaa, 0, 0, 0, 9, 0xbb])).unwrap_err(),
        IsakmpError::LengthOverrun {
            what: "payload",
            offset: 33,
            length: 9,
            available: 5
        }
    );
    assert_eq!(
        walk(&message(13, 0, &[0, 0])).unwrap_err(),
        IsakmpError::Truncated {
            what: "payload header",
            offset: 28,
            needed: 4,
            available: 2
        }
    );
    assert_eq!(
        walk(&message(13, 0, &[13, 0, 0, 4])).unwrap_err(),
        IsakmpError::MissingNext {
            what: "payload",
            offset: 32
        }
    );
    assert_eq!(
        walk(&message(13, 0, &[0, 0, 0, 4, 0xff, 0xff])).unwrap_err(),
        IsakmpError::TrailingData {
            what: "payload",
            offset: 32,
            len: 2
        }
    );
    assert_eq!(
        walk(&message(2, 0, &[0, 0, 0, 4])).unwrap_err(),
        IsakmpError::MisplacedPayload {
            offset: 28,
            payload_type: PayloadType::PROPOSAL
        }
    );
    assert_eq!(
        walk(&message(200, 0, &[0, 0x80, 0, 4])).unwrap_err(),
        IsakmpError::UnknownCriticalPayload {
            offset: 28,
            payload_type: PayloadType(200)
        }
    );
    let unknown = message(200, 0, &[0, 0, 0, 4]);
    assert!(matches!(walk(&unknown).unwrap()[..], [Payload::Unknown(_)]));
    // After an error the walk stops for good.
    let bytes = message(13, 0, &[0, 0, 0, 1, 0, 0, 0, 4]);
    let msg = Message::parse_exact(&bytes).unwrap();
    let mut chain = msg.payloads().unwrap();
    assert!(chain.next().unwrap().is_err());
    assert!(chain.next().is_none());
}

#[test]
fn encrypted_body_is_opaque_and_its_plaintext_may_be_padded() {
    let bytes = message(8, 1, &[0x5a; 32]);
    let msg = Message::parse_exact(&bytes).unwrap();
    assert_eq!(msg.payloads().unwrap_err(), IsakmpError::Encrypted);
    let plaintext = [0, 0, 0, 8, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut chain = msg.decrypted_payloads(&plaintext);
    let hash = chain.next().unwrap().unwrap();
    assert_eq!(
        (hash.payload_type(), hash.body(), hash.offset()),
        (PayloadType::HASH, &[1, 2, 3, 4][..], 28)
    );
    assert!(chain.next().is_none());
    assert_eq!(chain.remaining(), &[0; 8]);
    // Errors in a decrypted body count from where the ciphertext starts.
    let mut bad = decrypted_payloads(PayloadType::HASH, &[0, 0, 0, 9, 1]);
    assert_eq!(
        bad.next().unwrap().unwrap_err(),
        IsakmpError::LengthOverrun {
            what: "payload",
            offset: 28,
            length: 9,
            available: 5
        }
    );
}

fn sa_message(sa_body: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0, 0, 0];
    body.extend_from_slice(sa_body);
    let len = u16::try_from(body.len()).unwrap().to_be_bytes();
    body[2..4].copy_from_slice(&len);
    message(1, 0, &body)
}

const GOOD_TRANSFORM: [u8; 12] = [0, 0, 0, 12, 1, 1, 0, 0, 0x80, 1, 0, 7];

fn proposal(next: u8, count: u8, transforms: &[u8]) -> Vec<u8> {
    let mut p = vec![next, 0, 0, 0, 1, 1, 0, count];
    p.extend_from_slice(transforms);
    let len = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[2..4].copy_from_slice(&len);
    p
}

fn sa_body(proposals: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 0, 0, 1];
    b.extend_from_slice(proposals);
    b
}

#[test]
fn sa_errors() {
    assert!(walk(&sa_message(&sa_body(&proposal(0, 1, &GOOD_TRANSFORM)))).is_ok());
    // SA body starts at 32, proposals at 40, the first transform at 48, its attributes at 56.
    assert_eq!(
        walk(&sa_message(&[0, 0, 0, 2, 0, 0, 0, 1])).unwrap_err(),
        IsakmpError::UnsupportedDoi { offset: 32, doi: 2 }
    );
    assert_eq!(
        walk(&sa_message(&[0, 0, 0, 1, 0, 0, 0, 2])).unwrap_err(),
        IsakmpError::UnsupportedSituation {
            offset: 36,
            situation: 2
        }
    );
    assert_eq!(
        walk(&sa_message(&[0, 0, 0, 1, 0, 0])).unwrap_err(),
        IsakmpError::Truncated {
            what: "SA situation",
            offset: 36,
            needed: 4,
            available: 2
        }
    );
    assert_eq!(
        walk(&sa_message(&sa_body(&[]))).unwrap_err(),
        IsakmpError::MissingNext {
            what: "proposal",
            offset: 40
        }
    );
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(5, 1, &GOOD_TRANSFORM)))).unwrap_err(),
        IsakmpError::BadNextPayload {
            what: "proposal",
            offset: 40,
            value: 5,
            expected: 2
        }
    );
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(2, 1, &GOOD_TRANSFORM)))).unwrap_err(),
        IsakmpError::MissingNext {
            what: "proposal",
            offset: 60
        }
    );
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 2, &GOOD_TRANSFORM)))).unwrap_err(),
        IsakmpError::TransformCountMismatch {
            offset: 40,
            declared: 2,
            found: 1
        }
    );
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 0, &[])))).unwrap_err(),
        IsakmpError::MissingNext {
            what: "transform",
            offset: 48
        }
    );
    let mut two_transforms = GOOD_TRANSFORM.to_vec();
    two_transforms[0] = 3;
    two_transforms.extend_from_slice(&GOOD_TRANSFORM);
    assert!(walk(&sa_message(&sa_body(&proposal(0, 2, &two_transforms)))).is_ok());
    let mut bad_next = GOOD_TRANSFORM;
    bad_next[0] = 2;
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 1, &bad_next)))).unwrap_err(),
        IsakmpError::BadNextPayload {
            what: "transform",
            offset: 48,
            value: 2,
            expected: 3
        }
    );
    let mut short_transform = GOOD_TRANSFORM;
    short_transform[3] = 7;
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 1, &short_transform)))).unwrap_err(),
        IsakmpError::LengthTooSmall {
            what: "transform",
            offset: 48,
            length: 7,
            minimum: 8
        }
    );
    // A TLV attribute claiming 16 value bytes where there are 0.
    let tlv = [0, 0, 0, 12, 1, 1, 0, 0, 0, 12, 0, 16];
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 1, &tlv)))).unwrap_err(),
        IsakmpError::LengthOverrun {
            what: "attribute value",
            offset: 60,
            length: 16,
            available: 0
        }
    );
    let half_attribute = [0, 0, 0, 10, 1, 1, 0, 0, 0x80, 1];
    assert_eq!(
        walk(&sa_message(&sa_body(&proposal(0, 1, &half_attribute)))).unwrap_err(),
        IsakmpError::Truncated {
            what: "attribute",
            offset: 56,
            needed: 4,
            available: 2
        }
    );
    let mut trailing = proposal(0, 1, &GOOD_TRANSFORM);
    trailing.extend_from_slice(&[0; 3]);
    assert_eq!(
        walk(&sa_message(&sa_body(&trailing))).unwrap_err(),
        IsakmpError::TrailingData {
            what: "proposal",
            offset: 60,
            len: 3
        }
    );
    let mut spi_overrun = proposal(0, 1, &GOOD_TRANSFORM);
    spi_overrun[6] = 200;
    assert_eq!(
        walk(&sa_message(&sa_body(&spi_overrun))).unwrap_err(),
        IsakmpError::LengthOverrun {
            what: "proposal SPI",
            offset: 48,
            length: 200,
            available: 12
        }
    );
}

#[test]
fn payload_body_errors() {
    // Delete: 2 SPIs of 4 bytes announced, 6 bytes present.
    assert_eq!(
        walk(&message(
            12,
            0,
            &[0, 0, 0, 18, 0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4, 5, 6]
        ))
        .unwrap_err(),
        IsakmpError::SpiCountMismatch {
            offset: 40,
            spi_size: 4,
            count: 2,
            available: 6
        }
    );
    // Delete with SPI size 0 and a count: zero-length SPIs, no division or chunking by zero.
    let bytes = message(12, 0, &[0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 3]);
    let d = walk(&bytes).unwrap();
    let Payload::Delete(d) = d[0] else { panic!() };
    assert_eq!(d.spis().collect::<Vec<_>>(), [&[][..], &[][..], &[][..]]);
    assert_eq!(
        walk(&message(11, 0, &[0, 0, 0, 10, 0, 0, 0, 1, 3, 4])).unwrap_err(),
        IsakmpError::Truncated {
            what: "notification payload",
            offset: 32,
            needed: 8,
            available: 6
        }
    );
    assert_eq!(
        walk(&message(
            11,
            0,
            &[0, 0, 0, 14, 0, 0, 0, 1, 3, 4, 0x60, 0, 1, 2]
        ))
        .unwrap_err(),
        IsakmpError::LengthOverrun {
            what: "notification SPI",
            offset: 40,
            length: 4,
            available: 2
        }
    );
    assert_eq!(
        walk(&message(5, 0, &[0, 0, 0, 11, 1, 0, 0, 0, 10, 0, 0])).unwrap_err(),
        IsakmpError::BadIdentification {
            what: "identification payload",
            offset: 36,
            id_type: IdType::IPV4_ADDR,
            length: 3
        }
    );
    assert_eq!(
        walk(&message(5, 0, &[0, 0, 0, 6, 1, 0])).unwrap_err(),
        IsakmpError::Truncated {
            what: "identification payload",
            offset: 32,
            needed: 4,
            available: 2
        }
    );
    assert_eq!(
        walk(&message(21, 0, &[0, 0, 0, 12, 2, 0, 0, 0, 10, 0, 0, 1])).unwrap_err(),
        IsakmpError::BadIdentification {
            what: "NAT-OA payload",
            offset: 36,
            id_type: IdType::FQDN,
            length: 4
        }
    );
    assert_eq!(
        walk(&message(6, 0, &[0, 0, 0, 4])).unwrap_err(),
        IsakmpError::Truncated {
            what: "certificate payload",
            offset: 32,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(
        walk(&message(132, 0, &[0, 0, 0, 6, 0, 1])).unwrap_err(),
        IsakmpError::Truncated {
            what: "fragment payload",
            offset: 32,
            needed: 4,
            available: 2
        }
    );
}

#[test]
fn builder_errors_leave_the_chain_unchanged() {
    let mut chain = ChainBuilder::new();
    chain.push_nonce(&[1; 16]).unwrap();
    let before = chain.clone();
    assert_eq!(
        chain
            .push_raw(PayloadType::CERTIFICATE, &vec![0; 65_532])
            .unwrap_err(),
        IsakmpError::TooLong {
            what: "payload",
            length: 65_536,
            maximum: 65_535
        }
    );
    assert_eq!(chain, before);
    let notify = NotifyRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::IPSEC_ESP,
        notify_type: NotifyType::INVALID_SPI,
        spi: vec![0; 256],
        data: vec![],
    };
    assert!(matches!(
        chain.push_notification(&notify),
        Err(IsakmpError::TooLong {
            what: "notification SPI",
            ..
        })
    ));
    let delete = DeleteRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::IPSEC_ESP,
        spi_size: 4,
        spis: vec![vec![0; 3]],
    };
    assert!(matches!(
        chain.push_delete(&delete),
        Err(IsakmpError::Inconsistent { .. })
    ));
    assert!(matches!(
        chain.push_sa(&SaRepr::ipsec(vec![])),
        Err(IsakmpError::Inconsistent { .. })
    ));
    let attr = AttributeRepr::basic(0x8001u16, 1u16);
    let sa = SaRepr::ipsec(vec![ProposalRepr {
        number: 1,
        protocol: ProtocolId::ISAKMP,
        spi: vec![],
        transforms: vec![TransformRepr {
            number: 1,
            transform_id: 1,
            attributes: vec![attr],
        }],
    }]);
    assert!(matches!(
        chain.push_sa(&sa),
        Err(IsakmpError::Inconsistent { .. })
    ));
    assert_eq!(chain, before);
    assert_eq!(chain.first_payload(), PayloadType::NONCE);
}

#[test]
fn errors_read_well() {
    let e = IsakmpError::LengthOverrun {
        what: "payload",
        offset: 33,
        length: 9,
        available: 5,
    };
    assert_eq!(
        e.to_string(),
        "payload at offset 33 has length 9, overrunning the 5 bytes left"
    );
}
