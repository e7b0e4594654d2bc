//! Finding ESP and AH inside a received IP packet: outer IPv4/IPv6 header (IPv6 extension
//! headers walked), optional RFC 3948 UDP encapsulation, AH, ESP.
//!
//! Shared by inbound processing and by the ICV translation, which both need to know where the
//! SPI fields are before touching anything.

use crate::wire::ah::AhPacket;
use crate::wire::encap::{self, Encapsulated};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::udp::UdpPacket;
use crate::wire::{IpProtocol, IpVersion};

use crate::wire::encap::AH_IN_UDP_MARKER;

use super::error::{HeaderError, SaError};

/// Where the IPsec headers of a packet lie (offsets from the start of the IP packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// Outer IP version.
    pub version: IpVersion,
    /// Length of the IP header, IPv4 options and IPv6 extension headers included.
    pub ip_header_len: usize,
    /// Offset of the byte holding the Protocol / Next Header that names what follows the IP
    /// header (9 for IPv4, 6 or inside the last extension header for IPv6).
    pub next_header_field: usize,
    /// IP packet length (IPv4 Total Length or 40 + IPv6 Payload Length); bytes beyond it are
    /// link-layer padding and are ignored.
    pub packet_len: usize,
    /// Offset of the UDP header, for RFC 3948 encapsulation (or, on the relay's client leg,
    /// for AH behind [`AH_IN_UDP_MARKER`]).
    pub udp: Option<usize>,
    /// Offset and header length of AH.
    pub ah: Option<(usize, usize)>,
    /// Offset of ESP.
    pub esp: Option<usize>,
}

impl Located {
    /// SPI of AH, if present.
    pub(crate) fn ah_spi(&self, packet: &[u8]) -> Option<u32> {
        self.ah
            .map(|(off, _)| read_u32(packet, off.saturating_add(4)))
    }

    /// SPI of ESP, if present.
    pub(crate) fn esp_spi(&self, packet: &[u8]) -> Option<u32> {
        self.esp.map(|off| read_u32(packet, off))
    }
}

pub(crate) fn read_u32(buf: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = buf.get(offset..offset.saturating_add(4)) {
        b.copy_from_slice(src);
    }
    u32::from_be_bytes(b)
}

pub(crate) fn write_u32(buf: &mut [u8], offset: usize, value: u32) {
    if let Some(dst) = buf.get_mut(offset..offset.saturating_add(4)) {
        dst.copy_from_slice(&value.to_be_bytes());
    }
}

/// What the IP header of a whole (unfragmented) packet says about what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeaderWalk {
    /// Length of the IP header, IPv4 options and IPv6 extension headers included.
    pub header_len: usize,
    /// Offset of the Protocol / Next Header byte naming the upper layer.
    pub next_header_field: usize,
    /// IP packet length (IPv4 Total Length or 40 + IPv6 Payload Length).
    pub packet_len: usize,
    /// The upper-layer protocol.
    pub protocol: IpProtocol,
}

/// Walks the `version` IP header of `packet` down to the upper layer. Fragments are refused:
/// ESP and AH are applied to and checked on whole packets only, so both inbound location and
/// outbound transport mode walk headers this one way.
pub(crate) fn walk_ip_header(packet: &[u8], version: IpVersion) -> Result<IpHeaderWalk, SaError> {
    match version {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_checked(packet)?;
            if ip.is_fragment() {
                return Err(SaError::MalformedHeader(HeaderError::Fragment {
                    offset: 6,
                }));
            }
            Ok(IpHeaderWalk {
                header_len: ip.header_len(),
                next_header_field: 9,
                packet_len: usize::from(ip.total_len()),
                protocol: ip.protocol(),
            })
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_checked(packet)?;
            let mut nh_field = 6;
            let upper = ipv6::walk_extension_headers(ip.packet(), |h| nh_field = h.offset)?;
            if let Some(f) = upper.fragment {
                return Err(SaError::MalformedHeader(HeaderError::Fragment {
                    offset: f.offset,
                }));
            }
            Ok(IpHeaderWalk {
                header_len: upper.offset,
                next_header_field: nh_field,
                packet_len: ip.total_len(),
                protocol: upper.protocol,
            })
        }
    }
}

/// Parses the outer headers of `packet` down to ESP (or AH followed, optionally, by ESP).
/// AH behind UDP is not IPsec any SGW sends: only the relay's client leg has it.
pub(crate) fn locate(packet: &[u8]) -> Result<Located, SaError> {
    locate_with(packet, false)
}

/// Like [`locate`], for a packet on the relay's client leg, where AH may also travel in UDP
/// behind [`AH_IN_UDP_MARKER`] (then `udp` and `ah` are both set).
pub(crate) fn locate_client_leg(packet: &[u8]) -> Result<Located, SaError> {
    locate_with(packet, true)
}

fn locate_with(packet: &[u8], ah_in_udp: bool) -> Result<Located, SaError> {
    let version = match IpVersion::of_packet(packet) {
        Some(v) => v,
        None => {
            return Err(match packet.first() {
                None => SaError::Truncated {
                    what: "IP header",
                    offset: 0,
                    needed: 1,
                    available: 0,
                },
                Some(b) => SaError::MalformedHeader(HeaderError::IpVersion(b >> 4)),
            })
        }
    };
    let IpHeaderWalk {
        header_len: ip_header_len,
        next_header_field,
        packet_len,
        protocol,
    } = walk_ip_header(packet, version)?;
    let packet = packet.get(..packet_len).unwrap_or(packet);
    let mut loc = Located {
        version,
        ip_header_len,
        next_header_field,
        packet_len,
        udp: None,
        ah: None,
        esp: None,
    };
    match protocol {
        IpProtocol::ESP => loc.esp = Some(ip_header_len),
        IpProtocol::UDP => {
            let udp_bytes = packet.get(ip_header_len..).unwrap_or_default();
            let udp =
                UdpPacket::new_checked(udp_bytes).map_err(|e| shift(e.into(), ip_header_len))?;
            if ah_in_udp && udp.payload().starts_with(&AH_IN_UDP_MARKER) {
                let ah_off = ip_header_len
                    .saturating_add(crate::wire::udp::HEADER_LEN)
                    .saturating_add(AH_IN_UDP_MARKER.len());
                locate_ah(packet, ah_off, &mut loc)?;
                loc.udp = Some(ip_header_len);
                return finish(packet, loc);
            }
            match encap::classify(udp.payload()) {
                Encapsulated::Esp(_) => {}
                _ => {
                    // IKE after a non-ESP marker, a keepalive, or junk: not for an SA.
                    return Err(SaError::WrongProtocol {
                        found: IpProtocol::UDP.0,
                        expected: IpProtocol::ESP.0,
                    });
                }
            }
            loc.udp = Some(ip_header_len);
            loc.esp = Some(ip_header_len.saturating_add(crate::wire::udp::HEADER_LEN));
        }
        IpProtocol::AH => locate_ah(packet, ip_header_len, &mut loc)?,
        other => {
            return Err(SaError::WrongProtocol {
                found: other.0,
                expected: IpProtocol::ESP.0,
            })
        }
    }
    finish(packet, loc)
}

/// Records AH at `ah_off` (and ESP after it in a bundle).
fn locate_ah(packet: &[u8], ah_off: usize, loc: &mut Located) -> Result<(), SaError> {
    let ah_bytes = packet.get(ah_off..).unwrap_or_default();
    let ah = AhPacket::new_checked(ah_bytes).map_err(|e| shift(e.into(), ah_off))?;
    let ah_len = ah.header_len();
    loc.ah = Some((ah_off, ah_len));
    if ah.next_header() == IpProtocol::ESP {
        loc.esp = Some(ah_off.saturating_add(ah_len));
    }
    Ok(())
}

/// Checks that a located ESP header is all there.
fn finish(packet: &[u8], loc: Located) -> Result<Located, SaError> {
    if let Some(esp) = loc.esp {
        let needed = esp.saturating_add(crate::wire::esp::HEADER_LEN);
        if packet.len() < needed {
            return Err(SaError::Truncated {
                what: "ESP header",
                offset: esp,
                needed,
                available: packet.len(),
            });
        }
    }
    Ok(loc)
}

/// Moves a `Truncated` offset from header-relative to packet-relative.
fn shift(e: SaError, by: usize) -> SaError {
    match e {
        SaError::Truncated {
            what,
            offset,
            needed,
            available,
        } => SaError::Truncated {
            what,
            offset: offset.saturating_add(by),
            needed: needed.saturating_add(by),
            available: available.saturating_add(by),
        },
        other => other,
    }
}
