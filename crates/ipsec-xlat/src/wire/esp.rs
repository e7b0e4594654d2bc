//! ESP header (RFC 4303 §2): SPI and sequence number, and the trailer of a decrypted payload.
//!
//! The relay rewrites only the SPI and never sees plaintext; the SA code seals and opens the
//! payload. ESP's ICV (and AES-GCM's AAD) cover SPI and sequence number, which is why the
//! client seals with the SGW-side SPI and only then writes the relay-side one with
//! [`EspPacket::set_spi`].

use nom::bytes::complete::take;
use nom::number::complete::be_u8;
use nom::Parser;

use super::field;
use super::IpProtocol;

/// Length of SPI plus sequence number.
pub const HEADER_LEN: usize = 8;
/// Pad Length and Next Header bytes that end every ESP plaintext.
pub(crate) const TRAILER_FIXED_LEN: usize = 2;
/// SPIs 1 to 255 are reserved by IANA for future use (RFC 4303 §2.1).
pub(crate) const MAX_RESERVED_SPI: u32 = 255;

mod off {
    pub(crate) const SPI: usize = 0;
    pub(crate) const SEQ: usize = 4;
}

/// What was wrong with an ESP header or trailer, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The buffer ends before the header does.
    #[error("ESP truncated at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Offset of the structure that did not fit.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// SPI (offset 0) is zero, which never appears on the wire (RFC 4303 §2.1).
    #[error("ESP SPI at offset 0 is zero")]
    ZeroSpi,
    /// SPI (offset 0) is in the IANA-reserved range 1-255.
    #[error("ESP SPI at offset 0 is {spi}, in the reserved range 1-255")]
    ReservedSpi {
        /// The SPI found.
        spi: u32,
    },
    /// The plaintext is shorter than Pad Length plus Next Header.
    #[error("ESP plaintext of {len} bytes is too short for the 2-byte trailer")]
    TrailerTruncated {
        /// Plaintext length.
        len: usize,
    },
    /// Pad Length claims more padding than there is plaintext before the trailer.
    #[error("ESP pad length {pad_len} at plaintext offset {offset} exceeds the {available} bytes before it")]
    PadLenExceedsPlaintext {
        /// Pad Length field.
        pad_len: u8,
        /// Offset of the Pad Length byte within the plaintext.
        offset: usize,
        /// Bytes before the trailer.
        available: usize,
    },
    /// A padding byte is not the RFC 4303 §2.4 default value (1, 2, 3, ...).
    #[error("ESP padding byte at plaintext offset {offset} is {found}, expected {expected}")]
    BadPadding {
        /// Offset of the byte within the plaintext.
        offset: usize,
        /// Value the default padding scheme puts there.
        expected: u8,
        /// Value found.
        found: u8,
    },
    /// Padding alignment must be a power of two between 4 and 256 bytes.
    #[error("ESP padding alignment {align} is not a power of two from 4 to 256")]
    BadAlignment {
        /// Alignment asked for.
        align: usize,
    },
}

/// Checks that an SPI may appear in an ESP or AH header on the wire.
pub(crate) fn check_spi(spi: u32) -> Result<(), EspError> {
    match spi {
        0 => Err(EspError::ZeroSpi),
        1..=MAX_RESERVED_SPI => Err(EspError::ReservedSpi { spi }),
        _ => Ok(()),
    }
}

/// A read-only (or, over `&mut [u8]`, writable) view of an ESP packet: SPI, sequence number,
/// and the opaque rest (IV, ciphertext, ICV) that only the SA can interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wraps a buffer without validation; accessors on a short buffer read zeros.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking that SPI and sequence number are present and that the
    /// SPI is neither zero nor reserved.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, EspError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The validation [`new_checked`](Self::new_checked) performs.
    #[inline]
    pub(crate) fn check_len(&self) -> Result<(), EspError> {
        let available = self.buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(EspError::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available,
            });
        }
        check_spi(self.spi())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// All bytes of the packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Security Parameters Index.
    #[inline]
    pub fn spi(&self) -> u32 {
        field::u32_at(self.buffer.as_ref(), off::SPI)
    }

    /// Sequence number (low 32 bits when ESN is in use).
    #[inline]
    pub fn seq(&self) -> u32 {
        field::u32_at(self.buffer.as_ref(), off::SEQ)
    }

    /// Everything after the sequence number: IV, ciphertext and ICV, opaque here.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        field::slice(buf, HEADER_LEN, buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspPacket<T> {
    /// Overwrites the SPI: the relay's whole job for ESP, and the client's last step after
    /// sealing with the SGW-side SPI.
    #[inline]
    pub fn set_spi(&mut self, spi: u32) {
        field::set_u32(self.buffer.as_mut(), off::SPI, spi);
    }

    /// Overwrites the sequence number.
    pub(crate) fn set_seq(&mut self, seq: u32) {
        field::set_u32(self.buffer.as_mut(), off::SEQ, seq);
    }
}

/// The fields of an ESP header, parsed or to be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspRepr {
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence number (low 32 bits).
    pub seq: u32,
}

impl EspRepr {
    /// Reads a checked packet's header.
    pub fn parse<T: AsRef<[u8]>>(packet: &EspPacket<T>) -> Result<Self, EspError> {
        packet.check_len()?;
        Ok(Self {
            spi: packet.spi(),
            seq: packet.seq(),
        })
    }

    /// Writes SPI and sequence number into the front of `buf`; returns 8. Refuses an SPI that
    /// may not appear on the wire.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EspError> {
        check_spi(self.spi)?;
        let available = buf.len();
        let header = buf.get_mut(..HEADER_LEN).ok_or(EspError::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available,
        })?;
        let mut packet = EspPacket::new_unchecked(header);
        packet.set_spi(self.spi);
        packet.set_seq(self.seq);
        Ok(HEADER_LEN)
    }
}

/// The end of a decrypted ESP payload: padding, Pad Length, Next Header (RFC 4303 §2.4-2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspTrailer {
    /// Length of the protected payload (the inner packet) before the padding.
    pub payload_len: usize,
    /// Pad Length.
    pub pad_len: u8,
    /// Next Header: IPv4/IPv6 in tunnel mode, the transport protocol in transport mode,
    /// [`IpProtocol::NO_NEXT_HEADER`] for a dummy packet.
    pub next_header: IpProtocol,
}

impl EspTrailer {
    /// Parses the trailer of `plaintext` (payload, padding, Pad Length, Next Header; IV and
    /// ICV already removed) and verifies that the padding is the default 1, 2, 3, ... sequence
    /// every cipher we support uses, as RFC 4303 §2.4 lets the receiver check.
    pub fn parse(plaintext: &[u8]) -> Result<Self, EspError> {
        let trailer = Self::parse_unverified(plaintext)?;
        let padding = field::slice(
            plaintext,
            trailer.payload_len,
            trailer
                .payload_len
                .saturating_add(usize::from(trailer.pad_len)),
        );
        for (i, (found, expected)) in padding.iter().zip(1..=u8::MAX).enumerate() {
            if *found != expected {
                return Err(EspError::BadPadding {
                    offset: trailer.payload_len.saturating_add(i),
                    expected,
                    found: *found,
                });
            }
        }
        Ok(trailer)
    }

    /// Parses the trailer without checking the padding bytes' values.
    pub fn parse_unverified(plaintext: &[u8]) -> Result<Self, EspError> {
        let len = plaintext.len();
        let before = len
            .checked_sub(TRAILER_FIXED_LEN)
            .ok_or(EspError::TrailerTruncated { len })?;
        let tail = field::slice(plaintext, before, len);
        let (_, (pad_len, next_header)) = (be_u8::<_, nom::error::Error<&[u8]>>, be_u8)
            .parse(tail)
            .map_err(|_| EspError::TrailerTruncated { len })?;
        let payload_len =
            before
                .checked_sub(usize::from(pad_len))
                .ok_or(EspError::PadLenExceedsPlaintext {
                    pad_len,
                    offset: before,
                    available: before,
                })?;
        // Confirm with nom that payload and padding tile the plaintext exactly.
        let _ = (
            take::<_, _, nom::error::Error<&[u8]>>(payload_len),
            take(pad_len),
        )
            .parse(plaintext)
            .map_err(|_| EspError::TrailerTruncated { len })?;
        Ok(Self {
            payload_len,
            pad_len,
            next_header: IpProtocol(next_header),
        })
    }

    /// The trailer for `payload_len` bytes of payload, padded so that payload plus trailer is
    /// a multiple of `align` (the cipher block size, at least 4: RFC 4303 §2.4 requires the
    /// ciphertext to end on a 4-byte boundary).
    pub fn for_payload(
        payload_len: usize,
        next_header: IpProtocol,
        align: usize,
    ) -> Result<Self, EspError> {
        if !(4..=256).contains(&align) || !align.is_power_of_two() {
            return Err(EspError::BadAlignment { align });
        }
        // With align a power of two, masking is the remainder and cannot fail.
        let used = payload_len.wrapping_add(TRAILER_FIXED_LEN) & align.wrapping_sub(1);
        let pad = align.wrapping_sub(used) & align.wrapping_sub(1);
        let pad_len = u8::try_from(pad).map_err(|_| EspError::BadAlignment { align })?;
        Ok(Self {
            payload_len,
            pad_len,
            next_header,
        })
    }

    /// Bytes of padding, Pad Length and Next Header.
    pub fn len(&self) -> usize {
        usize::from(self.pad_len).wrapping_add(TRAILER_FIXED_LEN)
    }

    /// Always false: a trailer has at least its two fixed bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The payload part of a plaintext this trailer was parsed from.
    pub fn payload<'a>(&self, plaintext: &'a [u8]) -> &'a [u8] {
        field::slice(plaintext, 0, self.payload_len)
    }

    /// Writes padding (1, 2, 3, ...), Pad Length and Next Header into the front of `buf`
    /// (which starts right after the payload); returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EspError> {
        let len = self.len();
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(EspError::Truncated {
            offset: 0,
            needed: len,
            available,
        })?;
        let (padding, fixed) = out.split_at_mut(usize::from(self.pad_len));
        for (b, v) in padding.iter_mut().zip(1..=u8::MAX) {
            *b = v;
        }
        fixed.copy_from_slice(&[self.pad_len, self.next_header.0]);
        Ok(len)
    }
}

/// The SPI of what may be an ESP packet: `None` when it is shorter than an ESP header. The
/// relay's fast path reads only this before its lookup; everything else about the packet is
/// the full parse's ([`EspPacket::new_checked`]).
#[inline(always)]
pub(crate) fn peek_spi(packet: &[u8]) -> Option<u32> {
    if packet.len() < HEADER_LEN {
        return None;
    }
    match packet {
        [a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
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

    #[test]
    fn header_fields_and_spi_rewrite() {
        let mut buf = [0xe0, 0x1a, 0xe4, 0xaa, 0, 0, 0, 1, 0xde, 0xad];
        let mut p = EspPacket::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.spi(), 0xe01a_e4aa);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.payload(), &[0xde, 0xad]);
        p.set_spi(0xb8fd_36f9);
        assert_eq!(&buf[..4], &[0xb8, 0xfd, 0x36, 0xf9]);
        assert_eq!(&buf[8..], &[0xde, 0xad], "payload untouched");
    }

    #[test]
    fn views_work_over_bytes() {
        let b = bytes::Bytes::from_static(&[0, 0, 1, 0, 0, 0, 0, 9, 1]);
        let p = EspPacket::new_checked(b.clone()).unwrap();
        assert_eq!((p.spi(), p.seq(), p.payload()), (256, 9, &[1u8][..]));
        assert_eq!(p.into_inner(), b);
    }

    #[test]
    fn spi_rules() {
        assert_eq!(
            EspPacket::new_checked(&[0u8, 0, 0, 0, 0, 0, 0, 1][..]).unwrap_err(),
            EspError::ZeroSpi
        );
        assert_eq!(
            EspPacket::new_checked(&[0u8, 0, 0, 255, 0, 0, 0, 1][..]).unwrap_err(),
            EspError::ReservedSpi { spi: 255 }
        );
        assert!(EspPacket::new_checked(&[0u8, 0, 1, 0, 0, 0, 0, 1][..]).is_ok());
        assert_eq!(
            EspPacket::new_checked(&[1u8, 2, 3][..]).unwrap_err(),
            EspError::Truncated {
                offset: 0,
                needed: 8,
                available: 3
            }
        );
        assert_eq!(
            EspRepr { spi: 7, seq: 0 }.emit(&mut [0u8; 8]),
            Err(EspError::ReservedSpi { spi: 7 })
        );
    }

    #[test]
    fn repr_round_trip() {
        let repr = EspRepr {
            spi: 0x1234_5678,
            seq: 0xffff_ffff,
        };
        let mut buf = [0u8; 8];
        repr.emit(&mut buf).unwrap();
        assert_eq!(buf, [0x12, 0x34, 0x56, 0x78, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            EspRepr::parse(&EspPacket::new_checked(&buf[..]).unwrap()).unwrap(),
            repr
        );
    }

    #[test]
    fn trailer_rfc4303_default_padding() {
        // 5-byte payload, AES block 16: 5 + 9 + 2 = 16.
        let t = EspTrailer::for_payload(5, IpProtocol::IPV4, 16).unwrap();
        assert_eq!(t.pad_len, 9);
        let mut pt = vec![0xaa; 5];
        pt.resize(16, 0);
        assert_eq!(t.emit(&mut pt[5..]).unwrap(), 11);
        assert_eq!(&pt[5..], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 4]);
        assert_eq!(EspTrailer::parse(&pt).unwrap(), t);
        assert_eq!(t.payload(&pt), &[0xaa; 5]);
        // Already aligned: 14 + 2 = 16, no padding.
        assert_eq!(
            EspTrailer::for_payload(14, IpProtocol::IPV6, 16)
                .unwrap()
                .pad_len,
            0
        );
        // Minimum alignment of 4.
        assert_eq!(
            EspTrailer::for_payload(3, IpProtocol::TCP, 4)
                .unwrap()
                .pad_len,
            3
        );
    }

    /// Regression (found by proptest): counting padding bytes with `1u8..` overflowed after
    /// the 255th byte, so a legal maximal Pad Length panicked in debug builds.
    #[test]
    fn trailer_with_255_bytes_of_padding() {
        // 255 + 255 + 2 = 512.
        let t = EspTrailer::for_payload(255, IpProtocol::IPV4, 256).unwrap();
        assert_eq!(t.pad_len, 255);
        let mut pt = vec![0x45u8; 255 + t.len()];
        t.emit(&mut pt[255..]).unwrap();
        assert_eq!(pt[255 + 254], 255);
        assert_eq!(EspTrailer::parse(&pt).unwrap(), t);
        let mut wire = vec![0u8; 255];
        for (i, b) in wire.iter_mut().enumerate() {
            *b = u8::try_from(i + 1).unwrap();
        }
        wire.extend_from_slice(&[255, 4]);
        assert_eq!(EspTrailer::parse(&wire).unwrap().payload_len, 0);
    }

    #[test]
    fn trailer_errors() {
        assert_eq!(
            EspTrailer::parse(&[4]),
            Err(EspError::TrailerTruncated { len: 1 })
        );
        assert_eq!(
            EspTrailer::parse(&[1, 2, 3, 4]),
            Err(EspError::PadLenExceedsPlaintext {
                pad_len: 3,
                offset: 2,
                available: 2
            })
        );
        assert_eq!(
            EspTrailer::parse(&[0xaa, 1, 3, 2, 4]),
            Err(EspError::BadPadding {
                offset: 2,
                expected: 2,
                found: 3
            })
        );
        assert!(EspTrailer::parse_unverified(&[0xaa, 1, 3, 2, 4]).is_ok());
        assert_eq!(
            EspTrailer::for_payload(1, IpProtocol::IPV4, 12),
            Err(EspError::BadAlignment { align: 12 })
        );
        assert_eq!(
            EspTrailer::for_payload(1, IpProtocol::IPV4, 2),
            Err(EspError::BadAlignment { align: 2 })
        );
    }

    #[test]
    fn peek_spi_needs_a_whole_header() {
        assert_eq!(peek_spi(&[0, 0, 1, 0, 0, 0, 0, 1]), Some(256));
        assert_eq!(peek_spi(&[0, 0, 1, 0, 0, 0, 0]), None);
    }
}
