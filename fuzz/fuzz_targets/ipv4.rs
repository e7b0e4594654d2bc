//! IPv4 view, options walk and Repr: total on any input, and when a header parses, its
//! fields are consistent and re-emitting it reproduces the bytes.
#![no_main]
use ipsec_xlat::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let total = usize::from(p.total_len());
    assert!(p.header_len() >= 20 && p.header_len() <= total && total <= data.len());
    assert_eq!(p.header().len() + p.payload().len(), total);
    assert_eq!(p.packet(), &data[..total]);

    let mut last_end = 20;
    let walked = p.for_each_option(|o| {
        assert!(o.offset >= last_end, "options in order, not overlapping");
        last_end = o.offset + o.bytes.len();
        assert!(last_end <= p.header_len());
        assert_eq!(o.bytes.first(), Some(&o.kind));
    });

    match Ipv4Repr::parse(&p) {
        Ok(repr) => {
            assert!(walked.is_ok() && p.verify_checksum() && !p.reserved_flag());
            assert_eq!(repr.total_len(), total);
            let mut out = vec![0u8; repr.header_len()];
            assert_eq!(repr.emit(&mut out), Ok(p.header_len()));
            // emit(parse(b)) == b, except that a checksum of 0xffff (one's-complement -0,
            // which verifies too) is emitted in its canonical form 0x0000.
            let canonical = p.compute_checksum();
            assert!(p.checksum() == canonical || (p.checksum() == 0xffff && canonical == 0));
            assert_eq!(&out[..10], &p.header()[..10], "emit(parse(b)) == b");
            assert_eq!(&out[12..], &p.header()[12..], "emit(parse(b)) == b");
            assert_eq!(u16::from_be_bytes([out[10], out[11]]), canonical);
        }
        Err(_) => assert!(walked.is_err() || !p.verify_checksum() || p.reserved_flag()),
    }

    // Rewriting the addresses and refilling the checksum always yields a valid header.
    let mut copy = data.to_vec();
    let mut m = Ipv4Packet::new_checked(&mut copy[..]).expect("same bytes");
    m.set_src_addr(p.dst_addr());
    m.set_dst_addr(p.src_addr());
    m.fill_checksum();
    assert!(m.verify_checksum());
    assert_eq!(m.payload(), p.payload(), "payload untouched");
});
