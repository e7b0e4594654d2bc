//! The relay daemon's endpoint: an [`ipsec_xlat::Relay`] (the whole relay role, sans-IO) built
//! from the configuration file, with its events logged and passed on as [`Notice`]s, its
//! report printed, and SIGHUP reloads read from the file.

use core::fmt;
use core::net::SocketAddr;
use std::time::Duration;

use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
use ipsec_xlat::ike::{IkeRelayConfig, IkeRelayCounters, IkeTranslation};
use ipsec_xlat::relay::{Datapath, DropReason, Refusal, Relay, RelayEvent, RelaySettings};
use ipsec_xlat::Timestamp;
use rand::{CryptoRng, RngCore};

mod reload;
mod report;
mod setup;

pub use setup::{identity_rules, relay_listen};

pub(crate) use report::cookies_hex;
use report::spis;

use super::convert::SetupError;
use super::notice::{Notice, Notifier};
use crate::config::{RelayConfig, SSideAddressing};
use crate::Endpoint;
use crate::{Received, Transmit};
use ipsec_xlat::net::PortPair;

/// The relay role's own counters (the name the io crate has always exported).
pub type RelayAdapterCounters = ipsec_xlat::relay::RelayCounters;

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
    relay: Relay,
    config: RelayConfig,
    notifier: Notifier,
    /// Log the report this often (and when).
    report_every: Option<(Duration, Timestamp)>,
}

impl fmt::Debug for RelayEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayEndpoint")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

impl RelayEndpoint {
    /// A relay from its validated configuration. `c_ports` and `s_ports` are the real ports of
    /// the legs' sockets (see [`leg_port_pair`](super::leg_port_pair)). Returns warnings about configuration the
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
        let (identities, sgw_ports) = identity_rules(config, &mut warnings);
        if identities.is_empty() {
            return Err(SetupError::unsupported(
                "identification",
                "no rule the IKE core can match",
            ));
        }
        let settings = RelaySettings {
            ike: IkeRelayConfig {
                c_side: SocketAddr::new(core_c_side, PortPair::STANDARD.ike),
                s_side: default_s,
                static_key: StaticKeypair::from_private_bytes(*config.noise_private_key.as_bytes()),
                authorised_clients: authorised(&config.authorized_clients),
                identities,
                half_open_timeout: Duration::from_secs(u64::from(
                    config.limits.half_open_timeout_seconds,
                )),
            },
            // With a pool, each user gets a surrogate address of its own (the legs have
            // sockets on every pool address: the configuration's s-side listen addresses are
            // the pool).
            s_side_pool: match &config.s_side.addressing {
                SSideAddressing::Pool(pool) => Some(pool.clone()),
                SSideAddressing::Single(_) => None,
            },
            c_ports,
            s_ports,
            sgw_ports,
            max_ipsec_entries: usize::try_from(config.limits.max_ipsec_entries)
                .unwrap_or(usize::MAX),
        };
        Ok((
            Self {
                relay: Relay::new(settings, rng).with_limits(admission_limits(&config.limits)),
                config: config.clone(),
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

    /// The relay role.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// The IKE relay's counters.
    pub fn ike_counters(&self) -> IkeRelayCounters {
        self.relay.ike_counters()
    }

    /// The datapath (table and counters).
    pub fn datapath(&self) -> &Datapath {
        self.relay.datapath()
    }

    /// The relay role's own counters.
    pub fn counters(&self) -> RelayAdapterCounters {
        self.relay.counters()
    }

    /// Completed IKE translation entries.
    pub fn ike_entries(&self) -> &[IkeTranslation] {
        self.relay.ike_entries()
    }

    /// Packets dropped because the transmit queue was full.
    pub fn tx_dropped(&self) -> u64 {
        self.relay.tx_dropped()
    }

    /// Logs each of the relay's events and passes it on as a [`Notice`].
    fn drain_events(&mut self) {
        if let Some(reason) = self.relay.take_drop() {
            if reason != DropReason::Keepalive {
                tracing::trace!(%reason, "relay datapath dropped a packet");
            }
        }
        while let Some(event) = self.relay.poll_event() {
            match event {
                RelayEvent::IkeEntryComplete(entry) => {
                    tracing::info!(
                        client = %entry.client,
                        sgw = %entry.sgw,
                        user = %String::from_utf8_lossy(&entry.user.value),
                        c_cookies = %cookies_hex(entry.c_cookies.initiator, entry.c_cookies.responder),
                        s_cookies = %cookies_hex(entry.s_cookies.initiator, entry.s_cookies.responder),
                        "IKE translation entry complete"
                    );
                    self.notifier.send(Notice::RelayIke(entry));
                }
                RelayEvent::IkeSessionEnded { client, c_cookies } => {
                    tracing::info!(%client, c_cookies = %cookies_hex(c_cookies.initiator, c_cookies.responder), "IKE session ended");
                }
                RelayEvent::IpsecInstalled { id, translation: t } => {
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
                    self.notifier
                        .send(Notice::RelayIpsec { id, translation: t });
                }
                RelayEvent::IpsecRefused {
                    translation,
                    reason,
                } => {
                    let why = match reason {
                        Refusal::Limit(_) => "limits.max_ipsec_entries reached".to_owned(),
                        other => other.to_string(),
                    };
                    tracing::warn!(client = %translation.client, %why, "IPsec translation entry refused");
                    self.notifier.send(Notice::RelayRefused(why));
                }
                RelayEvent::IpsecRetired { client, id } => {
                    // Still in the table for the drain period; `RelayExpired` follows when
                    // it leaves.
                    tracing::info!(%client, entry = %id.0, "IPsec translation entry retired (draining)");
                }
                RelayEvent::IpsecExpired { id, cause } => {
                    tracing::info!(entry = %id.0, ?cause, "IPsec translation entry expired");
                    self.notifier.send(Notice::RelayExpired(id));
                }
            }
        }
    }
}

/// The `[limits]` the IKE relay enforces on new sessions.
fn admission_limits(limits: &crate::config::Limits) -> ipsec_xlat::ike::AdmissionLimits {
    ipsec_xlat::ike::AdmissionLimits {
        max_sessions: usize::try_from(limits.max_ike_entries).ok(),
        max_half_open: usize::try_from(limits.max_half_open).ok(),
        new_per_second: Some(limits.new_exchanges_per_second),
        new_per_second_per_client: Some(limits.new_exchanges_per_second_per_client),
    }
}

/// The client keys of the configuration's `authorized_clients`.
fn authorised(clients: &[crate::config::AuthorizedClient]) -> Vec<StaticPublicKey> {
    clients
        .iter()
        .map(|c| StaticPublicKey(c.public_key.0))
        .collect()
}

impl Endpoint for RelayEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        self.relay.handle_datagram(now, rx, datagram);
        self.drain_events();
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.relay.handle_timeout(now);
        self.drain_events();
        if let Some((interval, at)) = self.report_every {
            if at <= now {
                tracing::info!("relay tables and counters:\n{}", self.report());
                self.report_every = now.checked_add(interval).map(|next| (interval, next));
            }
        }
    }

    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.relay.poll_transmit(now, out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        [
            self.relay.poll_timeout(),
            self.report_every.map(|(_, at)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
