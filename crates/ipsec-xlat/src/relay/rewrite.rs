//! The per-packet rewrite: find the entry by SPI, check the packet came the way the entry
//! says, and emit it on the other leg with that leg's SPIs and outer header.
//!
//! Only these bytes change between legs: the outer header (IP or UDP framing), the SPI of
//! each IPsec header of the bundle, and AH's Reserved field, which carries the gateway leg's
//! IPv4 Identification on a client leg without an IPv4 header of its own (see the module docs
//! of [`relay`](super)). The sequence numbers and everything after them are copied (or left
//! in place) bit for bit.
//!
//! The decision is `decide`'s; this module looks the entry up, writes the bytes the decision
//! calls for, and counts.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::ops::Range;

use crate::wire::ah::AhPacket;
use crate::wire::esp::EspPacket;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::IpProtocol;

use super::action::{Action, Framing, Outgoing};
use super::arrival::{self, Arrival, Parsed};
use super::counters::{Counters, DropReason};
use super::decide::{decide, Plan};
use super::entry::LegTransport;
use super::index::Role;
use super::spi::IpsecProtocol;
use super::table::{Found, Table};
use crate::net::Leg;
use crate::time::Timestamp;
use crate::wire::encap::AH_IN_UDP_MARKER;

/// Bytes the relay may write in front of the IPsec header: an IPv4 header without options
/// is the largest outer header it writes. [`Datapath::rewrite_in_place`] needs this much room
/// before the received data when the packet arrives with a shorter outer header than it
/// leaves with (e.g. UDP in, raw IPv4 out): receive into `buf[HEADROOM..]`.
pub const HEADROOM: usize = ipv4::MIN_HEADER_LEN;

/// Tunables of a [`Datapath`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatapathConfig {
    /// TTL of the IPv4 headers the relay writes (mutable in transit, outside any ICV).
    pub ttl: u8,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        Self { ttl: 64 }
    }
}

/// The relay's datapath: a translation table and its counters.
#[derive(Debug, Default)]
pub struct Datapath {
    table: Table,
    counters: Counters,
    config: DatapathConfig,
}

impl Datapath {
    /// A relay over `table`.
    pub fn new(table: Table, config: DatapathConfig) -> Self {
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
    /// [`HEADROOM`] bytes. The bytes to send start at `out[0]`.
    pub fn rewrite<'o>(
        &mut self,
        now: Timestamp,
        arrival: Arrival,
        packet: &[u8],
        out: &'o mut [u8],
    ) -> Action<'o> {
        // The fast path works in place: the packet goes to `out[prefix..]`, after the room
        // for the header it will leave with (if any), so that the result starts at `out[0]`.
        if let Some((peek, role, exit, prefix)) = self.fast_prefix(&arrival, packet) {
            let esp = peek.esp_part(packet).unwrap_or_default();
            let taken = prefix
                .checked_add(esp.len())
                .and_then(|window| out.get_mut(..window))
                .and_then(|region| {
                    region.get_mut(prefix..)?.copy_from_slice(esp);
                    self.forward_by(now, &peek.moved_to_front(), role, exit, region, prefix)
                });
            if let Some(sent) = taken {
                return self.fast_action(out, sent);
            }
        }
        let plan = match self.general_plan(&arrival, packet) {
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
            Ok((leg, framing)) => Action::Forward(Outgoing {
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
        if let Some(sent) = self.try_fast(now, &arrival, buf, start) {
            return self.fast_action(buf, sent);
        }
        let Some(received) = buf.get(start..) else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        let plan = match self.general_plan(&arrival, received) {
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
            Ok((leg, framing)) => Action::Forward(Outgoing {
                leg,
                framing,
                bytes: region,
            }),
            Err(reason) => self.dropped(reason),
        }
    }

    /// The action for a packet the fast path forwarded from `buf`: where the bytes are, the
    /// leg and framing. The fast path checked the range, so the drop is unreachable.
    fn fast_action<'b>(
        &mut self,
        buf: &'b mut [u8],
        (range, leg, framing): (Range<usize>, Leg, Framing),
    ) -> Action<'b> {
        match buf.get_mut(range) {
            Some(bytes) => Action::Forward(Outgoing {
                leg,
                framing,
                bytes,
            }),
            None => self.dropped(DropReason::BufferTooSmall),
        }
    }

    /// The general path's plan: every transport, protocol and address family, and every
    /// reason to drop.
    #[inline(never)]
    pub(super) fn general_plan(&self, arrival: &Arrival, bytes: &[u8]) -> Result<Plan, DropReason> {
        let parsed = arrival::parse(arrival, bytes)?;
        let role = self.lookup(parsed.spi)?;
        self.decide(&parsed, role, bytes)
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

    /// Decides the way out of a parsed packet whose SPI has `role`, from the entry in place.
    #[inline(always)]
    pub(super) fn decide(
        &self,
        parsed: &Parsed,
        role: Role,
        bytes: &[u8],
    ) -> Result<Plan, DropReason> {
        let route = self
            .table
            .route(role.slot, role.leg)
            .ok_or(DropReason::UnknownSpi)?;
        decide(parsed, role, &route, bytes)
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
        let path = &plan.exit;
        let ipsec_len = region.len().saturating_sub(plan.prefix_len);
        let (head, body) = region.split_at_mut(plan.prefix_len.min(region.len()));
        let protocol = IpProtocol(plan.protocol.number());
        let framing = match (path.transport, path.relay_addr, path.peer_addr) {
            (
                LegTransport::Udp {
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
            (LegTransport::Ip, IpAddr::V6(src), IpAddr::V6(dst)) => Framing::Ipv6 {
                src,
                dst,
                next_header: protocol,
            },
            (LegTransport::Ip, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total_len = ipsec_len.saturating_add(ipv4::MIN_HEADER_LEN);
                write_ipv4_header(
                    head,
                    &OuterIpv4 {
                        tos: plan.tos,
                        total_len: u16::try_from(total_len).unwrap_or(u16::MAX),
                        ident: plan.ident,
                        dont_frag: plan.dont_frag,
                        ttl,
                        protocol,
                        src,
                        dst,
                    },
                );
                Framing::Ipv4 { src, dst }
            }
            // A validated path never mixes address families; `plan` refused it already.
            (LegTransport::Ip, _, _) => return Err(DropReason::PathMismatch),
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
        self.account(plan.slot, plan.from, ipsec_len, now);
        Ok((to, framing))
    }

    /// Accounts for a forwarded packet of `bytes` that arrived on `from` of slot `slot`.
    #[inline(always)]
    pub(super) fn account(&mut self, slot: u32, from: Leg, bytes: usize, now: Timestamp) {
        self.table.record(slot, from, bytes, now);
        self.counters.count_forwarded(from.other());
    }

    /// The relay's tunables.
    pub(super) fn config(&self) -> &DatapathConfig {
        &self.config
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

/// The fields of an IPv4 header the relay writes in front of an IPsec packet.
pub(super) struct OuterIpv4 {
    pub(super) tos: u8,
    pub(super) total_len: u16,
    pub(super) ident: u16,
    pub(super) dont_frag: bool,
    pub(super) ttl: u8,
    pub(super) protocol: IpProtocol,
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
}

/// Writes an option-less IPv4 header with `fields` into `head` (20 bytes), checksum included.
#[inline(always)]
pub(super) fn write_ipv4_header(head: &mut [u8], fields: &OuterIpv4) {
    let mut header = Ipv4Packet::new_unchecked(head);
    header.set_version_ihl(4, 5);
    header.set_tos(fields.tos);
    header.set_total_len(fields.total_len);
    header.set_ident(fields.ident);
    header.set_flags_frag(fields.dont_frag, false, 0);
    header.set_ttl(fields.ttl);
    header.set_protocol(fields.protocol);
    header.set_src_addr(fields.src);
    header.set_dst_addr(fields.dst);
    header.fill_checksum();
}
