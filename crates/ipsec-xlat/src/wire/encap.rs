//! UDP encapsulation of ESP and IKE on port 4500 (RFC 3948 §2).
//!
//! Once NAT-T is in use, ESP packets, IKE messages and NAT-keepalives share one UDP port. The
//! first bytes of the UDP payload tell them apart: ESP starts with its nonzero SPI, IKE is
//! preceded by the four-zero-byte non-ESP marker, a keepalive is the single byte 0xFF.

use super::esp::{EspError, EspPacket};

/// UDP port of IKE before NAT detection.
pub const IKE_PORT: u16 = 500;
/// UDP port of IKE and ESP once NAT traversal is in use (RFC 3947/3948).
pub const NAT_T_PORT: u16 = 4500;
/// The non-ESP marker: four zero bytes where an SPI would be (RFC 3948 §2.2).
pub(crate) const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT-keepalive payload byte (RFC 3948 §2.3).
pub(crate) const KEEPALIVE_BYTE: u8 = 0xff;
/// On the c-side, UDP-encapsulated AH is preceded by these four bytes (`docs/PROTOCOL.md`,
/// "UDP on the client leg"). RFC 3948 defines ESP-in-UDP only, and an AH header's first word
/// (Next Header, Payload Length, Reserved) could pass for an ESP SPI; this prefix reads as the
/// SPI 51, which is in the range 1–255 that no ESP packet may carry, so nothing standard is
/// ever mistaken for it. It never appears on the s-side, where AH always travels as IP
/// protocol 51.
pub const AH_IN_UDP_MARKER: [u8; 4] = [0, 0, 0, 51];
/// The fixed ISAKMP header: the least that can follow a non-ESP marker.
pub(crate) const ISAKMP_HEADER_LEN: usize = 28;

/// Why a UDP payload on port 4500 is none of ESP, IKE or keepalive, or why a builder failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// The UDP payload is empty.
    #[error("UDP-encapsulated payload is empty")]
    Empty,
    /// A payload shorter than an ESP header that is not a keepalive.
    #[error(
        "UDP-encapsulated payload of {len} bytes is neither a keepalive nor long enough for ESP"
    )]
    TooShort {
        /// Payload length.
        len: usize,
    },
    /// A non-ESP marker followed by fewer bytes than an ISAKMP header.
    #[error(
        "non-ESP marker followed by {len} bytes, fewer than the 28-byte ISAKMP header at offset 4"
    )]
    IkeTooShort {
        /// Bytes after the marker.
        len: usize,
    },
    /// Starts like ESP but the ESP header is invalid (e.g. a reserved SPI).
    #[error("UDP-encapsulated ESP: {0}")]
    Esp(#[from] EspError),
    /// The output buffer is too small.
    #[error("UDP-encapsulation output needs {needed} bytes, buffer has {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// What a UDP payload received on port 4500 holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encapsulated<'a> {
    /// An ESP packet (RFC 3948 §2.1), header already checked.
    Esp(EspPacket<&'a [u8]>),
    /// An IKE message after the non-ESP marker (RFC 3948 §2.2): the ISAKMP message and, for
    /// us, any tail after its own length.
    Ike(&'a [u8]),
    /// A NAT-keepalive (RFC 3948 §2.3).
    Keepalive,
    /// None of the above; the reason says why. Count it and drop it.
    Garbage(EncapError),
}

/// Classifies the payload of a UDP datagram received on port 4500.
#[inline]
pub fn classify(udp_payload: &[u8]) -> Encapsulated<'_> {
    match udp_payload {
        [] => Encapsulated::Garbage(EncapError::Empty),
        [KEEPALIVE_BYTE] => Encapsulated::Keepalive,
        [0, 0, 0, 0, ike @ ..] => {
            if ike.len() < ISAKMP_HEADER_LEN {
                Encapsulated::Garbage(EncapError::IkeTooShort { len: ike.len() })
            } else {
                Encapsulated::Ike(ike)
            }
        }
        _ if udp_payload.len() < super::esp::HEADER_LEN => {
            Encapsulated::Garbage(EncapError::TooShort {
                len: udp_payload.len(),
            })
        }
        _ => match EspPacket::new_checked(udp_payload) {
            Ok(esp) => Encapsulated::Esp(esp),
            Err(e) => Encapsulated::Garbage(EncapError::Esp(e)),
        },
    }
}

fn out(buf: &mut [u8], needed: usize) -> Result<&mut [u8], EncapError> {
    let available = buf.len();
    buf.get_mut(..needed)
        .ok_or(EncapError::BufferTooSmall { needed, available })
}

/// Writes a NAT-keepalive payload; returns 1.
pub fn emit_keepalive(buf: &mut [u8]) -> Result<usize, EncapError> {
    out(buf, 1)?.copy_from_slice(&[KEEPALIVE_BYTE]);
    Ok(1)
}

/// Writes the non-ESP marker alone (for callers that then write the IKE message in place
/// after it); returns 4.
pub fn emit_non_esp_marker(buf: &mut [u8]) -> Result<usize, EncapError> {
    out(buf, NON_ESP_MARKER.len())?.copy_from_slice(&NON_ESP_MARKER);
    Ok(NON_ESP_MARKER.len())
}

/// Writes the non-ESP marker followed by `ike` (an ISAKMP message, plus any tail); returns
/// the payload length.
pub fn emit_ike(buf: &mut [u8], ike: &[u8]) -> Result<usize, EncapError> {
    if ike.len() < ISAKMP_HEADER_LEN {
        return Err(EncapError::IkeTooShort { len: ike.len() });
    }
    let needed = NON_ESP_MARKER.len().saturating_add(ike.len());
    let (marker, msg) = out(buf, needed)?.split_at_mut(NON_ESP_MARKER.len());
    marker.copy_from_slice(&NON_ESP_MARKER);
    msg.copy_from_slice(ike);
    Ok(needed)
}

/// Writes an ESP packet as a UDP payload (RFC 3948 adds nothing in front of ESP); refuses one
/// whose SPI would be read as a marker or is reserved. Returns the payload length.
pub fn emit_esp(buf: &mut [u8], esp: &[u8]) -> Result<usize, EncapError> {
    EspPacket::new_checked(esp)?;
    out(buf, esp.len())?.copy_from_slice(esp);
    Ok(esp.len())
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
    fn classifies_the_four_kinds() {
        assert_eq!(classify(&[0xff]), Encapsulated::Keepalive);
        let esp = [0xe0, 0x1a, 0xe4, 0xaa, 0, 0, 0, 1, 9, 9];
        match classify(&esp) {
            Encapsulated::Esp(p) => {
                assert_eq!(p.spi(), 0xe01a_e4aa);
                assert_eq!(p.seq(), 1);
            }
            other => panic!("{other:?}"),
        }
        let mut ike = vec![0u8; 4];
        ike.extend_from_slice(&[0x11; 28]);
        assert_eq!(classify(&ike), Encapsulated::Ike(&[0x11; 28][..]));
        assert_eq!(classify(&[]), Encapsulated::Garbage(EncapError::Empty));
    }

    #[test]
    fn garbage_reasons() {
        assert_eq!(
            classify(&[0xfe]),
            Encapsulated::Garbage(EncapError::TooShort { len: 1 })
        );
        assert_eq!(
            classify(&[0xff, 0xff]),
            Encapsulated::Garbage(EncapError::TooShort { len: 2 })
        );
        assert_eq!(
            classify(&[0, 0, 0, 0]),
            Encapsulated::Garbage(EncapError::IkeTooShort { len: 0 })
        );
        assert_eq!(
            classify(&[0, 0, 0, 0, 1, 2, 3]),
            Encapsulated::Garbage(EncapError::IkeTooShort { len: 3 })
        );
        assert_eq!(
            classify(&[0, 0, 0, 7, 0, 0, 0, 1]),
            Encapsulated::Garbage(EncapError::Esp(EspError::ReservedSpi { spi: 7 }))
        );
    }

    #[test]
    fn builders_round_trip_through_classify() {
        let mut buf = [0u8; 64];
        let n = emit_keepalive(&mut buf).unwrap();
        assert_eq!(classify(&buf[..n]), Encapsulated::Keepalive);

        let msg = [0x42u8; 30];
        let n = emit_ike(&mut buf, &msg).unwrap();
        assert_eq!(n, 34);
        assert_eq!(classify(&buf[..n]), Encapsulated::Ike(&msg[..]));

        let esp = [0, 0, 1, 0, 0, 0, 0, 5, 0xcc];
        let n = emit_esp(&mut buf, &esp).unwrap();
        assert!(matches!(classify(&buf[..n]), Encapsulated::Esp(p) if p.spi() == 256));

        assert_eq!(emit_non_esp_marker(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], &NON_ESP_MARKER);
    }

    #[test]
    fn builder_errors() {
        assert_eq!(
            emit_keepalive(&mut []),
            Err(EncapError::BufferTooSmall {
                needed: 1,
                available: 0
            })
        );
        assert_eq!(
            emit_ike(&mut [0u8; 64], &[1; 27]),
            Err(EncapError::IkeTooShort { len: 27 })
        );
        assert_eq!(
            emit_ike(&mut [0u8; 31], &[1; 28]),
            Err(EncapError::BufferTooSmall {
                needed: 32,
                available: 31
            })
        );
        assert_eq!(
            emit_esp(&mut [0u8; 64], &[0, 0, 0, 0, 0, 0, 0, 1]),
            Err(EncapError::Esp(EspError::ZeroSpi))
        );
    }
}
