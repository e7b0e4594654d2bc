//! IPv4 header (RFC 791): view, options walk, header checksum, and writer.
//!
//! The relay rewrites outer addresses and must then refill the header checksum; AH covers the
//! immutable header fields (RFC 4302 Appendix A.1), so the options walk below is what lets
//! [`ah`](super::ah) decide which options to zero.

use core::net::Ipv4Addr;

use nom::bytes::complete::take;
use nom::number::complete::be_u8;
use nom::Parser;

use super::checksum::{self, Checksum};
use super::field;
use super::IpProtocol;

/// Length of the IPv4 header without options.
pub(crate) const MIN_HEADER_LEN: usize = 20;
/// Length of the IPv4 header with the most options IHL can express (15 words).
pub(crate) const MAX_HEADER_LEN: usize = 60;
/// Most option bytes a header can carry.
pub(crate) const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - MIN_HEADER_LEN;

mod off {
    pub(crate) const VER_IHL: usize = 0;
    pub(crate) const TOS: usize = 1;
    pub(crate) const TOTAL_LEN: usize = 2;
    pub(crate) const IDENT: usize = 4;
    pub(crate) const FLAGS_FRAG: usize = 6;
    pub(crate) const TTL: usize = 8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const CHECKSUM: usize = 10;
    pub(crate) const SRC: usize = 12;
    pub(crate) const DST: usize = 16;
}

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// What was wrong with an IPv4 header, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    /// The buffer ends before the structure does.
    #[error("IPv4 truncated at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Offset of the structure that did not fit.
        offset: usize,
        /// Bytes the structure needs from the start of the packet.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The version nibble (offset 0) is not 4.
    #[error("IPv4 version field at offset 0 is {version}, expected 4")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// IHL (offset 0) is below 5 words.
    #[error("IPv4 IHL at offset 0 is {ihl} words, below the minimum of 5")]
    BadHeaderLen {
        /// The IHL found, in 32-bit words.
        ihl: u8,
    },
    /// Total Length (offset 2) is shorter than the header itself.
    #[error(
        "IPv4 total length at offset 2 is {total_len}, shorter than the {header_len}-byte header"
    )]
    TotalLenBelowHeader {
        /// Total Length field.
        total_len: u16,
        /// Header length from IHL.
        header_len: usize,
    },
    /// Total Length (offset 2) claims more bytes than the buffer holds.
    #[error("IPv4 total length at offset 2 is {total_len}, buffer holds {available}")]
    TotalLenExceedsBuffer {
        /// Total Length field.
        total_len: u16,
        /// Bytes in the buffer.
        available: usize,
    },
    /// The header checksum (offset 10) does not verify.
    #[error("IPv4 header checksum at offset 10 is {found:#06x}, computed {computed:#06x}")]
    BadChecksum {
        /// Checksum field found in the packet.
        found: u16,
        /// Checksum computed over the header.
        computed: u16,
    },
    /// The reserved flag bit (offset 6) is set.
    #[error("IPv4 reserved flag at offset 6 is set")]
    ReservedFlag,
    /// An option's length byte is below 2 or runs past the header.
    #[error("IPv4 option at offset {offset} (type {kind}) is malformed: length {len}")]
    MalformedOption {
        /// Offset of the option's type byte from the start of the packet.
        offset: usize,
        /// The option type.
        kind: u8,
        /// The length byte, or 0 when the length byte itself is missing.
        len: u8,
    },
    /// Options to emit are longer than 40 bytes or not a multiple of 4.
    #[error("IPv4 options of {len} bytes cannot be emitted: at most 40, a multiple of 4")]
    BadOptionsLen {
        /// Length of the options given.
        len: usize,
    },
    /// Header plus payload exceed the 16-bit Total Length.
    #[error("IPv4 packet of {len} bytes exceeds the 65535-byte Total Length field")]
    TooLong {
        /// Header plus payload length asked for.
        len: usize,
    },
}

/// A read-only (or, over `&mut [u8]`, writable) view of an IPv4 packet.
///
/// After [`new_checked`](Self::new_checked), the buffer holds at least the whole header and the
/// number of bytes Total Length claims; every accessor is then infallible. Bytes beyond Total
/// Length (link-layer padding) are not part of [`payload`](Self::payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without validation; accessors on a short buffer read zeros.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking version, IHL, and that header and Total Length fit.
    ///
    /// The header checksum is not verified here (the relay may be about to rewrite it
    /// anyway); call [`verify_checksum`](Self::verify_checksum) or [`Ipv4Repr::parse`].
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The validation [`new_checked`](Self::new_checked) performs.
    pub(crate) fn check_len(&self) -> Result<(), Ipv4Error> {
        let buf = self.buffer.as_ref();
        let available = buf.len();
        if available < MIN_HEADER_LEN {
            return Err(Ipv4Error::Truncated {
                offset: 0,
                needed: MIN_HEADER_LEN,
                available,
            });
        }
        let version = self.version();
        if version != 4 {
            return Err(Ipv4Error::BadVersion { version });
        }
        let ihl = self.ihl();
        if ihl < 5 {
            return Err(Ipv4Error::BadHeaderLen { ihl });
        }
        let header_len = self.header_len();
        if available < header_len {
            return Err(Ipv4Error::Truncated {
                offset: MIN_HEADER_LEN,
                needed: header_len,
                available,
            });
        }
        let total_len = self.total_len();
        if usize::from(total_len) < header_len {
            return Err(Ipv4Error::TotalLenBelowHeader {
                total_len,
                header_len,
            });
        }
        if usize::from(total_len) > available {
            return Err(Ipv4Error::TotalLenExceedsBuffer {
                total_len,
                available,
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer, including any bytes past Total Length.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version nibble (4 for a checked packet).
    pub fn version(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::VER_IHL) >> 4
    }

    /// Internet Header Length in 32-bit words.
    pub fn ihl(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::VER_IHL) & 0x0f
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()).wrapping_mul(4)
    }

    /// The whole TOS byte: DSCP (high 6 bits) and ECN (low 2 bits).
    pub fn tos(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::TOS)
    }

    /// Differentiated Services Code Point.
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit Congestion Notification bits.
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total Length: header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::TOTAL_LEN)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::FLAGS_FRAG)
    }

    /// The reserved ("evil") flag bit, which must be zero.
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag() & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }

    /// Fragment Offset in units of 8 bytes, as on the wire.
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & FRAG_OFFSET_MASK
    }

    /// Whether this packet is a fragment (MF set or a nonzero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time To Live.
    pub fn ttl(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::TTL)
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(field::u8_at(self.buffer.as_ref(), off::PROTOCOL))
    }

    /// Header Checksum field as found.
    pub fn checksum(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::array_at::<4>(self.buffer.as_ref(), off::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::array_at::<4>(self.buffer.as_ref(), off::DST))
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), 0, self.header_len())
    }

    /// The option bytes (possibly empty), padding included.
    pub fn options(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), MIN_HEADER_LEN, self.header_len())
    }

    /// The payload: from the end of the header to Total Length.
    pub fn payload(&self) -> &[u8] {
        field::slice(
            self.buffer.as_ref(),
            self.header_len(),
            usize::from(self.total_len()),
        )
    }

    /// The packet bytes up to Total Length (header and payload, no link padding).
    pub fn packet(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), 0, usize::from(self.total_len()))
    }

    /// Computes the header checksum over the header as it stands, treating the checksum field
    /// as zero.
    pub fn compute_checksum(&self) -> u16 {
        let header = self.header();
        let mut sum = Checksum::new();
        sum.add(field::slice(header, 0, off::CHECKSUM));
        sum.add(field::slice(
            header,
            off::CHECKSUM.wrapping_add(2),
            header.len(),
        ));
        sum.finish()
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::Checksum::new().add(self.header()).finish() == 0
    }

    /// Walks the options, calling `f` for each with its offset from the packet start.
    ///
    /// Stops at End of Option List; the bytes after it are padding and not reported.
    pub fn for_each_option<F>(&self, f: F) -> Result<(), Ipv4Error>
    where
        F: FnMut(Ipv4Option<'_>),
    {
        walk_options(self.options(), MIN_HEADER_LEN, f)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the version nibble and IHL (in 32-bit words).
    pub(crate) fn set_version_ihl(&mut self, version: u8, ihl: u8) {
        field::set_u8(self.buf_mut(), off::VER_IHL, (version << 4) | (ihl & 0x0f));
    }

    /// Sets the TOS byte (DSCP and ECN).
    pub(crate) fn set_tos(&mut self, tos: u8) {
        field::set_u8(self.buf_mut(), off::TOS, tos);
    }

    /// Sets Total Length.
    pub(crate) fn set_total_len(&mut self, len: u16) {
        field::set_u16(self.buf_mut(), off::TOTAL_LEN, len);
    }

    /// Sets Identification.
    pub(crate) fn set_ident(&mut self, ident: u16) {
        field::set_u16(self.buf_mut(), off::IDENT, ident);
    }

    /// Sets the flags and fragment offset (in 8-byte units; bits above 13 are dropped).
    pub(crate) fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut v = frag_offset & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        field::set_u16(self.buf_mut(), off::FLAGS_FRAG, v);
    }

    /// Sets Time To Live.
    pub(crate) fn set_ttl(&mut self, ttl: u8) {
        field::set_u8(self.buf_mut(), off::TTL, ttl);
    }

    /// Sets Protocol.
    pub(crate) fn set_protocol(&mut self, protocol: IpProtocol) {
        field::set_u8(self.buf_mut(), off::PROTOCOL, protocol.0);
    }

    /// Sets the checksum field to a given value.
    pub fn set_checksum(&mut self, checksum: u16) {
        field::set_u16(self.buf_mut(), off::CHECKSUM, checksum);
    }

    /// Sets the source address. The checksum is stale until [`fill_checksum`](Self::fill_checksum).
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        field::set_bytes(self.buf_mut(), off::SRC, &addr.octets());
    }

    /// Sets the destination address. The checksum is stale until
    /// [`fill_checksum`](Self::fill_checksum).
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        field::set_bytes(self.buf_mut(), off::DST, &addr.octets());
    }

    /// Recomputes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        let sum = self.compute_checksum();
        self.set_checksum(sum);
    }

    /// Mutable option bytes.
    pub(crate) fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        field::slice_mut(self.buf_mut(), MIN_HEADER_LEN, end)
    }
}

/// One IPv4 option as found in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// Offset of the option's type byte from the start of the packet.
    pub offset: usize,
    /// Option type (copied flag, class and number).
    pub kind: u8,
    /// All bytes of the option: type, and for all but NOP/EOL, length and data.
    pub bytes: &'a [u8],
}

/// Option type: End of Option List.
pub(crate) const OPTION_EOL: u8 = 0;
/// Option type: No Operation.
pub(crate) const OPTION_NOP: u8 = 1;
/// Option type: Loose Source and Record Route.
pub(crate) const OPTION_LSRR: u8 = 131;
/// Option type: Strict Source and Record Route.
pub(crate) const OPTION_SSRR: u8 = 137;

/// Walks an options area; `base` is its offset from the packet start (for error offsets).
fn walk_options<F>(options: &[u8], base: usize, mut f: F) -> Result<(), Ipv4Error>
where
    F: FnMut(Ipv4Option<'_>),
{
    let mut rest = options;
    loop {
        let offset = base.wrapping_add(options.len().wrapping_sub(rest.len()));
        let Ok((after_kind, kind)) = be_u8::<_, nom::error::Error<&[u8]>>(rest) else {
            return Ok(());
        };
        match kind {
            OPTION_EOL => {
                f(Ipv4Option {
                    offset,
                    kind,
                    bytes: field::slice(rest, 0, 1),
                });
                return Ok(());
            }
            OPTION_NOP => {
                f(Ipv4Option {
                    offset,
                    kind,
                    bytes: field::slice(rest, 0, 1),
                });
                rest = after_kind;
            }
            _ => {
                let malformed = |len| Ipv4Error::MalformedOption { offset, kind, len };
                let (after_len, len) =
                    be_u8::<_, nom::error::Error<&[u8]>>(after_kind).map_err(|_| malformed(0))?;
                let data_len = usize::from(len).checked_sub(2).ok_or(malformed(len))?;
                let (after, _) = take::<_, _, nom::error::Error<&[u8]>>(data_len)
                    .parse(after_len)
                    .map_err(|_| malformed(len))?;
                f(Ipv4Option {
                    offset,
                    kind,
                    bytes: field::slice(rest, 0, usize::from(len)),
                });
                rest = after;
            }
        }
    }
}

/// Up to 40 bytes of IPv4 options, stored inline so that [`Ipv4Repr`] stays `Copy` and
/// allocation-free.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Options {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Ipv4Options {
    /// No options.
    pub const EMPTY: Self = Self {
        bytes: [0; MAX_OPTIONS_LEN],
        len: 0,
    };

    /// Options from raw bytes, which must already be padded to a multiple of 4.
    pub fn new(bytes: &[u8]) -> Result<Self, Ipv4Error> {
        let len = bytes.len();
        let bad = Ipv4Error::BadOptionsLen { len };
        if len > MAX_OPTIONS_LEN || len % 4 != 0 {
            return Err(bad);
        }
        let mut out = Self::EMPTY;
        field::set_bytes(&mut out.bytes, 0, bytes);
        out.len = u8::try_from(len).map_err(|_| bad)?;
        Ok(out)
    }

    /// The option bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        field::slice(&self.bytes, 0, usize::from(self.len))
    }

    /// Number of option bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Ipv4Options {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl core::fmt::Debug for Ipv4Options {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Ipv4Options")
            .field(&self.as_slice())
            .finish()
    }
}

/// The fields of an IPv4 header, parsed or to be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length in bytes (Total Length minus header length).
    pub payload_len: usize,
    /// Time To Live.
    pub ttl: u8,
    /// TOS byte: DSCP and ECN.
    pub tos: u8,
    /// Identification. AH covers it, so the relay must reproduce it exactly.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub frag_offset: u16,
    /// Options, padded to a multiple of 4.
    pub options: Ipv4Options,
}

impl Ipv4Repr {
    /// Parses a checked packet, verifying the header checksum and the reserved flag, and
    /// that the options are well formed.
    ///
    /// A checksum field of 0xffff where 0x0000 is computed verifies (both are one's-complement
    /// zero, and incremental updates in routers can leave either); [`emit`](Self::emit)
    /// writes the canonical 0x0000, so that header re-emits with only its checksum changed.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, Ipv4Error> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Ipv4Error::BadChecksum {
                found: packet.checksum(),
                computed: packet.compute_checksum(),
            });
        }
        if packet.reserved_flag() {
            return Err(Ipv4Error::ReservedFlag);
        }
        packet.for_each_option(|_| {})?;
        let options = Ipv4Options::new(packet.options())?;
        let payload_len = usize::from(packet.total_len()).saturating_sub(packet.header_len());
        Ok(Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            options,
        })
    }

    /// Header length this representation emits.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN.saturating_add(self.options.len())
    }

    /// Header plus payload length.
    pub fn total_len(&self) -> usize {
        self.header_len().saturating_add(self.payload_len)
    }

    /// Writes the header (with a correct checksum) into the front of `buf` and returns its
    /// length. The payload is the caller's to write after it.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Ipv4Error> {
        let header_len = self.header_len();
        let total = self.total_len();
        let total_len = u16::try_from(total).map_err(|_| Ipv4Error::TooLong { len: total })?;
        let available = buf.len();
        let header = buf.get_mut(..header_len).ok_or(Ipv4Error::Truncated {
            offset: 0,
            needed: header_len,
            available,
        })?;
        let ihl = u8::try_from(header_len / 4).map_err(|_| Ipv4Error::BadOptionsLen {
            len: self.options.len(),
        })?;
        let mut packet = Ipv4Packet::new_unchecked(header);
        packet.set_version_ihl(4, ihl);
        packet.set_tos(self.tos);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_flags_frag(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet
            .options_mut()
            .copy_from_slice(self.options.as_slice());
        packet.fill_checksum();
        Ok(header_len)
    }
}

/// A plain IPv4 packet as the relay's fast path reads it: no options, not a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlainIpv4<'a> {
    /// Source address.
    pub(crate) src: Ipv4Addr,
    /// Destination address.
    pub(crate) dst: Ipv4Addr,
    /// The payload, by the header's Total Length (trailing bytes excluded).
    pub(crate) payload: &'a [u8],
}

/// Reads a packet that is IPv4 with IHL 5 (no options), not a fragment (MF clear, offset 0) and
/// of `protocol`, in one pattern match: the relay's fast path takes nothing else, and leaves
/// every other packet (and the checks that come with it) to the full parse. The header
/// checksum is not verified: the relay does not rely on any field it would cover beyond these,
/// and the receiving kernel already verified it.
#[inline(always)]
pub(crate) fn peek_plain(packet: &[u8], protocol: IpProtocol) -> Option<PlainIpv4<'_>> {
    let [0x45, _, len_hi, len_lo, _, _, frag_hi, frag_lo, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3, ..] =
        *packet
    else {
        return None;
    };
    if proto != protocol.0 || u16::from_be_bytes([frag_hi, frag_lo]) & 0x3fff != 0 {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    Some(PlainIpv4 {
        src: Ipv4Addr::new(s0, s1, s2, s3),
        dst: Ipv4Addr::new(d0, d1, d2, d3),
        payload: packet.get(MIN_HEADER_LEN..total_len)?,
    })
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

    /// The classic example header from Wikipedia / many textbooks:
    /// 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7, checksum 0xb861.
    const TEXTBOOK: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn textbook_packet() -> Vec<u8> {
        let mut v = TEXTBOOK.to_vec();
        v.resize(0x73, 0xaa);
        v
    }

    #[test]
    fn textbook_checksum_verifies_and_recomputes() {
        let buf = textbook_packet();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.compute_checksum(), 0xb861);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 51, 100, 2),
            protocol: IpProtocol::ESP,
            payload_len: 8,
            ttl: 63,
            tos: 0xb9,
            ident: 0x1234,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::EMPTY,
        }
    }

    #[test]
    fn emit_then_parse() {
        let repr = sample();
        let mut buf = [0u8; 28];
        assert_eq!(repr.emit(&mut buf).unwrap(), 20);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        assert_eq!(p.dscp(), 0xb9 >> 2);
        assert_eq!(p.ecn(), 1);
    }

    #[test]
    fn options_are_emitted_and_walked() {
        let mut repr = sample();
        // Router Alert (148, len 4), NOP, EOL, padding.
        repr.options = Ipv4Options::new(&[148, 4, 0, 0, 1, 0, 0, 0]).unwrap();
        let mut buf = [0u8; 36];
        assert_eq!(repr.emit(&mut buf).unwrap(), 28);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let mut seen = Vec::new();
        p.for_each_option(|o| seen.push((o.offset, o.kind, o.bytes.len())))
            .unwrap();
        assert_eq!(seen, vec![(20, 148, 4), (24, 1, 1), (25, 0, 1)]);
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn set_addresses_then_fill_checksum() {
        let mut buf = textbook_packet();
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.set_src_addr(Ipv4Addr::new(203, 0, 113, 9));
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(203, 0, 113, 9));
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            Ipv4Packet::new_checked(&TEXTBOOK[..10]).unwrap_err(),
            Ipv4Error::Truncated {
                offset: 0,
                needed: 20,
                available: 10
            }
        );
        let mut b = TEXTBOOK;
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Ipv4Error::BadVersion { version: 6 }
        );
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Ipv4Error::BadHeaderLen { ihl: 4 }
        );
        b[0] = 0x46;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Ipv4Error::Truncated { needed: 24, .. }
        ));
        assert_eq!(
            Ipv4Packet::new_checked(&TEXTBOOK[..]).unwrap_err(),
            Ipv4Error::TotalLenExceedsBuffer {
                total_len: 0x73,
                available: 20
            }
        );
        let mut b = TEXTBOOK;
        b[3] = 10;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Ipv4Error::TotalLenBelowHeader {
                total_len: 10,
                header_len: 20
            }
        );
        let mut buf = textbook_packet();
        buf[10] ^= 1;
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(matches!(
            Ipv4Repr::parse(&p),
            Err(Ipv4Error::BadChecksum { found: 0xb961, .. })
        ));
    }

    #[test]
    fn malformed_options_are_reported_with_offsets() {
        let mut repr = sample();
        // An option of length 1 (below 2) at offset 21 after a NOP.
        repr.options = Ipv4Options::new(&[1, 7, 1, 0]).unwrap();
        let mut buf = [0u8; 32];
        repr.emit(&mut buf).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            p.for_each_option(|_| {}).unwrap_err(),
            Ipv4Error::MalformedOption {
                offset: 21,
                kind: 7,
                len: 1
            }
        );
        // An option that runs past the header.
        repr.options = Ipv4Options::new(&[7, 9, 0, 0]).unwrap();
        repr.emit(&mut buf).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(matches!(
            Ipv4Repr::parse(&p),
            Err(Ipv4Error::MalformedOption {
                offset: 20,
                kind: 7,
                len: 9
            })
        ));
    }

    #[test]
    fn emit_rejects_short_buffer_and_huge_payload() {
        let mut buf = [0u8; 10];
        assert!(matches!(
            sample().emit(&mut buf),
            Err(Ipv4Error::Truncated { needed: 20, .. })
        ));
        let mut big = sample();
        big.payload_len = 65_516;
        let mut buf = [0u8; 20];
        assert_eq!(big.emit(&mut buf), Err(Ipv4Error::TooLong { len: 65_536 }));
    }

    /// Regression (found by the ipv4 fuzz target): a header whose other words sum to
    /// 0xffff verifies with checksum 0xffff as well as 0x0000; parse accepts both, emit
    /// writes 0x0000.
    #[test]
    fn negative_zero_checksum_verifies_and_reemits_canonically() {
        let mut repr = sample();
        // Pick an identification that makes the one's-complement sum of the header 0xffff.
        repr.ident = 0;
        let mut buf = [0u8; 28];
        repr.emit(&mut buf).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let sum_without = !p.compute_checksum();
        repr.ident = 0xffff - sum_without;
        repr.emit(&mut buf).unwrap();
        assert_eq!(u16::from_be_bytes([buf[10], buf[11]]), 0);
        buf[10] = 0xff;
        buf[11] = 0xff;
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        let parsed = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(parsed, repr);
        let mut out = [0u8; 20];
        parsed.emit(&mut out).unwrap();
        assert_eq!(&out[10..12], &[0, 0]);
        assert_eq!(&out[..10], &buf[..10]);
        assert_eq!(&out[12..], &buf[12..20]);
    }

    #[test]
    fn fragments_and_reserved_flag() {
        let mut repr = sample();
        repr.dont_frag = false;
        repr.more_frags = true;
        repr.frag_offset = 0x1fff;
        let mut buf = [0u8; 28];
        repr.emit(&mut buf).unwrap();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 0x1fff);
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        buf[6] |= 0x80;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum();
        assert_eq!(Ipv4Repr::parse(&p), Err(Ipv4Error::ReservedFlag));
    }

    #[test]
    fn peek_plain_takes_only_unfragmented_option_free_packets_of_the_protocol() {
        let mut packet = vec![
            0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 50, 0, 0, 198, 51, 100, 10, 203, 0, 113, 1,
        ];
        packet.extend_from_slice(&[0x11; 8]);
        packet.extend_from_slice(&[0xee; 4]); // trailing bytes beyond Total Length
        let plain = peek_plain(&packet, IpProtocol::ESP).unwrap();
        assert_eq!(plain.src, Ipv4Addr::new(198, 51, 100, 10));
        assert_eq!(plain.dst, Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(plain.payload, &[0x11; 8]);
        assert_eq!(peek_plain(&packet, IpProtocol::AH), None, "other protocol");
        let mut fragment = packet.clone();
        fragment[6] = 0x20; // MF
        assert_eq!(peek_plain(&fragment, IpProtocol::ESP), None);
        let mut options = packet.clone();
        options[0] = 0x46;
        assert_eq!(peek_plain(&options, IpProtocol::ESP), None);
        let mut long = packet.clone();
        long[3] = 200; // Total Length past the bytes we have
        assert_eq!(peek_plain(&long, IpProtocol::ESP), None);
        assert_eq!(peek_plain(&packet[..19], IpProtocol::ESP), None);
    }
}
