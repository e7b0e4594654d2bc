//! Inputs on which a wire-ip fuzz target once failed, kept with the property that failed.
//! Each input is also in the target's corpus under fuzz/corpus/.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ipsec_xlat::wire::ah::{AhPacket, AhRepr};
use ipsec_xlat::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use ipsec_xlat::wire::IpVersion;

/// fuzz/artifacts/ipv4/crash-06de6f1d…: checksum field 0xffff where 0x0000 is computed. Both
/// are one's-complement zero; parse must accept it and emit must write the canonical form,
/// changing nothing else.
#[test]
fn ipv4_negative_zero_checksum() {
    let input = hex::decode(concat!(
        "4e00004500ff34126800ffffff01000000000000000016640ac6020202020101",
        "01010101010101c002c023a6a6a60101ffffa6a6740101ffffffffffffff16a6",
        "ffffff16a602",
    ))
    .unwrap();
    let p = Ipv4Packet::new_checked(&input[..]).unwrap();
    assert_eq!(p.checksum(), 0xffff);
    assert_eq!(p.compute_checksum(), 0);
    assert!(p.verify_checksum());
    let repr = Ipv4Repr::parse(&p).unwrap();
    let mut out = vec![0u8; repr.header_len()];
    repr.emit(&mut out).unwrap();
    assert_eq!(&out[10..12], &[0, 0]);
    assert_eq!(&out[..10], &p.header()[..10]);
    assert_eq!(&out[12..], &p.header()[12..]);
}

/// fuzz/artifacts/ah/crash-a33e6667…: an AH header with a nonzero Reserved field. The
/// receiver ignores it (RFC 4302 §2.3), so parse accepts; emit writes it as zero.
#[test]
fn ah_nonzero_reserved() {
    // Selector byte 0x24 chose ICV length 0 under IPv4.
    let input = hex::decode("242001 13b82dffffffff6b61745d".replace(' ', "")).unwrap();
    let data = &input[1..];
    let p = AhPacket::new_checked(data).unwrap();
    assert_eq!(p.reserved(), 0x13b8);
    let repr = AhRepr::parse(&p, 0, IpVersion::V4).unwrap();
    let mut out = [0xeeu8; 12];
    repr.emit(&mut out).unwrap();
    assert_eq!(&out[..2], &data[..2]);
    assert_eq!(&out[2..4], &[0, 0]);
    assert_eq!(&out[4..], &data[4..12]);
}
