//! UDP header (RFC 768): view, checksum over the IPv4/IPv6 pseudo-header, and writer.
//!
//! UDP carries IKE on port 500 and, after NAT detection, IKE and ESP on port 4500 (RFC 3948;
//! see [`encap`](super::encap)). When the relay rewrites outer addresses it must refill or
//! zero the checksum, since the pseudo-header covers them.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::checksum::Checksum;
use super::field;
use super::IpProtocol;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod off {
    pub(crate) const SRC_PORT: usize = 0;
    pub(crate) const DST_PORT: usize = 2;
    pub(crate) const LENGTH: usize = 4;
    pub(crate) const CHECKSUM: usize = 6;
}

/// What was wrong with a UDP header, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// The buffer ends before the header does.
    #[error("UDP truncated at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Offset of the structure that did not fit.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The Length field (offset 4) is below the 8-byte header.
    #[error("UDP length field at offset 4 is {len}, below the 8-byte header")]
    LengthBelowHeader {
        /// Length field.
        len: u16,
    },
    /// The Length field (offset 4) claims more than the buffer holds.
    #[error("UDP length field at offset 4 is {len}, buffer holds {available}")]
    LengthExceedsBuffer {
        /// Length field.
        len: u16,
        /// Bytes in the buffer.
        available: usize,
    },
    /// Header plus payload exceed the 16-bit Length field.
    #[error("UDP datagram of {len} bytes exceeds the 65535-byte Length field")]
    TooLong {
        /// Header plus payload asked for.
        len: usize,
    },
}

/// A read-only (or, over `&mut [u8]`, writable) view of a UDP datagram.
///
/// After [`new_checked`](Self::new_checked) the buffer holds at least Length bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without validation; accessors on a short buffer read zeros.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking that the header and the Length it claims fit.
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The validation [`new_checked`](Self::new_checked) performs.
    pub(crate) fn check_len(&self) -> Result<(), UdpError> {
        let available = self.buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(UdpError::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available,
            });
        }
        let len = self.len();
        if usize::from(len) < HEADER_LEN {
            return Err(UdpError::LengthBelowHeader { len });
        }
        if usize::from(len) > available {
            return Err(UdpError::LengthExceedsBuffer { len, available });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::DST_PORT)
    }

    /// Length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::LENGTH)
    }

    /// Checksum field; zero means "not computed" under IPv4.
    pub fn checksum(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::CHECKSUM)
    }

    /// The payload, up to Length.
    pub fn payload(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    /// The datagram up to Length.
    pub fn datagram(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), 0, usize::from(self.len()))
    }

    fn sum_datagram_without_checksum(&self, sum: &mut Checksum) {
        let d = self.datagram();
        sum.add(field::slice(d, 0, off::CHECKSUM));
        sum.add(field::slice(d, HEADER_LEN, d.len()));
    }

    /// Checksum over the IPv4 pseudo-header and the datagram, as it should be in the field
    /// (a computed zero is sent as 0xffff, RFC 768).
    pub(crate) fn compute_checksum_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let mut sum = Checksum::new();
        sum.add(&src.octets())
            .add(&dst.octets())
            .add_word(u16::from(IpProtocol::UDP.0))
            .add_word(self.len());
        self.sum_datagram_without_checksum(&mut sum);
        nonzero(sum.finish())
    }

    /// Checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the datagram.
    pub(crate) fn compute_checksum_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let mut sum = Checksum::new();
        sum.add(&src.octets())
            .add(&dst.octets())
            .add_word(0)
            .add_word(self.len())
            .add_word(0)
            .add_word(u16::from(IpProtocol::UDP.0));
        self.sum_datagram_without_checksum(&mut sum);
        nonzero(sum.finish())
    }

    /// Whether the checksum verifies under IPv4; a zero checksum (none sent, as RFC 3948
    /// recommends for ESP-in-UDP) is accepted.
    pub fn verify_checksum_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let found = self.checksum();
        found == 0 || found == self.compute_checksum_ipv4(src, dst)
    }

    /// Whether the checksum verifies under IPv6, where it is mandatory (zero is invalid).
    pub fn verify_checksum_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let found = self.checksum();
        found != 0 && found == self.compute_checksum_ipv6(src, dst)
    }
}

fn nonzero(sum: u16) -> u16 {
    if sum == 0 {
        0xffff
    } else {
        sum
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub(crate) fn set_src_port(&mut self, port: u16) {
        field::set_u16(self.buffer.as_mut(), off::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub(crate) fn set_dst_port(&mut self, port: u16) {
        field::set_u16(self.buffer.as_mut(), off::DST_PORT, port);
    }

    /// Sets the Length field.
    pub(crate) fn set_len(&mut self, len: u16) {
        field::set_u16(self.buffer.as_mut(), off::LENGTH, len);
    }

    /// Sets the checksum field; zero means "none" under IPv4.
    pub fn set_checksum(&mut self, checksum: u16) {
        field::set_u16(self.buffer.as_mut(), off::CHECKSUM, checksum);
    }

    /// Computes and writes the checksum under IPv4.
    pub fn fill_checksum_ipv4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let sum = self.compute_checksum_ipv4(src, dst);
        self.set_checksum(sum);
    }

    /// Computes and writes the checksum under IPv6.
    pub fn fill_checksum_ipv6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let sum = self.compute_checksum_ipv6(src, dst);
        self.set_checksum(sum);
    }
}

/// The fields of a UDP header, parsed or to be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length (Length minus 8).
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked datagram's header. The checksum needs the IP addresses and is the
    /// caller's to verify.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<Self, UdpError> {
        packet.check_len()?;
        Ok(Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()).saturating_sub(HEADER_LEN),
        })
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the header with a zero checksum into the front of `buf`; returns 8. Fill the
    /// checksum after writing the payload if one is wanted (always, under IPv6).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, UdpError> {
        let total = self.total_len();
        let len = u16::try_from(total).map_err(|_| UdpError::TooLong { len: total })?;
        let available = buf.len();
        let header = buf.get_mut(..HEADER_LEN).ok_or(UdpError::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available,
        })?;
        let mut packet = UdpPacket::new_unchecked(header);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.set_checksum(0);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let repr = UdpRepr {
            src_port: 4500,
            dst_port: 4500,
            payload_len: payload.len(),
        };
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf).unwrap();
        buf[HEADER_LEN..].copy_from_slice(payload);
        buf
    }

    #[test]
    fn emit_parse_and_fields() {
        let buf = datagram(&[0xff]);
        assert_eq!(buf, [0x11, 0x94, 0x11, 0x94, 0, 9, 0, 0, 0xff]);
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&p).unwrap(),
            UdpRepr {
                src_port: 4500,
                dst_port: 4500,
                payload_len: 1
            }
        );
        assert_eq!(p.payload(), &[0xff]);
    }

    #[test]
    fn ipv4_checksum_hand_computed() {
        // 192.0.2.1 -> 192.0.2.2, ports 4500, payload ff: sum of words
        // c000+0201+c000+0202+0011+0009 + 1194+1194+0009+ff00 = 0x2_a64e → a650 → !a650.
        let mut buf = datagram(&[0xff]);
        let (s, d) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.compute_checksum_ipv4(s, d), 0x59af);
        assert!(p.verify_checksum_ipv4(s, d), "zero checksum accepted");
        p.fill_checksum_ipv4(s, d);
        assert!(p.verify_checksum_ipv4(s, d));
        assert!(!p.verify_checksum_ipv4(s, Ipv4Addr::new(192, 0, 2, 3)));
    }

    #[test]
    fn ipv6_checksum_is_mandatory_and_verifies() {
        let mut buf = datagram(b"hello");
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut p = UdpPacket::new_checked(&mut buf[..]).unwrap();
        assert!(!p.verify_checksum_ipv6(s, d));
        p.fill_checksum_ipv6(s, d);
        assert!(p.verify_checksum_ipv6(s, d));
        // Summing everything including the field gives 0xffff (i.e. finish() == 0).
        let mut sum = Checksum::new();
        sum.add(&s.octets())
            .add(&d.octets())
            .add_word(0)
            .add_word(13)
            .add_word(0)
            .add_word(17);
        sum.add(p.datagram());
        assert_eq!(sum.finish(), 0);
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            UdpPacket::new_checked(&[0u8; 7][..]).unwrap_err(),
            UdpError::Truncated {
                offset: 0,
                needed: 8,
                available: 7
            }
        );
        assert_eq!(
            UdpPacket::new_checked(&[0, 1, 0, 2, 0, 7, 0, 0][..]).unwrap_err(),
            UdpError::LengthBelowHeader { len: 7 }
        );
        assert_eq!(
            UdpPacket::new_checked(&[0, 1, 0, 2, 0, 9, 0, 0][..]).unwrap_err(),
            UdpError::LengthExceedsBuffer {
                len: 9,
                available: 8
            }
        );
        let big = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 65_528,
        };
        assert_eq!(
            big.emit(&mut [0u8; 8]),
            Err(UdpError::TooLong { len: 65_536 })
        );
    }
}
