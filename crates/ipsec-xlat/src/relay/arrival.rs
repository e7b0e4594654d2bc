//! What the relay is given: a received packet's bytes and how they arrived, and the read-only
//! parse that finds the IPsec header in them.
//!
//! The forms follow what the sockets deliver, so that the I/O shell passes its buffers
//! unchanged: an IPv4 raw socket includes the IPv4 header on receive; an IPv6 raw socket never
//! does (RFC 3542), the addresses coming from the receive call instead; a UDP socket gives the
//! payload and both socket addresses.

use core::net::{IpAddr, Ipv6Addr, SocketAddr};
use core::ops::Range;

use crate::wire::ah::{AhError, AhPacket};
use crate::wire::encap::{self, EncapError, Encapsulated, AH_IN_UDP_MARKER};
use crate::wire::esp::{EspError, EspPacket};
use crate::wire::ipv4::{self, Ipv4Error, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Error, Ipv6Packet};
use crate::wire::IpProtocol;

use super::counters::DropReason;
use super::spi::IpsecProtocol;

/// How a packet's bytes reached the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The bytes are a whole IP packet, outer header first: what an IPv4 raw socket delivers,
    /// or an IPv4 or IPv6 packet read whole (packet socket, TUN, tests).
    Ip,
    /// The bytes are what an IPv6 raw socket delivers: the ESP or AH header first.
    Ipv6Payload {
        /// Source address, from the receive call.
        src: Ipv6Addr,
        /// Destination address, from `IPV6_PKTINFO`.
        dst: Ipv6Addr,
        /// The socket's protocol (50 or 51).
        protocol: IpProtocol,
    },
    /// The bytes are the payload of a UDP datagram. IPv4-mapped IPv6 addresses (from a
    /// dual-stack socket) are taken as the IPv4 addresses they stand for.
    Udp {
        /// The sender's address and port.
        src: SocketAddr,
        /// The relay's address and port it arrived on.
        dst: SocketAddr,
    },
}

/// Outer-header fields the relay may carry over to the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OuterFields {
    /// IPv4 TOS or IPv6 Traffic Class (0 when unknown).
    pub tos: u8,
    /// IPv4 Identification, when the packet came with an IPv4 header.
    pub ident: Option<u16>,
    /// IPv4 Don't Fragment; true for IPv6, which is never fragmented in transit.
    pub dont_frag: bool,
}

/// AH header fields the rewrite needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AhFields {
    /// AH header length in bytes (authentication data included).
    pub header_len: usize,
    /// Protocol after AH (ESP in an AH+ESP bundle).
    pub next_header: IpProtocol,
    /// The Reserved field (the IPv4 Identification carrier on the client leg).
    pub reserved: u16,
}

/// A received packet, located and checked far enough to look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The IPsec part: outermost ESP/AH header to the end of the packet (by its IP length).
    pub ipsec: Range<usize>,
    /// Protocol of the outermost IPsec header.
    pub protocol: IpsecProtocol,
    /// Its SPI (not 0–255).
    pub spi: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// (source port, destination port) when UDP-encapsulated.
    pub ports: Option<(u16, u16)>,
    /// Carried-over outer fields.
    pub outer: OuterFields,
    /// For AH, its fields.
    pub ah: Option<AhFields>,
}

/// Outer fields for packets that came without an IPv4 header.
const NO_IPV4: OuterFields = OuterFields {
    tos: 0,
    ident: None,
    dont_frag: true,
};

/// Finds and checks the IPsec header of a received packet.
#[inline(always)]
pub(crate) fn parse(arrival: &Arrival, bytes: &[u8]) -> Result<Parsed, DropReason> {
    let located = match *arrival {
        Arrival::Ip => match bytes.first().map(|b| b >> 4) {
            Some(4) => locate_ipv4(bytes)?,
            Some(6) => locate_ipv6(bytes)?,
            Some(_) => return Err(DropReason::MalformedOuter),
            None => return Err(DropReason::Truncated),
        },
        Arrival::Ipv6Payload { src, dst, protocol } => Located {
            ipsec: 0..bytes.len(),
            protocol: ipsec_protocol(protocol)?,
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            ports: None,
            outer: NO_IPV4,
        },
        Arrival::Udp { src, dst } => {
            let (protocol, start) = classify_udp(bytes)?;
            Located {
                ipsec: start..bytes.len(),
                protocol,
                src: src.ip().to_canonical(),
                dst: dst.ip().to_canonical(),
                ports: Some((src.port(), dst.port())),
                outer: NO_IPV4,
            }
        }
    };
    let part = bytes
        .get(located.ipsec.clone())
        .ok_or(DropReason::Truncated)?;
    let (spi, ah) = match located.protocol {
        IpsecProtocol::Esp => {
            let esp = EspPacket::new_checked(part).map_err(esp_reason)?;
            (esp.spi(), None)
        }
        IpsecProtocol::Ah => {
            let ah = AhPacket::new_checked(part).map_err(ah_reason)?;
            let fields = AhFields {
                header_len: ah.header_len(),
                next_header: ah.next_header(),
                reserved: ah.reserved(),
            };
            (ah.spi(), Some(fields))
        }
    };
    Ok(Parsed {
        ipsec: located.ipsec,
        protocol: located.protocol,
        spi,
        src: located.src,
        dst: located.dst,
        ports: located.ports,
        outer: located.outer,
        ah,
    })
}

/// The outer layer peeled off.
struct Located {
    ipsec: Range<usize>,
    protocol: IpsecProtocol,
    src: IpAddr,
    dst: IpAddr,
    ports: Option<(u16, u16)>,
    outer: OuterFields,
}

fn locate_ipv4(bytes: &[u8]) -> Result<Located, DropReason> {
    let packet = Ipv4Packet::new_checked(bytes).map_err(ipv4_reason)?;
    if packet.is_fragment() {
        return Err(DropReason::Fragment);
    }
    let protocol = ipsec_protocol(packet.protocol())?;
    if protocol == IpsecProtocol::Ah && packet.header_len() != ipv4::MIN_HEADER_LEN {
        return Err(DropReason::UnsupportedHeader);
    }
    Ok(Located {
        ipsec: packet.header_len()..usize::from(packet.total_len()),
        protocol,
        src: IpAddr::V4(packet.src_addr()),
        dst: IpAddr::V4(packet.dst_addr()),
        ports: None,
        outer: OuterFields {
            tos: packet.tos(),
            ident: Some(packet.ident()),
            dont_frag: packet.dont_frag(),
        },
    })
}

fn locate_ipv6(bytes: &[u8]) -> Result<Located, DropReason> {
    let packet = Ipv6Packet::new_checked(bytes).map_err(ipv6_reason)?;
    let upper = packet.ipsec_header().map_err(ipv6_reason)?;
    if upper
        .fragment
        .is_some_and(|f| f.frag_offset != 0 || f.more_frags)
    {
        return Err(DropReason::Fragment);
    }
    let protocol = ipsec_protocol(upper.protocol)?;
    if protocol == IpsecProtocol::Ah && upper.offset != ipv6::HEADER_LEN {
        return Err(DropReason::UnsupportedHeader);
    }
    Ok(Located {
        ipsec: upper.offset..packet.total_len(),
        protocol,
        src: IpAddr::V6(packet.src_addr()),
        dst: IpAddr::V6(packet.dst_addr()),
        ports: None,
        outer: OuterFields {
            tos: packet.traffic_class(),
            ..NO_IPV4
        },
    })
}

/// Which IPsec protocol a UDP payload carries, and where its header starts.
fn classify_udp(payload: &[u8]) -> Result<(IpsecProtocol, usize), DropReason> {
    if payload.starts_with(&AH_IN_UDP_MARKER) {
        return Ok((IpsecProtocol::Ah, AH_IN_UDP_MARKER.len()));
    }
    match encap::classify(payload) {
        Encapsulated::Esp(_) => Ok((IpsecProtocol::Esp, 0)),
        Encapsulated::Ike(_) => Err(DropReason::NotIpsec),
        Encapsulated::Keepalive => Err(DropReason::Keepalive),
        Encapsulated::Garbage(EncapError::Esp(e)) => Err(esp_reason(e)),
        Encapsulated::Garbage(EncapError::IkeTooShort { .. }) => Err(DropReason::NotIpsec),
        Encapsulated::Garbage(_) => Err(DropReason::Truncated),
    }
}

fn ipsec_protocol(protocol: IpProtocol) -> Result<IpsecProtocol, DropReason> {
    match protocol {
        IpProtocol::ESP => Ok(IpsecProtocol::Esp),
        IpProtocol::AH => Ok(IpsecProtocol::Ah),
        _ => Err(DropReason::NotIpsec),
    }
}

fn ipv4_reason(error: Ipv4Error) -> DropReason {
    match error {
        Ipv4Error::Truncated { .. } | Ipv4Error::TotalLenExceedsBuffer { .. } => {
            DropReason::Truncated
        }
        _ => DropReason::MalformedOuter,
    }
}

fn ipv6_reason(error: Ipv6Error) -> DropReason {
    match error {
        Ipv6Error::Truncated { .. } | Ipv6Error::PayloadLenExceedsBuffer { .. } => {
            DropReason::Truncated
        }
        Ipv6Error::NotIpsec { .. } => DropReason::NotIpsec,
        _ => DropReason::MalformedOuter,
    }
}

pub(crate) fn esp_reason(error: EspError) -> DropReason {
    match error {
        EspError::ZeroSpi | EspError::ReservedSpi { .. } => DropReason::ReservedSpi,
        _ => DropReason::Truncated,
    }
}

fn ah_reason(error: AhError) -> DropReason {
    match error {
        AhError::ZeroSpi | AhError::ReservedSpi { .. } => DropReason::ReservedSpi,
        AhError::PayloadLenTooSmall { .. } => DropReason::MalformedAh,
        _ => DropReason::Truncated,
    }
}
