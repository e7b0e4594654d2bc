//! The tail framing: exact bytes, every error with its offset, and split/join and item-list
//! round trips (proptest), including on the captured strongSwan messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "isakmp_support/captures.rs"]
mod captures;

use ipsec_xlat::wire::isakmp::{Cookie, ExchangeType, IsakmpError, MessageBuilder};
use ipsec_xlat::wire::tail::{self, TailError, TailType, MAGIC, MAX_BODY_LEN};
use proptest::prelude::*;

fn mm1() -> Vec<u8> {
    let mut m = MessageBuilder::new(Cookie([1; 8]), Cookie::ZERO, ExchangeType::MAIN_MODE, 0);
    m.push_vendor_id(&[0xaa; 16]).unwrap();
    m.build().unwrap()
}

#[test]
fn tail_layout_is_magic_version_type_length_body() {
    let msg = mm1();
    let datagram = tail::join(&msg, TailType::HANDSHAKE, b"hello").unwrap();
    assert_eq!(&datagram[..msg.len()], &msg[..]);
    assert_eq!(
        &datagram[msg.len()..],
        &[0x9a, b'X', b'L', b'T', 1, 1, 0, 5, b'h', b'e', b'l', b'l', b'o'][..]
    );
    let split = tail::split(&datagram).unwrap();
    assert_eq!(split.message.as_bytes(), &msg[..]);
    let t = split.tail.unwrap();
    assert_eq!(
        (t.tail_type(), t.body(), t.offset()),
        (TailType::HANDSHAKE, &b"hello"[..], msg.len())
    );
    assert_eq!(t.header_bytes(), &datagram[msg.len()..msg.len() + 8]);
    assert_eq!(t.as_bytes(), &datagram[msg.len()..]);
}

#[test]
fn no_bytes_after_the_message_means_no_tail() {
    let msg = mm1();
    let split = tail::split(&msg).unwrap();
    assert!(split.tail.is_none());
    assert_eq!(split.message.as_bytes(), &msg[..]);
    // An empty body is still a tail.
    let datagram = tail::join(&msg, TailType(77), &[]).unwrap();
    let t = tail::split(&datagram).unwrap().tail.unwrap();
    assert_eq!((t.tail_type(), t.body()), (TailType(77), &[][..]));
}

#[test]
fn magic_rejects_what_else_could_follow_a_message() {
    let msg = mm1();
    let at = msg.len();
    // Zero padding, a NAT keepalive byte, text, a second ISAKMP header: none is a tail.
    let cases: [&[u8]; 4] = [&[0; 12], &[0xff; 8], b"debug text", &msg[..]];
    for trailing in cases {
        let mut datagram = msg.clone();
        datagram.extend_from_slice(trailing);
        match tail::split(&datagram).unwrap_err() {
            TailError::BadMagic { offset, found } => {
                assert_eq!(offset, at);
                assert_eq!(&found[..], &trailing[..4]);
            }
            e => panic!("{e}"),
        }
    }
    assert_eq!(MAGIC, [0x9a, 0x58, 0x4c, 0x54]);
}

#[test]
fn tail_errors_name_their_offset() {
    let msg = mm1();
    let at = msg.len();
    let good = tail::join(&msg, TailType::TRANSPORT, b"abc").unwrap();

    let truncated = &good[..at + 5];
    assert_eq!(
        tail::split(truncated).unwrap_err(),
        TailError::Truncated {
            offset: at,
            available: 5
        }
    );

    let mut version = good.clone();
    version[at + 4] = 2;
    assert_eq!(
        tail::split(&version).unwrap_err(),
        TailError::UnsupportedVersion {
            offset: at + 4,
            version: 2
        }
    );

    let mut short = good.clone();
    short.pop();
    assert_eq!(
        tail::split(&short).unwrap_err(),
        TailError::LengthMismatch {
            offset: at + 6,
            declared: 3,
            available: 2
        }
    );
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        tail::split(&long).unwrap_err(),
        TailError::LengthMismatch {
            offset: at + 6,
            declared: 3,
            available: 4
        }
    );

    let mut too_long = msg.clone();
    too_long.extend_from_slice(&[0x9a, b'X', b'L', b'T', 1, 2, 0x04, 0x01]);
    too_long.extend_from_slice(&[0; 1025]);
    assert_eq!(
        tail::split(&too_long).unwrap_err(),
        TailError::TooLong {
            offset: at,
            length: 1025
        }
    );
    assert_eq!(
        tail::join(&msg, TailType::TRANSPORT, &[0; MAX_BODY_LEN + 1]).unwrap_err(),
        TailError::TooLong {
            offset: at,
            length: MAX_BODY_LEN + 1
        }
    );
    assert!(tail::join(&msg, TailType::TRANSPORT, &[0; MAX_BODY_LEN]).is_ok());

    // The message before the tail must be sound, and its length field must be its length.
    assert_eq!(
        tail::split(&msg[..20]).unwrap_err(),
        TailError::Isakmp(IsakmpError::Truncated {
            what: "ISAKMP header",
            offset: 0,
            needed: 28,
            available: 20
        })
    );
    let mut padded = msg.clone();
    padded.extend_from_slice(&[0; 4]);
    assert_eq!(
        tail::join(&padded, TailType::TRANSPORT, b"x").unwrap_err(),
        TailError::MessageLengthMismatch {
            declared: u32::try_from(msg.len()).unwrap(),
            actual: msg.len() + 4
        }
    );
}

#[test]
fn items_walk_and_report_errors() {
    let mut list = Vec::new();
    tail::write_item(&mut list, 0x01, b"alice@example.com").unwrap();
    tail::write_item(&mut list, 0x82, &[0xc0, 0xff, 0xee, 0x01]).unwrap();
    tail::write_item(&mut list, 0x03, &[]).unwrap();
    let items: Vec<_> = tail::items(&list).map(Result::unwrap).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(
        (
            items[0].item_type(),
            items[0].is_critical(),
            items[0].value()
        ),
        (1, false, &b"alice@example.com"[..])
    );
    assert_eq!((items[1].item_type(), items[1].is_critical()), (0x82, true));
    assert_eq!(items[2].value(), &[][..]);
    assert_eq!(&list[..3], &[0x01, 0x00, 17]);

    let mut cut = list.clone();
    cut.truncate(list.len() - 2);
    let mut walk = tail::items(&cut);
    assert!(walk.next().unwrap().is_ok());
    assert!(walk.next().unwrap().is_ok());
    assert_eq!(
        walk.next().unwrap().unwrap_err(),
        TailError::ItemTruncated {
            offset: 27,
            available: 1
        }
    );
    assert!(walk.next().is_none());

    let overrun = [0x01, 0x00, 0x09, 1, 2];
    assert_eq!(
        tail::items(&overrun).next().unwrap().unwrap_err(),
        TailError::ItemOverrun {
            offset: 0,
            length: 9,
            available: 2
        }
    );
    let mut out = Vec::new();
    assert_eq!(
        tail::write_item(&mut out, 1, &vec![0; 65_536]).unwrap_err(),
        TailError::ItemTooLong { length: 65_536 }
    );
    assert!(out.is_empty());
}

#[test]
fn captured_messages_carry_tails_both_ways() {
    for (file, d) in captures::all_ike_datagrams() {
        let mut items = Vec::new();
        tail::write_item(&mut items, 1, file.as_bytes()).unwrap();
        let datagram = tail::join(&d.isakmp, TailType::TRANSPORT, &items).unwrap();
        let split = tail::split(&datagram).unwrap();
        assert_eq!(
            split.message.as_bytes(),
            &d.isakmp[..],
            "{file} frame {}",
            d.frame
        );
        let t = split.tail.unwrap();
        assert_eq!(t.offset(), d.isakmp.len());
        let item = tail::items(t.body()).next().unwrap().unwrap();
        assert_eq!(item.value(), file.as_bytes());
    }
}

proptest! {
    #[test]
    fn split_join_round_trip(
        vids in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5),
        tail_type in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..=MAX_BODY_LEN),
    ) {
        let mut m = MessageBuilder::new(Cookie([3; 8]), Cookie([4; 8]), ExchangeType::MAIN_MODE, 0);
        for v in &vids {
            m.push_vendor_id(v).unwrap();
        }
        let msg = m.build().unwrap();
        let datagram = tail::join(&msg, TailType(tail_type), &body).unwrap();
        let split = tail::split(&datagram).unwrap();
        prop_assert_eq!(split.message.as_bytes(), &msg[..]);
        let t = split.tail.unwrap();
        prop_assert_eq!(t.tail_type(), TailType(tail_type));
        prop_assert_eq!(t.body(), &body[..]);
        prop_assert_eq!(tail::join(split.message.as_bytes(), t.tail_type(), t.body()).unwrap(), datagram);
    }

    #[test]
    fn items_round_trip(items in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8)) {
        let mut list = Vec::new();
        for (t, v) in &items {
            tail::write_item(&mut list, *t, v).unwrap();
        }
        let parsed: Vec<(u8, Vec<u8>)> = tail::items(&list).map(|i| {
            let i = i.unwrap();
            (i.item_type(), i.value().to_vec())
        }).collect();
        prop_assert_eq!(parsed, items);
    }

    #[test]
    fn arbitrary_datagrams_split_cleanly(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(split) = tail::split(&data) {
            let rebuilt = match split.tail {
                None => split.message.as_bytes().to_vec(),
                Some(t) => tail::join(split.message.as_bytes(), t.tail_type(), t.body()).unwrap(),
            };
            prop_assert_eq!(rebuilt, data);
        }
    }
}
