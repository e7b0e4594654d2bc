//! ICV pre- and post-translation: the client's half of the trick that lets the relay rewrite
//! packets it cannot decrypt.
//!
//! The relay swaps each packet's outer addresses and SPIs between its c-side (client <-> relay)
//! and s-side (relay <-> SGW) values. ESP's ICV (and AES-GCM's AAD) covers the SPI; AH's ICV
//! also covers the outer header's immutable fields. So the client computes every ICV over the
//! **s-side** values the SGW will see, and only the bytes it puts on the wire carry the
//! **c-side** values:
//!
//! | direction | ESP | AH (and AH+ESP) |
//! |---|---|---|
//! | outbound (client -> relay) | seal with s-SPI; then write c-SPI, c-side addresses (and c-side UDP encapsulation) | seal over the s-side outer header (s-addresses, the exact header the relay will emit); then write c-SPIs and c-side addresses |
//! | inbound (relay -> client) | restore s-SPI before verifying; outer header left alone (not covered) | restore s-SPIs and s-side source/destination addresses before verifying |
//!
//! Everything else — sequence numbers, IV, ciphertext, ICV, and for AH the Identification,
//! Total Length, flags, TTL — passes the relay bit for bit. Exactly these fields are listed
//! in `docs/PROTOCOL-esp-ah.md`.

use core::net::IpAddr;
use std::time::Instant;

use crate::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr, MIN_HEADER_LEN as IPV4_HEADER_LEN};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN as IPV6_HEADER_LEN};
use crate::wire::udp::{UdpPacket, UdpRepr, HEADER_LEN as UDP_HEADER_LEN};
use crate::wire::{IpProtocol, IpVersion};

use super::error::{ConfigError, SaError};
use super::inbound::{InboundSa, Opened};
use super::locate::{locate, write_u32, Located};
use super::outbound::{OutboundSa, Sealed};
use super::outer::{Mode, UdpEncap};

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
    /// UDP encapsulation on this side (ESP only).
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

impl Translation {
    /// Outbound, after sealing with the s-side values: rewrites the packet in `buf[..len]` to
    /// its c-side form and returns its new length. The length changes only for ESP when the
    /// two sides differ in IP version or UDP encapsulation (then `buf` needs room for the
    /// longer header).
    pub fn to_c_side(&self, buf: &mut [u8], len: usize) -> Result<usize, SaError> {
        let packet = buf.get(..len).ok_or(SaError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        })?;
        let loc = locate(packet)?;
        check_spis(packet, &loc, &self.s_side)?;
        let same_shape = version_of(self.c_side.src) == loc.version
            && self.c_side.udp_encap.is_some() == loc.udp.is_some();
        if loc.ah.is_some() || same_shape {
            if loc.ah.is_some() && !same_shape {
                return Err(SaError::Untranslatable {
                    reason: "AH covers the outer header: both sides need the same IP version",
                });
            }
            rewrite_in_place(buf, &loc, &self.c_side)?;
            return Ok(len);
        }
        rebuild_header(buf, len, &loc, &self.c_side)
    }

    /// Inbound, before verifying: puts back the s-side values the sender's ICV covers — the
    /// SPIs, and for AH also the outer source and destination addresses. The packet's length
    /// never changes.
    pub fn to_s_side(&self, packet: &mut [u8]) -> Result<(), SaError> {
        let loc = locate(packet)?;
        check_spis(packet, &loc, &self.c_side)?;
        if loc.ah.is_some() {
            if version_of(self.s_side.src) != loc.version {
                return Err(SaError::Untranslatable {
                    reason: "AH covers the outer header: both sides need the same IP version",
                });
            }
            set_addresses(packet, loc.version, self.s_side.src, self.s_side.dst)?;
        }
        write_spis(packet, &loc, &self.s_side);
        Ok(())
    }
}

fn version_of(a: IpAddr) -> IpVersion {
    match a {
        IpAddr::V4(_) => IpVersion::V4,
        IpAddr::V6(_) => IpVersion::V6,
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

/// Sets the UDP ports and checksum (zero under IPv4 as RFC 3948 allows; computed under IPv6).
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

/// ESP whose two sides differ in IP version or encapsulation: a new outer header (and UDP
/// header) in front of the unchanged ESP bytes.
fn rebuild_header(
    buf: &mut [u8],
    len: usize,
    loc: &Located,
    side: &SideValues,
) -> Result<usize, SaError> {
    let esp_off = loc.esp.ok_or(SaError::WrongProtocol {
        found: IpProtocol::AH.0,
        expected: IpProtocol::ESP.0,
    })?;
    let plain_header = match loc.version {
        IpVersion::V4 => IPV4_HEADER_LEN,
        IpVersion::V6 => IPV6_HEADER_LEN,
    };
    if loc.ip_header_len != plain_header {
        return Err(SaError::Untranslatable {
            reason: "IPv4 options or IPv6 extension headers cannot change IP version",
        });
    }
    // Mutable fields carried over from the sealed header (TTL/hop limit, DSCP/ECN).
    let (hops, class) = match loc.version {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_unchecked(&*buf);
            (ip.ttl(), ip.tos())
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_unchecked(&*buf);
            (ip.hop_limit(), ip.traffic_class())
        }
    };
    let esp_len = loc.packet_len.saturating_sub(esp_off);
    let udp_len = if side.udp_encap.is_some() {
        UDP_HEADER_LEN
    } else {
        0
    };
    let ip_len = match side.src {
        IpAddr::V4(_) => IPV4_HEADER_LEN,
        IpAddr::V6(_) => IPV6_HEADER_LEN,
    };
    let new_esp_off = ip_len.saturating_add(udp_len);
    let new_len = new_esp_off.saturating_add(esp_len);
    if buf.len() < new_len || len < loc.packet_len {
        return Err(SaError::BufferTooSmall {
            needed: new_len,
            available: buf.len(),
        });
    }
    buf.copy_within(esp_off..loc.packet_len, new_esp_off);
    let first = if udp_len > 0 {
        IpProtocol::UDP
    } else {
        IpProtocol::ESP
    };
    let too_large = SaError::TooLarge { len: new_len };
    match (side.src, side.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: first,
                payload_len: new_len.saturating_sub(ip_len),
                ttl: hops,
                tos: class,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                options: Ipv4Options::EMPTY,
            }
            .emit(buf)
            .map_err(|_| too_large)?;
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: first,
                payload_len: new_len.saturating_sub(ip_len),
                hop_limit: hops,
                traffic_class: class,
                flow_label: 0,
            }
            .emit(buf)
            .map_err(|_| too_large)?;
        }
        _ => {
            return Err(SaError::Untranslatable {
                reason: "source and destination of different IP versions",
            })
        }
    }
    let version = version_of(side.src);
    if let Some(encap) = side.udp_encap {
        UdpRepr {
            src_port: encap.src_port,
            dst_port: encap.dst_port,
            payload_len: esp_len,
        }
        .emit(buf.get_mut(ip_len..).unwrap_or_default())?;
        fill_udp(
            buf.get_mut(..new_len).unwrap_or_default(),
            version,
            ip_len,
            encap,
            side,
        )?;
    }
    if let Some(spi) = side.esp_spi {
        write_u32(buf, new_esp_off, spi);
    }
    Ok(new_len)
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
        now: Instant,
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

    /// Changes the c-side values (the client moved, or the relay re-allocated SPIs).
    pub fn set_c_side(&mut self, c_side: super::translate::SideValues) {
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

    /// Post-translates `packet` (as received from the relay) to its s-side form and opens it.
    pub fn open<'a>(&mut self, packet: &'a mut [u8], now: Instant) -> Result<Opened<'a>, SaError> {
        if let Err(e) = self.translation.to_s_side(packet) {
            self.sa.count_error(&e);
            return Err(e);
        }
        self.sa.open(packet, now)
    }

    /// The translation in use.
    pub fn translation(&self) -> &Translation {
        &self.translation
    }

    /// Changes the c-side values.
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
