//! Replays every committed input of the `isakmp` fuzz target (seeds from the captures, and any
//! input that once crashed it) under the target's invariants, so `cargo test` guards against
//! regressions without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use ipsec_xlat::wire::isakmp::{
    decrypted_payloads, ChainBuilder, Message, Payload, PayloadIter, PayloadType, Trailing,
    HEADER_LEN,
};

fn check_chain(mut chain: PayloadIter<'_>, body_len: usize) -> usize {
    let mut sum = 0;
    let mut failed = false;
    let mut typed = 0;
    for item in chain.by_ref() {
        let Ok(g) = item else {
            failed = true;
            break;
        };
        assert_eq!(g.offset(), HEADER_LEN + sum);
        sum += g.length();
        if let Ok(p) = Payload::parse(&g) {
            typed += 1;
            let repr = p.to_repr();
            let mut c = ChainBuilder::new();
            if c.push(&repr).is_ok() {
                let g2 = PayloadIter::new(repr.payload_type(), c.as_bytes(), 0, Trailing::Reject)
                    .next()
                    .unwrap()
                    .unwrap();
                assert_eq!(Payload::parse(&g2).unwrap().to_repr(), repr);
            }
        }
    }
    assert!(sum <= body_len);
    if !failed {
        assert_eq!(sum + chain.remaining().len(), body_len);
    }
    typed
}

#[test]
fn every_committed_fuzz_input_keeps_the_invariants() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/isakmp"
    ));
    let mut inputs = 0;
    let mut typed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        inputs += 1;
        if let Ok((msg, rest)) = Message::parse(&data) {
            assert_eq!(msg.as_bytes().len() + rest.len(), data.len());
            typed += match msg.payloads() {
                Ok(chain) => check_chain(chain, msg.body().len()),
                Err(_) => check_chain(msg.decrypted_payloads(msg.body()), msg.body().len()),
            };
        }
        if let Some((first, body)) = data.split_first() {
            typed += check_chain(decrypted_payloads(PayloadType(*first), body), body.len());
        }
    }
    assert!(inputs >= 112, "seed corpus missing: {inputs} inputs");
    assert!(typed >= 280, "seeds should reach the typed views: {typed}");
}
