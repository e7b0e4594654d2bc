#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // TODO(skeleton): drive the ipv6 parser.
    let _ = data;
});
