//! UDP view and RFC 3948 classification of its payload: total on any input; a datagram
//! classifies the same way it was framed, and builders reproduce what classify saw.
#![no_main]
use ipsec_xlat::wire::encap::{self, classify, Encapsulated};
use ipsec_xlat::wire::esp::EspRepr;
use ipsec_xlat::wire::udp::{UdpPacket, UdpRepr};
use libfuzzer_sys::fuzz_target;

fn check_classify(payload: &[u8]) {
    let mut buf = vec![0u8; payload.len() + 4];
    match classify(payload) {
        Encapsulated::Esp(esp) => {
            assert!(payload.len() >= 8 && esp.spi() > 255);
            assert_eq!(esp.as_bytes(), payload);
            let n = encap::emit_esp(&mut buf, payload).expect("valid ESP re-emits");
            assert_eq!(&buf[..n], payload);
            let repr = EspRepr {
                spi: esp.spi(),
                seq: esp.seq(),
            };
            let mut h = [0u8; 8];
            repr.emit(&mut h).expect("valid SPI");
            assert_eq!(&h[..], &payload[..8]);
        }
        Encapsulated::Ike(msg) => {
            assert_eq!(&payload[..4], &[0u8; 4]);
            assert_eq!(msg, &payload[4..]);
            let n = encap::emit_ike(&mut buf, msg).expect("re-emits");
            assert_eq!(&buf[..n], payload);
        }
        Encapsulated::Keepalive => assert_eq!(payload, &[0xff]),
        Encapsulated::Garbage(_) => {
            assert!(encap::emit_esp(&mut buf, payload).is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_classify(data);
    let Ok(udp) = UdpPacket::new_checked(data) else {
        return;
    };
    let len = usize::from(udp.len());
    assert!(len >= 8 && len <= data.len());
    assert_eq!(udp.payload().len(), len - 8);
    let repr = UdpRepr::parse(&udp).expect("checked");
    let mut h = [0u8; 8];
    repr.emit(&mut h).expect("fits");
    assert_eq!(&h[..6], &data[..6], "emit(parse(b)) == b, checksum aside");
    check_classify(udp.payload());

    let src = std::net::Ipv4Addr::new(192, 0, 2, 1);
    let dst = std::net::Ipv4Addr::new(198, 51, 100, 1);
    let mut copy = data.to_vec();
    let mut m = UdpPacket::new_checked(&mut copy[..]).expect("same bytes");
    m.fill_checksum_ipv4(src, dst);
    assert!(m.verify_checksum_ipv4(src, dst));
});
