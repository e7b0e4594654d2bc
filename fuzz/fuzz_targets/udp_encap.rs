#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // TODO(skeleton): drive the udp_encap parser.
    let _ = data;
});
