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

use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, VecDeque};

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use crate::ike::tail_crypto::StaticPublicKey;
use crate::ike::{IkeRelay, IkeRelayCounters, IkeRelayEvent, IkeTranslation, IpsecTranslation};
use crate::net::{Endpoint, NetPath, Path, Received, Transmit, Transport, TxQueue};
use crate::relay::{
    Action, Arrival, Counters, Datapath, DatapathConfig, DropReason, Entry, Table, HEADROOM,
};
use crate::time::Timestamp;
use crate::wire::encap::{classify, Encapsulated};

mod counters;
mod event;
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

use counters::bump;
use install::Legs;
use paths::{framing_path, PortViews};

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

    fn on_udp(
        &mut self,
        now: Timestamp,
        path: &NetPath,
        local_port: u16,
        remote_port: u16,
        bytes: &[u8],
    ) {
        if self.ports.leg_ports(path.leg).is_natt(local_port) {
            match classify(bytes) {
                Encapsulated::Ike(_) => {}
                Encapsulated::Keepalive => {
                    bump(&mut self.counters.keepalives);
                    return;
                }
                Encapsulated::Esp(_) | Encapsulated::Garbage(_) => {
                    // The datapath classifies again and counts what it refuses.
                    let arrival = Arrival::Udp {
                        src: SocketAddr::new(path.remote, remote_port),
                        dst: SocketAddr::new(path.local, local_port),
                    };
                    self.rewrite(now, arrival, bytes);
                    return;
                }
            }
        }
        let (local, remote) = self.ports.ike_addresses(path, local_port, remote_port);
        bump(&mut self.counters.ike_datagrams);
        let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
        self.ike
            .handle_datagram(now, local, remote, bytes, &mut spis);
        self.drain_ike(now);
    }

    fn rewrite(&mut self, now: Timestamp, arrival: Arrival, bytes: &[u8]) {
        bump(&mut self.counters.ipsec_packets);
        let mut buf = self.tx.buffer();
        buf.resize(bytes.len().saturating_add(HEADROOM), 0);
        let path = match self.datapath.rewrite(now, arrival, bytes, &mut buf) {
            Action::Forward(t) => {
                let len = t.bytes.len();
                Some((framing_path(t.leg, t.framing, t.bytes), len))
            }
            Action::Drop(reason) => {
                self.last_drop = Some(reason);
                None
            }
        };
        match path {
            Some((path, len)) => {
                buf.truncate(len);
                self.tx.push(path, buf);
            }
            None => self.tx.recycle(buf),
        }
    }

    fn drain_ike(&mut self, now: Timestamp) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = self.ports.ike_path(&t);
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                IkeRelayEvent::IkeTranslation(entry) => {
                    let entry = self.ports.real_ike(entry);
                    self.events
                        .push_back(RelayEvent::IkeEntryComplete(entry.clone()));
                    self.ike_entries.push(entry);
                }
                IkeRelayEvent::IpsecTranslation(t) => {
                    let t = self.ports.real_ipsec(t);
                    self.install(now, t);
                }
                IkeRelayEvent::IpsecRetired {
                    client, c_spi_2, ..
                } => {
                    // The client deleted the bundle; the entry's name is its outermost
                    // c-SPI-2, and removing it frees its SPIs.
                    if let Some(id) = install::entry_id(c_spi_2) {
                        if self.datapath.table_mut().remove(id).is_some() {
                            self.events
                                .push_back(RelayEvent::IpsecRetired { client, id });
                        }
                    }
                }
                IkeRelayEvent::IkeExpired {
                    client, c_cookies, ..
                }
                | IkeRelayEvent::IkeRetired {
                    client, c_cookies, ..
                } => {
                    self.events
                        .push_back(RelayEvent::IkeSessionEnded { client, c_cookies });
                    self.ike_entries.retain(|e| {
                        !(e.client == client && e.c_cookies.initiator == c_cookies.initiator)
                    });
                    if !self.ike_entries.iter().any(|e| e.client == client) {
                        self.ports.c_local.remove(&client);
                    }
                }
            }
        }
    }

    fn install(&mut self, now: Timestamp, t: IpsecTranslation) {
        match self.try_install(now, &t) {
            Ok(id) => {
                bump(&mut self.counters.entries_installed);
                self.events
                    .push_back(RelayEvent::IpsecInstalled { id, translation: t });
            }
            Err(reason) => {
                bump(&mut self.counters.entries_refused);
                // The grant's SPIs go back to the table.
                let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
                for spi in install::relay_spis(&t) {
                    crate::ike::SpiAllocator::release(&mut spis, spi);
                }
                self.events.push_back(RelayEvent::IpsecRefused {
                    translation: t,
                    reason,
                });
            }
        }
    }

    fn try_install(
        &mut self,
        now: Timestamp,
        t: &IpsecTranslation,
    ) -> Result<crate::relay::EntryId, Refusal> {
        if self.datapath.table().len() >= self.max_entries {
            return Err(Refusal::Limit(self.max_entries));
        }
        let entry: Entry = install::entry(
            now,
            t,
            &Legs {
                relay_c: self
                    .ports
                    .relay_c(t.client, t.relay_c.ip())
                    .ok_or(Refusal::NoClientAddress)?,
                c_ports: self.ports.c_ports,
                s_ports: self.ports.s_ports,
                sgws: &self.ports.sgws,
            },
        )?;
        Ok(self.datapath.table_mut().insert(entry, now)?)
    }
}

impl Endpoint for Relay {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let Path::Net(path) = rx.path else {
            bump(&mut self.counters.ignored);
            return;
        };
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => self.on_udp(now, &path, local_port, remote_port, datagram),
            Transport::Ip {
                protocol,
                header_included,
            } => {
                let arrival = match (path.remote, path.local) {
                    (IpAddr::V6(src), IpAddr::V6(dst)) if !header_included => {
                        Arrival::Ipv6Payload { src, dst, protocol }
                    }
                    _ => Arrival::Ip,
                };
                self.rewrite(now, arrival, datagram);
            }
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
        self.ike.handle_timeout(now, &mut spis);
        self.drain_ike(now);
        while let Some(expired) = self.datapath.table_mut().pop_expired(now) {
            bump(&mut self.counters.entries_expired);
            self.events.push_back(RelayEvent::IpsecExpired {
                id: expired.id,
                cause: expired.cause,
            });
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let table = self
            .datapath
            .table()
            .next_expiry()
            .filter(|at| *at != Timestamp::NEVER);
        [self.ike.poll_timeout(), table].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests;
