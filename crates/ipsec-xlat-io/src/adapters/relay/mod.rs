//! The relay as an [`Endpoint`]: the IKE relay ([`ipsec_xlat::ike::Relay`]) and the IPsec
//! datapath ([`ipsec_xlat::relay::Relay`]) over the c-side and s-side legs.
//!
//! Demultiplexing, per received packet:
//! - UDP on a leg's IKE port: IKE, to the IKE relay;
//! - UDP on a leg's NAT-T port: IKE after the non-ESP marker, a NAT-keepalive (absorbed), or
//!   ESP-in-UDP (AH-in-UDP on the c-side), to the datapath;
//! - raw ESP/AH sockets: to the datapath.
//!
//! The IKE relay reports each IPsec translation entry when qm3 completes it; the adapter turns
//! it into a datapath [`Entry`] with the legs' real addresses, transports and ports and installs
//! it. Entries leave the table at the negotiated lifetime (plus a margin); their relay SPIs are
//! then handed back to the IKE relay. Nothing here sees a key.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;
use std::time::Duration;

use ipsec_xlat::Timestamp;

use ipsec_xlat::ike::phase2::BundleSpis;
use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
use ipsec_xlat::ike::{
    IkeRelay, IkeRelayConfig as IkeConfig, IkeRelayCounters, IkeRelayEvent, IkeTranslation,
    IpsecTranslation, Transmit as IkeTransmit,
};
use ipsec_xlat::relay::{
    Action, Arrival, Datapath, DatapathConfig, DropReason, Entry, EntryId, Framing, Leg as CoreLeg,
    Partition, Path as CorePath, Spi, SpiSet, Table, TableConfig, Transport as CoreTransport,
    HEADROOM,
};
use ipsec_xlat::wire::encap::{classify, Encapsulated};
use rand::{CryptoRng, RngCore};

mod report;
mod setup;

pub use setup::{identity_rules, relay_listen};

pub(crate) use report::cookies_hex;
use report::spis;

use super::convert::SetupError;
use super::notice::{Notice, Notifier};
use crate::config::{RelayConfig, SSideAddressing};
use crate::Endpoint;
use crate::{IpProtocol, Leg, NetPath, Path, Received, Transmit, Transport};
use ipsec_xlat::net::TxQueue;
use ipsec_xlat::net::{PeerPorts, PortPair};

/// Extra life an entry gets beyond the negotiated SA lifetime, so that the last packets of an
/// SA that is being replaced still pass.
const ENTRY_MARGIN: Duration = Duration::from_secs(60);

/// Packets the adapter saw and what it did with them, beyond the cores' own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayAdapterCounters {
    /// UDP datagrams handed to the IKE relay.
    pub ike_datagrams: u64,
    /// Packets handed to the datapath.
    pub ipsec_packets: u64,
    /// NAT-keepalives absorbed.
    pub keepalives: u64,
    /// Packets from the TUN side or an unknown port (a relay has no TUN).
    pub ignored: u64,
    /// IPsec translation entries installed.
    pub entries_installed: u64,
    /// Entries the table refused (SPI collision, invalid, over `limits.max_ipsec_entries`).
    pub entries_refused: u64,
    /// Entries removed at the end of their lifetime.
    pub entries_expired: u64,
}

/// What a running relay can be told on SIGHUP, and what it did with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadOutcome {
    /// Client keys newly authorised.
    pub clients_added: usize,
    /// Identification rules now in force (the whole new table replaced the old one).
    pub rules: usize,
    /// Whether the identification table differs from the one it replaced.
    pub identification_changed: bool,
    /// SGWs (IKE address and real port) the new table names and the old one did not.
    pub sgws_added: Vec<SocketAddr>,
    /// SGWs the old table named and the new one does not; sessions with them go on.
    pub sgws_removed: Vec<SocketAddr>,
    /// What could not be applied (and stays as it was), in words for the log.
    pub not_applied: Vec<String>,
}

/// The relay endpoint.
pub struct RelayEndpoint {
    ike: IkeRelay,
    datapath: Datapath,
    config: RelayConfig,
    /// The c-side address the IKE core knows; every c-side datagram reaches it as this.
    core_c_side: IpAddr,
    c_ports: PortPair,
    s_ports: PortPair,
    sgws: PeerPorts,
    /// With a wildcard c-side: the address each client actually talks to.
    c_local: HashMap<SocketAddr, IpAddr>,
    installed: HashMap<EntryId, IpsecTranslation>,
    ike_entries: Vec<IkeTranslation>,
    authorised: Vec<StaticPublicKey>,
    tx: TxQueue,
    counters: RelayAdapterCounters,
    notifier: Notifier,
    /// Log the report this often (and when).
    report_every: Option<(Duration, Timestamp)>,
}

impl fmt::Debug for RelayEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayEndpoint")
            .field("core_c_side", &self.core_c_side)
            .field("entries", &self.installed.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl RelayEndpoint {
    /// A relay from its validated configuration. `c_ports` and `s_ports` are the real ports of
    /// the legs' sockets (see [`PortPair::of_leg`]). Returns warnings about configuration the
    /// cores cannot honour yet, for the caller to log.
    pub fn new<R: RngCore + CryptoRng>(
        config: &RelayConfig,
        c_ports: PortPair,
        s_ports: PortPair,
        rng: &mut R,
    ) -> Result<(Self, Vec<String>), SetupError> {
        let mut warnings = Vec::new();
        let core_c_side = *config
            .c_side
            .addresses
            .first()
            .ok_or_else(|| SetupError::unsupported("c_side.addresses", "needs an address"))?;
        if config.c_side.addresses.len() > 1 {
            warnings.push(format!(
                "`c_side.addresses`: IKE answers leave from {core_c_side}, the first address"
            ));
        }
        let s_addresses = config.s_side.addressing.addresses();
        let default_s = *s_addresses
            .first()
            .ok_or_else(|| SetupError::unsupported("s_side", "needs an address"))?;
        if s_addresses
            .iter()
            .any(|a| *a == core_c_side || config.c_side.addresses.contains(a) || a.is_unspecified())
        {
            return Err(SetupError::Inconsistent(
                "the c-side and the s-side need distinct, specific addresses: the IKE relay \
                 tells its legs apart by address"
                    .into(),
            ));
        }
        let (identities, sgws) = identity_rules(config, &mut warnings);
        if identities.is_empty() {
            return Err(SetupError::unsupported(
                "identification",
                "no rule the IKE core can match",
            ));
        }
        let authorised: Vec<StaticPublicKey> = config
            .authorized_clients
            .iter()
            .map(|c| StaticPublicKey(c.public_key.0))
            .collect();
        let ike = IkeRelay::new(
            IkeConfig {
                c_side: SocketAddr::new(core_c_side, PortPair::STANDARD.ike),
                s_side: default_s,
                static_key: StaticKeypair::from_private_bytes(*config.noise_private_key.as_bytes()),
                authorised_clients: authorised.clone(),
                identities,
                half_open_timeout: Duration::from_secs(u64::from(
                    config.limits.half_open_timeout_seconds,
                )),
            },
            rng,
        );
        // With a pool, each user gets a surrogate address of its own (the legs have sockets on
        // every pool address: the configuration's s-side listen addresses are the pool).
        let ike = match &config.s_side.addressing {
            SSideAddressing::Pool(pool) => ike.with_s_side_pool(pool.clone()),
            SSideAddressing::Single(_) => ike,
        };
        let datapath = Datapath::new(
            Table::new(TableConfig::default()),
            DatapathConfig::default(),
        );
        Ok((
            Self {
                ike,
                datapath,
                config: config.clone(),
                core_c_side,
                c_ports,
                s_ports,
                sgws,
                c_local: HashMap::new(),
                installed: HashMap::new(),
                ike_entries: Vec::new(),
                authorised,
                tx: TxQueue::default(),
                counters: RelayAdapterCounters::default(),
                notifier: Notifier::default(),
                report_every: None,
            },
            warnings,
        ))
    }

    /// Send notices to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Log [`Self::report`] at info level every `interval` (operators watching counters, the
    /// lab's bad-input checks); `interval` is at least one second.
    pub fn with_report_every(mut self, interval: Duration, now: Timestamp) -> Self {
        let interval = interval.max(Duration::from_secs(1));
        self.report_every = now.checked_add(interval).map(|at| (interval, at));
        self
    }

    /// The IKE relay's counters.
    pub fn ike_counters(&self) -> IkeRelayCounters {
        self.ike.counters()
    }

    /// The datapath (table and counters).
    pub fn datapath(&self) -> &Datapath {
        &self.datapath
    }

    /// The adapter's own counters.
    pub fn counters(&self) -> RelayAdapterCounters {
        self.counters
    }

    /// Installed entries with what the IKE relay reported for them.
    pub fn installed(&self) -> impl Iterator<Item = (&EntryId, &IpsecTranslation)> {
        self.installed.iter()
    }

    /// Completed IKE translation entries.
    pub fn ike_entries(&self) -> &[IkeTranslation] {
        &self.ike_entries
    }

    /// Packets dropped because the transmit queue was full.
    pub fn tx_dropped(&self) -> u64 {
        self.tx.dropped()
    }

    /// Re-reads the configuration file (SIGHUP) and applies what a running relay can take
    /// without dropping sessions: newly authorised clients and the identification table. New
    /// mm1s are matched against the new table; every session already begun keeps its SGW,
    /// addresses and ports (an SGW in use keeps its ports even if the new file changes them).
    /// Everything else that changed is reported in [`ReloadOutcome::not_applied`] and stays as
    /// it was. A file that does not load changes nothing.
    pub fn reload(&mut self) -> Result<ReloadOutcome, crate::config::ConfigError> {
        let fresh = self.config.reload()?;
        let mut outcome = ReloadOutcome::default();
        for client in &fresh.authorized_clients {
            let key = StaticPublicKey(client.public_key.0);
            if !self.authorised.contains(&key) {
                self.ike.authorise_client(key);
                self.authorised.push(key);
                outcome.clients_added = outcome.clients_added.saturating_add(1);
            }
        }
        let removed = self
            .authorised
            .iter()
            .filter(|k| {
                !fresh
                    .authorized_clients
                    .iter()
                    .any(|c| c.public_key.0 == k.0)
            })
            .count();
        if removed > 0 {
            outcome.not_applied.push(format!(
                "{removed} client key(s) removed from `authorized_clients` stay authorised until \
                 restart (the IKE core cannot revoke a key yet)"
            ));
        }
        self.replace_identification(fresh.identification, &mut outcome);
        for section in &fresh.needs_restart {
            outcome
                .not_applied
                .push(format!("`{section}` changed: needs a restart"));
        }
        self.config.authorized_clients = fresh.authorized_clients;
        Ok(outcome)
    }

    /// Installs a new identification table in the IKE relay and the SGW port map. The map is
    /// rebuilt from the new rules, except that every SGW a live session talks to keeps the
    /// ports it has: its IKE and ESP-in-UDP must keep reaching the same sockets.
    fn replace_identification(
        &mut self,
        table: crate::config::IdentificationTable,
        outcome: &mut ReloadOutcome,
    ) {
        let mut candidate = self.config.clone();
        candidate.identification = table;
        let (rules, _) = identity_rules(&candidate, &mut outcome.not_applied);
        let in_use: Vec<IpAddr> = self.ike.sgws_in_use().iter().map(SocketAddr::ip).collect();
        let mut sgws = PeerPorts::new();
        for address in &in_use {
            sgws.insert(*address, self.sgws.get(*address));
        }
        let mut reported = Vec::new();
        for (index, rule) in candidate.identification.rules().iter().enumerate() {
            let (address, pair) = setup::sgw_ports(rule);
            if sgws.insert(address, pair) || reported.contains(&address) {
                continue;
            }
            reported.push(address);
            let kept = sgws.get(address);
            if in_use.contains(&address) {
                outcome.not_applied.push(format!(
                    "`identification[{index}]`: {address} keeps ports {}/{} while sessions use \
                     it (reload again once they have ended)",
                    kept.ike, kept.natt
                ));
            }
        }
        let named = |rules: &[crate::config::IdentificationRule]| {
            let mut out: Vec<SocketAddr> = Vec::new();
            for r in rules {
                if !out.contains(&r.sgw_ike) {
                    out.push(r.sgw_ike);
                }
            }
            out
        };
        let old = named(self.config.identification.rules());
        let new = named(candidate.identification.rules());
        outcome.sgws_added = new.iter().filter(|a| !old.contains(a)).copied().collect();
        outcome.sgws_removed = old.iter().filter(|a| !new.contains(a)).copied().collect();
        outcome.identification_changed = candidate.identification != self.config.identification;
        outcome.rules = rules.len();
        self.ike.set_identities(rules);
        self.sgws = sgws;
        self.config.identification = candidate.identification;
    }

    fn on_udp(
        &mut self,
        now: Timestamp,
        path: &NetPath,
        local_port: u16,
        remote_port: u16,
        bytes: &[u8],
    ) {
        let ports = match path.leg {
            Leg::CSide => self.c_ports,
            Leg::SSide => self.s_ports,
        };
        if ports.is_natt(local_port) {
            match classify(bytes) {
                Encapsulated::Ike(_) => {}
                Encapsulated::Keepalive => {
                    self.counters.keepalives = self.counters.keepalives.saturating_add(1);
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
        let remote = SocketAddr::new(path.remote, remote_port);
        let (local, remote) = match path.leg {
            Leg::CSide => {
                if self.core_c_side.is_unspecified() {
                    self.remember_c_local(remote, path.local);
                }
                (
                    SocketAddr::new(self.core_c_side, ports.to_core(local_port)),
                    remote,
                )
            }
            Leg::SSide => (
                SocketAddr::new(path.local, ports.to_core(local_port)),
                self.sgws.to_core(remote),
            ),
        };
        self.counters.ike_datagrams = self.counters.ike_datagrams.saturating_add(1);
        self.ike.handle_datagram(now, local, remote, bytes);
        self.drain_ike(now);
    }

    fn remember_c_local(&mut self, client: SocketAddr, local: IpAddr) {
        // Bounded: one address per client address, forgotten with its IKE session.
        if self.c_local.len() < 1 << 16 || self.c_local.contains_key(&client) {
            self.c_local.insert(client, local);
        }
    }

    fn rewrite(&mut self, now: Timestamp, arrival: Arrival, bytes: &[u8]) {
        self.counters.ipsec_packets = self.counters.ipsec_packets.saturating_add(1);
        let ts = now;
        let mut buf = self.tx.buffer();
        buf.resize(bytes.len().saturating_add(HEADROOM), 0);
        let path = match self.datapath.rewrite(ts, arrival, bytes, &mut buf) {
            Action::Forward(t) => {
                let len = t.bytes.len();
                Some((framing_path(t.leg, t.framing, t.bytes), len))
            }
            Action::Drop(reason) => {
                if reason != DropReason::Keepalive {
                    tracing::trace!(%reason, "relay datapath dropped a packet");
                }
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

    fn ike_path(&self, t: &IkeTransmit) -> Path {
        if t.local.ip() == self.core_c_side {
            let local = self
                .c_local
                .get(&t.remote)
                .copied()
                .unwrap_or(self.core_c_side);
            Path::Net(NetPath {
                leg: Leg::CSide,
                local,
                remote: t.remote.ip(),
                transport: Transport::Udp {
                    local_port: self.c_ports.to_real(t.local.port()),
                    remote_port: t.remote.port(),
                },
            })
        } else {
            let remote = self.sgws.to_real(t.remote);
            Path::Net(NetPath {
                leg: Leg::SSide,
                local: t.local.ip(),
                remote: remote.ip(),
                transport: Transport::Udp {
                    local_port: self.s_ports.to_real(t.local.port()),
                    remote_port: remote.port(),
                },
            })
        }
    }

    fn drain_ike(&mut self, now: Timestamp) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = self.ike_path(&t);
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                IkeRelayEvent::IkeTranslation(entry) => {
                    let entry = self.real_ike(entry);
                    tracing::info!(
                        client = %entry.client,
                        sgw = %entry.sgw,
                        user = %String::from_utf8_lossy(&entry.user.value),
                        c_cookies = %cookies_hex(entry.c_cookies.initiator, entry.c_cookies.responder),
                        s_cookies = %cookies_hex(entry.s_cookies.initiator, entry.s_cookies.responder),
                        "IKE translation entry complete"
                    );
                    self.notifier.send(Notice::RelayIke(entry.clone()));
                    self.ike_entries.push(entry);
                }
                IkeRelayEvent::IpsecTranslation(t) => {
                    let t = self.real_ipsec(t);
                    self.install(now, t)
                }
                IkeRelayEvent::IpsecRetired {
                    client, c_spi_2, ..
                } => {
                    // The client deleted the bundle (its SPIs are already free in the IKE
                    // relay); the entry's name is its outermost c-SPI-2.
                    let id = c_spi_2.ah.or(c_spi_2.esp).and_then(Spi::new).map(EntryId);
                    if let Some(id) = id {
                        if self.datapath.table_mut().remove(id).is_some() {
                            self.installed.remove(&id);
                            tracing::info!(%client, entry = %id.0, "IPsec translation entry retired");
                            self.notifier.send(Notice::RelayExpired(id));
                        }
                    }
                }
                IkeRelayEvent::IkeExpired {
                    client, c_cookies, ..
                }
                | IkeRelayEvent::IkeRetired {
                    client, c_cookies, ..
                } => {
                    tracing::info!(%client, c_cookies = %cookies_hex(c_cookies.initiator, c_cookies.responder), "IKE session ended");
                    self.ike_entries.retain(|e| {
                        !(e.client == client && e.c_cookies.initiator == c_cookies.initiator)
                    });
                    if !self.ike_entries.iter().any(|e| e.client == client) {
                        self.c_local.remove(&client);
                    }
                }
            }
        }
    }

    /// An IKE entry with the ports as they are on the wire (the core reports standard ones).
    fn real_ike(&self, mut e: IkeTranslation) -> IkeTranslation {
        e.relay_c.set_port(self.c_ports.to_real(e.relay_c.port()));
        e.relay_s.set_port(self.s_ports.to_real(e.relay_s.port()));
        e.sgw = self.sgws.to_real(e.sgw);
        e
    }

    /// An IPsec entry with the ports as they are on the wire.
    fn real_ipsec(&self, mut t: IpsecTranslation) -> IpsecTranslation {
        t.relay_c.set_port(self.c_ports.to_real(t.relay_c.port()));
        t.relay_s.set_port(self.s_ports.to_real(t.relay_s.port()));
        t.sgw = self.sgws.to_real(t.sgw);
        t
    }

    fn install(&mut self, now: Timestamp, t: IpsecTranslation) {
        let limit = usize::try_from(self.config.limits.max_ipsec_entries).unwrap_or(usize::MAX);
        let result = if self.datapath.table().len() >= limit {
            Err("limits.max_ipsec_entries reached".to_owned())
        } else {
            let ts = now;
            self.entry(now, &t).and_then(|entry| {
                self.datapath
                    .table_mut()
                    .insert(entry, ts)
                    .map_err(|e| e.to_string())
            })
        };
        match result {
            Ok(id) => {
                self.counters.entries_installed = self.counters.entries_installed.saturating_add(1);
                tracing::info!(
                    entry = %id.0,
                    client = %t.client,
                    sgw = %t.sgw,
                    c_spi_in = %spis(t.c_spi_2),
                    c_spi_out = %spis(t.c_spi_1),
                    s_spi_in = %spis(t.s_spi_2),
                    s_spi_out = %spis(t.s_spi_3),
                    c_udp = t.c_udp_encap,
                    s_udp = t.s_udp_encap,
                    "IPsec translation entry installed"
                );
                self.notifier.send(Notice::RelayIpsec {
                    id,
                    translation: t.clone(),
                });
                self.installed.insert(id, t);
            }
            Err(why) => {
                self.counters.entries_refused = self.counters.entries_refused.saturating_add(1);
                tracing::warn!(client = %t.client, %why, "IPsec translation entry refused");
                self.notifier.send(Notice::RelayRefused(why));
                self.ike.retire(&t);
            }
        }
    }

    /// The datapath entry for what the IKE relay reported: addresses, transports and ports as
    /// they are on the wire.
    fn entry(&self, now: Timestamp, t: &IpsecTranslation) -> Result<Entry, String> {
        let relay_c = if self.core_c_side.is_unspecified() {
            self.c_local
                .get(&t.client)
                .copied()
                .ok_or("no c-side address known for the client")?
        } else {
            t.relay_c.ip()
        };
        let client_transport = if t.c_udp_encap {
            // The client runs IKE on its NAT-T flow, so its IKE address is where its ESP comes
            // from (after any NAT).
            CoreTransport::Udp {
                relay_port: self.c_ports.natt,
                peer_port: t.client.port(),
            }
        } else {
            CoreTransport::Ip
        };
        let gateway_transport = if t.s_udp_encap {
            CoreTransport::Udp {
                relay_port: self.s_ports.natt,
                peer_port: self.sgws.get(t.sgw.ip()).natt,
            }
        } else {
            CoreTransport::Ip
        };
        let lifetime = Duration::from_secs(u64::from(t.lifetime_secs));
        Ok(Entry {
            client: Partition {
                path: CorePath {
                    relay_addr: relay_c,
                    peer_addr: t.client.ip().to_canonical(),
                    transport: client_transport,
                },
                relay_spis: spi_set(t.c_spi_2)?,
                peer_spis: spi_set(t.c_spi_1)?,
            },
            gateway: Partition {
                path: CorePath {
                    relay_addr: t.relay_s.ip(),
                    peer_addr: t.sgw.ip(),
                    transport: gateway_transport,
                },
                relay_spis: spi_set(t.s_spi_2)?,
                peer_spis: spi_set(t.s_spi_3)?,
            },
            expires_at: now
                .saturating_add(lifetime.saturating_add(lifetime / 10))
                .saturating_add(ENTRY_MARGIN),
        })
    }
}

fn spi_set(spis: BundleSpis) -> Result<SpiSet, String> {
    let one = |value: Option<u32>| match value {
        None => Ok(None),
        Some(v) => Spi::new(v)
            .map(Some)
            .ok_or_else(|| format!("SPI {v} is reserved")),
    };
    Ok(SpiSet {
        esp: one(spis.esp)?,
        ah: one(spis.ah)?,
    })
}

/// How the shell sends what the datapath produced.
fn framing_path(leg: CoreLeg, framing: Framing, bytes: &[u8]) -> Path {
    let leg = match leg {
        CoreLeg::Client => Leg::CSide,
        CoreLeg::Gateway => Leg::SSide,
    };
    let (local, remote, transport) = match framing {
        Framing::Ipv4 { src, dst } => (
            IpAddr::V4(src),
            IpAddr::V4(dst),
            Transport::Ip {
                protocol: IpProtocol(bytes.get(9).copied().unwrap_or(0)),
                header_included: true,
            },
        ),
        Framing::Ipv6 {
            src,
            dst,
            next_header,
        } => (
            IpAddr::V6(src),
            IpAddr::V6(dst),
            Transport::Ip {
                protocol: IpProtocol(next_header.0),
                header_included: false,
            },
        ),
        Framing::Udp { src, dst } => (
            src.ip(),
            dst.ip(),
            Transport::Udp {
                local_port: src.port(),
                remote_port: dst.port(),
            },
        ),
    };
    Path::Net(NetPath {
        leg,
        local,
        remote,
        transport,
    })
}

impl Endpoint for RelayEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let Path::Net(path) = rx.path else {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
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
                        Arrival::Ipv6Payload {
                            src,
                            dst,
                            protocol: ipsec_xlat::wire::IpProtocol(protocol.0),
                        }
                    }
                    _ => Arrival::Ip,
                };
                self.rewrite(now, arrival, datagram);
            }
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.ike.handle_timeout(now);
        self.drain_ike(now);
        if let Some((interval, at)) = self.report_every {
            if at <= now {
                tracing::info!("relay tables and counters:\n{}", self.report());
                self.report_every = now.checked_add(interval).map(|next| (interval, next));
            }
        }
        let ts = now;
        while let Some(expired) = self.datapath.table_mut().pop_expired(ts) {
            self.counters.entries_expired = self.counters.entries_expired.saturating_add(1);
            tracing::info!(entry = %expired.id.0, cause = ?expired.cause, "IPsec translation entry expired");
            if let Some(t) = self.installed.remove(&expired.id) {
                self.ike.retire(&t);
            }
            self.notifier.send(Notice::RelayExpired(expired.id));
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
        [
            self.ike.poll_timeout(),
            table,
            self.report_every.map(|(_, at)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
