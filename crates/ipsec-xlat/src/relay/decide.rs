//! Deciding a packet's way out, before any byte is written: which entry, whether it came the
//! way the entry says, which SPIs and outer header it leaves with, and where AH's
//! Identification goes (see the module docs of [`relay`](super)).
//!
//! Kept apart from the writing (in `rewrite`), reading the entry in place through a
//! [`RouteRef`], so that the single-packet and the batch paths share it.

use core::net::IpAddr;

use crate::wire::esp::EspPacket;
use crate::wire::ipv4;
use crate::wire::IpProtocol;

use super::arrival::{self, Parsed};
use super::counters::DropReason;
use super::entry::{LegPath, LegTransport};
use super::index::Role;
use super::spi::{BundleShape, IpsecProtocol, Spi};
use super::table::Route;
use crate::net::Leg;
use crate::wire::encap::AH_IN_UDP_MARKER;

/// Everything decided about a packet before any byte is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Slot of the entry.
    pub(super) slot: u32,
    /// The path it leaves by (the other leg's).
    pub(super) exit: LegPath,
    /// Leg it arrived on.
    pub(super) from: Leg,
    /// Protocol of the outermost IPsec header.
    pub(super) protocol: IpsecProtocol,
    /// The IPsec part within the received bytes.
    pub(super) start: usize,
    pub(super) end: usize,
    /// Bytes to write in front of the IPsec part.
    pub(super) prefix_len: usize,
    /// SPI for the outermost header.
    pub(super) outer_spi: u32,
    /// For AH: the Reserved value to write, and the header length (where a bundle's ESP is).
    pub(super) ah: Option<(u16, usize)>,
    /// For an AH+ESP bundle: the inner ESP SPI to write.
    pub(super) inner_esp_spi: Option<u32>,
    /// IPv4 header fields, should the way out be raw IPv4.
    pub(super) ident: u16,
    pub(super) tos: u8,
    pub(super) dont_frag: bool,
}

impl Plan {
    /// Where the outgoing packet lies in a buffer whose received bytes start at `start`: the
    /// prefix goes right before the IPsec part, which stays where it is.
    pub(super) fn region_in_place(&self, start: usize) -> Option<core::ops::Range<usize>> {
        let begin = start
            .checked_add(self.start)?
            .checked_sub(self.prefix_len)?;
        Some(begin..start.checked_add(self.end)?)
    }
}

/// Decides the way out of a parsed packet whose SPI has `role`, in the entry `route` shows.
#[inline(always)]
pub(super) fn decide(
    parsed: &Parsed,
    role: Role,
    route: &Route,
    bytes: &[u8],
) -> Result<Plan, DropReason> {
    if role.protocol != parsed.protocol {
        return Err(DropReason::ProtocolMismatch);
    }
    let from = role.leg;
    if !arrived_on(&route.here, parsed) {
        return Err(DropReason::PathMismatch);
    }
    let outer_spi = route
        .out_spis
        .get(parsed.protocol)
        .ok_or(DropReason::UnknownSpi)?;
    let inner_esp_spi = check_bundle(route, parsed, bytes)?;
    let prefix_len = prefix_len(&route.there, parsed.protocol)?;
    let (ah, ident) = match parsed.ah {
        None => (None, parsed.outer.ident.unwrap_or(0)),
        Some(fields) => {
            let carried = carry_identification(from, parsed, fields.reserved, prefix_len)?;
            (Some((carried.reserved, fields.header_len)), carried.ident)
        }
    };
    let ipsec_len = parsed.ipsec.len();
    if prefix_len == ipv4::MIN_HEADER_LEN
        && ipsec_len > usize::from(u16::MAX).saturating_sub(ipv4::MIN_HEADER_LEN)
    {
        return Err(DropReason::TooLong);
    }
    Ok(Plan {
        slot: role.slot,
        exit: route.there,
        from,
        protocol: parsed.protocol,
        start: parsed.ipsec.start,
        end: parsed.ipsec.end,
        prefix_len,
        outer_spi: outer_spi.get(),
        ah,
        inner_esp_spi: inner_esp_spi.map(Spi::get),
        ident,
        tos: parsed.outer.tos,
        // Linux replaces Identification 0 with a random value when DF is clear; DF is
        // mutable for AH, so setting it keeps a signed 0 intact.
        dont_frag: parsed.outer.dont_frag || ident == 0,
    })
}

/// What the relay writes in front of the IPsec part on `path`: an IPv4 header for raw IPv4
/// (the relay owns every field AH covers), AH's marker for UDP, nothing otherwise (the kernel
/// writes IPv6 and UDP headers).
fn prefix_len(path: &LegPath, protocol: IpsecProtocol) -> Result<usize, DropReason> {
    match (path.transport, path.relay_addr, path.peer_addr, protocol) {
        (LegTransport::Udp { .. }, _, _, IpsecProtocol::Ah) => Ok(AH_IN_UDP_MARKER.len()),
        (LegTransport::Udp { .. }, _, _, IpsecProtocol::Esp) => Ok(0),
        (LegTransport::Ip, IpAddr::V4(_), IpAddr::V4(_), _) => Ok(ipv4::MIN_HEADER_LEN),
        (LegTransport::Ip, IpAddr::V6(_), IpAddr::V6(_), _) => Ok(0),
        // A validated path never mixes address families.
        (LegTransport::Ip, _, _, _) => Err(DropReason::PathMismatch),
    }
}

/// Whether the packet came by `path`: from the peer, to the relay, over the same transport.
#[inline(always)]
fn arrived_on(path: &LegPath, parsed: &Parsed) -> bool {
    let transport = match (path.transport, parsed.ports) {
        (LegTransport::Ip, None) => true,
        (
            LegTransport::Udp {
                relay_port,
                peer_port,
            },
            Some((src_port, dst_port)),
        ) => src_port == peer_port && dst_port == relay_port,
        _ => false,
    };
    transport && parsed.src == path.peer_addr && parsed.dst == path.relay_addr
}

/// For an AH+ESP bundle, checks that AH is followed by ESP with the bundle's ESP SPI on the
/// arrival leg and returns the ESP SPI for the other leg; `None` for a single-protocol entry.
#[inline]
fn check_bundle(route: &Route, parsed: &Parsed, bytes: &[u8]) -> Result<Option<Spi>, DropReason> {
    if route.shape != BundleShape::AhEsp {
        return Ok(None);
    }
    let Some(ah) = parsed.ah else {
        return Err(DropReason::BundleMismatch); // the inner ESP SPI arrived outermost
    };
    if ah.next_header != IpProtocol::ESP {
        return Err(DropReason::BundleMismatch);
    }
    let esp_start = parsed.ipsec.start.saturating_add(ah.header_len);
    let inner = bytes
        .get(esp_start..parsed.ipsec.end)
        .ok_or(DropReason::Truncated)?;
    let esp = EspPacket::new_checked(inner).map_err(arrival::esp_reason)?;
    if Some(esp.spi()) != route.here_esp.map(Spi::get) {
        return Err(DropReason::BundleMismatch);
    }
    route
        .out_spis
        .esp
        .map(Some)
        .ok_or(DropReason::BundleMismatch)
}

/// Where an AH packet's gateway-leg IPv4 Identification goes on the way out.
struct Carried {
    /// AH's Reserved field.
    reserved: u16,
    /// The Identification of the IPv4 header the relay writes, if it writes one.
    ident: u16,
}

/// Moves the gateway leg's IPv4 Identification, which AH's ICV covers, across the relay (see
/// the module docs of `relay`). On the client leg it travels in the client-leg packet's own
/// IPv4 header when that is raw IPv4, and in AH's Reserved field otherwise (IPv6 or UDP);
/// on the gateway leg Reserved is 0, as RFC 4302 requires, and an SGW's packet with anything
/// else there is refused (the client could not verify it).
#[inline]
fn carry_identification(
    from: Leg,
    parsed: &Parsed,
    reserved: u16,
    out_prefix_len: usize,
) -> Result<Carried, DropReason> {
    match from {
        // From the client: its IPv4 header's Identification, or Reserved if it has none.
        Leg::CSide => Ok(Carried {
            reserved: 0,
            ident: parsed.outer.ident.unwrap_or(reserved),
        }),
        Leg::SSide if reserved != 0 => Err(DropReason::AhReservedNonZero),
        Leg::SSide => {
            // The SGW's Identification (0 when the gateway leg is IPv6, where there is none).
            let ident = parsed.outer.ident.unwrap_or(0);
            if out_prefix_len == ipv4::MIN_HEADER_LEN {
                Ok(Carried { reserved: 0, ident })
            } else {
                Ok(Carried {
                    reserved: ident,
                    ident: 0,
                })
            }
        }
    }
}
