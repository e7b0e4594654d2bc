//! Fuzzes the tail layer: splitting a datagram into ISAKMP message and tail, joining them back,
//! and the item list inside a tail body.
#![no_main]

use ipsec_xlat::wire::tail;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // split then join is the identity on every datagram split accepts.
    if let Ok(split) = tail::split(data) {
        let joined = match split.tail {
            None => split.message.as_bytes().to_vec(),
            Some(t) => {
                assert!(t.body().len() <= tail::MAX_BODY_LEN);
                assert_eq!(t.offset(), split.message.as_bytes().len());
                tail::join(split.message.as_bytes(), t.tail_type(), t.body())
                    .expect("a tail we parsed joins")
            }
        };
        assert_eq!(joined, data, "split/join round trip");
    }
    // An item list that walks re-encodes to the same bytes.
    let mut rebuilt = Vec::new();
    let mut ok = true;
    for item in tail::items(data) {
        match item {
            Ok(item) => tail::write_item(&mut rebuilt, item.item_type(), item.value())
                .expect("an item we parsed re-encodes"),
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        assert_eq!(rebuilt, data, "item list round trip");
    }
});
