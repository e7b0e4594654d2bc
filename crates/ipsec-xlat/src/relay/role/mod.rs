//! The relay role: one sans-IO type, [`Relay`], that owns everything a relay knows — the IKE
//! relay ([`IkeRelay`]), the translation table and its rewrite ([`Datapath`]), the legs' port
//! views, the IKE entries — and keeps the [`Endpoint`] contract over the c-side and s-side
//! legs (`docs/PROTOCOL.md`, "Relay").
//!
//! Demultiplexing, per received packet:
//! - UDP on a leg's IKE port: IKE, to the IKE relay;
//! - UDP on a leg's NAT-T port: IKE after the non-ESP marker, a NAT-keepalive (absorbed), or
//!   ESP-in-UDP (AH-in-UDP on the c-side), to the datapath (RFC 3948 §2);
//! - raw ESP/AH: to the datapath.
//!
//! The IKE relay grants relay SPIs from the table ([`TableSpis`]: one allocator), reports each
//! IPsec translation when qm3 completes it, and the role installs it as a table [`Entry`] with
//! the legs' real addresses, transports and ports. Entries leave the table when the client
//! deletes the bundle or at the negotiated lifetime (plus a margin); their SPIs are then free.
//! Nothing here sees a key.

use std::collections::{HashMap, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use crate::ike::tail_crypto::StaticPublicKey;
use crate::ike::{AdmissionLimits, IkeRelay, IkeRelayCounters, IkeTranslation};
use crate::net::TxQueue;
use crate::relay::{Counters, Datapath, DatapathConfig, DropReason, Table};

mod counters;
mod datagram;
mod event;
mod ike_events;
mod install;
mod paths;
mod reload;
mod settings;
mod spis;

pub use counters::RelayCounters;
pub use event::{Refusal, RelayEvent};
pub use reload::{KeptPorts, RelayReload, ReloadApplied};
pub use settings::RelaySettings;
pub use spis::{StandaloneSpis, TableSpis};

use paths::PortViews;

/// The relay: IKE relaying with tails, the translation table and the per-packet rewrite, over
/// the c-side and s-side legs. Bytes and time in; transmits, timers and [`RelayEvent`]s out.
pub struct Relay {
    ike: IkeRelay,
    datapath: Datapath,
    /// Draws the relay SPIs the table grants.
    spi_rng: ChaCha20Rng,
    ports: PortViews,
    max_entries: usize,
    ike_entries: Vec<IkeTranslation>,
    authorised: Vec<StaticPublicKey>,
    tx: TxQueue,
    events: VecDeque<RelayEvent>,
    counters: RelayCounters,
    /// Why the datapath dropped the last packet handed to it, until taken.
    last_drop: Option<DropReason>,
}

impl core::fmt::Debug for Relay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relay")
            .field("core_c_side", &self.ports.core_c_side)
            .field("entries", &self.datapath.table().len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The state a report shows: both translation tables and every counter.
#[derive(Debug, Clone, Copy)]
pub struct RelaySnapshot<'a> {
    /// Completed IKE translation entries (ports as on the wire).
    pub ike_entries: &'a [IkeTranslation],
    /// The IPsec translation table.
    pub table: &'a Table,
    /// The datapath's counters.
    pub datapath: &'a Counters,
    /// The IKE relay's counters.
    pub ike: IkeRelayCounters,
    /// Surrogate s-side addresses held by users.
    pub surrogates_held: usize,
    /// The role's own counters.
    pub counters: RelayCounters,
    /// Packets dropped because the transmit queue was full.
    pub tx_dropped: u64,
}

impl Relay {
    /// A relay from `settings`; its randomness (cookies, SPIs, tail ephemeral keys) is seeded
    /// from `rng`.
    pub fn new<R: RngCore + CryptoRng>(settings: RelaySettings, rng: &mut R) -> Self {
        let authorised = settings.ike.authorised_clients.clone();
        let core_c_side = settings.ike.c_side.ip();
        let ike = IkeRelay::new(settings.ike, rng);
        let ike = match settings.s_side_pool {
            Some(pool) => ike.with_s_side_pool(pool),
            None => ike,
        };
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let table = Table::new(spis::grant_table_config());
        Self {
            ike,
            datapath: Datapath::new(table, DatapathConfig::default()),
            spi_rng: ChaCha20Rng::from_seed(seed),
            ports: PortViews {
                core_c_side,
                c_ports: settings.c_ports,
                s_ports: settings.s_ports,
                sgws: settings.sgw_ports,
                c_local: HashMap::new(),
            },
            max_entries: settings.max_ipsec_entries,
            ike_entries: Vec::new(),
            authorised,
            tx: TxQueue::default(),
            events: VecDeque::new(),
            counters: RelayCounters::default(),
            last_drop: None,
        }
    }

    /// Admits new IKE sessions only within `limits` (counted per reason in
    /// [`IkeRelayCounters`]); without this call there is no limit.
    pub fn with_limits(mut self, limits: AdmissionLimits) -> Self {
        self.ike = self.ike.with_limits(limits);
        self
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Why the datapath dropped the last packet it was handed, once (for a trace log line;
    /// every drop is counted in [`Datapath::counters`] regardless).
    pub fn take_drop(&mut self) -> Option<DropReason> {
        self.last_drop.take()
    }

    /// The IKE relay's counters.
    pub fn ike_counters(&self) -> IkeRelayCounters {
        self.ike.counters()
    }

    /// The IKE relay.
    pub fn ike(&self) -> &IkeRelay {
        &self.ike
    }

    /// The datapath (table and counters).
    pub fn datapath(&self) -> &Datapath {
        &self.datapath
    }

    /// The role's own counters.
    pub fn counters(&self) -> RelayCounters {
        self.counters
    }

    /// Completed IKE translation entries.
    pub fn ike_entries(&self) -> &[IkeTranslation] {
        &self.ike_entries
    }

    /// Packets dropped because the transmit queue was full.
    pub fn tx_dropped(&self) -> u64 {
        self.tx.dropped()
    }

    /// Everything a report shows.
    pub fn snapshot(&self) -> RelaySnapshot<'_> {
        RelaySnapshot {
            ike_entries: &self.ike_entries,
            table: self.datapath.table(),
            datapath: self.datapath.counters(),
            ike: self.ike.counters(),
            surrogates_held: self.ike.surrogates_held(),
            counters: self.counters,
            tx_dropped: self.tx.dropped(),
        }
    }
}

#[cfg(test)]
mod tests;
