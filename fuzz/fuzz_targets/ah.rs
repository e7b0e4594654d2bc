//! AH view and ICV input: total on any input; the streamed ICV input equals the in-place
//! zeroing, has exactly the packet's length with the ICV zeroed, is idempotent, and on error
//! neither the sink nor the buffer is touched.
#![no_main]
use ipsec_xlat::wire::ah::{self, AhPacket, AhRepr};
use ipsec_xlat::wire::IpVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let icv_len = [12usize, 16, 24, 32, 0, 8, 20, 64][usize::from(selector & 7)];
    let version = if selector & 8 == 0 {
        IpVersion::V4
    } else {
        IpVersion::V6
    };

    // The bytes as an AH header.
    if let Ok(p) = AhPacket::new_checked(data) {
        assert!(p.header_len() >= 12 && p.header_len() <= data.len());
        assert_eq!(12 + p.auth_data().len() + p.payload().len(), data.len());
        if let Ok(repr) = AhRepr::parse(&p, icv_len, version) {
            assert_eq!(p.header_len() % version.ah_alignment(), 0);
            let mut out = vec![0u8; p.header_len()];
            assert_eq!(repr.emit(&mut out), Ok(p.header_len()));
            // emit(parse(b)) == b; Reserved is emitted as zero (RFC 4302 §2.3), so a
            // nonzero one is the only difference.
            assert_eq!(&out[..2], &data[..2]);
            assert_eq!(&out[2..4], &[0, 0]);
            assert_eq!(&out[4..12], &data[4..12]);
        }
    }

    // The bytes as an IP packet carrying AH.
    let mut streamed = Vec::new();
    let mut calls = 0usize;
    let result = ah::icv_input(data, icv_len, |c| {
        calls += 1;
        streamed.extend_from_slice(c);
    });
    let mut copy = data.to_vec();
    let in_place = ah::zero_mutable_fields(&mut copy, icv_len);
    assert_eq!(result, in_place);
    match in_place {
        Ok(layout) => {
            assert_eq!(streamed.len(), layout.packet_len);
            assert!(layout.packet_len <= data.len());
            assert_eq!(&copy[..layout.packet_len], &streamed[..]);
            assert!(streamed[layout.icv.clone()].iter().all(|b| *b == 0));
            assert_eq!(&copy[layout.packet_len..], &data[layout.packet_len..]);
            assert_eq!(layout.icv.start, layout.ah_offset + 12);
            // Zeroing is idempotent: the zeroed copy yields the same ICV input.
            let mut again = Vec::new();
            ah::icv_input(&copy, icv_len, |c| again.extend_from_slice(c)).expect("still valid");
            assert_eq!(again, streamed);
        }
        Err(_) => {
            assert_eq!(calls, 0, "sink untouched on error");
            assert_eq!(copy, data, "buffer untouched on error");
        }
    }
});
