//! ESP header view and trailer parse: total on any input; SPI rules hold; a parsed trailer
//! tiles the plaintext exactly and re-emits to the same bytes.
#![no_main]
use ipsec_xlat::wire::esp::{EspPacket, EspRepr, EspTrailer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match EspPacket::new_checked(data) {
        Ok(p) => {
            assert!(data.len() >= 8 && p.spi() > 255);
            assert_eq!(p.payload(), &data[8..]);
            let mut h = [0u8; 8];
            EspRepr::parse(&p)
                .expect("checked")
                .emit(&mut h)
                .expect("valid SPI");
            assert_eq!(&h[..], &data[..8]);
            let mut copy = data.to_vec();
            let mut m = EspPacket::new_checked(&mut copy[..]).expect("same bytes");
            m.set_spi(0x0102_0304);
            assert_eq!(m.spi(), 0x0102_0304);
            assert_eq!(&copy[4..], &data[4..], "only the SPI changes");
        }
        Err(_) => assert!(
            data.len() < 8 || u32::from_be_bytes([data[0], data[1], data[2], data[3]]) <= 255
        ),
    }

    // The same bytes as a decrypted plaintext.
    let lenient = EspTrailer::parse_unverified(data);
    if let Ok(t) = lenient {
        assert_eq!(t.payload_len + t.len(), data.len());
        assert_eq!(t.payload(data).len(), t.payload_len);
    }
    if let Ok(t) = EspTrailer::parse(data) {
        assert_eq!(Ok(t), lenient);
        let mut out = vec![0u8; t.len()];
        assert_eq!(t.emit(&mut out), Ok(t.len()));
        assert_eq!(&out[..], &data[t.payload_len..], "emit(parse(b)) == b");
    }
});
