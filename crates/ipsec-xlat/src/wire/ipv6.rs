//! IPv6 header (RFC 8200): view, writer, and the extension-header walk up to ESP/AH.
//!
//! The relay must find the SPI of an ESP or AH packet behind any Hop-by-Hop, Routing,
//! Fragment or Destination Options headers; AH's ICV input additionally needs each option's
//! "may change en route" bit, so the option walk is exposed too.

use core::net::Ipv6Addr;

use nom::bytes::complete::take;
use nom::number::complete::be_u8;
use nom::Parser;

use super::field;
use super::IpProtocol;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

mod off {
    pub(crate) const VER_TC_FL: usize = 0;
    pub(crate) const PAYLOAD_LEN: usize = 4;
    pub(crate) const NEXT_HEADER: usize = 6;
    pub(crate) const HOP_LIMIT: usize = 7;
    pub(crate) const SRC: usize = 8;
    pub(crate) const DST: usize = 24;
}

/// What was wrong with an IPv6 header or its extension headers, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6Error {
    /// The buffer ends before the structure does.
    #[error("IPv6 truncated at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Offset of the structure that did not fit.
        offset: usize,
        /// Bytes needed from the start of the packet.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The version nibble (offset 0) is not 6.
    #[error("IPv6 version field at offset 0 is {version}, expected 6")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// Payload Length (offset 4) claims more than the buffer holds.
    #[error("IPv6 payload length at offset 4 is {payload_len}, buffer holds {available} after the header")]
    PayloadLenExceedsBuffer {
        /// Payload Length field.
        payload_len: u16,
        /// Bytes after the fixed header.
        available: usize,
    },
    /// An extension header runs past the end of the payload.
    #[error("IPv6 extension header {protocol} at offset {offset} overruns the payload")]
    ExtensionHeaderOverrun {
        /// Kind of the extension header.
        protocol: IpProtocol,
        /// Its offset from the packet start.
        offset: usize,
    },
    /// A Hop-by-Hop Options header appears other than right after the fixed header.
    #[error("IPv6 hop-by-hop options header at offset {offset} is not first")]
    HopByHopNotFirst {
        /// Its offset from the packet start.
        offset: usize,
    },
    /// An option inside a Hop-by-Hop or Destination Options header runs past its header.
    #[error("IPv6 option of type {kind} at offset {offset} overruns its header")]
    MalformedOption {
        /// Offset of the option's type byte from the packet start.
        offset: usize,
        /// The option type.
        kind: u8,
    },
    /// The walk ended at a protocol other than the one asked for (ESP or AH).
    #[error("IPv6 upper-layer header at offset {offset} is {protocol}, not ESP or AH")]
    NotIpsec {
        /// Protocol the walk ended at.
        protocol: IpProtocol,
        /// Its offset from the packet start.
        offset: usize,
    },
    /// A payload longer than 65535 bytes was asked for (jumbograms are not supported).
    #[error("IPv6 payload of {len} bytes exceeds the 65535-byte Payload Length field")]
    TooLong {
        /// Payload length asked for.
        len: usize,
    },
}

/// A read-only (or, over `&mut [u8]`, writable) view of an IPv6 packet.
///
/// After [`new_checked`](Self::new_checked), the buffer holds the fixed header and the
/// payload length the header claims; accessors are infallible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without validation; accessors on a short buffer read zeros.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after checking the version and that the claimed payload fits.
    pub fn new_checked(buffer: T) -> Result<Self, Ipv6Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The validation [`new_checked`](Self::new_checked) performs.
    pub(crate) fn check_len(&self) -> Result<(), Ipv6Error> {
        let available = self.buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(Ipv6Error::Truncated {
                offset: 0,
                needed: HEADER_LEN,
                available,
            });
        }
        let version = self.version();
        if version != 6 {
            return Err(Ipv6Error::BadVersion { version });
        }
        let payload_len = self.payload_len();
        let after = available.saturating_sub(HEADER_LEN);
        if usize::from(payload_len) > after {
            return Err(Ipv6Error::PayloadLenExceedsBuffer {
                payload_len,
                available: after,
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole underlying buffer, including any bytes past the payload.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn first_word(&self) -> u32 {
        field::u32_at(self.buffer.as_ref(), off::VER_TC_FL)
    }

    /// Version nibble (6 for a checked packet).
    pub fn version(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), 0) >> 4
    }

    /// Traffic Class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        // Bits 4..12 of the first word; the mask makes the narrowing exact.
        u8::try_from((self.first_word() >> 20) & 0xff).unwrap_or(0)
    }

    /// Flow Label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Payload Length: bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        field::u16_at(self.buffer.as_ref(), off::PAYLOAD_LEN)
    }

    /// Next Header of the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(field::u8_at(self.buffer.as_ref(), off::NEXT_HEADER))
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        field::u8_at(self.buffer.as_ref(), off::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::array_at::<16>(self.buffer.as_ref(), off::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::array_at::<16>(self.buffer.as_ref(), off::DST))
    }

    /// Length of the packet: fixed header plus Payload Length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN.wrapping_add(usize::from(self.payload_len()))
    }

    /// The payload (extension headers included), up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), HEADER_LEN, self.total_len())
    }

    /// The packet up to its end by Payload Length (no trailing link padding).
    pub fn packet(&self) -> &[u8] {
        field::slice(self.buffer.as_ref(), 0, self.total_len())
    }

    /// Walks the extension headers to the first upper-layer header; see
    /// [`walk_extension_headers`].
    pub fn upper_layer(&self) -> Result<UpperLayer, Ipv6Error> {
        walk_extension_headers(self.packet(), |_| {})
    }

    /// Walks the extension headers and requires them to end at ESP or AH, as every packet of
    /// an SA does in raw-IP (non-UDP-encapsulated) mode. Returns which, and its offset.
    pub fn ipsec_header(&self) -> Result<UpperLayer, Ipv6Error> {
        let upper = self.upper_layer()?;
        if upper.protocol == IpProtocol::ESP || upper.protocol == IpProtocol::AH {
            Ok(upper)
        } else {
            Err(Ipv6Error::NotIpsec {
                protocol: upper.protocol,
                offset: upper.offset,
            })
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_first_word(&mut self, word: u32) {
        field::set_u32(self.buffer.as_mut(), off::VER_TC_FL, word);
    }

    /// Sets version, traffic class and flow label in one go.
    pub(crate) fn set_version_tc_fl(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let word = (u32::from(version & 0x0f) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & 0x000f_ffff);
        self.set_first_word(word);
    }

    /// Sets Traffic Class.
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let word = self.first_word() & 0xf00f_ffff;
        self.set_first_word(word | (u32::from(traffic_class) << 20));
    }

    /// Sets Flow Label (bits above 20 are dropped).
    pub fn set_flow_label(&mut self, flow_label: u32) {
        let word = self.first_word() & 0xfff0_0000;
        self.set_first_word(word | (flow_label & 0x000f_ffff));
    }

    /// Sets Payload Length.
    pub(crate) fn set_payload_len(&mut self, len: u16) {
        field::set_u16(self.buffer.as_mut(), off::PAYLOAD_LEN, len);
    }

    /// Sets Next Header.
    pub(crate) fn set_next_header(&mut self, protocol: IpProtocol) {
        field::set_u8(self.buffer.as_mut(), off::NEXT_HEADER, protocol.0);
    }

    /// Sets Hop Limit.
    pub(crate) fn set_hop_limit(&mut self, hop_limit: u8) {
        field::set_u8(self.buffer.as_mut(), off::HOP_LIMIT, hop_limit);
    }

    /// Sets the source address.
    pub(crate) fn set_src_addr(&mut self, addr: Ipv6Addr) {
        field::set_bytes(self.buffer.as_mut(), off::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub(crate) fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        field::set_bytes(self.buffer.as_mut(), off::DST, &addr.octets());
    }
}

/// The Fragment header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentHeader {
    /// Offset of the Fragment header from the packet start.
    pub offset: usize,
    /// Fragment Offset in 8-byte units.
    pub frag_offset: u16,
    /// More Fragments.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

/// Where the extension-header walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The first header that is not Hop-by-Hop, Routing, Fragment or Destination Options.
    pub protocol: IpProtocol,
    /// Its offset from the start of the IPv6 packet.
    pub offset: usize,
    /// The Fragment header, if the walk crossed one. When its `frag_offset` is nonzero the
    /// walk stopped right after it: the bytes there continue an earlier fragment and are not
    /// the start of `protocol`'s header.
    pub fragment: Option<FragmentHeader>,
}

/// One extension header met by [`walk_extension_headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionHeader<'a> {
    /// Which extension header this is.
    pub protocol: IpProtocol,
    /// Its offset from the packet start.
    pub offset: usize,
    /// Its Next Header field.
    pub next_header: IpProtocol,
    /// All of its bytes, Next Header and length included.
    pub bytes: &'a [u8],
}

/// Walks the extension headers of `packet` (the whole IPv6 packet from its fixed header,
/// already bounded by Payload Length) and returns the first upper-layer header.
///
/// `visit` sees each extension header in order. The walk stops at the first protocol that is
/// not one of the four extension headers, at a non-first fragment, or at the end of the
/// packet (then `offset` equals the packet length). Hop-by-Hop must come first (RFC 8200 §4.1).
pub fn walk_extension_headers<F>(packet: &[u8], mut visit: F) -> Result<UpperLayer, Ipv6Error>
where
    F: FnMut(&ExtensionHeader<'_>),
{
    let available = packet.len();
    if available < HEADER_LEN {
        return Err(Ipv6Error::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available,
        });
    }
    let mut protocol = IpProtocol(field::u8_at(packet, off::NEXT_HEADER));
    let mut offset = HEADER_LEN;
    let mut fragment = None;
    while protocol.is_ipv6_extension() {
        if protocol == IpProtocol::HOP_BY_HOP && offset != HEADER_LEN {
            return Err(Ipv6Error::HopByHopNotFirst { offset });
        }
        let rest = field::slice(packet, offset, available);
        let overrun = Ipv6Error::ExtensionHeaderOverrun { protocol, offset };
        let (_, (next, len_byte)) = (be_u8::<_, nom::error::Error<&[u8]>>, be_u8)
            .parse(rest)
            .map_err(|_| overrun)?;
        let len = if protocol == IpProtocol::IPV6_FRAG {
            8
        } else {
            // (Hdr Ext Len + 1) × 8 bytes; at most 2048, no overflow possible.
            usize::from(len_byte).wrapping_add(1).wrapping_mul(8)
        };
        let (_, bytes) = take::<_, _, nom::error::Error<&[u8]>>(len)
            .parse(rest)
            .map_err(|_| overrun)?;
        let next_header = IpProtocol(next);
        visit(&ExtensionHeader {
            protocol,
            offset,
            next_header,
            bytes,
        });
        let header_offset = offset;
        offset = offset.saturating_add(len);
        if protocol == IpProtocol::IPV6_FRAG {
            let frag_word = field::u16_at(bytes, 2);
            let frag = FragmentHeader {
                offset: header_offset,
                frag_offset: frag_word >> 3,
                more_frags: frag_word & 1 != 0,
                ident: field::u32_at(bytes, 4),
            };
            fragment = Some(frag);
            if frag.frag_offset != 0 {
                return Ok(UpperLayer {
                    protocol: next_header,
                    offset,
                    fragment,
                });
            }
        }
        protocol = next_header;
    }
    Ok(UpperLayer {
        protocol,
        offset,
        fragment,
    })
}

/// Option type Pad1: a single zero byte without length.
pub(crate) const OPTION_PAD1: u8 = 0;

/// One option inside a Hop-by-Hop or Destination Options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Option<'a> {
    /// Offset of the option's type byte from the packet start.
    pub offset: usize,
    /// Option type.
    pub kind: u8,
    /// Option data (empty for Pad1).
    pub data: &'a [u8],
}

impl Ipv6Option<'_> {
    /// Offset of the option data from the packet start.
    pub fn data_offset(&self) -> usize {
        if self.kind == OPTION_PAD1 {
            self.offset.saturating_add(1)
        } else {
            self.offset.saturating_add(2)
        }
    }

    /// The third-highest bit of the option type: the data may change en route (RFC 8200
    /// §4.2). AH treats such data as zero in its ICV input (RFC 4302 §3.3.3.1.2.1).
    pub fn may_change_en_route(&self) -> bool {
        self.kind & 0x20 != 0
    }
}

/// Walks the options of a Hop-by-Hop or Destination Options header (`header` holds the whole
/// extension header; `header_offset` is its offset from the packet start).
pub fn for_each_option<F>(header: &[u8], header_offset: usize, mut f: F) -> Result<(), Ipv6Error>
where
    F: FnMut(Ipv6Option<'_>),
{
    let options = field::slice(header, 2, header.len());
    let base = header_offset.saturating_add(2);
    let mut rest = options;
    while let Ok((after_kind, kind)) = be_u8::<_, nom::error::Error<&[u8]>>(rest) {
        let offset = base.saturating_add(options.len().saturating_sub(rest.len()));
        if kind == OPTION_PAD1 {
            f(Ipv6Option {
                offset,
                kind,
                data: &[],
            });
            rest = after_kind;
            continue;
        }
        let malformed = Ipv6Error::MalformedOption { offset, kind };
        let (after, data) = be_u8
            .flat_map(take)
            .parse(after_kind)
            .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| malformed)?;
        f(Ipv6Option { offset, kind, data });
        rest = after;
    }
    Ok(())
}

/// The fields of a fixed IPv6 header, parsed or to be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next Header of the fixed header.
    pub next_header: IpProtocol,
    /// Payload Length (extension headers included).
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads the fixed header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, Ipv6Error> {
        packet.check_len()?;
        Ok(Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the header this emits.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len)
    }

    /// Writes the fixed header into the front of `buf` and returns its length (40). Flow
    /// Label bits above 20 are dropped.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Ipv6Error> {
        let payload_len = u16::try_from(self.payload_len).map_err(|_| Ipv6Error::TooLong {
            len: self.payload_len,
        })?;
        let available = buf.len();
        let header = buf.get_mut(..HEADER_LEN).ok_or(Ipv6Error::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available,
        })?;
        let mut packet = Ipv6Packet::new_unchecked(header);
        packet.set_version_tc_fl(6, self.traffic_class, self.flow_label);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
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

    fn repr(next_header: IpProtocol, payload_len: usize) -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8:1::2".parse().unwrap(),
            next_header,
            payload_len,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0xabcde,
        }
    }

    fn packet_with(next_header: IpProtocol, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN + payload.len()];
        repr(next_header, payload.len()).emit(&mut buf).unwrap();
        buf[HEADER_LEN..].copy_from_slice(payload);
        buf
    }

    #[test]
    fn emit_then_parse_and_field_layout() {
        let buf = packet_with(IpProtocol::ESP, &[0; 8]);
        // Version 6, TC 0xb8, FL 0xabcde: 0x6b8abcde.
        assert_eq!(&buf[..4], &[0x6b, 0x8a, 0xbc, 0xde]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr(IpProtocol::ESP, 8));
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn setters_touch_only_their_bits() {
        let mut buf = packet_with(IpProtocol::ESP, &[0; 8]);
        let mut p = Ipv6Packet::new_checked(&mut buf[..]).unwrap();
        p.set_traffic_class(0x01);
        assert_eq!(p.flow_label(), 0xabcde);
        p.set_flow_label(0xfffff_u32 + 0x100000);
        assert_eq!(p.traffic_class(), 0x01);
        assert_eq!(p.flow_label(), 0xfffff);
        assert_eq!(p.version(), 6);
        p.set_dst_addr("2001:db8::99".parse().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::99".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn typed_errors() {
        let buf = packet_with(IpProtocol::ESP, &[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..39]).unwrap_err(),
            Ipv6Error::Truncated {
                offset: 0,
                needed: 40,
                available: 39
            }
        );
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..44]).unwrap_err(),
            Ipv6Error::PayloadLenExceedsBuffer {
                payload_len: 8,
                available: 4
            }
        );
        let mut b = buf.clone();
        b[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap_err(),
            Ipv6Error::BadVersion { version: 4 }
        );
    }

    #[test]
    fn walk_through_all_four_extension_headers_to_esp() {
        let mut payload = Vec::new();
        // Hop-by-hop: next=routing, len 0 (8 bytes), PadN of 4 data bytes.
        payload.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]);
        // Routing type 2 (home address), segments left 0, 16-byte address: next=frag, len 2.
        payload.extend_from_slice(&[44, 2, 2, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        // Fragment: next=dest opts, offset 0, M=1, ident 0x01020304.
        payload.extend_from_slice(&[60, 0, 0, 1, 1, 2, 3, 4]);
        // Destination options: next=ESP, len 0, Pad1 ×6.
        payload.extend_from_slice(&[50, 0, 0, 0, 0, 0, 0, 0]);
        let esp_at = HEADER_LEN + payload.len();
        payload.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 1]);
        let buf = packet_with(IpProtocol::HOP_BY_HOP, &payload);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        let mut seen = Vec::new();
        let upper =
            walk_extension_headers(p.packet(), |h| seen.push((h.protocol.0, h.offset))).unwrap();
        assert_eq!(seen, vec![(0, 40), (43, 48), (44, 72), (60, 80)]);
        assert_eq!(upper.protocol, IpProtocol::ESP);
        assert_eq!(upper.offset, esp_at);
        assert_eq!(
            upper.fragment,
            Some(FragmentHeader {
                offset: 72,
                frag_offset: 0,
                more_frags: true,
                ident: 0x0102_0304
            })
        );
        assert_eq!(p.ipsec_header().unwrap(), upper);
    }

    #[test]
    fn walk_stops_after_non_first_fragment() {
        // Fragment offset 0x10 (×8 bytes), next header AH; the bytes after are not AH's start.
        let buf = packet_with(IpProtocol::IPV6_FRAG, &[51, 0, 0, 0x80, 0, 0, 0, 9, 1, 2]);
        let upper = Ipv6Packet::new_checked(&buf[..])
            .unwrap()
            .upper_layer()
            .unwrap();
        assert_eq!(upper.protocol, IpProtocol::AH);
        assert_eq!(upper.offset, 48);
        assert_eq!(upper.fragment.map(|f| f.frag_offset), Some(0x10));
    }

    #[test]
    fn walk_errors() {
        // Hop-by-hop claims 16 bytes but the payload has 8.
        let buf = packet_with(IpProtocol::HOP_BY_HOP, &[50, 1, 0, 0, 0, 0, 0, 0]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            p.upper_layer().unwrap_err(),
            Ipv6Error::ExtensionHeaderOverrun {
                protocol: IpProtocol::HOP_BY_HOP,
                offset: 40
            }
        );
        // Hop-by-hop after destination options.
        let buf = packet_with(
            IpProtocol::IPV6_OPTS,
            &[0, 0, 0, 0, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0],
        );
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            p.upper_layer().unwrap_err(),
            Ipv6Error::HopByHopNotFirst { offset: 48 }
        );
        // Extension header named but absent.
        let buf = packet_with(IpProtocol::IPV6_OPTS, &[]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert!(matches!(
            p.upper_layer(),
            Err(Ipv6Error::ExtensionHeaderOverrun { offset: 40, .. })
        ));
        // Not IPsec.
        let buf = packet_with(IpProtocol::UDP, &[0; 8]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            p.ipsec_header().unwrap_err(),
            Ipv6Error::NotIpsec {
                protocol: IpProtocol::UDP,
                offset: 40
            }
        );
    }

    #[test]
    fn option_walk_reports_mutability_and_errors() {
        // Pad1, option 0x3e (change bit set) with 2 data bytes, PadN with 1.
        let header = [59u8, 0, 0, 0x3e, 2, 0xaa, 0xbb, 1];
        let mut seen = Vec::new();
        let err = for_each_option(&header, 40, |o| {
            seen.push((o.offset, o.kind, o.data.to_vec(), o.may_change_en_route()))
        })
        .unwrap_err();
        assert_eq!(
            err,
            Ipv6Error::MalformedOption {
                offset: 47,
                kind: 1
            }
        );
        assert_eq!(
            seen,
            vec![(42, 0, vec![], false), (43, 0x3e, vec![0xaa, 0xbb], true)]
        );
        let ok = [59u8, 0, 0x3e, 2, 0xaa, 0xbb, 1, 0];
        let mut offs = Vec::new();
        for_each_option(&ok, 40, |o| offs.push(o.data_offset())).unwrap();
        assert_eq!(offs, vec![44, 48]);
    }
}
