//! A translation entry: what the relay knows about one SA bundle, split into the client-leg
//! partition (the seed's c-side) and the gateway-leg partition (s-side).
//!
//! Both partitions have the same shape, seen from the relay: its own address on that leg, the
//! peer's address, the transport, the SPIs the relay receives on and the SPIs the peer receives
//! on. A packet is matched on the partition of the leg it arrived on and rewritten from the
//! other partition. In the seed's names:
//!
//! | field                      | client leg (c-side) | gateway leg (s-side) |
//! |----------------------------|---------------------|----------------------|
//! | `path.peer_addr`           | c-addr-1 (client)   | s-addr-3 (SGW)       |
//! | `path.relay_addr`          | c-addr-2            | s-addr-2             |
//! | `peer_spis` (peer receives)| c-SPI-1             | s-SPI-3              |
//! | `relay_spis` (relay receives)| c-SPI-2           | s-SPI-2              |

use core::net::IpAddr;
use thiserror::Error;

use super::spi::{BundleShape, IpsecProtocol, Spi, SpiSet};
use crate::net::Leg;
use crate::time::Timestamp;

/// How IPsec packets travel on one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegTransport {
    /// Directly over IP (protocol 50 or 51).
    Ip,
    /// Inside UDP (RFC 3948 ESP-in-UDP, typically port 4500 on both ends); each leg chooses on
    /// its own, depending on NATs on its own path.
    Udp {
        /// The relay's UDP port on this leg.
        relay_port: u16,
        /// The peer's UDP port (as seen by the relay, i.e. after any NAT).
        peer_port: u16,
    },
}

/// Where one leg's packets travel: between which addresses and over what.
///
/// `repr(C)` here and on [`Partition`] and [`Entry`]: the table lays its slots out by cache
/// line and relies on fields staying in declaration order (the sizes are those of the default
/// layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct LegPath {
    /// The relay's own address on this leg (c-addr-2 or s-addr-2).
    pub relay_addr: IpAddr,
    /// The peer's address (c-addr-1, the client; or s-addr-3, the SGW).
    pub peer_addr: IpAddr,
    /// Raw IP or UDP encapsulation, with ports.
    pub transport: LegTransport,
}

/// One partition of an entry: a leg's path and the SPIs used on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Partition {
    /// Addresses and transport of this leg.
    pub path: LegPath,
    /// SPIs the relay receives on from this leg's peer (c-SPI-2 or s-SPI-2). The relay chose
    /// them, so they are unique among all live entries and index the table.
    pub relay_spis: SpiSet,
    /// SPIs this leg's peer receives on (c-SPI-1 or s-SPI-3): written into packets the relay
    /// sends on this leg.
    pub peer_spis: SpiSet,
}

/// A translation entry for one SA bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Entry {
    /// The client leg (c-side partition).
    pub client: Partition,
    /// The gateway leg (s-side partition).
    pub gateway: Partition,
    /// When to forget the entry whatever its traffic: the SAs' hard deadline (negotiated
    /// lifetime plus a margin), or [`Timestamp::NEVER`]. The relay cannot see inside the SAs,
    /// so byte lifetimes are the endpoints' business; silence is handled table-wide by
    /// [`TableConfig::idle_timeout`](super::TableConfig::idle_timeout).
    pub expires_at: Timestamp,
}

/// The stable name of an entry: the relay's client-leg receive SPI of the outermost protocol
/// (c-SPI-2, AH's for a bundle). The relay chose it and never reuses a live SPI, so it is unique
/// for as long as the entry lives, on one relay or across a fleet that allocates SPIs through
/// one store; and it survives a restart, unlike a slot number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub Spi);

/// Why an entry cannot be installed as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EntryError {
    /// A partition names no SPI at all for one party.
    #[error("the {leg:?} leg has no {party} SPI")]
    NoSpi {
        /// The leg.
        leg: Leg,
        /// `"relay"` or `"peer"`.
        party: &'static str,
    },
    /// The four SPI sets do not all name the same protocols (ESP, AH or AH+ESP).
    #[error("the SPI sets of the entry name different protocols")]
    ShapeMismatch,
    /// One relay SPI appears twice in the entry; each must index exactly one role.
    #[error("relay SPI {0} appears twice in the entry")]
    DuplicateRelaySpi(Spi),
    /// The relay's and the peer's addresses on one leg are of different IP versions.
    #[error("the {0:?} leg mixes IPv4 and IPv6 addresses")]
    AddressFamilyMismatch(Leg),
    /// AH cannot be UDP-encapsulated toward a standard SGW (RFC 3948 covers ESP only).
    #[error("AH toward the gateway must use raw IP: RFC 3948 encapsulates ESP only")]
    AhOverUdpToGateway,
}

impl Entry {
    /// The partition of `leg`.
    pub const fn partition(&self, leg: Leg) -> &Partition {
        match leg {
            Leg::CSide => &self.client,
            Leg::SSide => &self.gateway,
        }
    }

    /// The partition of `leg`, mutably.
    pub(crate) fn partition_mut(&mut self, leg: Leg) -> &mut Partition {
        match leg {
            Leg::CSide => &mut self.client,
            Leg::SSide => &mut self.gateway,
        }
    }

    /// The entry's name, if its client leg has a relay SPI at all (a valid entry always does).
    pub const fn id(&self) -> Option<EntryId> {
        match self.client.relay_spis.outermost() {
            Some(spi) => Some(EntryId(spi)),
            None => None,
        }
    }

    /// Every relay SPI of the entry with the leg and protocol it stands for.
    pub(crate) fn relay_spis(&self) -> impl Iterator<Item = (Leg, IpsecProtocol, Spi)> + '_ {
        let client = self
            .client
            .relay_spis
            .iter()
            .map(|(p, s)| (Leg::CSide, p, s));
        let gateway = self
            .gateway
            .relay_spis
            .iter()
            .map(|(p, s)| (Leg::SSide, p, s));
        client.chain(gateway)
    }

    /// Checks the entry's internal consistency and returns its bundle shape. It does not check
    /// uniqueness against other entries; the table does that.
    pub(crate) fn validate(&self) -> Result<BundleShape, EntryError> {
        let mut shape = None;
        for leg in [Leg::CSide, Leg::SSide] {
            let part = self.partition(leg);
            for (party, set) in [("relay", &part.relay_spis), ("peer", &part.peer_spis)] {
                let this = set.shape().ok_or(EntryError::NoSpi { leg, party })?;
                if *shape.get_or_insert(this) != this {
                    return Err(EntryError::ShapeMismatch);
                }
            }
            check_path(leg, &part.path)?;
        }
        let shape = shape.ok_or(EntryError::ShapeMismatch)?;
        if shape.has_ah() && matches!(self.gateway.path.transport, LegTransport::Udp { .. }) {
            return Err(EntryError::AhOverUdpToGateway);
        }
        let mut seen: [Option<Spi>; 4] = [None; 4];
        for (slot, (_, _, spi)) in seen.iter_mut().zip(self.relay_spis()) {
            *slot = Some(spi);
        }
        for (i, spi) in seen.iter().enumerate() {
            let Some(spi) = spi else { continue };
            if seen
                .iter()
                .skip(i.saturating_add(1))
                .any(|other| *other == Some(*spi))
            {
                return Err(EntryError::DuplicateRelaySpi(*spi));
            }
        }
        Ok(shape)
    }
}

/// Checks that a path does not mix address families.
pub(crate) fn check_path(leg: Leg, path: &LegPath) -> Result<(), EntryError> {
    if path.relay_addr.is_ipv4() != path.peer_addr.is_ipv4() {
        return Err(EntryError::AddressFamilyMismatch(leg));
    }
    Ok(())
}
