//! Authentication Header (RFC 4302): view, writer, and the ICV input.
//!
//! AH's ICV covers the immutable fields of the outer IP header (RFC 4302 §3.3.3.1 and
//! Appendix A), the AH header with its ICV field zeroed, and everything after. The client
//! computes it over the header the SGW will see, and the relay must reproduce every immutable
//! field on the SGW side exactly (IPv4 Total Length and Identification included).
//! [`icv_input`] feeds those bytes to a MAC without copying the packet;
//! [`zero_mutable_fields`] does the same zeroing in place on a caller-owned copy.

use core::ops::Range;

use super::esp::MAX_RESERVED_SPI;
use super::field;
use super::ipv4::{self, Ipv4Error, Ipv4Packet};
use super::ipv6::{self, Ipv6Error, Ipv6Packet};
use super::{IpProtocol, IpVersion};

/// Next Header, Payload Length, Reserved, SPI, Sequence Number.
pub(crate) const FIXED_LEN: usize = 12;

mod off {
    pub(crate) const NEXT_HEADER: usize = 0;
    pub(crate) const PAYLOAD_LEN: usize = 1;
    pub(crate) const RESERVED: usize = 2;
    pub(crate) const SPI: usize = 4;
    pub(crate) const SEQ: usize = 8;
}

/// What was wrong with an AH header or the packet around it, and where.
///
/// Offsets are from the start of the AH header for [`AhPacket`], and from the start of the
/// IP packet for [`icv_input`] and [`zero_mutable_fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AhError {
    /// The buffer ends before the header does.
    #[error("AH truncated at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Offset of the structure that did not fit.
        offset: usize,
        /// Bytes needed from the start of the AH header.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// Payload Length (AH offset 1) is zero: the header would be shorter than 12 bytes.
    #[error("AH payload length at offset 1 is {payload_len}, below the minimum of 1")]
    PayloadLenTooSmall {
        /// Payload Length field.
        payload_len: u8,
    },
    /// SPI (AH offset 4) is zero.
    #[error("AH SPI at offset 4 is zero")]
    ZeroSpi,
    /// SPI (AH offset 4) is in the IANA-reserved range 1-255.
    #[error("AH SPI at offset 4 is {spi}, in the reserved range 1-255")]
    ReservedSpi {
        /// The SPI found.
        spi: u32,
    },
    /// The header length does not match the negotiated ICV length plus alignment padding.
    #[error(
        "AH header of {header_len} bytes does not fit a {icv_len}-byte ICV: expected {expected}"
    )]
    IcvLenMismatch {
        /// Header length from Payload Length.
        header_len: usize,
        /// Negotiated ICV length.
        icv_len: usize,
        /// Header length the ICV length and IP version imply.
        expected: usize,
    },
    /// An ICV length whose header length cannot be expressed in Payload Length.
    #[error("AH ICV length {icv_len} is too long for the Payload Length field")]
    IcvTooLong {
        /// ICV length asked for.
        icv_len: usize,
    },
    /// The IP packet does not carry AH where expected.
    #[error("expected AH at offset {offset}, found {protocol}")]
    NotAh {
        /// Protocol found.
        protocol: IpProtocol,
        /// Its offset from the IP packet start.
        offset: usize,
    },
    /// The IP packet is a fragment; the ICV covers only reassembled packets.
    #[error(
        "IP packet is a fragment (header at offset {offset}); AH ICV needs the reassembled packet"
    )]
    Fragmented {
        /// Offset of the IPv4 flags field or IPv6 Fragment header.
        offset: usize,
    },
    /// An IPv6 Routing header with segments left precedes AH: the destination address would
    /// have to be predicted, which we do not support.
    #[error("IPv6 routing header at offset {offset} has segments left; not supported for AH")]
    RoutingInTransit {
        /// Offset of the Routing header.
        offset: usize,
    },
    /// An IPv4 Loose or Strict Source Route option: the destination address in the ICV input
    /// would have to be the final one from the option, which we do not support.
    #[error("IPv4 source route option at offset {offset}; not supported for AH")]
    SourceRouted {
        /// Offset of the option from the IP packet start.
        offset: usize,
    },
    /// The first byte is not IPv4 or IPv6.
    #[error("IP version nibble at offset 0 is {version}, neither 4 nor 6")]
    BadIpVersion {
        /// The version found.
        version: u8,
    },
    /// The outer IPv4 header is invalid.
    #[error(transparent)]
    Ipv4(#[from] Ipv4Error),
    /// The outer IPv6 header or an extension header is invalid.
    #[error(transparent)]
    Ipv6(#[from] Ipv6Error),
}

impl AhError {
    /// The same error with its AH-relative offset moved by `by` (the AH header's offset).
    fn shifted(self, by: usize) -> Self {
        match self {
            Self::Truncated {
                offset,
                needed,
                available,
            } => Self::Truncated {
                offset: offset.saturating_add(by),
                needed,
                available,
            },
            other => other,
        }
    }
}

/// Header length (multiple of the alignment) that an ICV of `icv_len` bytes implies.
pub(crate) fn header_len_for(icv_len: usize, version: IpVersion) -> Result<usize, AhError> {
    let align = version.ah_alignment();
    let len = FIXED_LEN
        .checked_add(icv_len)
        .and_then(|l| l.checked_next_multiple_of(align))
        .ok_or(AhError::IcvTooLong { icv_len })?;
    // Payload Length is one byte of (words - 2): at most 257 words.
    if len > 257 * 4 {
        return Err(AhError::IcvTooLong { icv_len });
    }
    Ok(len)
}

/// A read-only (or, over `&mut [u8]`, writable) view of an AH header and what follows it.
///
/// After [`new_checked`](Self::new_checked) the whole header (as Payload Length gives it) is
/// in the buffer and the SPI is valid. Which part of the authentication data is ICV depends on
/// the SA; [`check_icv_len`](Self::check_icv_len) (or
/// [`new_checked_with`](Self::new_checked_with)) confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AhPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AhPacket<T> {
    /// Wraps a buffer without validation; accessors on a short buffer read zeros.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking Payload Length, that the header fits, and the SPI.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, AhError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`new_checked`](Self::new_checked) plus [`check_icv_len`](Self::check_icv_len).
    #[inline]
    pub fn new_checked_with(
        buffer: T,
        icv_len: usize,
        version: IpVersion,
    ) -> Result<Self, AhError> {
        let packet = Self::new_checked(buffer)?;
        packet.check_icv_len(icv_len, version)?;
        Ok(packet)
    }

    /// The validation [`new_checked`](Self::new_checked) performs.
    #[inline]
    pub(crate) fn check_len(&self) -> Result<(), AhError> {
        let available = self.buffer.as_ref().len();
        if available < FIXED_LEN {
            return Err(AhError::Truncated {
                offset: 0,
                needed: FIXED_LEN,
                available,
            });
        }
        let payload_len = self.payload_len();
        if payload_len == 0 {
            return Err(AhError::PayloadLenTooSmall { payload_len });
        }
        let header_len = self.header_len();
        if header_len > available {
            return Err(AhError::Truncated {
                offset: FIXED_LEN,
                needed: header_len,
                available,
            });
        }
        match self.spi() {
            0 => Err(AhError::ZeroSpi),
            spi @ 1..=MAX_RESERVED_SPI => Err(AhError::ReservedSpi { spi }),
            _ => Ok(()),
        }
    }

    /// Checks that the header is exactly as long as a negotiated ICV of `icv_len` bytes plus
    /// the padding the IP version requires (32-bit alignment under IPv4, 64-bit under IPv6).
    #[inline]
    pub fn check_icv_len(&self, icv_len: usize, version: IpVersion) -> Result<(), AhError> {
        let expected = header_len_for(icv_len, version)?;
        let header_len = self.header_len();
        if header_len != expected {
            return Err(AhError::IcvLenMismatch {
                header_len,
                icv_len,
                expected,
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Next Header: the protocol after AH.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(field::u8_at(self.buffer.as_ref(), off::NEXT_HEADER))
    }

    /// Payload Length field: AH length in 32-bit words minus 2.
    #[inline]
    pub fn payload_len(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::PAYLOAD_LEN)
    }

    /// AH header length in bytes, authentication data included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.payload_len())
            .wrapping_add(2)
            .wrapping_mul(4)
    }

    /// Reserved field (must be sent as zero, ignored on receipt).
    pub fn reserved(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::RESERVED)
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

    /// Authentication data: the ICV and any alignment padding after it.
    pub fn auth_data(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), FIXED_LEN, self.header_len())
    }

    /// The first `icv_len` bytes of the authentication data (clamped to it).
    pub fn icv(&self, icv_len: usize) -> &[u8] {
        let data = self.auth_data();
        field::slice(data, 0, icv_len.min(data.len()))
    }

    /// What AH protects: the bytes after the AH header.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        field::slice(buf, self.header_len(), buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AhPacket<T> {
    /// Sets Next Header.
    pub(crate) fn set_next_header(&mut self, protocol: IpProtocol) {
        field::set_u8(self.buffer.as_mut(), off::NEXT_HEADER, protocol.0);
    }

    /// Sets Payload Length.
    pub(crate) fn set_payload_len(&mut self, payload_len: u8) {
        field::set_u8(self.buffer.as_mut(), off::PAYLOAD_LEN, payload_len);
    }

    /// Sets the reserved field.
    pub(crate) fn set_reserved(&mut self, reserved: u16) {
        field::set_u16(self.buffer.as_mut(), off::RESERVED, reserved);
    }

    /// Overwrites the SPI.
    #[inline]
    pub fn set_spi(&mut self, spi: u32) {
        field::set_u32(self.buffer.as_mut(), off::SPI, spi);
    }

    /// Overwrites the sequence number.
    pub(crate) fn set_seq(&mut self, seq: u32) {
        field::set_u32(self.buffer.as_mut(), off::SEQ, seq);
    }

    /// Mutable authentication data.
    pub(crate) fn auth_data_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        field::slice_mut(self.buffer.as_mut(), FIXED_LEN, end)
    }
}

/// The fields of an AH header, parsed or to be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AhRepr {
    /// Next Header.
    pub next_header: IpProtocol,
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence number (low 32 bits).
    pub seq: u32,
    /// Negotiated ICV length.
    pub icv_len: usize,
    /// IP version carrying the header, which fixes the alignment.
    pub version: IpVersion,
}

impl AhRepr {
    /// Reads a header given the SA's ICV length and the carrying IP version.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &AhPacket<T>,
        icv_len: usize,
        version: IpVersion,
    ) -> Result<Self, AhError> {
        packet.check_len()?;
        packet.check_icv_len(icv_len, version)?;
        Ok(Self {
            next_header: packet.next_header(),
            spi: packet.spi(),
            seq: packet.seq(),
            icv_len,
            version,
        })
    }

    /// Header length this representation emits.
    pub fn header_len(&self) -> Result<usize, AhError> {
        header_len_for(self.icv_len, self.version)
    }

    /// Writes the header with zeroed authentication data (ICV and padding) into the front of
    /// `buf`, ready for the ICV computation; returns the header length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, AhError> {
        match self.spi {
            0 => return Err(AhError::ZeroSpi),
            spi @ 1..=MAX_RESERVED_SPI => return Err(AhError::ReservedSpi { spi }),
            _ => {}
        }
        let header_len = self.header_len()?;
        let words = header_len / 4;
        let payload_len =
            u8::try_from(words.saturating_sub(2)).map_err(|_| AhError::IcvTooLong {
                icv_len: self.icv_len,
            })?;
        let available = buf.len();
        let header = buf.get_mut(..header_len).ok_or(AhError::Truncated {
            offset: 0,
            needed: header_len,
            available,
        })?;
        let mut packet = AhPacket::new_unchecked(header);
        packet.set_next_header(self.next_header);
        packet.set_payload_len(payload_len);
        packet.set_reserved(0);
        packet.set_spi(self.spi);
        packet.set_seq(self.seq);
        packet.auth_data_mut().fill(0);
        Ok(header_len)
    }
}

/// Where AH sits in an IP packet, as found by [`icv_input`] or [`zero_mutable_fields`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AhIcvLayout {
    /// Outer IP version.
    pub version: IpVersion,
    /// Offset of the AH header from the IP packet start.
    pub ah_offset: usize,
    /// Range of the ICV within the IP packet: where to write or compare it.
    pub icv: Range<usize>,
    /// Length of the IP packet (IPv4 Total Length, or 40 + IPv6 Payload Length): the ICV
    /// input is exactly this many bytes.
    pub packet_len: usize,
}

/// IPv4 option types AH treats as immutable (RFC 4302 Appendix A.1): End of Option List,
/// NOP, Security, Extended Security, Commercial Security, Router Alert, Sender Directed
/// Multi-Destination Delivery. Every other option is zeroed whole.
const IPV4_IMMUTABLE_OPTIONS: [u8; 7] = [0, 1, 130, 133, 134, 148, 149];

/// Feeds `sink` the bytes over which the AH ICV of `ip_packet` is computed, in order and in
/// chunks: the outer IP header with its mutable fields zeroed, AH with its ICV (`icv_len`
/// bytes) zeroed, and the rest of the packet up to its IP length.
///
/// Zeroed per RFC 4302 Appendix A: IPv4 TOS, flags, fragment offset, TTL, header checksum, and
/// every option not listed as immutable; IPv6 traffic class, flow label, hop limit, and the
/// data of every Hop-by-Hop/Destination option before AH whose type says it may change en
/// route. With extended sequence numbers, the caller appends the high 32 bits afterwards.
/// The ICV's alignment padding, if any, is covered as it stands (RFC 4302 §2.6).
///
/// Refused with a typed error rather than guessed: fragments (the ICV covers reassembled
/// packets), and IPv4 source-route options or IPv6 Routing headers with segments left
/// (the ICV would need the final destination, "mutable but predictable").
///
/// The packet is validated completely before `sink` sees a byte, so on `Err` the MAC state
/// is untouched. No allocation: kept bytes are slices of `ip_packet`, zeros come from a
/// static buffer.
pub fn icv_input<F>(ip_packet: &[u8], icv_len: usize, sink: F) -> Result<AhIcvLayout, AhError>
where
    F: FnMut(&[u8]),
{
    let layout = locate(ip_packet, icv_len)?;
    let mut editor = Streaming {
        packet: ip_packet,
        cursor: 0,
        sink,
    };
    apply_edits(&mut editor, &layout);
    editor.finish(layout.packet_len);
    Ok(layout)
}

/// Zeroes, in place, the fields [`icv_input`] would present as zero, so that the ICV input is
/// `&ip_packet[..layout.packet_len]`. Meant for a caller-owned scratch copy: the packet is no
/// longer valid to send afterwards. Validation precedes any change, so on `Err` the buffer is
/// untouched.
pub fn zero_mutable_fields(ip_packet: &mut [u8], icv_len: usize) -> Result<AhIcvLayout, AhError> {
    let layout = locate(ip_packet, icv_len)?;
    apply_edits(&mut InPlace(ip_packet), &layout);
    Ok(layout)
}

/// Validates the whole packet as far as the ICV input needs and finds AH.
fn locate(ip_packet: &[u8], icv_len: usize) -> Result<AhIcvLayout, AhError> {
    let version = match IpVersion::of_packet(ip_packet) {
        Some(v) => v,
        None => {
            return Err(AhError::BadIpVersion {
                version: field::u8_at(ip_packet, 0) >> 4,
            })
        }
    };
    let (ah_offset, packet_len) = match version {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_checked(ip_packet)?;
            if ip.is_fragment() {
                return Err(AhError::Fragmented { offset: 6 });
            }
            let mut source_route = None;
            ip.for_each_option(|o| {
                if o.kind == ipv4::OPTION_LSRR || o.kind == ipv4::OPTION_SSRR {
                    source_route = source_route.or(Some(o.offset));
                }
            })?;
            if let Some(offset) = source_route {
                return Err(AhError::SourceRouted { offset });
            }
            let ah_offset = ip.header_len();
            if ip.protocol() != IpProtocol::AH {
                return Err(AhError::NotAh {
                    protocol: ip.protocol(),
                    offset: ah_offset,
                });
            }
            (ah_offset, usize::from(ip.total_len()))
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_checked(ip_packet)?;
            let mut problem: Option<AhError> = None;
            let upper = ipv6::walk_extension_headers(ip.packet(), |h| {
                if problem.is_some() {
                    return;
                }
                match h.protocol {
                    IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_OPTS => {
                        if let Err(e) = ipv6::for_each_option(h.bytes, h.offset, |_| {}) {
                            problem = Some(e.into());
                        }
                    }
                    IpProtocol::IPV6_ROUTE => {
                        if field::u8_at(h.bytes, 3) != 0 {
                            problem = Some(AhError::RoutingInTransit { offset: h.offset });
                        }
                    }
                    _ => problem = Some(AhError::Fragmented { offset: h.offset }),
                }
            })?;
            if let Some(e) = problem {
                return Err(e);
            }
            if upper.protocol != IpProtocol::AH {
                return Err(AhError::NotAh {
                    protocol: upper.protocol,
                    offset: upper.offset,
                });
            }
            (upper.offset, ip.total_len())
        }
    };
    let ah_bytes = field::slice(ip_packet, ah_offset, packet_len);
    AhPacket::new_checked_with(ah_bytes, icv_len, version).map_err(|e| e.shifted(ah_offset))?;
    let icv_start = ah_offset.saturating_add(FIXED_LEN);
    Ok(AhIcvLayout {
        version,
        ah_offset,
        icv: icv_start..icv_start.saturating_add(icv_len),
        packet_len,
    })
}

/// The two ways of presenting the ICV input: edits in place, or a stream of chunks.
/// `apply_edits` calls `set`/`zero` at strictly increasing offsets.
trait Editor {
    fn bytes(&self) -> &[u8];
    fn set(&mut self, offset: usize, value: u8);
    fn zero(&mut self, range: Range<usize>);
}

struct InPlace<'a>(&'a mut [u8]);

impl Editor for InPlace<'_> {
    fn bytes(&self) -> &[u8] {
        self.0
    }
    fn set(&mut self, offset: usize, value: u8) {
        field::set_u8(self.0, offset, value);
    }
    fn zero(&mut self, range: Range<usize>) {
        if let Some(r) = self.0.get_mut(range) {
            r.fill(0);
        }
    }
}

static ZEROS: [u8; 64] = [0; 64];

struct Streaming<'a, F: FnMut(&[u8])> {
    packet: &'a [u8],
    cursor: usize,
    sink: F,
}

impl<F: FnMut(&[u8])> Streaming<'_, F> {
    fn keep_until(&mut self, end: usize) {
        let kept = field::slice(self.packet, self.cursor, end);
        if !kept.is_empty() {
            (self.sink)(kept);
        }
        self.cursor = self.cursor.max(end);
    }

    fn finish(&mut self, packet_len: usize) {
        self.keep_until(packet_len);
    }
}

impl<F: FnMut(&[u8])> Editor for Streaming<'_, F> {
    fn bytes(&self) -> &[u8] {
        self.packet
    }
    fn set(&mut self, offset: usize, value: u8) {
        self.keep_until(offset);
        (self.sink)(&[value]);
        self.cursor = offset.saturating_add(1);
    }
    fn zero(&mut self, range: Range<usize>) {
        self.keep_until(range.start);
        let mut left = range.end.saturating_sub(range.start);
        while left > 0 {
            let n = left.min(ZEROS.len());
            (self.sink)(field::slice(&ZEROS, 0, n));
            left = left.saturating_sub(n);
        }
        self.cursor = self.cursor.max(range.end);
    }
}

/// Applies the zeroing to an already validated packet.
fn apply_edits<E: Editor>(e: &mut E, layout: &AhIcvLayout) {
    match layout.version {
        IpVersion::V4 => {
            let header_len = Ipv4Packet::new_unchecked(e.bytes()).header_len();
            e.set(1, 0); // TOS (DSCP + ECN)
            e.zero(6..9); // flags, fragment offset, TTL
            e.zero(10..12); // header checksum
            let mut at = ipv4::MIN_HEADER_LEN;
            while at < header_len {
                let kind = field::u8_at(e.bytes(), at);
                if kind == ipv4::OPTION_EOL {
                    break;
                }
                let len = if kind == ipv4::OPTION_NOP {
                    1
                } else {
                    usize::from(field::u8_at(e.bytes(), at.saturating_add(1))).max(2)
                };
                let end = at.saturating_add(len);
                if !IPV4_IMMUTABLE_OPTIONS.contains(&kind) {
                    e.zero(at..end);
                }
                at = end;
            }
        }
        IpVersion::V6 => {
            e.set(0, 0x60); // version kept; traffic class high nibble zeroed
            e.zero(1..4); // rest of traffic class, flow label
            e.zero(7..8); // hop limit
            let mut protocol = Ipv6Packet::new_unchecked(e.bytes()).next_header();
            let mut at = ipv6::HEADER_LEN;
            while at < layout.ah_offset {
                let next = IpProtocol(field::u8_at(e.bytes(), at));
                let len = if protocol == IpProtocol::IPV6_FRAG {
                    8
                } else {
                    usize::from(field::u8_at(e.bytes(), at.saturating_add(1)))
                        .saturating_add(1)
                        .saturating_mul(8)
                };
                let end = at.saturating_add(len);
                if protocol == IpProtocol::HOP_BY_HOP || protocol == IpProtocol::IPV6_OPTS {
                    zero_mutable_ipv6_options(e, at.saturating_add(2), end);
                }
                protocol = next;
                at = end;
            }
        }
    }
    e.zero(layout.icv.clone());
}

fn zero_mutable_ipv6_options<E: Editor>(e: &mut E, mut at: usize, end: usize) {
    while at < end {
        let kind = field::u8_at(e.bytes(), at);
        if kind == ipv6::OPTION_PAD1 {
            at = at.saturating_add(1);
            continue;
        }
        let data_start = at.saturating_add(2);
        let data_end =
            data_start.saturating_add(usize::from(field::u8_at(e.bytes(), at.saturating_add(1))));
        if kind & 0x20 != 0 {
            e.zero(data_start..data_end);
        }
        at = data_end;
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
    use crate::wire::ipv4::{Ipv4Options, Ipv4Repr};
    use crate::wire::ipv6::Ipv6Repr;

    #[test]
    fn header_lengths_per_rfc4302() {
        // HMAC-SHA1-96: 12 + 12 = 24 under both versions (payload length 4).
        assert_eq!(header_len_for(12, IpVersion::V4).unwrap(), 24);
        assert_eq!(header_len_for(12, IpVersion::V6).unwrap(), 24);
        // HMAC-SHA256-128: 28 under IPv4, padded to 32 under IPv6.
        assert_eq!(header_len_for(16, IpVersion::V4).unwrap(), 28);
        assert_eq!(header_len_for(16, IpVersion::V6).unwrap(), 32);
        assert_eq!(header_len_for(0, IpVersion::V4).unwrap(), 12);
        assert!(header_len_for(2000, IpVersion::V4).is_err());
        assert!(header_len_for(usize::MAX, IpVersion::V6).is_err());
    }

    fn ah_repr(version: IpVersion, icv_len: usize) -> AhRepr {
        AhRepr {
            next_header: IpProtocol::IPV4,
            spi: 0xa001,
            seq: 7,
            icv_len,
            version,
        }
    }

    #[test]
    fn emit_parse_and_payload_len_field() {
        let repr = ah_repr(IpVersion::V6, 16);
        let mut buf = [0xeeu8; 40];
        assert_eq!(repr.emit(&mut buf).unwrap(), 32);
        assert_eq!(&buf[..12], &[4, 6, 0, 0, 0, 0, 0xa0, 1, 0, 0, 0, 7]);
        assert!(buf[12..32].iter().all(|b| *b == 0));
        let p = AhPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.payload(), &[0xee; 8]);
        assert_eq!(AhRepr::parse(&p, 16, IpVersion::V6).unwrap(), repr);
        assert_eq!(
            AhRepr::parse(&p, 16, IpVersion::V4).unwrap_err(),
            AhError::IcvLenMismatch {
                header_len: 32,
                icv_len: 16,
                expected: 28
            }
        );
    }

    #[test]
    fn view_errors() {
        assert_eq!(
            AhPacket::new_checked(&[0u8; 11][..]).unwrap_err(),
            AhError::Truncated {
                offset: 0,
                needed: 12,
                available: 11
            }
        );
        let mut b = [4u8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        assert_eq!(
            AhPacket::new_checked(&b[..]).unwrap_err(),
            AhError::PayloadLenTooSmall { payload_len: 0 }
        );
        b[1] = 4;
        assert_eq!(
            AhPacket::new_checked(&b[..]).unwrap_err(),
            AhError::Truncated {
                offset: 12,
                needed: 24,
                available: 12
            }
        );
        b[1] = 1;
        b[6] = 0;
        assert_eq!(AhPacket::new_checked(&b[..]).unwrap_err(), AhError::ZeroSpi);
        b[7] = 200;
        assert_eq!(
            AhPacket::new_checked(&b[..]).unwrap_err(),
            AhError::ReservedSpi { spi: 200 }
        );
    }

    fn ipv4_ah_packet(options: &[u8]) -> Vec<u8> {
        let ah = ah_repr(IpVersion::V4, 12);
        let ip = Ipv4Repr {
            src_addr: [192, 0, 2, 1].into(),
            dst_addr: [192, 0, 2, 2].into(),
            protocol: IpProtocol::AH,
            payload_len: 24 + 4,
            ttl: 9,
            tos: 0xff,
            ident: 0xbeef,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::new(options).unwrap(),
        };
        let mut buf = vec![0u8; ip.total_len()];
        let hl = ip.emit(&mut buf).unwrap();
        ah.emit(&mut buf[hl..]).unwrap();
        buf[hl + 12..hl + 24].fill(0x99); // an ICV
        buf[hl + 24..].copy_from_slice(&[1, 2, 3, 4]);
        buf
    }

    fn streamed(packet: &[u8], icv_len: usize) -> (Vec<u8>, AhIcvLayout) {
        let mut out = Vec::new();
        let layout = icv_input(packet, icv_len, |c| out.extend_from_slice(c)).unwrap();
        (out, layout)
    }

    #[test]
    fn ipv4_mutable_fields_and_options_zeroed() {
        // Router Alert (immutable), then a Timestamp-like option 68 of length 4 (mutable).
        let pkt = ipv4_ah_packet(&[148, 4, 0, 0, 68, 4, 5, 6]);
        let (input, layout) = streamed(&pkt, 12);
        assert_eq!(layout.ah_offset, 28);
        assert_eq!(layout.icv, 40..52);
        assert_eq!(layout.packet_len, pkt.len());
        let mut expect = pkt.clone();
        expect[1] = 0;
        expect[6..9].fill(0);
        expect[10..12].fill(0);
        expect[24..28].fill(0);
        expect[40..52].fill(0);
        assert_eq!(input, expect);
        // Identification and Total Length stay.
        assert_eq!(&input[2..6], &pkt[2..6]);
        let mut copy = pkt.clone();
        assert_eq!(zero_mutable_fields(&mut copy, 12).unwrap(), layout);
        assert_eq!(copy, expect);
    }

    #[test]
    fn ipv6_mutable_fields_and_options_zeroed() {
        let mut payload = Vec::new();
        // Hop-by-hop: next = AH, len 0: option 0x3e (mutable) with 2 data bytes, PadN 2.
        payload.extend_from_slice(&[51, 0, 0x3e, 2, 0xaa, 0xbb, 1, 0]);
        let ah_at = 48;
        let mut ah = vec![0u8; 24];
        ah_repr(IpVersion::V6, 12).emit(&mut ah).unwrap();
        ah[12..].fill(0x77);
        payload.extend_from_slice(&ah);
        payload.extend_from_slice(&[9; 5]);
        let ip = Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::HOP_BY_HOP,
            payload_len: payload.len(),
            hop_limit: 3,
            traffic_class: 0xff,
            flow_label: 0xfffff,
        };
        let mut pkt = vec![0u8; ip.total_len()];
        ip.emit(&mut pkt).unwrap();
        pkt[40..].copy_from_slice(&payload);
        pkt.extend_from_slice(&[0xde, 0xad]); // link padding, not covered

        let (input, layout) = streamed(&pkt, 12);
        assert_eq!(layout.ah_offset, ah_at);
        assert_eq!(layout.packet_len, pkt.len() - 2);
        let mut expect = pkt[..pkt.len() - 2].to_vec();
        expect[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        expect[7] = 0;
        expect[44..46].fill(0);
        expect[60..72].fill(0);
        assert_eq!(input, expect);
        let mut copy = pkt.clone();
        zero_mutable_fields(&mut copy, 12).unwrap();
        assert_eq!(&copy[..layout.packet_len], &expect[..]);
    }

    fn ipv6_with(ext: &[u8], first: IpProtocol) -> Vec<u8> {
        let mut payload = ext.to_vec();
        let mut ah = vec![0u8; 24];
        ah_repr(IpVersion::V6, 12).emit(&mut ah).unwrap();
        payload.extend_from_slice(&ah);
        let ip = Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            next_header: first,
            payload_len: payload.len(),
            hop_limit: 3,
            traffic_class: 0,
            flow_label: 0,
        };
        let mut pkt = vec![0u8; ip.total_len()];
        ip.emit(&mut pkt).unwrap();
        pkt[40..].copy_from_slice(&payload);
        pkt
    }

    #[test]
    fn ipv6_routing_and_fragment_headers_before_ah() {
        // Routing header type 2, segments left 0: covered as is.
        let mut rh = vec![51u8, 2, 2, 0, 0, 0, 0, 0];
        rh.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        let pkt = ipv6_with(&rh, IpProtocol::IPV6_ROUTE);
        let (input, layout) = streamed(&pkt, 12);
        assert_eq!(layout.ah_offset, 64);
        assert_eq!(&input[40..64], &pkt[40..64]);
        // Segments left 1: the destination would have to be predicted.
        let mut rh1 = rh.clone();
        rh1[3] = 1;
        let pkt = ipv6_with(&rh1, IpProtocol::IPV6_ROUTE);
        assert_eq!(
            icv_input(&pkt, 12, |_| ()).unwrap_err(),
            AhError::RoutingInTransit { offset: 40 }
        );
        // A fragment header: only reassembled packets have an ICV input.
        let pkt = ipv6_with(&[51, 0, 0, 1, 0, 0, 0, 7], IpProtocol::IPV6_FRAG);
        assert_eq!(
            icv_input(&pkt, 12, |_| ()).unwrap_err(),
            AhError::Fragmented { offset: 40 }
        );
        // A malformed option in a destination options header.
        let pkt = ipv6_with(&[51, 0, 1, 9, 0, 0, 0, 0], IpProtocol::IPV6_OPTS);
        assert_eq!(
            icv_input(&pkt, 12, |_| ()).unwrap_err(),
            AhError::Ipv6(Ipv6Error::MalformedOption {
                offset: 42,
                kind: 1
            })
        );
        // Walk ends at ESP, not AH.
        let mut pkt = ipv6_with(&[], IpProtocol::AH);
        pkt[6] = 50;
        assert_eq!(
            icv_input(&pkt, 12, |_| ()).unwrap_err(),
            AhError::NotAh {
                protocol: IpProtocol::ESP,
                offset: 40
            }
        );
    }

    #[test]
    fn icv_input_errors_leave_sink_untouched() {
        let mut pkt = ipv4_ah_packet(&[]);
        let mut calls = 0;
        // Wrong ICV length for the header.
        assert_eq!(
            icv_input(&pkt, 16, |_| calls += 1).unwrap_err(),
            AhError::IcvLenMismatch {
                header_len: 24,
                icv_len: 16,
                expected: 28
            }
        );
        // Loose source route (131): the destination would have to be the final hop.
        let lsrr = ipv4_ah_packet(&[1, 131, 7, 4, 192, 0, 2, 9]);
        assert_eq!(
            icv_input(&lsrr, 12, |_| calls += 1).unwrap_err(),
            AhError::SourceRouted { offset: 21 }
        );
        // A fragment.
        let mut p = Ipv4Packet::new_checked(&mut pkt[..]).unwrap();
        p.set_flags_frag(false, true, 0);
        assert_eq!(
            icv_input(&pkt, 12, |_| calls += 1).unwrap_err(),
            AhError::Fragmented { offset: 6 }
        );
        // Not AH.
        let mut pkt = ipv4_ah_packet(&[]);
        pkt[9] = 50;
        assert_eq!(
            icv_input(&pkt, 12, |_| calls += 1).unwrap_err(),
            AhError::NotAh {
                protocol: IpProtocol::ESP,
                offset: 20
            }
        );
        // Truncated AH inside the IP packet: offset relative to the IP packet.
        let mut pkt = ipv4_ah_packet(&[]);
        pkt[21] = 9;
        assert_eq!(
            icv_input(&pkt, 12, |_| calls += 1).unwrap_err(),
            AhError::Truncated {
                offset: 32,
                needed: 44,
                available: 28
            }
        );
        assert_eq!(
            icv_input(&[0x10], 12, |_| calls += 1).unwrap_err(),
            AhError::BadIpVersion { version: 1 }
        );
        assert_eq!(calls, 0);
        let mut untouched = ipv4_ah_packet(&[]);
        untouched[9] = 50;
        let before = untouched.clone();
        assert!(zero_mutable_fields(&mut untouched, 12).is_err());
        assert_eq!(untouched, before);
    }
}
