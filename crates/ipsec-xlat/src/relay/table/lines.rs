//! How an entry lies in memory: one cache line per leg for the packet path, a small cold
//! record for the control plane, and the whole [`Entry`] aside only when it does not fit.
//!
//! At a million entries every packet's memory reads miss the caches, so the cost of a packet
//! is the number of cache lines it touches. A packet arriving on one leg needs that leg's path
//! (to check where it came from), the other leg's path and peer SPIs (to send it on), and the
//! entry's activity (to account for it). [`LegLine`] holds exactly that for one leg, in one
//! 64-byte line: the packet path reads the index bucket and this line, nothing else. Both legs'
//! lines repeat the two paths, which is what lets each direction stay within its own line.
//!
//! The compact form fits the common entry: ESP alone, IPv4 on both legs. An entry with AH or
//! an IPv6 leg keeps its [`Entry`] in a side slab (see [`Table`](super::Table)); its lines
//! still carry its activity, and its packets read one more line or two.

use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::super::entry::{Entry, LegPath, LegTransport, Partition};
use super::super::spi::{BundleShape, Spi, SpiSet};
use super::Traffic;
use crate::net::Leg;
use crate::time::Timestamp;

/// The line holds the compact form of its entry.
const COMPACT: u8 = 1;
/// In the compact form: this leg is UDP-encapsulated.
const HERE_UDP: u8 = 2;
/// In the compact form: the other leg is UDP-encapsulated.
const THERE_UDP: u8 = 4;

/// An IPv4 path without its transport kind, in 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub(crate) struct V4Path {
    relay: [u8; 4],
    peer: [u8; 4],
    relay_port: u16,
    peer_port: u16,
}

impl V4Path {
    /// The compact form of `path`, and whether it is UDP; `None` for an IPv6 path.
    fn of(path: &LegPath) -> Option<(Self, bool)> {
        let (IpAddr::V4(relay), IpAddr::V4(peer)) = (path.relay_addr, path.peer_addr) else {
            return None;
        };
        let (relay_port, peer_port, udp) = match path.transport {
            LegTransport::Ip => (0, 0, false),
            LegTransport::Udp {
                relay_port,
                peer_port,
            } => (relay_port, peer_port, true),
        };
        Some((
            Self {
                relay: relay.octets(),
                peer: peer.octets(),
                relay_port,
                peer_port,
            },
            udp,
        ))
    }

    fn path(&self, udp: bool) -> LegPath {
        LegPath {
            relay_addr: IpAddr::V4(Ipv4Addr::from(self.relay)),
            peer_addr: IpAddr::V4(Ipv4Addr::from(self.peer)),
            transport: if udp {
                LegTransport::Udp {
                    relay_port: self.relay_port,
                    peer_port: self.peer_port,
                }
            } else {
                LegTransport::Ip
            },
        }
    }
}

/// What a packet arriving on one leg reads and writes, in one cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, align(64))]
pub(crate) struct LegLine {
    /// Traffic that arrived on this leg (and left by the other).
    pub traffic: Traffic,
    /// When a packet last arrived on this leg, or the entry was installed.
    pub last_seen: Timestamp,
    /// Compact form: the relay's ESP SPI on this leg.
    relay_esp: u32,
    /// Compact form: the other leg's peer's ESP SPI (written into packets leaving there).
    out_esp: u32,
    /// Compact form: this leg's path.
    here: V4Path,
    /// Compact form: the other leg's path.
    there: V4Path,
    flags: u8,
}

/// What the packet path needs of an entry, seen from the leg a packet arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    /// The arrival leg's path, to check the packet against.
    pub here: LegPath,
    /// The other leg's path, to send by.
    pub there: LegPath,
    /// The SPIs to write (the other leg's peer's).
    pub out_spis: SpiSet,
    /// The arrival leg's relay ESP SPI, to check a bundle's inner ESP against.
    pub here_esp: Option<Spi>,
    /// The entry's bundle shape.
    pub shape: BundleShape,
}

impl Route {
    /// The route of a packet arriving on `leg` of `entry`.
    pub(crate) fn of(entry: &Entry, shape: BundleShape, leg: Leg) -> Self {
        let (here, there) = (entry.partition(leg), entry.partition(leg.other()));
        Self {
            here: here.path,
            there: there.path,
            out_spis: there.peer_spis,
            here_esp: here.relay_spis.esp,
            shape,
        }
    }
}

impl LegLine {
    /// A fresh line for a new entry installed at `now`: no traffic yet.
    pub(crate) fn installed(now: Timestamp) -> Self {
        Self {
            last_seen: now,
            ..Self::default()
        }
    }

    /// Whether the line holds its entry's compact form.
    #[inline(always)]
    pub(crate) fn is_compact(&self) -> bool {
        self.flags & COMPACT != 0
    }

    /// The route of a packet arriving on this line's leg, if the line is compact.
    #[inline(always)]
    pub(crate) fn route(&self) -> Option<Route> {
        if !self.is_compact() {
            return None;
        }
        Some(Route {
            here: self.here.path(self.flags & HERE_UDP != 0),
            there: self.there.path(self.flags & THERE_UDP != 0),
            out_spis: SpiSet {
                esp: Spi::new(self.out_esp),
                ah: None,
            },
            here_esp: Spi::new(self.relay_esp),
            shape: BundleShape::Esp,
        })
    }

    /// Writes the compact form of `entry` as seen from `leg`, keeping the activity; returns
    /// `false` (and marks the line not compact) when the entry has no compact form.
    pub(crate) fn set_form(&mut self, entry: &Entry, shape: BundleShape, leg: Leg) -> bool {
        let activity = (self.traffic, self.last_seen);
        *self = Self::default();
        (self.traffic, self.last_seen) = activity;
        let (here, there) = (entry.partition(leg), entry.partition(leg.other()));
        let compact = compact_parts(here, there, shape);
        if let Some((here_path, here_udp, there_path, there_udp, relay_esp, out_esp)) = compact {
            self.here = here_path;
            self.there = there_path;
            self.relay_esp = relay_esp.get();
            self.out_esp = out_esp.get();
            self.flags = COMPACT
                | if here_udp { HERE_UDP } else { 0 }
                | if there_udp { THERE_UDP } else { 0 };
        }
        compact.is_some()
    }

    /// The partition of this line's leg (its path and the relay's SPI), and the other leg's
    /// peer SPIs, from the compact form.
    fn parts(&self) -> Option<(LegPath, Spi, Spi)> {
        if !self.is_compact() {
            return None;
        }
        Some((
            self.here.path(self.flags & HERE_UDP != 0),
            Spi::new(self.relay_esp)?,
            Spi::new(self.out_esp)?,
        ))
    }

    /// For an ESP packet with SPI `spi` from `src` to `dst` (ports 0 over raw IP), that came
    /// UDP-encapsulated or not as `udp` says: how it leaves, if this line's compact form
    /// accepts it (the fast path's whole check: the same answer as [`Route`] and `decide`
    /// give).
    #[inline(always)]
    pub(crate) fn forward_esp(
        &self,
        spi: u32,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        udp: bool,
    ) -> Option<CompactExit> {
        let here = &self.here;
        let transport = if udp { COMPACT | HERE_UDP } else { COMPACT };
        let accepted = self.flags & (COMPACT | HERE_UDP) == transport
            && self.relay_esp == spi
            && here.peer == src.ip().octets()
            && here.peer_port == src.port()
            && here.relay == dst.ip().octets()
            && here.relay_port == dst.port();
        accepted.then_some(CompactExit {
            there: self.there,
            udp: self.flags & THERE_UDP != 0,
            out_esp: self.out_esp,
        })
    }

    /// Accounts for a packet of `bytes` that arrived on this leg at `now`.
    #[inline(always)]
    pub(crate) fn record(&mut self, bytes: usize, now: Timestamp) {
        if now > self.last_seen {
            self.last_seen = now;
        }
        self.traffic.add(bytes);
    }
}

/// How a packet taken by the fast path leaves: by the other leg's IPv4 path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompactExit {
    there: V4Path,
    udp: bool,
    /// The ESP SPI to write.
    pub out_esp: u32,
}

impl CompactExit {
    /// The socket addresses (relay's, peer's), when the other leg is UDP-encapsulated.
    #[inline(always)]
    pub(crate) fn udp(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.udp.then(|| {
            (
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(self.there.relay),
                    self.there.relay_port,
                )),
                SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(self.there.peer),
                    self.there.peer_port,
                )),
            )
        })
    }

    /// The addresses (relay's, peer's) for raw IPv4.
    #[inline(always)]
    pub(crate) fn ipv4(&self) -> (Ipv4Addr, Ipv4Addr) {
        (
            Ipv4Addr::from(self.there.relay),
            Ipv4Addr::from(self.there.peer),
        )
    }
}

type CompactParts = (V4Path, bool, V4Path, bool, Spi, Spi);

/// The compact form's pieces for a packet arriving on `here`: ESP alone and IPv4 on both legs.
fn compact_parts(here: &Partition, there: &Partition, shape: BundleShape) -> Option<CompactParts> {
    if shape != BundleShape::Esp {
        return None;
    }
    let (here_path, here_udp) = V4Path::of(&here.path)?;
    let (there_path, there_udp) = V4Path::of(&there.path)?;
    Some((
        here_path,
        here_udp,
        there_path,
        there_udp,
        here.relay_spis.esp?,
        there.peer_spis.esp?,
    ))
}

/// The entry whose two lines are `client` and `gateway`, if both hold the compact form.
pub(crate) fn entry_of(
    client: &LegLine,
    gateway: &LegLine,
    expires_at: Timestamp,
) -> Option<Entry> {
    let (client_path, client_relay, gateway_peer) = client.parts()?;
    let (gateway_path, gateway_relay, client_peer) = gateway.parts()?;
    Some(Entry {
        client: Partition {
            path: client_path,
            relay_spis: SpiSet::esp(client_relay),
            peer_spis: SpiSet::esp(client_peer),
        },
        gateway: Partition {
            path: gateway_path,
            relay_spis: SpiSet::esp(gateway_relay),
            peer_spis: SpiSet::esp(gateway_peer),
        },
        expires_at,
    })
}

/// The control plane's part of a slot: read on insert, update, removal and expiry only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cold {
    /// The entry's hard deadline.
    pub expires_at: Timestamp,
    /// The `at` of this entry's one valid expiry item ([`Timestamp::NEVER`] if none).
    pub scheduled: Timestamp,
    /// Where the whole entry is in the side slab, or [`Cold::COMPACT`] when its lines hold
    /// it (a plain number rather than an `Option`, which would take 8 bytes more).
    wide: u32,
    /// The bundle shape, validated at insert.
    pub shape: BundleShape,
}

impl Cold {
    /// `wide` of an entry held by its lines.
    const COMPACT: u32 = u32::MAX;

    /// A cold record; `wide` is `None` for an entry held by its lines.
    pub(crate) fn new(expires_at: Timestamp, shape: BundleShape, wide: Option<u32>) -> Self {
        Self {
            expires_at,
            scheduled: Timestamp::NEVER,
            wide: wide.unwrap_or(Self::COMPACT),
            shape,
        }
    }

    /// Where the entry is in the side slab, if there.
    pub(crate) fn wide(&self) -> Option<u32> {
        (self.wide != Self::COMPACT).then_some(self.wide)
    }

    /// Moves the entry into the side slab at `at`, or (`None`) into its lines.
    pub(crate) fn set_wide(&mut self, at: Option<u32>) {
        self.wide = at.unwrap_or(Self::COMPACT);
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn a_leg_line_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<LegLine>(), 64);
        assert_eq!(core::mem::align_of::<LegLine>(), 64);
    }
}
