//! Fuzzes the ISAKMP parser: header, payload chain walk, typed views, and the repr round trip.
//!
//! Beyond "no panic" it asserts the invariants a caller relies on: a message is exactly its
//! length field long; payload offsets follow each other; the payload lengths add up to no more
//! than the body (exactly the body, padding included, when the walk succeeds); every typed
//! payload re-emits to bytes that parse back to the same thing.
#![no_main]

use ipsec_xlat::wire::isakmp::{
    decrypted_payloads, ChainBuilder, Message, Payload, PayloadIter, PayloadType, Trailing,
    HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fn check_typed_round_trip(payload: &Payload<'_>) {
    let repr = payload.to_repr();
    let mut chain = ChainBuilder::new();
    if chain.push(&repr).is_err() {
        return;
    }
    let mut again = PayloadIter::new(repr.payload_type(), chain.as_bytes(), 0, Trailing::Reject);
    let generic = again
        .next()
        .expect("one payload")
        .expect("a payload we emitted walks");
    assert!(again.next().is_none(), "exactly one payload emitted");
    let reparsed = Payload::parse(&generic).expect("a payload we emitted parses");
    assert_eq!(reparsed.to_repr(), repr, "typed payload round trip");
}

fn check_chain(mut chain: PayloadIter<'_>, body_len: usize) {
    let mut sum = 0usize;
    let mut expected_offset = HEADER_LEN;
    let mut failed = false;
    for item in chain.by_ref() {
        let Ok(generic) = item else {
            failed = true;
            break;
        };
        assert_eq!(generic.offset(), expected_offset, "payloads are contiguous");
        assert!(generic.length() >= 4, "a payload covers its header");
        assert_eq!(generic.body().len() + 4, generic.length());
        sum += generic.length();
        expected_offset += generic.length();
        if let Ok(typed) = Payload::parse(&generic) {
            assert_eq!(typed.payload_type(), generic.payload_type());
            if let Payload::Sa(sa) = typed {
                for p in sa.proposals() {
                    assert_eq!(p.transforms().count(), usize::from(p.transform_count()));
                    let inner: usize = p.transforms().map(|t| t.length()).sum();
                    assert_eq!(8 + p.spi().len() + inner, p.length());
                }
            }
            check_typed_round_trip(&typed);
        }
    }
    assert!(sum <= body_len, "payload lengths exceed the body");
    if !failed {
        assert_eq!(sum + chain.remaining().len(), body_len);
    }
}

fuzz_target!(|data: &[u8]| {
    // The input as a datagram (non-ESP marker stripped).
    if let Ok((msg, rest)) = Message::parse(data) {
        assert_eq!(msg.as_bytes().len() + rest.len(), data.len());
        assert_eq!(msg.header().length() as usize, msg.as_bytes().len());
        assert!(msg.as_bytes().len() >= HEADER_LEN);
        match msg.payloads() {
            Ok(chain) => check_chain(chain, msg.body().len()),
            // Treat the ciphertext as if it were a decrypted body: any bytes must walk safely.
            Err(_) => check_chain(msg.decrypted_payloads(msg.body()), msg.body().len()),
        }
    }
    // The input as a decrypted body whose first payload type is the first byte.
    if let Some((first, body)) = data.split_first() {
        check_chain(decrypted_payloads(PayloadType(*first), body), body.len());
    }
});
