//! The per-packet rewrite: find the entry by SPI, check the packet came the way the entry
//! says, and emit it on the other leg with that leg's SPIs and outer header.
//!
//! Only these bytes change between legs: the outer header (IP or UDP framing), the SPI of
//! each IPsec header of the bundle, and AH's Reserved field, which on the client leg carries
//! the gateway leg's IPv4 Identification (see the module docs of [`relay`](super)). The
//! sequence numbers and everything after them are copied (or left in place) bit for bit.

use core::net::{IpAddr, SocketAddr};
use core::ops::Range;

use crate::wire::ah::AhPacket;
use crate::wire::esp::EspPacket;
use crate::wire::ipv4::{self, Ipv4Options, Ipv4Repr};
use crate::wire::IpProtocol;

use super::action::{Action, Framing, Transmit};
use super::arrival::{self, Arrival, Parsed, AH_IN_UDP_MARKER};
use super::counters::{Counters, DropReason};
use super::entry::{Leg, Path, Transport};
use super::spi::{BundleShape, IpsecProtocol, Spi};
use super::table::{Found, Slot, Table};
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

/// What to write in front of the IPsec part on the way out.
#[derive(Debug, Clone, Copy)]
enum Prefix {
    /// Nothing (the kernel writes the IPv6 or UDP header).
    None,
    /// [`AH_IN_UDP_MARKER`].
    AhMarker,
    /// A whole IPv4 header.
    Ipv4(Ipv4Repr),
}

impl Prefix {
    fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::AhMarker => AH_IN_UDP_MARKER.len(),
            Self::Ipv4(_) => ipv4::MIN_HEADER_LEN,
        }
    }
}

/// Everything decided about a packet before any byte is written.
#[derive(Debug, Clone, Copy)]
struct Plan {
    from: Leg,
    slot: u32,
    framing: Framing,
    prefix: Prefix,
    /// SPI for the outermost header.
    outer_spi: Spi,
    /// For AH: the Reserved value to write, and the header length.
    ah: Option<(u16, usize)>,
    /// For an AH+ESP bundle: the inner ESP SPI.
    inner_esp_spi: Option<Spi>,
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
        let (parsed, plan) = match self.plan(&arrival, packet) {
            Ok(planned) => planned,
            Err(reason) => return self.dropped(reason),
        };
        let Some(ipsec) = packet.get(parsed.ipsec.clone()) else {
            return self.dropped(DropReason::Truncated);
        };
        let prefix_len = plan.prefix.len();
        let Some(region) = out.get_mut(..prefix_len.saturating_add(ipsec.len())) else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        let (_, body) = region.split_at_mut(prefix_len);
        body.copy_from_slice(ipsec);
        self.finish(now, plan, region)
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
        let (parsed, plan) = match self.plan(&arrival, received) {
            Ok(planned) => planned,
            Err(reason) => return self.dropped(reason),
        };
        let ipsec = shift(&parsed.ipsec, start);
        let Some(range) = ipsec.and_then(|r| Some(r.start.checked_sub(plan.prefix.len())?..r.end))
        else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        let Some(region) = buf.get_mut(range) else {
            return self.dropped(DropReason::BufferTooSmall);
        };
        self.finish(now, plan, region)
    }

    /// Looks the packet up and decides everything about its way out.
    #[inline]
    fn plan(&self, arrival: &Arrival, bytes: &[u8]) -> Result<(Parsed, Plan), DropReason> {
        let parsed = arrival::parse(arrival, bytes)?;
        let role = match self.table.find(parsed.spi) {
            Found::Live(role) => role,
            Found::Reserved => return Err(DropReason::PendingSpi),
            Found::Unknown => return Err(DropReason::UnknownSpi),
        };
        if role.protocol != parsed.protocol {
            return Err(DropReason::ProtocolMismatch);
        }
        let slot = self.table.slot(role.slot).ok_or(DropReason::UnknownSpi)?;
        let from = role.leg;
        let here = slot.entry.partition(from);
        if !arrived_on(&here.path, &parsed) {
            return Err(DropReason::PathMismatch);
        }
        let to = from.other();
        let there = slot.entry.partition(to);
        let outer_spi = there
            .peer_spis
            .get(parsed.protocol)
            .ok_or(DropReason::UnknownSpi)?;
        let inner_esp_spi = check_bundle(slot, from, &parsed, bytes)?;
        let (ah, ident) = match parsed.ah {
            None => (None, parsed.outer.ident.unwrap_or(0)),
            Some(fields) => {
                let reserved = ah_reserved_out(from, &parsed, fields.reserved)?;
                // Toward the SGW the Identification is the one the client signed, carried in
                // Reserved; toward the client, the SGW's (also put in Reserved).
                let ident = match from {
                    Leg::Client => fields.reserved,
                    Leg::Gateway => reserved,
                };
                (Some((reserved, fields.header_len)), ident)
            }
        };
        let (framing, prefix) = self.framing(&there.path, &parsed, ident)?;
        let plan = Plan {
            from,
            slot: role.slot,
            framing,
            prefix,
            outer_spi,
            ah,
            inner_esp_spi,
        };
        Ok((parsed, plan))
    }

    /// How the packet leaves by `path`, and what goes in front of it.
    fn framing(
        &self,
        path: &Path,
        parsed: &Parsed,
        ident: u16,
    ) -> Result<(Framing, Prefix), DropReason> {
        let protocol = parsed.protocol;
        let ipsec_len = parsed.ipsec.len();
        let ip_protocol = IpProtocol(protocol.number());
        match (path.transport, path.relay_addr, path.peer_addr) {
            (
                Transport::Udp {
                    relay_port,
                    peer_port,
                },
                relay,
                peer,
            ) => {
                let framing = Framing::Udp {
                    src: SocketAddr::new(relay, relay_port),
                    dst: SocketAddr::new(peer, peer_port),
                };
                let prefix = match protocol {
                    IpsecProtocol::Ah => Prefix::AhMarker,
                    IpsecProtocol::Esp => Prefix::None,
                };
                Ok((framing, prefix))
            }
            (Transport::Ip, IpAddr::V6(src), IpAddr::V6(dst)) => Ok((
                Framing::Ipv6 {
                    src,
                    dst,
                    next_header: ip_protocol,
                },
                Prefix::None,
            )),
            (Transport::Ip, IpAddr::V4(src), IpAddr::V4(dst)) => {
                if ipsec_len > usize::from(u16::MAX).saturating_sub(ipv4::MIN_HEADER_LEN) {
                    return Err(DropReason::TooLong);
                }
                let header = Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst,
                    protocol: ip_protocol,
                    payload_len: ipsec_len,
                    ttl: self.config.ttl,
                    tos: parsed.outer.tos,
                    ident,
                    // Linux replaces Identification 0 with a random value when DF is clear;
                    // DF is mutable for AH, so setting it keeps a signed 0 intact.
                    dont_frag: parsed.outer.dont_frag || ident == 0,
                    more_frags: false,
                    frag_offset: 0,
                    options: Ipv4Options::EMPTY,
                };
                Ok((Framing::Ipv4 { src, dst }, Prefix::Ipv4(header)))
            }
            // A validated path never mixes address families.
            (Transport::Ip, _, _) => Err(DropReason::PathMismatch),
        }
    }

    /// Writes the plan into `region` (prefix, then the IPsec part already in place) and
    /// accounts for the forwarded packet.
    #[inline]
    fn finish<'r>(&mut self, now: Timestamp, plan: Plan, region: &'r mut [u8]) -> Action<'r> {
        let prefix_len = plan.prefix.len();
        let ipsec_len = region.len().saturating_sub(prefix_len);
        let (head, body) = region.split_at_mut(prefix_len);
        match plan.prefix {
            Prefix::None => {}
            Prefix::AhMarker => head.copy_from_slice(&AH_IN_UDP_MARKER),
            Prefix::Ipv4(header) => {
                if header.emit(head).is_err() {
                    return self.dropped(DropReason::TooLong);
                }
            }
        }
        match plan.ah {
            None => EspPacket::new_unchecked(&mut *body).set_spi(plan.outer_spi.get()),
            Some((reserved, header_len)) => {
                let mut ah = AhPacket::new_unchecked(&mut *body);
                ah.set_reserved(reserved);
                ah.set_spi(plan.outer_spi.get());
                if let (Some(spi), Some(inner)) = (plan.inner_esp_spi, body.get_mut(header_len..)) {
                    EspPacket::new_unchecked(inner).set_spi(spi.get());
                }
            }
        }
        if let Some(slot) = self.table.slot_mut(plan.slot) {
            slot.activity.record(plan.from, ipsec_len, now);
        }
        let to = plan.from.other();
        self.counters.count_forwarded(to);
        Action::Forward(Transmit {
            leg: to,
            framing: plan.framing,
            bytes: region,
        })
    }

    fn dropped<'a>(&mut self, reason: DropReason) -> Action<'a> {
        self.counters.count_dropped(reason);
        Action::Drop(reason)
    }
}

/// Whether the packet came by `path`: from the peer, to the relay, over the same transport.
#[inline]
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

/// For an AH+ESP bundle, checks that AH is followed by ESP with the bundle's ESP SPI on this
/// leg and returns the ESP SPI for the other leg; `None` for a single-protocol entry.
fn check_bundle(
    slot: &Slot,
    from: Leg,
    parsed: &Parsed,
    bytes: &[u8],
) -> Result<Option<Spi>, DropReason> {
    if slot.shape != BundleShape::AhEsp {
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
    let here = slot.entry.partition(from);
    if Some(esp.spi()) != here.relay_spis.esp.map(Spi::get) {
        return Err(DropReason::BundleMismatch);
    }
    let there = slot.entry.partition(from.other());
    there
        .peer_spis
        .esp
        .map(Some)
        .ok_or(DropReason::BundleMismatch)
}

/// The AH Reserved value to write on the way out (see the module docs of `relay`): toward the
/// SGW always 0, as RFC 4302 requires; toward the client the SGW's IPv4 Identification, so
/// the client can rebuild the header the SGW signed.
fn ah_reserved_out(from: Leg, parsed: &Parsed, reserved: u16) -> Result<u16, DropReason> {
    match from {
        Leg::Client => Ok(0),
        Leg::Gateway if reserved != 0 => Err(DropReason::AhReservedNonZero),
        Leg::Gateway => Ok(parsed.outer.ident.unwrap_or(0)),
    }
}

/// `range` moved by `by`, or `None` on overflow.
fn shift(range: &Range<usize>, by: usize) -> Option<Range<usize>> {
    Some(range.start.checked_add(by)?..range.end.checked_add(by)?)
}
