//! Every IKE message strongSwan sent in the committed captures parses, walks, re-emits
//! byte-identically, and splits/joins with a tail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "isakmp_support/captures.rs"]
mod captures;

use ipsec_xlat::wire::isakmp::{HeaderRepr, IsakmpError, Message, MessageBuilder, Payload};
use ipsec_xlat::wire::tail::{self, TailType};

#[test]
fn captures_hold_ike_on_both_ports() {
    let all = captures::all_ike_datagrams();
    assert!(all.len() >= 60, "only {} IKE datagrams found", all.len());
    assert!(all.iter().any(|(_, d)| d.non_esp_marker));
    assert!(all.iter().any(|(_, d)| !d.non_esp_marker));
}

#[test]
fn every_plaintext_message_reemits_byte_identically() {
    let mut plaintext = 0;
    for (file, d) in captures::all_ike_datagrams() {
        let (msg, rest) = Message::parse(&d.isakmp).unwrap();
        assert!(
            rest.is_empty(),
            "{file} frame {}: bytes after the message",
            d.frame
        );
        let header = HeaderRepr::from(&msg.header());
        if msg.is_encrypted() {
            continue;
        }
        plaintext += 1;
        let mut builder = MessageBuilder::from_header(header);
        for p in msg.payloads().unwrap() {
            let p = p.unwrap_or_else(|e| panic!("{file} frame {}: {e}", d.frame));
            let typed =
                Payload::parse(&p).unwrap_or_else(|e| panic!("{file} frame {}: {e}", d.frame));
            assert!(
                !matches!(typed, Payload::Unknown(_)),
                "{file} frame {}: unknown payload {:?}",
                d.frame,
                p.payload_type()
            );
            builder.push(&typed.to_repr()).unwrap();
        }
        assert_eq!(
            builder.build().unwrap(),
            d.isakmp,
            "{file} frame {}",
            d.frame
        );
    }
    assert!(plaintext >= 30);
}

#[test]
fn encrypted_bodies_are_opaque() {
    let mut encrypted = 0;
    for (file, d) in captures::all_ike_datagrams() {
        let (msg, _) = Message::parse(&d.isakmp).unwrap();
        if !msg.is_encrypted() {
            continue;
        }
        encrypted += 1;
        assert_eq!(
            msg.payloads().unwrap_err(),
            IsakmpError::Encrypted,
            "{file} frame {}",
            d.frame
        );
        assert_eq!(msg.body(), &d.isakmp[28..]);
        assert_eq!(
            msg.body().len() % 16,
            0,
            "AES-CBC ciphertext is whole blocks"
        );
    }
    assert!(encrypted >= 20);
}

#[test]
fn every_message_splits_and_joins_with_a_tail() {
    for (file, d) in captures::all_ike_datagrams() {
        let body = format!("{file}#{}", d.frame).into_bytes();
        let datagram = tail::join(&d.isakmp, TailType::TRANSPORT, &body).unwrap();
        let split = tail::split(&datagram).unwrap();
        assert_eq!(split.message.as_bytes(), &d.isakmp[..]);
        let t = split.tail.unwrap();
        assert_eq!(t.body(), &body[..]);
        assert_eq!(t.tail_type(), TailType::TRANSPORT);
        let alone = tail::split(&d.isakmp).unwrap();
        assert!(alone.tail.is_none());
    }
}
