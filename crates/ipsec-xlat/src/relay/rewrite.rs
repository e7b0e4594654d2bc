//! The per-packet rewrite: find the entry by SPI, check the packet came the way the entry
//! says, and emit it on the other leg with that leg's SPIs and outer header.
//!
//! Only these bytes change between legs: the outer header (IP or UDP framing), the SPI of
//! each IPsec header of the bundle, and AH's Reserved field, which carries the gateway leg's
//! IPv4 Identification on a client leg without an IPv4 header of its own (see the module docs
//! of [`relay`](super)). The
//! sequence numbers and everything after them are copied (or left in place) bit for bit.
//!
//! The work is split in two so that nothing large is moved on the packet path: [`Plan`]
//! (a few words) is decided from the received bytes and the entry; `finish` then writes the
//! outer header and SPIs, reading the outgoing path from the entry, which is still in cache.

use core::net::{IpAddr, SocketAddr};

use crate::wire::ah::AhPacket;
use crate::wire::esp::EspPacket;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::IpProtocol;

use super::action::{Action, Framing, Transmit};
use super::arrival::{self, Arrival, Parsed, AH_IN_UDP_MARKER};
use super::counters::{Counters, DropReason};
use super::entry::{Leg, Path, Transport};
use super::index::Role;
use super::spi::{BundleShape, IpsecProtocol, Spi, SpiSet};
use super::table::{Found, Table};
use super::time::Timestamp;

/// Bytes the relay may write in front of the IPsec header: an IPv4 header without options
/// is the largest outer header it writes. [`Relay::rewrite_in_place`] needs this much room
/// before the received data when the packet arrives with a shorter outer header than it
/// leaves with (e.g. UDP in, raw IPv4 out): receive into `buf[HEADROOM..]`.
pub const HEADROOM: usize = ipv4::MIN_HEADER_LEN;

/// Tunables of a [`Relay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// TTL of the IPv4 headers the relay writes (mutable in transit, outside any ICV).
    pub ttl: u8,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self { ttl: 64 }
    }
}

/// The relay's datapath: a translation table and its counters.
#[derive(Debug, Default)]
pub struct Relay {
    table: Table,
    counters: Counters,
    config: RelayConfig,
}

/// What the packet path needs of an entry, seen from the leg a packet arrived on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    /// The arrival leg's path, to check the packet against.
    here: Path,
    /// The other leg's path, to send by.
    there: Path,
    /// The SPIs to write (the other leg's peer's).
    out_spis: SpiSet,
    /// The arrival leg's relay ESP SPI, to check a bundle's inner ESP against.
    here_esp: Option<Spi>,
    /// The entry's bundle shape.
    shape: BundleShape,
}

/// Everything decided about a packet before any byte is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Slot of the entry.
    slot: u32,
    /// Leg it arrived on.
    from: Leg,
    /// Protocol of the outermost IPsec header.
    protocol: IpsecProtocol,
    /// The IPsec part within the received bytes.
    start: usize,
    end: usize,
    /// Bytes to write in front of the IPsec part.
    prefix_len: usize,
    /// The path it leaves by.
    out: Path,
    /// SPI for the outermost header.
    outer_spi: u32,
    /// For AH: the Reserved value to write, and the header length (where a bundle's ESP is).
    ah: Option<(u16, usize)>,
    /// For an AH+ESP bundle: the inner ESP SPI to write.
    inner_esp_spi: Option<u32>,
    /// IPv4 header fields, should the way out be raw IPv4.
    ident: u16,
    tos: u8,
    dont_frag: bool,
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

impl Relay {
    /// A relay over `table`.
    pub fn new(table: Table, config: RelayConfig) -> Self {
        Self {
            table,
            counters: Counters::default(),
            config,
        }
    }

    /// The translation table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The translation table, to install, move and remove entries.
    pub fn table_mut(&mut self) -> &mut Table {
        &mut self.table
    }

    /// Forwarding and drop counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Rewrites `packet`, received at `now` as `arrival` says, into `out` (boringtun style:
    /// the caller owns both buffers). `out` needs the IPsec part of the packet plus
    /// [`HEADROOM`] bytes.
    pub fn rewrite<'o>(
        &mut self,
        now: Timestamp,
        arrival: Arrival,
        packet: &[u8],
        out: &'o mut [u8],
    ) -> Action<'o> {
        let plan = match self.plan(&arrival, packet) {
            Ok(plan) => plan,
            Err(reason) => return self.dropped(reason),
        };
        let Some(ipsec) = packet.get(plan.start..plan.end) else {
            return self.dropped(DropReason::Truncated);
        };
        let Some(region) = out.get_mut(..plan.prefix_len.saturating_add(ipsec.len())) else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        if let Some(body) = region.get_mut(plan.prefix_len..) {
            body.copy_from_slice(ipsec);
        }
        match self.finish(now, plan, region) {
            Ok((leg, framing)) => Action::Forward(Transmit {
                leg,
                framing,
                bytes: region,
            }),
            Err(reason) => self.dropped(reason),
        }
    }

    /// Rewrites in place the packet at `buf[start..]`, received at `now` as `arrival` says.
    /// The payload is not moved: the new outer header is written just before the IPsec
    /// header, in the old outer header's place or in front of it, which needs up to
    /// [`HEADROOM`] bytes before `start`. The returned bytes are a sub-slice of `buf`.
    pub fn rewrite_in_place<'b>(
        &mut self,
        now: Timestamp,
        arrival: Arrival,
        buf: &'b mut [u8],
        start: usize,
    ) -> Action<'b> {
        let Some(received) = buf.get(start..) else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        let plan = match self.plan(&arrival, received) {
            Ok(plan) => plan,
            Err(reason) => return self.dropped(reason),
        };
        let Some(region) = plan
            .region_in_place(start)
            .and_then(|range| buf.get_mut(range))
        else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        match self.finish(now, plan, region) {
            Ok((leg, framing)) => Action::Forward(Transmit {
                leg,
                framing,
                bytes: region,
            }),
            Err(reason) => self.dropped(reason),
        }
    }

    /// Looks the packet up and decides everything about its way out.
    #[inline(always)]
    fn plan(&self, arrival: &Arrival, bytes: &[u8]) -> Result<Plan, DropReason> {
        let parsed = arrival::parse(arrival, bytes)?;
        let role = self.lookup(parsed.spi)?;
        let route = self.route(role)?;
        decide(&parsed, role, &route, bytes)
    }

    /// The role of a received SPI: the one hash lookup of the packet path.
    #[inline(always)]
    pub(super) fn lookup(&self, spi: u32) -> Result<Role, DropReason> {
        match self.table.find(spi) {
            Found::Live(role) => Ok(role),
            Found::Reserved => Err(DropReason::PendingSpi),
            Found::Unknown => Err(DropReason::UnknownSpi),
        }
    }

    /// Copies out what the packet path needs of the entry `role` points into. The batch path
    /// does this for every packet of a batch before deciding any, so that the entries' cache
    /// misses overlap.
    #[inline(always)]
    pub(super) fn route(&self, role: Role) -> Result<Route, DropReason> {
        let slot = self.table.slot(role.slot).ok_or(DropReason::UnknownSpi)?;
        let (here, there) = (
            slot.entry.partition(role.leg),
            slot.entry.partition(role.leg.other()),
        );
        Ok(Route {
            here: here.path,
            there: there.path,
            out_spis: there.peer_spis,
            here_esp: here.relay_spis.esp,
            shape: slot.shape,
        })
    }

    /// Writes the outer header and SPIs into `region` (the prefix, then the IPsec part already
    /// in place) and accounts for the forwarded packet: it leaves by the returned leg, framed
    /// as returned. A refusal is the caller's to count.
    #[inline(always)]
    pub(super) fn finish(
        &mut self,
        now: Timestamp,
        plan: Plan,
        region: &mut [u8],
    ) -> Result<(Leg, Framing), DropReason> {
        let ttl = self.config.ttl;
        let to = plan.from.other();
        let path = plan.out;
        let ipsec_len = region.len().saturating_sub(plan.prefix_len);
        let (head, body) = region.split_at_mut(plan.prefix_len.min(region.len()));
        let protocol = IpProtocol(plan.protocol.number());
        let framing = match (path.transport, path.relay_addr, path.peer_addr) {
            (
                Transport::Udp {
                    relay_port,
                    peer_port,
                },
                relay,
                peer,
            ) => {
                if plan.protocol == IpsecProtocol::Ah {
                    head.copy_from_slice(&AH_IN_UDP_MARKER);
                }
                Framing::Udp {
                    src: SocketAddr::new(relay, relay_port),
                    dst: SocketAddr::new(peer, peer_port),
                }
            }
            (Transport::Ip, IpAddr::V6(src), IpAddr::V6(dst)) => Framing::Ipv6 {
                src,
                dst,
                next_header: protocol,
            },
            (Transport::Ip, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut header = Ipv4Packet::new_unchecked(head);
                header.set_version_ihl(4, 5);
                header.set_tos(plan.tos);
                header.set_total_len(u16::try_from(region_len(ipsec_len)).unwrap_or(u16::MAX));
                header.set_ident(plan.ident);
                header.set_flags_frag(plan.dont_frag, false, 0);
                header.set_ttl(ttl);
                header.set_protocol(protocol);
                header.set_src_addr(src);
                header.set_dst_addr(dst);
                header.fill_checksum();
                Framing::Ipv4 { src, dst }
            }
            // A validated path never mixes address families; `plan` refused it already.
            (Transport::Ip, _, _) => return Err(DropReason::PathMismatch),
        };
        match plan.ah {
            None => EspPacket::new_unchecked(&mut *body).set_spi(plan.outer_spi),
            Some((reserved, header_len)) => {
                let mut ah = AhPacket::new_unchecked(&mut *body);
                ah.set_reserved(reserved);
                ah.set_spi(plan.outer_spi);
                if let (Some(spi), Some(inner)) = (plan.inner_esp_spi, body.get_mut(header_len..)) {
                    EspPacket::new_unchecked(inner).set_spi(spi);
                }
            }
        }
        if let Some(slot) = self.table.slot_mut(plan.slot) {
            slot.activity.record(plan.from, ipsec_len, now);
        }
        self.counters.count_forwarded(to);
        Ok((to, framing))
    }

    /// Counts a drop.
    pub(super) fn count_drop(&mut self, reason: DropReason) {
        self.counters.count_dropped(reason);
    }

    fn dropped<'a>(&mut self, reason: DropReason) -> Action<'a> {
        self.counters.count_dropped(reason);
        Action::Drop(reason)
    }
}

/// Decides the way out of a parsed packet whose SPI has `role`, in the entry `route` was
/// copied from.
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
        from,
        protocol: parsed.protocol,
        start: parsed.ipsec.start,
        end: parsed.ipsec.end,
        prefix_len,
        out: route.there,
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

/// Total Length of an IPv4 packet carrying `ipsec_len` bytes after a bare header.
fn region_len(ipsec_len: usize) -> usize {
    ipsec_len.saturating_add(ipv4::MIN_HEADER_LEN)
}

/// What the relay writes in front of the IPsec part on `path`: an IPv4 header for raw IPv4
/// (the relay owns every field AH covers), AH's marker for UDP, nothing otherwise (the kernel
/// writes IPv6 and UDP headers).
fn prefix_len(path: &Path, protocol: IpsecProtocol) -> Result<usize, DropReason> {
    match (path.transport, path.relay_addr, path.peer_addr, protocol) {
        (Transport::Udp { .. }, _, _, IpsecProtocol::Ah) => Ok(AH_IN_UDP_MARKER.len()),
        (Transport::Udp { .. }, _, _, IpsecProtocol::Esp) => Ok(0),
        (Transport::Ip, IpAddr::V4(_), IpAddr::V4(_), _) => Ok(ipv4::MIN_HEADER_LEN),
        (Transport::Ip, IpAddr::V6(_), IpAddr::V6(_), _) => Ok(0),
        // A validated path never mixes address families.
        (Transport::Ip, _, _, _) => Err(DropReason::PathMismatch),
    }
}

/// Whether the packet came by `path`: from the peer, to the relay, over the same transport.
#[inline(always)]
fn arrived_on(path: &Path, parsed: &Parsed) -> bool {
    let transport = match (path.transport, parsed.ports) {
        (Transport::Ip, None) => true,
        (
            Transport::Udp {
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
        Leg::Client => Ok(Carried {
            reserved: 0,
            ident: parsed.outer.ident.unwrap_or(reserved),
        }),
        Leg::Gateway if reserved != 0 => Err(DropReason::AhReservedNonZero),
        Leg::Gateway => {
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
