//! ICV pre- and post-translation: the client's half of the trick that lets the relay rewrite
//! packets it cannot decrypt.
//!
//! The relay swaps each packet's outer addresses and SPIs between its c-side (client <-> relay)
//! and s-side (relay <-> SGW) values. ESP's ICV (and AES-GCM's AAD) covers the SPI; AH's ICV
//! also covers the outer header's immutable fields. So the client computes every ICV over the
//! **s-side** values the SGW will see, and only the bytes it puts on the wire carry the
//! **c-side** values. This is the relay's client-leg contract (module docs of
//! [`relay`](crate::relay)), seen from the client:
//!
//! | direction | ESP | AH (and AH+ESP) |
//! |---|---|---|
//! | outbound (client -> relay) | seal with s-SPI; then write c-SPI, c-side addresses (and c-side UDP encapsulation) | seal over the s-side outer header the relay will emit; then write c-SPIs, c-side addresses (and UDP with [`AH_IN_UDP_MARKER`]); carry the s-side IPv4 Identification ([`carriage`]) |
//! | inbound (relay -> client) | restore s-SPI before verifying; outer header left alone (not covered) | rebuild the s-side outer header (addresses, lengths, Protocol, the carried Identification), zero Reserved, restore s-SPIs, then verify |
//!
//! Everything after the SPIs — sequence numbers, IV, ciphertext, ICV — passes the relay bit for
//! bit. The outer header's mutable fields (TOS/traffic class, flags, TTL/hop limit, checksum,
//! flow label) do not: the relay writes its own TTL and copies TOS and DF, which AH's ICV
//! ignores. Exactly these fields are listed in `docs/PROTOCOL.md` §3.

use crate::time::Timestamp;
use core::net::IpAddr;
use core::ops::Range;

use crate::wire::ah::AhPacket;
use crate::wire::encap::AH_IN_UDP_MARKER;
use crate::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr, MIN_HEADER_LEN as IPV4_HEADER_LEN};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN as IPV6_HEADER_LEN};
use crate::wire::udp::{UdpPacket, UdpRepr, HEADER_LEN as UDP_HEADER_LEN};
use crate::wire::{IpProtocol, IpVersion};

use super::error::{ConfigError, SaError};
use super::inbound::{InboundSa, Opened};
use super::locate::{locate, locate_client_leg, write_u32, Located};
use super::outbound::{OutboundSa, Sealed};
use super::outer::{Mode, UdpEncap};

/// Room [`ClientInboundSa::open`] (and [`Translation::to_s_side`]) needs after a received
/// packet in its buffer: AH from an IPv4 client leg whose gateway leg is IPv6 gets a longer
/// header back (40 bytes for 20 raw, or for 32 with UDP and [`AH_IN_UDP_MARKER`]).
pub const INBOUND_ROOM: usize = IPV6_HEADER_LEN - IPV4_HEADER_LEN;

/// The values the relay rewrites, as one side of it sees them for one SA direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideValues {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// ESP SPI on this side, if the SA has ESP.
    pub esp_spi: Option<u32>,
    /// AH SPI on this side, if the SA has AH.
    pub ah_spi: Option<u32>,
    /// UDP encapsulation on this side: RFC 3948 for ESP; on the c-side also AH, behind
    /// [`AH_IN_UDP_MARKER`] (the s-side never carries AH in UDP).
    pub udp_encap: Option<UdpEncap>,
}

/// How one SA direction's packets look on the s-side (as the SGW sees them) and on the c-side
/// (as they travel between client and relay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Values the SGW sees; every ICV is computed over these.
    pub s_side: SideValues,
    /// Values on the client-relay leg.
    pub c_side: SideValues,
}

/// Where the gateway leg's IPv4 Identification, which AH's ICV covers, travels on the client
/// leg — the relay's contract (module docs of [`relay`](crate::relay)), and the one place the
/// client implements it.
pub(crate) mod carriage {
    /// Outbound: the value of AH's Reserved field on the client leg, for a packet sealed
    /// over a gateway-leg header with Identification `s_ident` (`None`: IPv6, which has
    /// none). A raw IPv4 client leg carries Identification in its own header, whose value
    /// is then `s_ident`, and Reserved stays 0; any other client leg (IPv6, or UDP) carries
    /// it in Reserved.
    pub(crate) fn reserved_on_client_leg(s_ident: Option<u16>, client_leg_raw_ipv4: bool) -> u16 {
        match s_ident {
            Some(ident) if !client_leg_raw_ipv4 => ident,
            _ => 0,
        }
    }

    /// Inbound: the gateway leg's Identification, to rebuild the IPv4 header the SGW
    /// signed, from what the relay delivered: the client leg's own IPv4 header's
    /// Identification (`client_header_ident`, raw IPv4 only) or else AH's Reserved.
    /// Reserved is then 0 again, as the SGW sent it.
    pub(crate) fn s_side_ident(client_header_ident: Option<u16>, reserved: u16) -> u16 {
        client_header_ident.unwrap_or(reserved)
    }
}

impl Translation {
    /// Outbound, after sealing with the s-side values: rewrites the packet in `buf[..len]` to
    /// its c-side form and returns its new length. The length changes when the two sides
    /// differ in IP version or UDP encapsulation (then `buf` needs room for the longer
    /// header: up to 32 bytes more, IPv6 + UDP + [`AH_IN_UDP_MARKER`] instead of IPv4).
    pub fn to_c_side(&self, buf: &mut [u8], len: usize) -> Result<usize, SaError> {
        let packet = buf.get(..len).ok_or(SaError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        let loc = locate(packet)?;
        check_spis(packet, &loc, &self.s_side)?;
        if loc.ah.is_some() {
            check_relay_can_rebuild(&loc)?;
        }
        let same_shape = version_of(self.c_side.src) == loc.version
            && self.c_side.udp_encap.is_some() == loc.udp.is_some();
        if same_shape {
            rewrite_in_place(buf, &loc, &self.c_side)?;
            return Ok(len);
        }
        rebuild_c_side(buf, len, &loc, &self.c_side)
    }

    /// Inbound, before verifying: puts back the s-side values the sender's ICV covers — the
    /// SPIs, and for AH the whole outer header the SGW signed (addresses, lengths, Protocol,
    /// the carried Identification, Reserved 0). Returns where in `buf` the s-side packet now
    /// is. ESP, and AH whose two sides have the same form, stay in place; AH from a client
    /// leg of another form gets its s-side header written in front of AH, which needs
    /// [`INBOUND_ROOM`] spare bytes after the packet when that header is longer.
    ///
    /// Refused (foreign SPI, malformed): `buf` is left as received.
    pub fn to_s_side(&self, buf: &mut [u8]) -> Result<Range<usize>, SaError> {
        let loc = locate_client_leg(buf)?;
        check_spis(buf, &loc, &self.c_side)?;
        let whole = 0..loc.packet_len;
        let Some((ah_off, _)) = loc.ah else {
            write_spis(buf, &loc, &self.s_side);
            return Ok(whole);
        };
        let s_version = version_of(self.s_side.src);
        if s_version == loc.version && loc.udp.is_none() {
            // Same form: the header is the SGW's but for the addresses.
            set_addresses(buf, loc.version, self.s_side.src, self.s_side.dst)?;
            write_spis(buf, &loc, &self.s_side);
            return Ok(whole);
        }
        check_relay_can_rebuild(&loc)?;
        rebuild_s_side(buf, &loc, ah_off, &self.s_side)
    }
}

fn version_of(a: IpAddr) -> IpVersion {
    match a {
        IpAddr::V4(_) => IpVersion::V4,
        IpAddr::V6(_) => IpVersion::V6,
    }
}

/// The relay writes AH's outer header from the entry and the packet, never with IPv4 options
/// or IPv6 extension headers: an ICV over such a header could never verify at the SGW.
fn check_relay_can_rebuild(loc: &Located) -> Result<(), SaError> {
    let plain = match loc.version {
        IpVersion::V4 => IPV4_HEADER_LEN,
        IpVersion::V6 => IPV6_HEADER_LEN,
    };
    if loc.ip_header_len == plain {
        Ok(())
    } else {
        Err(SaError::Untranslatable {
            reason: "AH under IPv4 options or IPv6 extension headers: the relay writes a plain \
                     header",
        })
    }
}

/// The packet must carry exactly the SPIs of `side`: anything else is not this SA's.
fn check_spis(packet: &[u8], loc: &Located, side: &SideValues) -> Result<(), SaError> {
    for (found, expected) in [
        (loc.ah_spi(packet), side.ah_spi),
        (loc.esp_spi(packet), side.esp_spi),
    ] {
        match (found, expected) {
            (Some(f), Some(e)) if f != e => {
                return Err(SaError::SpiMismatch {
                    found: f,
                    expected: e,
                })
            }
            (Some(_), Some(_)) | (None, None) => {}
            (Some(f), None) => return Err(SaError::UnknownSpi { spi: f }),
            (None, Some(_)) => {
                return Err(SaError::WrongProtocol {
                    found: if loc.ah.is_some() {
                        IpProtocol::AH.0
                    } else {
                        IpProtocol::ESP.0
                    },
                    expected: if side.ah_spi.is_some() {
                        IpProtocol::AH.0
                    } else {
                        IpProtocol::ESP.0
                    },
                })
            }
        }
    }
    Ok(())
}

fn write_spis(packet: &mut [u8], loc: &Located, side: &SideValues) {
    if let (Some((off, _)), Some(spi)) = (loc.ah, side.ah_spi) {
        write_u32(packet, off.saturating_add(4), spi);
    }
    if let (Some(off), Some(spi)) = (loc.esp, side.esp_spi) {
        write_u32(packet, off, spi);
    }
}

fn set_addresses(
    packet: &mut [u8],
    version: IpVersion,
    src: IpAddr,
    dst: IpAddr,
) -> Result<(), SaError> {
    match (version, src, dst) {
        (IpVersion::V4, IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut ip = Ipv4Packet::new_unchecked(packet);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            ip.fill_checksum();
            Ok(())
        }
        (IpVersion::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut ip = Ipv6Packet::new_unchecked(packet);
            ip.set_src_addr(s);
            ip.set_dst_addr(d);
            Ok(())
        }
        _ => Err(SaError::Untranslatable {
            reason: "source and destination of different IP versions",
        }),
    }
}

/// Same IP version and encapsulation on both sides: overwrite addresses, ports and SPIs.
fn rewrite_in_place(buf: &mut [u8], loc: &Located, side: &SideValues) -> Result<(), SaError> {
    let packet = buf.get_mut(..loc.packet_len).unwrap_or_default();
    set_addresses(packet, loc.version, side.src, side.dst)?;
    write_spis(packet, loc, side);
    if let (Some(udp_off), Some(encap)) = (loc.udp, side.udp_encap) {
        fill_udp(packet, loc.version, udp_off, encap, side)?;
    }
    Ok(())
}

/// Sets the UDP ports and checksum (zero under IPv4 as RFC 3948 allows; computed under IPv6,
/// so call it once everything after the UDP header is final).
fn fill_udp(
    packet: &mut [u8],
    version: IpVersion,
    udp_off: usize,
    encap: UdpEncap,
    side: &SideValues,
) -> Result<(), SaError> {
    let mut udp = UdpPacket::new_checked(packet.get_mut(udp_off..).unwrap_or_default())?;
    udp.set_src_port(encap.src_port);
    udp.set_dst_port(encap.dst_port);
    udp.set_checksum(0);
    if let (IpVersion::V6, IpAddr::V6(s), IpAddr::V6(d)) = (version, side.src, side.dst) {
        udp.fill_checksum_ipv6(s, d);
    }
    Ok(())
}

/// Writes a plain IP header (no options or extension headers) for `payload_len` bytes of
/// `protocol` into the front of `buf`. IPv4 gets DF, which is mutable for AH and keeps an
/// Identification of 0 from being randomised by Linux.
fn emit_ip_header(
    buf: &mut [u8],
    side: &SideValues,
    protocol: IpProtocol,
    payload_len: usize,
    (hops, class): (u8, u8),
    ident: u16,
) -> Result<(), SaError> {
    let too_large = SaError::TooLarge {
        len: payload_len.saturating_add(IPV6_HEADER_LEN),
    };
    match (side.src, side.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol,
            payload_len,
            ttl: hops,
            tos: class,
            ident,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::EMPTY,
        }
        .emit(buf)
        .map(|_| ())
        .map_err(|_| too_large),
        (IpAddr::V6(src), IpAddr::V6(dst)) => Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: protocol,
            payload_len,
            hop_limit: hops,
            traffic_class: class,
            flow_label: 0,
        }
        .emit(buf)
        .map(|_| ())
        .map_err(|_| too_large),
        _ => Err(SaError::Untranslatable {
            reason: "source and destination of different IP versions",
        }),
    }
}

/// The mutable hop count and class of the packet's outer header, carried over to a rebuilt one.
fn hops_and_class(packet: &[u8], version: IpVersion) -> (u8, u8) {
    match version {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_unchecked(packet);
            (ip.ttl(), ip.tos())
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_unchecked(packet);
            (ip.hop_limit(), ip.traffic_class())
        }
    }
}

/// Outbound, the two sides differing in IP version or encapsulation: a new outer header (and
/// UDP header, and for AH the marker) in front of the unchanged IPsec bytes; for AH the s-side
/// Identification goes into Reserved as [`carriage`] says.
fn rebuild_c_side(
    buf: &mut [u8],
    len: usize,
    loc: &Located,
    side: &SideValues,
) -> Result<usize, SaError> {
    let ipsec_off = match (loc.ah, loc.esp) {
        (Some((ah_off, _)), _) => ah_off,
        (None, Some(esp_off)) => esp_off,
        (None, None) => {
            return Err(SaError::WrongProtocol {
                found: IpProtocol::UDP.0,
                expected: IpProtocol::ESP.0,
            })
        }
    };
    if loc.ip_header_len
        != match loc.version {
            IpVersion::V4 => IPV4_HEADER_LEN,
            IpVersion::V6 => IPV6_HEADER_LEN,
        }
    {
        return Err(SaError::Untranslatable {
            reason: "IPv4 options or IPv6 extension headers cannot change IP version",
        });
    }
    let mutable = hops_and_class(buf, loc.version);
    let s_ident = match loc.version {
        IpVersion::V4 => Some(Ipv4Packet::new_unchecked(&*buf).ident()),
        IpVersion::V6 => None,
    };
    let ipsec_len = loc.packet_len.saturating_sub(ipsec_off);
    let marker_len = if loc.ah.is_some() && side.udp_encap.is_some() {
        AH_IN_UDP_MARKER.len()
    } else {
        0
    };
    let udp_len = if side.udp_encap.is_some() {
        UDP_HEADER_LEN
    } else {
        0
    };
    let ip_len = match side.src {
        IpAddr::V4(_) => IPV4_HEADER_LEN,
        IpAddr::V6(_) => IPV6_HEADER_LEN,
    };
    let udp_payload_len = marker_len.saturating_add(ipsec_len);
    let new_ipsec_off = ip_len.saturating_add(udp_len).saturating_add(marker_len);
    let new_len = new_ipsec_off.saturating_add(ipsec_len);
    if buf.len() < new_len || len < loc.packet_len {
        return Err(SaError::BufferTooSmall {
            needed: new_len,
            available: buf.len(),
        });
    }
    buf.copy_within(ipsec_off..loc.packet_len, new_ipsec_off);
    let first = match (side.udp_encap, loc.ah) {
        (Some(_), _) => IpProtocol::UDP,
        (None, Some(_)) => IpProtocol::AH,
        (None, None) => IpProtocol::ESP,
    };
    emit_ip_header(buf, side, first, new_len.saturating_sub(ip_len), mutable, 0)?;
    let packet = buf.get_mut(..new_len).unwrap_or_default();
    if let Some(encap) = side.udp_encap {
        UdpRepr {
            src_port: encap.src_port,
            dst_port: encap.dst_port,
            payload_len: udp_payload_len,
        }
        .emit(packet.get_mut(ip_len..).unwrap_or_default())?;
        if let Some(m) = packet.get_mut(ip_len.saturating_add(udp_len)..new_ipsec_off) {
            m.copy_from_slice(AH_IN_UDP_MARKER.get(..m.len()).unwrap_or_default());
        }
    }
    let moved = Located {
        version: version_of(side.src),
        ip_header_len: ip_len,
        next_header_field: 0,
        packet_len: new_len,
        udp: side.udp_encap.map(|_| ip_len),
        ah: loc.ah.map(|(_, ah_len)| (new_ipsec_off, ah_len)),
        esp: loc
            .esp
            .map(|esp_off| new_ipsec_off.saturating_add(esp_off.saturating_sub(ipsec_off))),
    };
    if let Some((ah_off, _)) = moved.ah {
        let raw_ipv4 = side.udp_encap.is_none() && moved.version == IpVersion::V4;
        let reserved = carriage::reserved_on_client_leg(s_ident, raw_ipv4);
        AhPacket::new_unchecked(packet.get_mut(ah_off..).unwrap_or_default())
            .set_reserved(reserved);
    }
    write_spis(packet, &moved, side);
    if let Some(encap) = side.udp_encap {
        fill_udp(packet, moved.version, ip_len, encap, side)?;
    }
    Ok(new_len)
}

/// Inbound AH whose client-leg form differs from the gateway leg's: writes the s-side header
/// the SGW signed right in front of AH (moving the AH part up when that header is longer than
/// what the client leg had there), puts the carried Identification back and Reserved to 0,
/// restores the s-SPIs. Returns where the s-side packet is.
fn rebuild_s_side(
    buf: &mut [u8],
    loc: &Located,
    ah_off: usize,
    side: &SideValues,
) -> Result<Range<usize>, SaError> {
    let s_version = version_of(side.src);
    if version_of(side.dst) != s_version {
        return Err(SaError::Untranslatable {
            reason: "source and destination of different IP versions",
        });
    }
    let s_header_len = match s_version {
        IpVersion::V4 => IPV4_HEADER_LEN,
        IpVersion::V6 => IPV6_HEADER_LEN,
    };
    let part_len = loc.packet_len.saturating_sub(ah_off);
    let client_header_ident = match (loc.version, loc.udp) {
        (IpVersion::V4, None) => Some(Ipv4Packet::new_unchecked(&*buf).ident()),
        _ => None,
    };
    let reserved = AhPacket::new_unchecked(buf.get(ah_off..).unwrap_or_default()).reserved();
    let ident = carriage::s_side_ident(client_header_ident, reserved);
    let mutable = hops_and_class(buf, loc.version);
    let start = match ah_off.checked_sub(s_header_len) {
        Some(start) => start,
        None => {
            let needed = s_header_len.saturating_add(part_len);
            if buf.len() < needed {
                return Err(SaError::BufferTooSmall {
                    needed,
                    available: buf.len(),
                });
            }
            buf.copy_within(ah_off..loc.packet_len, s_header_len);
            0
        }
    };
    let new_ah_off = start.saturating_add(s_header_len);
    let end = new_ah_off.saturating_add(part_len);
    let packet = buf.get_mut(start..end).ok_or(SaError::BufferTooSmall {
        needed: end,
        available: 0,
    })?;
    emit_ip_header(packet, side, IpProtocol::AH, part_len, mutable, ident)?;
    if s_version == IpVersion::V4 {
        // Reserved carried the Identification; the SGW sent 0. (Under IPv6 it stays as
        // received: the relay writes 0 there, and anything else must fail the ICV.)
        AhPacket::new_unchecked(packet.get_mut(s_header_len..).unwrap_or_default()).set_reserved(0);
    }
    let moved = Located {
        version: s_version,
        ip_header_len: s_header_len,
        next_header_field: 0,
        packet_len: packet.len(),
        udp: None,
        ah: loc.ah.map(|(_, ah_len)| (s_header_len, ah_len)),
        esp: loc
            .esp
            .map(|esp_off| s_header_len.saturating_add(esp_off.saturating_sub(ah_off))),
    };
    write_spis(packet, &moved, side);
    Ok(start..end)
}

/// A client's outbound SA behind the relay: seals over the s-side values, sends the c-side
/// ones.
pub struct ClientOutboundSa {
    sa: OutboundSa,
    translation: Translation,
}

impl ClientOutboundSa {
    /// Pairs `sa` (configured with the s-side SPIs and, in tunnel mode, the s-side outer
    /// header) with its translation; refuses a pairing whose s-side values disagree with the
    /// SA, because every ICV would then be computed over the wrong values.
    pub fn new(sa: OutboundSa, translation: Translation) -> Result<Self, ConfigError> {
        if sa.esp_spi() != translation.s_side.esp_spi || sa.ah_spi() != translation.s_side.ah_spi {
            return Err(ConfigError::Unsupported(
                "translation s-side SPIs differ from the SA's SPIs",
            ));
        }
        if let Mode::Tunnel(h) = sa.mode() {
            if h.src() != translation.s_side.src || h.dst() != translation.s_side.dst {
                return Err(ConfigError::Unsupported(
                    "translation s-side addresses differ from the SA's outer header",
                ));
            }
        }
        Ok(Self { sa, translation })
    }

    /// Seals `packet` like [`OutboundSa::seal`] and rewrites the result to its c-side form.
    /// `out` needs room for the longer of the two forms.
    pub fn seal(
        &mut self,
        packet: &[u8],
        iv: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<Sealed, SaError> {
        let sealed = self.sa.seal(packet, iv, now, out)?;
        match self.translation.to_c_side(out, sealed.len) {
            Ok(len) => Ok(Sealed { len, ..sealed }),
            Err(e) => {
                self.sa.count_error(&e);
                Err(e)
            }
        }
    }

    /// The translation in use.
    pub fn translation(&self) -> &Translation {
        &self.translation
    }

    /// Changes the c-side values: the client moved to another address (mobility), or the
    /// relay gave the bundle other c-side SPIs. The s-side, which the ICV covers, never
    /// changes.
    pub fn set_c_side(&mut self, c_side: SideValues) {
        self.translation.c_side = c_side;
    }

    /// The underlying SA.
    pub fn sa(&self) -> &OutboundSa {
        &self.sa
    }

    /// The underlying SA, mutably (events, timeouts, sequence resumption).
    pub fn sa_mut(&mut self) -> &mut OutboundSa {
        &mut self.sa
    }
}

/// A client's inbound SA behind the relay: restores the s-side values, then verifies.
pub struct ClientInboundSa {
    sa: InboundSa,
    translation: Translation,
}

impl ClientInboundSa {
    /// Pairs `sa` (configured with the s-side SPIs) with its translation.
    pub fn new(sa: InboundSa, translation: Translation) -> Result<Self, ConfigError> {
        if sa.esp_spi() != translation.s_side.esp_spi || sa.ah_spi() != translation.s_side.ah_spi {
            return Err(ConfigError::Unsupported(
                "translation s-side SPIs differ from the SA's SPIs",
            ));
        }
        Ok(Self { sa, translation })
    }

    /// Post-translates `packet` (as received from the relay, at the front of the buffer) to
    /// its s-side form and opens it. Give the buffer [`INBOUND_ROOM`] spare bytes after the
    /// packet: AH from an IPv4 client leg with an IPv6 gateway leg needs them. A packet
    /// refused by the translation (foreign c-SPI) is left as received; one refused by the SA
    /// afterwards already carries the s-side values.
    pub fn open<'a>(
        &mut self,
        packet: &'a mut [u8],
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        let s_side = match self.translation.to_s_side(packet) {
            Ok(range) => range,
            Err(e) => {
                self.sa.count_error(&e);
                return Err(e);
            }
        };
        let available = packet.len();
        let Some(packet) = packet.get_mut(s_side.clone()) else {
            let e = SaError::BufferTooSmall {
                needed: s_side.end,
                available,
            };
            self.sa.count_error(&e);
            return Err(e);
        };
        self.sa.open(packet, now)
    }

    /// The translation in use.
    pub fn translation(&self) -> &Translation {
        &self.translation
    }

    /// Changes the c-side values: the client moved to another address (mobility), or the
    /// relay gave the bundle other c-side SPIs. The s-side, which the ICV covers, never
    /// changes.
    pub fn set_c_side(&mut self, c_side: SideValues) {
        self.translation.c_side = c_side;
    }

    /// The underlying SA.
    pub fn sa(&self) -> &InboundSa {
        &self.sa
    }

    /// The underlying SA, mutably.
    pub fn sa_mut(&mut self) -> &mut InboundSa {
        &mut self.sa
    }
}
