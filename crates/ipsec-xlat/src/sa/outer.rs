//! What sits in front of ESP/AH on the wire: the tunnel-mode outer IP header template and the
//! optional RFC 3948 UDP encapsulation.
//!
//! For AH the template matters byte for byte: AH's ICV covers the immutable fields of this
//! header (addresses, Identification, Total Length, Protocol), so a client configures here
//! exactly the header the relay will emit towards the SGW.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::ipv4::{Ipv4Options, Ipv4Repr};
use crate::wire::ipv6::Ipv6Repr;
use crate::wire::{IpProtocol, IpVersion};

use super::error::SaError;

/// An SA's encapsulation mode (RFC 4301 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new outer IP header is put in front of the whole inner packet.
    Tunnel(TunnelHeader),
    /// ESP/AH go between the packet's own IP header and its payload.
    Transport,
}

/// The outer header of a tunnel-mode SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelHeader {
    /// IPv4 outer header.
    V4(TunnelV4),
    /// IPv6 outer header.
    V6(TunnelV6),
}

/// IPv4 outer header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelV4 {
    /// Source address (for a client's outbound SA: the relay's s-side address).
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time To Live.
    pub ttl: u8,
    /// TOS byte (DSCP + ECN).
    pub tos: u8,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// Identification of the first packet.
    pub ident: u16,
    /// Whether Identification counts up per packet (wrapping) or stays at `ident`. With DF
    /// set a constant value is allowed (RFC 6864 §4.1); without DF it must vary.
    pub ident_increments: bool,
}

/// IPv6 outer header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelV6 {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl TunnelHeader {
    /// An outer header between `src` and `dst` with common defaults: TTL/hop limit 64, no
    /// DSCP, DF set, IPv4 Identification counting up from 0.
    pub fn between(src: IpAddr, dst: IpAddr) -> Result<Self, SaError> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Ok(Self::V4(TunnelV4 {
                src,
                dst,
                ttl: 64,
                tos: 0,
                dont_frag: true,
                ident: 0,
                ident_increments: true,
            })),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Ok(Self::V6(TunnelV6 {
                src,
                dst,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            })),
            _ => Err(SaError::Untranslatable {
                reason: "outer source and destination of different IP versions",
            }),
        }
    }

    /// IP version of the header.
    pub fn version(&self) -> IpVersion {
        match self {
            Self::V4(_) => IpVersion::V4,
            Self::V6(_) => IpVersion::V6,
        }
    }

    /// Source address.
    pub(crate) fn src(&self) -> IpAddr {
        match self {
            Self::V4(h) => IpAddr::V4(h.src),
            Self::V6(h) => IpAddr::V6(h.src),
        }
    }

    /// Destination address.
    pub(crate) fn dst(&self) -> IpAddr {
        match self {
            Self::V4(h) => IpAddr::V4(h.dst),
            Self::V6(h) => IpAddr::V6(h.dst),
        }
    }

    /// Header length.
    pub fn len(&self) -> usize {
        match self {
            Self::V4(_) => crate::wire::ipv4::MIN_HEADER_LEN,
            Self::V6(_) => crate::wire::ipv6::HEADER_LEN,
        }
    }

    /// Never empty; present for the `len` convention.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the header for a payload of `payload_len` bytes of `protocol`, with IPv4
    /// Identification `ident`, into the front of `buf`.
    pub(crate) fn emit(
        &self,
        protocol: IpProtocol,
        payload_len: usize,
        ident: u16,
        buf: &mut [u8],
    ) -> Result<usize, SaError> {
        let too_large = SaError::TooLarge {
            len: payload_len.saturating_add(self.len()),
        };
        match self {
            Self::V4(h) => Ipv4Repr {
                src_addr: h.src,
                dst_addr: h.dst,
                protocol,
                payload_len,
                ttl: h.ttl,
                tos: h.tos,
                ident,
                dont_frag: h.dont_frag,
                more_frags: false,
                frag_offset: 0,
                options: Ipv4Options::EMPTY,
            }
            .emit(buf)
            .map_err(|_| too_large),
            Self::V6(h) => Ipv6Repr {
                src_addr: h.src,
                dst_addr: h.dst,
                next_header: protocol,
                payload_len,
                hop_limit: h.hop_limit,
                traffic_class: h.traffic_class,
                flow_label: h.flow_label,
            }
            .emit(buf)
            .map_err(|_| too_large),
        }
    }
}

/// UDP encapsulation of ESP (RFC 3948), used when a NAT sits on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// UDP source port (4500 unless a NAT changed it).
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
}

impl UdpEncap {
    /// Both ports 4500, the RFC 3948 default.
    pub const NAT_T: Self = Self {
        src_port: crate::wire::encap::NAT_T_PORT,
        dst_port: crate::wire::encap::NAT_T_PORT,
    };
}
