//! IPv6 view, extension-header walk and option walk: total on any input; the walk visits
//! headers in order inside the packet and ends at or before its end.
#![no_main]
use ipsec_xlat::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use ipsec_xlat::wire::IpProtocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Ipv6Packet::new_checked(data) else {
        assert!(
            data.len() < 40
                || data[0] >> 4 != 6
                || usize::from(u16::from_be_bytes([data[4], data[5]])) > data.len() - 40
        );
        return;
    };
    let total = p.total_len();
    assert!(total <= data.len());

    let repr = Ipv6Repr::parse(&p).expect("checked packet parses");
    let mut out = [0u8; 40];
    repr.emit(&mut out).expect("40 bytes");
    assert_eq!(&out[..], &data[..40], "emit(parse(b)) == b");

    let mut next_offset = 40;
    let mut expected_kind = p.next_header();
    let walked = ipv6::walk_extension_headers(p.packet(), |h| {
        assert_eq!(h.offset, next_offset, "headers are contiguous");
        assert_eq!(
            h.protocol, expected_kind,
            "each header is what the previous named"
        );
        assert!(h.protocol.is_ipv6_extension());
        assert!(h.offset + h.bytes.len() <= total);
        next_offset = h.offset + h.bytes.len();
        expected_kind = h.next_header;
        if h.protocol != IpProtocol::IPV6_FRAG && h.protocol != IpProtocol::IPV6_ROUTE {
            let mut opt_end = h.offset + 2;
            let _ = ipv6::for_each_option(h.bytes, h.offset, |o| {
                assert!(o.offset >= opt_end);
                opt_end = o.data_offset() + o.data.len();
                assert!(opt_end <= h.offset + h.bytes.len());
            });
        }
    });
    if let Ok(up) = walked {
        assert_eq!(up.offset, next_offset);
        assert_eq!(up.protocol, expected_kind);
        assert!(up.offset <= total);
        assert!(
            !up.protocol.is_ipv6_extension() || up.fragment.is_some_and(|f| f.frag_offset != 0)
        );
        assert_eq!(p.upper_layer(), Ok(up));
        let is_ipsec = up.protocol == IpProtocol::ESP || up.protocol == IpProtocol::AH;
        assert_eq!(p.ipsec_header().is_ok(), is_ipsec);
    }
});
