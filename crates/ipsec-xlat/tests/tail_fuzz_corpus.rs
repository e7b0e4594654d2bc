//! Replays every committed input of the `tail` fuzz target under its invariants (split/join and
//! item-list round trips), so `cargo test` guards against regressions without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use ipsec_xlat::wire::tail;

#[test]
fn every_committed_fuzz_input_keeps_the_invariants() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/tail"
    ));
    let mut inputs = 0;
    let mut with_tail = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        inputs += 1;
        if let Ok(split) = tail::split(&data) {
            let joined = match split.tail {
                None => split.message.as_bytes().to_vec(),
                Some(t) => {
                    with_tail += 1;
                    tail::join(split.message.as_bytes(), t.tail_type(), t.body()).unwrap()
                }
            };
            assert_eq!(joined, data);
        }
        let mut rebuilt = Vec::new();
        if tail::items(&data).all(|i| match i {
            Ok(i) => tail::write_item(&mut rebuilt, i.item_type(), i.value()).is_ok(),
            Err(_) => false,
        }) {
            assert_eq!(rebuilt, data);
        }
    }
    assert!(inputs >= 73, "seed corpus missing: {inputs} inputs");
    assert!(with_tail >= 72, "seeds carry tails: {with_tail}");
}
