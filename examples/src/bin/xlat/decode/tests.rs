//! Unit tests of the decoder on built messages, tails, truncations and corruptions.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use super::*;
use ipsec_xlat::wire::isakmp::{
    Cookie, DeleteRepr, Doi, IdRepr, MessageBuilder, NotifyRepr, NotifyType,
};
use ipsec_xlat::wire::tail::join;

fn informational() -> Vec<u8> {
    let mut b = MessageBuilder::new(
        Cookie([1, 2, 3, 4, 5, 6, 7, 8]),
        Cookie([9, 10, 11, 12, 13, 14, 15, 16]),
        ExchangeType::INFORMATIONAL,
        0x0102_0304,
    );
    b.push_notification(&NotifyRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::IPSEC_ESP,
        notify_type: NotifyType::NO_PROPOSAL_CHOSEN,
        spi: vec![0xc0, 0xff, 0xee, 0x01],
        data: Vec::new(),
    })
    .unwrap();
    b.push_delete(&DeleteRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::IPSEC_ESP,
        spi_size: 4,
        spis: vec![vec![0xde, 0xad, 0xbe, 0xef], vec![0, 0, 1, 0]],
    })
    .unwrap();
    b.push_identification(&IdRepr::ipv4_subnet(
        "10.9.0.0".parse().unwrap(),
        "255.255.255.0".parse().unwrap(),
    ))
    .unwrap();
    b.push_vendor_id(&hex::decode("4a131c81070358455c5728f20e95452f").unwrap())
        .unwrap();
    b.build().unwrap()
}

#[test]
fn typed_payload_fields_and_the_tail() {
    let message = informational();
    let datagram = join(&message, TailType::TRANSPORT, &[0x55; 40]).unwrap();
    let (text, errors) = decode_to_string(&datagram, As::Auto, false);
    assert_eq!(errors, 0, "{text}");
    for expected in [
        "initiator_cookie: 0102030405060708",
        "responder_cookie: 090a0b0c0d0e0f10",
        "exchange_type: 5 (INFORMATIONAL)",
        "message_id: 0x01020304",
        &format!("length: {}", message.len()),
        "payload 1: 11 (NOTIFICATION)",
        "notify_type: 14 (NO_PROPOSAL_CHOSEN)",
        "spi: c0ffee01 (4 bytes)",
        "payload 2: 12 (DELETE)",
        "spi_count: 2",
        "spi: deadbeef",
        "spi: 00000100",
        "identification: 10.9.0.0/24",
        "= RFC 3947 NAT-T",
        "tail:",
        &format!("offset: {} (after the ISAKMP length)", message.len()),
        "type: 2 (TRANSPORT, Noise transport message)",
        "body: 40 bytes",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The same message after the non-ESP marker reads the same, plus the marker.
    let mut natt = vec![0, 0, 0, 0];
    natt.extend_from_slice(&datagram);
    let (natt_text, errors) = decode_to_string(&natt, As::Auto, false);
    assert_eq!(errors, 0);
    assert!(
        natt_text.starts_with("nat-t: non-ESP marker"),
        "{natt_text}"
    );
    assert!(natt_text.ends_with(&text), "{natt_text}");
}

#[test]
fn bytes_after_the_message_that_are_no_tail_are_an_error() {
    let mut datagram = informational();
    datagram.extend_from_slice(b"junk after the message");
    let (text, errors) = decode_to_string(&datagram, As::Ike, false);
    assert_eq!(errors, 1, "{text}");
    assert!(text.contains("tail:") && text.contains("error:"), "{text}");
}

#[test]
fn every_truncation_and_corruption_decodes_without_panic() {
    let message = informational();
    let mut packet = Vec::new();
    // IPv4 + UDP 4500 + marker + message.
    let udp_len = 8 + 4 + message.len();
    packet.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 1]);
    let total = (20 + udp_len) as u16;
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    let sum = ipsec_xlat::wire::checksum::checksum(&packet[..20]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&4500u16.to_be_bytes());
    packet.extend_from_slice(&4500u16.to_be_bytes());
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    packet.extend_from_slice(&message);
    let (text, errors) = decode_to_string(&packet, As::Auto, false);
    assert_eq!(errors, 0, "{text}");
    assert!(text.contains("checksum: 0x0000 (none)"), "{text}");
    for len in 0..packet.len() {
        let (text, errors) = decode_to_string(&packet[..len], As::Auto, false);
        assert!(
            errors > 0,
            "prefix of {len} bytes decoded without complaint:\n{text}"
        );
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut p = packet.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % p.len() as u64) as usize;
            p[i] ^= (state >> 32) as u8 | 1;
        }
        for kind in [As::Auto, As::Ike, As::Natt, As::Esp, As::Ah] {
            let _ = decode_to_string(&p, kind, false);
        }
    }
}

#[test]
fn hex_input_forms() {
    assert_eq!(parse_hex("0x45 00:01\n02").unwrap(), vec![0x45, 0, 1, 2]);
    assert!(parse_hex("").is_err());
    assert!(parse_hex("4g").is_err());
    assert!(parse_hex("450").is_err());
}
