//! The client as an [`Endpoint`]: the IKE client ([`ipsec_xlat::ike::Client`]) on the c-side
//! leg toward the relay, and the SA datapath between the TUN device and that leg.
//!
//! - IKE: with UDP encapsulation toward the relay (the default: `local.raw_esp` off), the
//!   client speaks IKE on the NAT-T ports from its first message (RFC 3947 allows starting
//!   there). Its IKE and its ESP then share one UDP flow, so the relay learns from the
//!   authenticated IKE exchange where the client's ESP comes from, NAT or not.
//! - TUN → relay: the newest child SA seals the inner packet with the s-side SPI and writes
//!   the c-side SPI ([`ClientOutboundSa`]); the IPsec part goes out as a UDP payload or by raw
//!   IP.
//! - relay → TUN: the SA whose c-side inbound SPI the packet carries restores the s-side SPI,
//!   verifies and opens ([`ClientInboundSa`]).
//! - The IKE core rekeys a child (a new quick mode under the same IKE SA) at 90% of its
//!   lifetime and deletes it when the lifetime ends; the datapath follows its events, the
//!   newest child sending and every live one receiving.
//!
//! - AH (alone or in an ESP+AH bundle) covers the outer IP header, so it is sealed over the
//!   header the SGW will see (the relay's s-side address to the SGW's, from the IKE core)
//!   with our own Identification, and then carries the c-side addresses and SPIs. It travels
//!   by raw IP with the header written here (`local.raw_ah` and `local.raw_header_included`):
//!   AH cannot be UDP-encapsulated, and the Identification and Total Length the ICV covers
//!   must leave exactly as sealed. The relay reproduces them on the s-side.
//!
//! - Control ([`Controllable`], served by the daemon's control socket): `initiate` starts a
//!   new IKE client when none runs (the core's client is single-use: after a failure or a
//!   delete a new one starts over), `terminate` has the core DELETE the bundles and the IKE
//!   SA, `rekey` has it start a quick mode now, `status` reports the core's phase and the
//!   installed SAs. With [`ClientEndpoint::controlled`] a failure no longer ends the daemon:
//!   it waits for the next `initiate`.
//!
//! - Keeping the tunnel up (`[session]`): IKEv1 has no IKE SA rekey, and the relay cannot
//!   carry a main mode the SGW starts, so when the core reports [`IkeClientEvent::ReauthDue`]
//!   the endpoint runs a second IKE client (the core's [`IkeClient::reauthenticate`]: new
//!   cookies, a new main mode and quick mode through the relay) next to the current one.
//!   When its first bundle is installed, traffic moves to it (the newest bundle sends) and
//!   the old client deletes its bundles and its IKE SA (DELETEs through the relay, which
//!   retires its entries). Bundles we delete keep opening inbound packets for
//!   [`DRAIN_GRACE`], so packets the SGW sent before our DELETE reached it still arrive.
//!   Without a control socket, a tunnel the SGW deleted or an attempt that failed with a
//!   retryable error starts over after a backoff (1 s doubling to
//!   `session.restart_max_backoff_secs`, jittered), as strongSwan's `close_action=restart`.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use ipsec_xlat::Timestamp;

use ipsec_xlat::ike::phase1::Phase1Config;
use ipsec_xlat::ike::phase2::{BundleSpis, ChildConfig};
use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
use ipsec_xlat::ike::{
    ClientChild, IkeClient, IkeClientConfig as IkeConfig, IkeClientCounters, IkeClientEvent,
    IkePhase, RetransmitPolicy,
};
use ipsec_xlat::sa::{
    ClientInboundSa, ClientOutboundSa, InboundSa, OutboundSa, SaCounters, SideValues, Translation,
    TunnelHeader,
};
use ipsec_xlat::wire::IpProtocol as WireProtocol;
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};

use super::convert::{self, SetupError};
use super::notice::{ChildSummary, Notice, Notifier};
use super::relay::cookies_hex;
use crate::config::{ClientConfig, SessionConfig};
use crate::sys::control::{ControlAnswer, ControlCommand, ControlReply, Controllable, ReplyLine};
use crate::Endpoint;
use crate::{IpProtocol, Leg, NetPath, Path, Received, Transmit, Transport};
use ipsec_xlat::ike::phase2::{describe_child, Direction};
use ipsec_xlat::net::PortPair;
use ipsec_xlat::net::TxQueue;
use ipsec_xlat::sa::IvSource;
use ipsec_xlat::wire::ipsec_packet::{ipsec_part, outer_spi, wrap};

/// Room for what sealing adds to an inner packet (outer IPv6 header, ESP header, IV, padding,
/// trailer, ICV, AH).
const SEAL_OVERHEAD: usize = 256;

/// How long a bundle we deleted still opens inbound packets: the SGW may have sent some
/// before our DELETE reached it (strongSwan keeps a rekeyed inbound SA 5 s for the same
/// reason, `charon.delete_rekeyed_delay`).
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// After a successor IKE client failed, the current one tries reauthenticating again this
/// much later (it still has the rest of its lifetime).
const REAUTH_RETRY: Duration = Duration::from_secs(10);

/// The first wait before a restart; each next one doubles, up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The client datapath's own counters (each SA counts its errors too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientAdapterCounters {
    /// Inner packets read from the TUN side.
    pub tun_packets: u64,
    /// Inner packets dropped because no child SA exists yet.
    pub no_sa: u64,
    /// Inner packets sealed and sent.
    pub sealed: u64,
    /// Inner packets the SA refused to seal.
    pub seal_errors: u64,
    /// ESP/AH packets received from the relay.
    pub ipsec_packets: u64,
    /// ... of which carried no c-side SPI of ours.
    pub unknown_spi: u64,
    /// ... of which failed translation or verification.
    pub open_errors: u64,
    /// Inner packets written to the TUN side.
    pub opened: u64,
    /// IKE datagrams handed to the IKE client.
    pub ike_datagrams: u64,
    /// Datagrams from elsewhere than the relay, keepalives, or unparseable.
    pub ignored: u64,
    /// IKE SAs replaced by a new main mode before their lifetime ended (reauthentications
    /// completed).
    pub reauths: u64,
    /// Restarts scheduled after the tunnel was lost.
    pub restarts: u64,
}

struct ChildPath {
    outbound: ClientOutboundSa,
    inbound: ClientInboundSa,
    /// The c-side SPI inbound packets carry first (AH's for a bundle).
    c_lookup: u32,
    iv: IvSource,
    summary: ChildSummary,
    /// The IKE client (generation) that negotiated it.
    generation: u64,
}

/// A control command waiting for its outcome (see [`Controllable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTicket {
    /// `initiate`: a child SA installed by IKE attempt `attempt`, or that attempt's end.
    Established {
        /// The attempt (IKE client) the command started or joined.
        attempt: u64,
    },
    /// `rekey`: a child SA installed after the `installs`-th, or the attempt's end.
    Rekeyed {
        /// The attempt whose IKE SA rekeys.
        attempt: u64,
        /// Child SAs installed when the command came.
        installs: u64,
    },
}

/// The client endpoint.
pub struct ClientEndpoint {
    /// The current IKE client; `None` before the first `initiate` of a client started idle.
    ike: Option<IkeClient>,
    /// Its successor while a reauthentication runs.
    next: Option<IkeClient>,
    /// Generations of `ike` and `next`: every IKE client gets a new one, and each child
    /// path records the generation that negotiated it.
    ike_gen: u64,
    next_gen: u64,
    generations: u64,
    /// Reauthentication and restart settings.
    session: SessionConfig,
    /// Bundles we deleted, still opening inbound packets until the instant given.
    draining: Vec<(Timestamp, ChildPath)>,
    /// When to start over after the tunnel was lost (not controlled, `session.restart`).
    restart_at: Option<Timestamp>,
    /// The wait before the next restart.
    backoff: Duration,
    /// Why the tunnel was last lost (for `status`).
    last_loss: Option<String>,
    /// What every new IKE client starts from.
    ike_config: IkeConfig,
    /// IKE clients started so far (the current one's number).
    attempt: u64,
    /// Child SAs installed so far.
    installs: u64,
    /// A failure does not end the daemon: it waits for the next `initiate`.
    controlled: bool,
    /// Our c-side address (possibly unspecified: the kernel chooses).
    local: IpAddr,
    relay: IpAddr,
    own: PortPair,
    relay_ports: PortPair,
    c_udp_encap: bool,
    raw_header_included: bool,
    children: Vec<ChildPath>,
    rng: StdRng,
    scratch: Vec<u8>,
    tx: TxQueue,
    failed: Option<String>,
    counters: ClientAdapterCounters,
    notifier: Notifier,
    status_file: Option<std::path::PathBuf>,
}

impl core::fmt::Debug for ClientEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientEndpoint")
            .field("relay", &self.relay)
            .field("children", &self.children.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl ClientEndpoint {
    /// A client from its validated configuration; `own` are the real ports of its c-side
    /// sockets. The IKE exchange starts at once (mm1 is queued), unless `control.initiate`
    /// is off: then it waits for [`Self::initiate`]. Returns warnings about configuration the
    /// cores cannot honour, for the caller to log.
    pub fn new<R: RngCore + CryptoRng>(
        config: &ClientConfig,
        own: PortPair,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<(Self, Vec<String>), SetupError> {
        let mut warnings = Vec::new();
        let relay = config.relay.ike.ip();
        if !config.proposals.ah.is_empty() {
            if !config.local.raw_ah {
                return Err(SetupError::unsupported(
                    "local.raw_ah",
                    "AH covers the outer IP header and cannot be UDP-encapsulated: with \
                     `proposals.ah` the client sends AH by raw IP (raw_ah = true)",
                ));
            }
            if relay.is_ipv4() && !config.local.raw_header_included {
                return Err(SetupError::unsupported(
                    "local.raw_header_included",
                    "AH over IPv4 covers the Identification and Total Length, so the client \
                     writes the IPv4 header itself (raw_header_included = true)",
                ));
            }
        }
        let local = config
            .local
            .addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == relay.is_ipv4())
            .ok_or_else(|| {
                SetupError::unsupported("local.addresses", "no address of the relay's family")
            })?;
        let c_udp_encap = !(config.local.raw_esp || config.local.raw_ah);
        let ike_port = if c_udp_encap {
            PortPair::STANDARD.natt
        } else {
            PortPair::STANDARD.ike
        };
        let core_local = SocketAddr::new(local, ike_port);
        let phase1 = Phase1Config {
            suites: convert::phase1_suites(&config.proposals.ike, &config.auth, &config.lifetimes)?,
            credentials: convert::credentials(&config.auth, convert::unix_now())?,
            local_id: convert::id_repr(&config.identity),
            local_addr: core_local,
            initial_contact: true,
        };
        let child = ChildConfig {
            proposals: convert::child_proposals(&config.proposals, &config.lifetimes)?,
            local_ts: convert::first_selector(
                &config.traffic_selectors.local,
                "traffic_selectors.local",
                &mut warnings,
            )?,
            remote_ts: convert::first_selector(
                &config.traffic_selectors.remote,
                "traffic_selectors.remote",
                &mut warnings,
            )?,
        };
        let ike_config = IkeConfig {
            local: core_local,
            relay: SocketAddr::new(relay, ike_port),
            static_key: StaticKeypair::from_private_bytes(*config.noise_private_key.as_bytes()),
            relay_key: StaticPublicKey(config.relay.noise_public_key.0),
            user_id: convert::user_id(&config.identity),
            phase1,
            child,
            c_udp_encap,
            retransmit: RetransmitPolicy::default(),
            // The core rekeys at 90% of a bundle's lifetime and deletes it at the end.
            auto_rekey: true,
        };
        // Started idle, the client still builds one IKE client (and drops it unsent), so
        // that a configuration the core refuses fails now and not at the first `initiate`.
        let mut ike = IkeClient::new(ike_config.clone(), now, rng)
            .map_err(|e| SetupError::Inconsistent(format!("cannot start IKE: {e}")))?;
        let session = config.session;
        if session.reauth {
            ike.enable_reauth(reauth_margin(&session));
        }
        let initiate = config.control.initiate;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut endpoint = Self {
            ike: initiate.then_some(ike),
            next: None,
            ike_gen: 1,
            next_gen: 0,
            generations: 1,
            session,
            draining: Vec::new(),
            restart_at: None,
            backoff: FIRST_BACKOFF,
            last_loss: None,
            ike_config,
            attempt: u64::from(initiate),
            installs: 0,
            controlled: false,
            local,
            relay,
            own,
            relay_ports: PortPair {
                ike: config.relay.ike.port(),
                natt: config.relay.natt_port,
            },
            c_udp_encap,
            raw_header_included: config.local.raw_header_included,
            children: Vec::new(),
            rng: StdRng::from_seed(seed),
            scratch: Vec::with_capacity(65_536),
            tx: TxQueue::default(),
            failed: None,
            counters: ClientAdapterCounters::default(),
            notifier: Notifier::default(),
            status_file: None,
        };
        endpoint.drain_ike(now);
        Ok((endpoint, warnings))
    }

    /// Send notices to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Steered by a control socket: a failed attempt or an IKE SA the SGW deleted leaves
    /// the endpoint idle, waiting for the next [`Self::initiate`], instead of draining (the
    /// daemon then keeps running, as charon does).
    pub fn controlled(mut self) -> Self {
        self.controlled = true;
        self
    }

    /// Where the current IKE client stands; `None` when none was started (idle).
    pub fn ike_phase(&self) -> Option<IkePhase> {
        self.ike.as_ref().map(IkeClient::phase)
    }

    /// Starts a new IKE attempt (main mode, then quick mode) unless one runs or an IKE SA
    /// exists; with an IKE SA but no child SA left, starts a quick mode. Returns the
    /// attempt's number. `swanctl --initiate`'s counterpart.
    pub fn initiate(&mut self, now: Timestamp) -> Result<u64, String> {
        match self.ike_phase() {
            Some(IkePhase::Established) if self.children.is_empty() => {
                self.rekey(now)?;
                return Ok(self.attempt);
            }
            Some(phase) if !phase.is_finished() => return Ok(self.attempt),
            _ => {}
        }
        let mut ike = IkeClient::new(self.ike_config.clone(), now, &mut self.rng)
            .map_err(|e| format!("cannot start IKE: {e}"))?;
        if self.session.reauth {
            ike.enable_reauth(reauth_margin(&self.session));
        }
        self.ike = Some(ike);
        self.next = None;
        self.restart_at = None;
        self.generations = self.generations.saturating_add(1);
        self.ike_gen = self.generations;
        self.attempt = self.attempt.saturating_add(1);
        self.failed = None;
        tracing::info!(attempt = self.attempt, "IKE through the relay started");
        self.drain_ike(now);
        Ok(self.attempt)
    }

    /// Starts a quick mode under the IKE SA now (a new child SA; the old ones stay until
    /// their lifetime ends, as with the core's own rekeying).
    pub fn rekey(&mut self, now: Timestamp) -> Result<(), String> {
        let ike = self.ike.as_mut().ok_or("no IKE SA")?;
        let phase = ike.phase();
        ike.rekey(now)
            .map_err(|e| format!("cannot rekey ({}): {e}", phase_name(Some(phase))))?;
        self.drain_ike(now);
        Ok(())
    }

    /// Deletes every child SA and the IKE SA toward the SGW, through the relay (which retires
    /// its entries on the way), as `swanctl --terminate` does; an attempt still in main mode
    /// is abandoned (there is no IKE SA to delete yet; the relay's half-open entry expires).
    /// Returns how many child SAs were deleted. The DELETEs are queued for the next turn.
    pub fn terminate(&mut self, now: Timestamp) -> usize {
        let deleted = self.children.len();
        if let Some(ike) = self.ike.as_mut() {
            if ike.phase().has_ike_sa() {
                let all: Vec<BundleSpis> =
                    self.children.iter().map(|c| c.summary.inbound).collect();
                for spis in all {
                    if let Err(error) = ike.delete_child(spis) {
                        tracing::debug!(%error, "no DELETE sent for a child SA");
                    }
                }
                if let Err(error) = ike.delete_phase1() {
                    tracing::debug!(%error, "no DELETE sent for the IKE SA");
                }
            } else if !ike.phase().is_finished() {
                tracing::info!("IKE attempt abandoned before main mode completed");
                self.ike = None;
            }
        }
        // A reauthentication under way ends too: its IKE SA (if any) and bundles are deleted.
        if let Some(mut next) = self.next.take() {
            if next.phase().has_ike_sa() {
                if let Err(error) = next.delete_phase1() {
                    tracing::debug!(%error, "no DELETE sent for the successor IKE SA");
                }
            }
            let (transmits, events) = collect(&mut next);
            self.process(now, self.next_gen, transmits, events);
        }
        self.restart_at = None;
        self.children.clear();
        self.draining.clear();
        self.write_status();
        self.drain_ike(now);
        deleted
    }

    /// Starts the successor IKE client (reauthentication), unless one runs.
    fn start_reauth(&mut self, now: Timestamp) {
        if self.next.is_some() {
            return;
        }
        let Some(current) = self.ike.as_ref() else {
            return;
        };
        match current.reauthenticate(now, &mut self.rng) {
            Ok(next) => {
                self.generations = self.generations.saturating_add(1);
                self.next_gen = self.generations;
                self.next = Some(next);
                tracing::info!(
                    "IKE SA nears the end of its lifetime: reauthenticating (new main mode \
                     through the relay)"
                );
            }
            Err(error) => tracing::warn!(%error, "cannot start the reauthentication"),
        }
    }

    /// The successor's first bundle is installed (and sends, being the newest): the old IKE
    /// client deletes its bundles and its IKE SA, and the successor becomes current.
    fn switch_over(&mut self, now: Timestamp) {
        let Some(next) = self.next.take() else {
            return;
        };
        let old_gen = self.ike_gen;
        let old = self.ike.replace(next);
        self.ike_gen = self.next_gen;
        self.counters.reauths = self.counters.reauths.saturating_add(1);
        tracing::info!(
            reauths = self.counters.reauths,
            "reauthenticated: traffic moved to the new SAs, deleting the old ones"
        );
        let Some(mut old) = old else {
            return;
        };
        if old.phase().has_ike_sa() {
            if let Err(error) = old.delete_phase1() {
                tracing::debug!(%error, "no DELETE sent for the old IKE SA");
            }
        }
        let (transmits, events) = collect(&mut old);
        self.process(now, old_gen, transmits, events);
        // Whatever the old client did not report deleted goes with it.
        let gone: Vec<usize> = (0..self.children.len())
            .filter(|&i| {
                self.children
                    .get(i)
                    .is_some_and(|c| c.generation == old_gen)
            })
            .collect();
        for i in gone.into_iter().rev() {
            let child = self.children.remove(i);
            self.draining
                .push((now.checked_add(DRAIN_GRACE).unwrap_or(now), child));
        }
        self.write_status();
    }

    /// The tunnel was lost (`reason`): start over later if allowed (not controlled,
    /// `session.restart`, and `retryable`), else give up as before (the daemon ends, or with
    /// a control socket waits for `initiate`).
    fn lost(&mut self, now: Timestamp, reason: String, retryable: bool) {
        if retryable && self.session.restart && !self.controlled {
            self.schedule_restart(now, reason);
            return;
        }
        self.notifier.send(Notice::ClientFailed(reason.clone()));
        self.failed = Some(reason);
    }

    /// Arms the restart timer (unless armed): the current backoff plus up to a quarter of it
    /// at random, so that many clients the same SGW dropped do not come back in step.
    fn schedule_restart(&mut self, now: Timestamp, reason: String) {
        if self.restart_at.is_some() {
            return;
        }
        let quarter = u64::try_from(self.backoff.as_millis() / 4).unwrap_or(0);
        let jitter = Duration::from_millis(self.rng.next_u64() % quarter.saturating_add(1));
        let delay = self.backoff.saturating_add(jitter);
        self.restart_at = Some(now.checked_add(delay).unwrap_or(now));
        self.counters.restarts = self.counters.restarts.saturating_add(1);
        tracing::warn!(%reason, delay_ms = delay.as_millis() as u64, "tunnel lost: restarting");
        let max = Duration::from_secs(u64::from(self.session.restart_max_backoff_secs));
        self.backoff = self.backoff.saturating_mul(2).min(max);
        self.last_loss = Some(reason);
    }

    /// `status`: the IKE client's phase, the IKE SA, every child SA with its s-side and
    /// c-side SPIs and counters, and the datapath and IKE counters.
    pub fn status(&self) -> ControlReply {
        let mut lines = vec![ReplyLine::new("state")
            .field("ike", phase_name(self.ike_phase()))
            .field("children", self.children.len())
            .field("attempt", self.attempt)
            .field("installs", self.installs)
            .field("reauths", self.counters.reauths)
            .field("restarts", self.counters.restarts)];
        if let Some(next) = &self.next {
            lines.push(ReplyLine::new("reauth").field("ike", phase_name(Some(next.phase()))));
        }
        if let Some(reason) = &self.last_loss {
            lines.push(
                ReplyLine::new("lost")
                    .field("reason", reason)
                    .field("restart_pending", self.restart_at.is_some()),
            );
        }
        if let Some((cookies, nat)) = self.ike.as_ref().and_then(IkeClient::ike_sa) {
            lines.push(
                ReplyLine::new("ike")
                    .field(
                        "s_cookies",
                        cookies_hex(cookies.initiator, cookies.responder),
                    )
                    .field("nat_t", if nat.float() { "yes" } else { "no" }),
            );
        }
        for (n, child) in self.children.iter().enumerate() {
            let s = &child.summary;
            let (c_in, c_out) = s.c_side.unwrap_or_default();
            let (out, inb) = (
                child.outbound.sa().counters(),
                child.inbound.sa().counters(),
            );
            lines.push(
                ReplyLine::new("child")
                    .field("n", n.saturating_add(1))
                    .field("suite", &s.suite)
                    .field("s_in", spi_hex(s.inbound))
                    .field("s_out", spi_hex(s.outbound))
                    .field("c_in", spi_hex(c_in))
                    .field("c_out", spi_hex(c_out))
                    .field("packets_out", out.packets)
                    .field("bytes_out", out.bytes)
                    .field("packets_in", inb.packets)
                    .field("bytes_in", inb.bytes),
            );
        }
        let c = self.counters;
        lines.push(
            ReplyLine::new("datapath")
                .field("tun_packets", c.tun_packets)
                .field("no_sa", c.no_sa)
                .field("sealed", c.sealed)
                .field("seal_errors", c.seal_errors)
                .field("ipsec_packets", c.ipsec_packets)
                .field("unknown_spi", c.unknown_spi)
                .field("open_errors", c.open_errors)
                .field("opened", c.opened)
                .field("ike_datagrams", c.ike_datagrams)
                .field("ignored", c.ignored),
        );
        let k = self.ike_counters();
        lines.push(
            ReplyLine::new("ike_drops")
                .field("ignored", k.ignored)
                .field("wrong_cookies", k.wrong_cookies)
                .field("tail_rejected", k.tail_rejected)
                .field("rejected", k.rejected)
                .field("duplicates", k.duplicates),
        );
        if let Some(reason) = &self.failed {
            lines.push(ReplyLine::new("failure").field("reason", reason));
        }
        ControlReply::ok(lines)
    }

    /// An `ok` reply to a waiting command: `done` names what happened, then the status.
    fn done(&self, what: &str) -> ControlReply {
        let mut reply = self.status();
        reply
            .lines
            .insert(0, ReplyLine::new("done").field("command", what));
        reply
    }

    /// Keep `path` up to date with the installed child SAs: one line per SA, oldest first,
    /// `IN OUT` with the s-side SPIs in hex (ESP's, or AH's for AH alone), as
    /// `swanctl --list-sas` shows them on the SGW with IN and OUT swapped. Scripts (the lab)
    /// read it; it is rewritten whole (write, then rename) whenever an SA comes or goes, and
    /// emptied when none is left.
    pub fn with_status_file(mut self, path: std::path::PathBuf) -> Self {
        self.status_file = Some(path);
        self.write_status();
        self
    }

    fn write_status(&self) {
        let Some(path) = &self.status_file else {
            return;
        };
        let mut text = String::new();
        for child in &self.children {
            let spi = |s: BundleSpis| s.esp.or(s.ah).unwrap_or(0);
            text.push_str(&format!(
                "{:08x} {:08x}\n",
                spi(child.summary.inbound),
                spi(child.summary.outbound)
            ));
        }
        let tmp = path.with_extension("tmp");
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(error) = result {
            tracing::warn!(%error, path = %path.display(), "cannot write the status file");
        }
    }

    /// Why the client gave up, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Whether a child SA carries traffic.
    pub fn is_established(&self) -> bool {
        !self.children.is_empty()
    }

    /// The IKE client's drop counters.
    pub fn ike_counters(&self) -> IkeClientCounters {
        self.ike
            .as_ref()
            .map(IkeClient::counters)
            .unwrap_or_default()
    }

    /// The datapath counters.
    pub fn counters(&self) -> ClientAdapterCounters {
        self.counters
    }

    /// Per child SA, newest last: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.children
            .iter()
            .map(|c| (*c.outbound.sa().counters(), *c.inbound.sa().counters()))
            .collect()
    }

    /// Before exiting (SIGTERM): sends a DELETE for every child SA and then for the IKE SA,
    /// so that the SGW and the relay retire them at once, as `swanctl --terminate` does (an
    /// SGW left holding the IKE SA would trip over the next start). The DELETEs are queued;
    /// let the driver run one more turn to send them.
    pub fn begin_shutdown(&mut self, now: Timestamp) {
        self.terminate(now);
    }

    fn relay_path(&self, transport: Transport) -> Path {
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: self.local,
            remote: self.relay,
            transport,
        })
    }

    /// Moves what the IKE clients queued: the current one first (its `ReauthDue` may start
    /// the successor, drained right after). A current client that ended while its
    /// successor runs hands over to it.
    fn drain_ike(&mut self, now: Timestamp) {
        if let Some(ike) = self.ike.as_mut() {
            let (transmits, events) = collect(ike);
            self.process(now, self.ike_gen, transmits, events);
        }
        if let Some(next) = self.next.as_mut() {
            let (transmits, events) = collect(next);
            self.process(now, self.next_gen, transmits, events);
        }
        if self.next.is_some() && self.ike.as_ref().is_none_or(|c| c.phase().is_finished()) {
            tracing::info!(
                "the old IKE SA ended during the reauthentication: its successor takes over"
            );
            self.ike = self.next.take();
            self.ike_gen = self.next_gen;
            if let Some(next) = self.ike.as_mut() {
                let (transmits, events) = collect(next);
                self.process(now, self.ike_gen, transmits, events);
            }
        }
    }

    /// Sends `transmits` and follows `events` of the IKE client of `generation` (the current
    /// one, its successor, or one being retired).
    fn process(
        &mut self,
        now: Timestamp,
        generation: u64,
        transmits: Vec<ipsec_xlat::ike::Transmit>,
        events: Vec<IkeClientEvent>,
    ) {
        for t in transmits {
            let path = self.relay_path(Transport::Udp {
                local_port: self.own.to_real(t.local.port()),
                remote_port: self.relay_ports.to_real(t.remote.port()),
            });
            self.tx.push(path, t.payload);
        }
        for event in events {
            let is_next = self.next.is_some() && generation == self.next_gen;
            let is_current = !is_next && generation == self.ike_gen;
            match event {
                IkeClientEvent::Phase1Established { cookies, nat } => {
                    let cookies = cookies_hex(cookies.initiator, cookies.responder);
                    tracing::info!(s_cookies = %cookies, nat_t = nat.float(), reauth = is_next, "IKE SA established with the SGW through the relay");
                    self.notifier.send(Notice::ClientPhase1 {
                        cookies,
                        nat_t: nat.float(),
                    });
                }
                IkeClientEvent::ChildEstablished(child) => {
                    self.install(now, &child, generation);
                    if is_next && self.failed.is_none() {
                        self.switch_over(now);
                    }
                }
                IkeClientEvent::ReauthDue => {
                    if is_current && self.session.reauth {
                        self.start_reauth(now);
                    }
                }
                IkeClientEvent::Failed(error) if is_next => {
                    tracing::warn!(%error, "reauthentication failed; the current IKE SA stays");
                    self.next = None;
                    if let Some(ike) = self.ike.as_mut() {
                        ike.defer_reauth(now.checked_add(REAUTH_RETRY).unwrap_or(now));
                    }
                }
                IkeClientEvent::Failed(error) => {
                    if !is_current || self.next.is_some() {
                        // A retired client, or one whose successor takes over.
                        tracing::info!(%error, "IKE client ended");
                        continue;
                    }
                    tracing::error!(%error, "IKE failed");
                    let restart = error.is_retryable() && self.session.restart && !self.controlled;
                    // Bundles of a failed IKE client are gone from the core: the datapath
                    // follows (it had none unless a rekey failed).
                    if self.controlled || restart {
                        self.children.retain(|c| c.generation != generation);
                        self.write_status();
                    }
                    self.lost(now, error.to_string(), error.is_retryable());
                }
                IkeClientEvent::Phase1Deleted { cookies, by_peer } => {
                    let cookies = cookies_hex(cookies.initiator, cookies.responder);
                    tracing::info!(s_cookies = %cookies, by_peer, "IKE SA deleted");
                    if by_peer && is_current && self.next.is_none() {
                        // Nothing is left to carry traffic or rekey: start over, or stop as
                        // after a failure so that whoever runs us starts over.
                        self.lost(now, "the SGW deleted the IKE SA".into(), true);
                    }
                }
                IkeClientEvent::ChildDeleted {
                    s_spis_in, by_peer, ..
                } => {
                    let found = self
                        .children
                        .iter()
                        .position(|c| c.generation == generation && c.summary.inbound == s_spis_in);
                    if let Some(i) = found {
                        let child = self.children.remove(i);
                        tracing::info!(by_peer, "child SA deleted");
                        if !by_peer {
                            // Ours: the SGW may still have packets on their way.
                            self.draining
                                .push((now.checked_add(DRAIN_GRACE).unwrap_or(now), child));
                        }
                        self.write_status();
                    }
                    let none_left = !self.children.iter().any(|c| c.generation == generation);
                    let ike_up = self.ike.as_ref().is_some_and(|c| c.phase().has_ike_sa());
                    if by_peer
                        && is_current
                        && self.next.is_none()
                        && none_left
                        && ike_up
                        && self.session.restart
                        && !self.controlled
                    {
                        self.schedule_restart(now, "the SGW deleted every child SA".into());
                    }
                }
            }
        }
    }

    fn install(&mut self, now: Timestamp, child: &ClientChild, generation: u64) {
        match self.child_path(now, child, generation) {
            Ok(path) => {
                self.backoff = FIRST_BACKOFF;
                tracing::info!(
                    suite = %path.summary.suite,
                    c_udp = self.c_udp_encap,
                    s_udp = child.s_udp_encap,
                    "child SA installed"
                );
                self.notifier
                    .send(Notice::ClientChild(path.summary.clone()));
                self.children.push(path);
                self.installs = self.installs.saturating_add(1);
                self.write_status();
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot install the child SA");
                let text = format!("cannot install the child SA: {e}");
                self.notifier.send(Notice::ClientFailed(text.clone()));
                self.failed = Some(text);
            }
        }
    }

    /// The datapath of one child. ESP's ICV covers neither outer address, so for ESP alone the
    /// header the SA writes carries our c-side addresses on both sides of the translation;
    /// only the SPIs differ between the s-side (what the keys were derived with) and the
    /// c-side. AH's ICV covers the outer addresses: its s-side is the path the SGW sees, the
    /// relay's s-side address and the SGW's, and the outbound header starts from a random
    /// Identification (DF set, so the kernel keeps whatever we write).
    fn child_path(
        &mut self,
        now: Timestamp,
        child: &ClientChild,
        generation: u64,
    ) -> Result<ChildPath, SetupError> {
        let sa = &child.sa;
        let (s_src, s_dst) = if sa.proposal.ah.is_some() {
            let (relay_s, sgw) = child.s_path;
            if relay_s.ip().is_unspecified() || sgw.ip().is_unspecified() {
                return Err(SetupError::Inconsistent(
                    "AH child SA without the s-side path from the relay".into(),
                ));
            }
            (relay_s.ip(), sgw.ip())
        } else {
            (self.local, self.relay)
        };
        let mut out_header = TunnelHeader::between(s_src, s_dst)
            .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
        if let TunnelHeader::V4(h) = &mut out_header {
            h.ident = u16::try_from(self.rng.next_u32() >> 16).unwrap_or(1);
        }
        let in_header = TunnelHeader::between(s_dst, s_src)
            .map_err(|e| SetupError::Inconsistent(e.to_string()))?;
        let out_config = ipsec_xlat::ike::phase2::sa_config(sa, Direction::Outbound, out_header)?;
        let in_config = ipsec_xlat::ike::phase2::sa_config(sa, Direction::Inbound, in_header)?;
        let bad = |e: ipsec_xlat::sa::ConfigError| SetupError::Inconsistent(e.to_string());
        let side = |src, dst, spis: BundleSpis| SideValues {
            src,
            dst,
            esp_spi: spis.esp,
            ah_spi: spis.ah,
            udp_encap: None,
        };
        let outbound = ClientOutboundSa::new(
            OutboundSa::new(&out_config, now).map_err(bad)?,
            Translation {
                s_side: side(s_src, s_dst, sa.outbound_spis),
                c_side: side(self.local, self.relay, child.c_spis_out),
            },
        )
        .map_err(bad)?;
        let inbound = ClientInboundSa::new(
            InboundSa::new(&in_config, now).map_err(bad)?,
            Translation {
                s_side: side(s_dst, s_src, sa.inbound_spis),
                c_side: side(self.relay, self.local, child.c_spis_in),
            },
        )
        .map_err(bad)?;
        let c_lookup = child
            .c_spis_in
            .ah
            .or(child.c_spis_in.esp)
            .ok_or_else(|| SetupError::Inconsistent("child SA without c-side SPI".into()))?;
        let iv = IvSource::new(
            outbound.sa().iv_len(),
            sa.proposal.esp.is_some_and(|(c, _)| c.is_aead()),
        );
        Ok(ChildPath {
            outbound,
            inbound,
            c_lookup,
            iv,
            summary: ChildSummary {
                suite: describe_child(&sa.proposal),
                inbound: sa.inbound_spis,
                outbound: sa.outbound_spis,
                c_side: Some((child.c_spis_in, child.c_spis_out)),
            },
            generation,
        })
    }

    fn seal(&mut self, now: Timestamp, inner: &[u8]) {
        self.counters.tun_packets = self.counters.tun_packets.saturating_add(1);
        let Some(child) = self.children.last_mut() else {
            self.counters.no_sa = self.counters.no_sa.saturating_add(1);
            return;
        };
        let mut buf = self.tx.buffer();
        buf.resize(inner.len().saturating_add(SEAL_OVERHEAD), 0);
        let mut iv_buf = [0u8; 16];
        let iv = child.iv.next(&mut self.rng, &mut iv_buf);
        let sealed = match child.outbound.seal(inner, iv, now, &mut buf) {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::debug!(%error, "seal failed");
                self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
                self.tx.recycle(buf);
                return;
            }
        };
        buf.truncate(sealed.len);
        let Some((start, protocol, len)) = ipsec_part(&buf) else {
            self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
            self.tx.recycle(buf);
            return;
        };
        buf.truncate(len);
        let transport = if self.c_udp_encap {
            buf.drain(..start);
            Transport::Udp {
                local_port: self.own.natt,
                remote_port: self.relay_ports.natt,
            }
        } else if self.raw_header_included && self.relay.is_ipv4() {
            Transport::Ip {
                protocol: IpProtocol(protocol.0),
                header_included: true,
            }
        } else {
            buf.drain(..start);
            Transport::Ip {
                protocol: IpProtocol(protocol.0),
                header_included: false,
            }
        };
        self.counters.sealed = self.counters.sealed.saturating_add(1);
        let path = self.relay_path(transport);
        self.tx.push(path, buf);
    }

    /// Opens an IPsec packet from the relay: `whole` says whether `bytes` start with the IP
    /// header (IPv4 raw sockets) or must have one put in front (`protocol` from `src`).
    fn open(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        whole: bool,
        protocol: WireProtocol,
        src: IpAddr,
        dst: IpAddr,
    ) {
        self.counters.ipsec_packets = self.counters.ipsec_packets.saturating_add(1);
        let mut packet = core::mem::take(&mut self.scratch);
        let built = if whole {
            packet.clear();
            packet.extend_from_slice(bytes);
            Some(())
        } else {
            wrap(src, dst, protocol, bytes, &mut packet)
        };
        let spi = built.and_then(|()| outer_spi(&packet));
        // Room to rebuild a longer SGW-side header in place (IPv4 client leg, IPv6 SGW leg);
        // the SA code reads the packet's length from its IP header, not from the slice.
        packet.resize(packet.len().saturating_add(ipsec_xlat::sa::INBOUND_ROOM), 0);
        let child = spi.and_then(|spi| {
            self.children
                .iter_mut()
                .chain(self.draining.iter_mut().map(|(_, c)| c))
                .find(|c| c.c_lookup == spi)
        });
        match child {
            None => self.counters.unknown_spi = self.counters.unknown_spi.saturating_add(1),
            Some(child) => match child.inbound.open(&mut packet, now) {
                Ok(opened) => {
                    if !opened.is_dummy() {
                        self.counters.opened = self.counters.opened.saturating_add(1);
                        self.tx.push_copy(Path::Tun, opened.packet);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "inbound packet refused");
                    self.counters.open_errors = self.counters.open_errors.saturating_add(1);
                }
            },
        }
        self.scratch = packet;
    }
}

impl Endpoint for ClientEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let path = match rx.path {
            Path::Tun => {
                self.seal(now, datagram);
                return;
            }
            Path::Net(path) => path,
        };
        if path.remote.to_canonical() != self.relay.to_canonical() {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        }
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => {
                let natt = self.own.is_natt(local_port);
                if natt {
                    match datagram {
                        [0, 0, 0, 0, ..] => {}
                        [0xff] => {
                            self.counters.ignored = self.counters.ignored.saturating_add(1);
                            return;
                        }
                        _ => {
                            self.open(
                                now,
                                datagram,
                                false,
                                WireProtocol::ESP,
                                path.remote,
                                path.local,
                            );
                            return;
                        }
                    }
                }
                self.counters.ike_datagrams = self.counters.ike_datagrams.saturating_add(1);
                let local = SocketAddr::new(self.local, self.own.to_core(local_port));
                let remote = SocketAddr::new(self.relay, self.relay_ports.to_core(remote_port));
                // During a reauthentication two IKE clients run: the initiator cookie says
                // whose exchange a message belongs to.
                let ike_part = if natt {
                    datagram.get(4..)
                } else {
                    Some(datagram)
                };
                let cookie = ike_part.and_then(|b| b.get(..8));
                let for_next = self
                    .next
                    .as_ref()
                    .is_some_and(|n| cookie == Some(&n.relay_cookies().initiator[..]));
                let target = if for_next {
                    self.next.as_mut()
                } else {
                    self.ike.as_mut()
                };
                match target {
                    Some(ike) => ike.handle_datagram(now, local, remote, datagram),
                    None => {
                        self.counters.ignored = self.counters.ignored.saturating_add(1);
                        return;
                    }
                }
                self.drain_ike(now);
            }
            Transport::Ip {
                protocol,
                header_included,
            } => self.open(
                now,
                datagram,
                header_included,
                WireProtocol(protocol.0),
                path.remote,
                path.local,
            ),
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(ike) = self.ike.as_mut() {
            ike.handle_timeout(now);
        }
        if let Some(next) = self.next.as_mut() {
            next.handle_timeout(now);
        }
        self.draining.retain(|(until, _)| *until > now);
        if self.restart_at.is_some_and(|at| at <= now) {
            self.restart_at = None;
            let reason = self.last_loss.clone().unwrap_or_default();
            tracing::info!(%reason, "restarting the tunnel");
            if let Err(error) = self.initiate(now) {
                self.schedule_restart(now, error);
            }
        }
        for child in &mut self.children {
            child.outbound.sa_mut().handle_timeout(now);
            child.inbound.sa_mut().handle_timeout(now);
        }
        // The core deletes a bundle when its lifetime ends (ChildDeleted); an SA whose hard
        // limit passed without that (the DELETE was lost) goes here.
        let before = self.children.len();
        self.children
            .retain(|c| !(c.outbound.sa().is_expired() && c.inbound.sa().is_expired()));
        if self.children.len() < before {
            tracing::info!("expired child SA removed");
            self.write_status();
        }
        self.drain_ike(now);
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let sa = self
            .children
            .iter()
            .flat_map(|c| {
                [
                    c.outbound.sa().next_deadline(),
                    c.inbound.sa().next_deadline(),
                ]
            })
            .flatten();
        let draining = self.draining.iter().map(|(until, _)| *until);
        self.ike
            .as_ref()
            .and_then(IkeClient::poll_timeout)
            .into_iter()
            .chain(self.next.as_ref().and_then(IkeClient::poll_timeout))
            .chain(sa)
            .chain(draining)
            .chain(self.restart_at)
            .min()
    }

    fn is_drained(&self) -> bool {
        !self.controlled && self.failed.is_some() && self.tx.is_empty()
    }
}

impl Controllable for ClientEndpoint {
    type Ticket = ClientTicket;

    fn control(&mut self, now: Timestamp, command: ControlCommand) -> ControlAnswer<ClientTicket> {
        match command {
            ControlCommand::Status => ControlAnswer::Now(self.status()),
            ControlCommand::Initiate => {
                if !self.children.is_empty() {
                    return ControlAnswer::Now(self.done("initiate"));
                }
                match self.initiate(now) {
                    Ok(attempt) => ControlAnswer::Later(ClientTicket::Established { attempt }),
                    Err(reason) => ControlAnswer::Now(ControlReply::error(reason)),
                }
            }
            ControlCommand::Terminate => {
                if self.ike_phase().is_none_or(IkePhase::is_finished) {
                    return ControlAnswer::Now(ControlReply::error("no IKE SA to terminate"));
                }
                let children = self.terminate(now);
                let mut reply = self.done("terminate");
                if let Some(done) = reply.lines.first_mut() {
                    done.fields.push(("children".into(), children.to_string()));
                }
                ControlAnswer::Now(reply)
            }
            ControlCommand::Rekey => {
                let installs = self.installs;
                match self.rekey(now) {
                    Ok(()) => ControlAnswer::Later(ClientTicket::Rekeyed {
                        attempt: self.attempt,
                        installs,
                    }),
                    Err(reason) => ControlAnswer::Now(ControlReply::error(reason)),
                }
            }
        }
    }

    fn resolve(&mut self, _now: Timestamp, ticket: &ClientTicket) -> Option<ControlReply> {
        let (attempt, installs, what) = match *ticket {
            ClientTicket::Established { attempt } => (attempt, None, "initiate"),
            ClientTicket::Rekeyed { attempt, installs } => (attempt, Some(installs), "rekey"),
        };
        if attempt != self.attempt {
            return Some(ControlReply::error("superseded by a later initiate"));
        }
        let installed = match installs {
            None => !self.children.is_empty(),
            Some(before) => self.installs > before,
        };
        if installed {
            return Some(self.done(what));
        }
        if let Some(reason) = &self.failed {
            return Some(ControlReply::error(format!("{what} failed: {reason}")));
        }
        match self.ike_phase() {
            None => Some(ControlReply::error(format!("{what}: terminated meanwhile"))),
            Some(IkePhase::Deleted) => Some(ControlReply::error(format!(
                "{what}: the IKE SA was deleted"
            ))),
            Some(IkePhase::Failed) => Some(ControlReply::error(format!("{what} failed"))),
            Some(_) => None,
        }
    }
}

/// The reauthentication margin the configuration asks for (`None`: the core's default).
fn reauth_margin(session: &SessionConfig) -> Option<Duration> {
    session
        .reauth_margin_secs
        .map(|secs| Duration::from_secs(u64::from(secs)))
}

/// What an IKE client queued: datagrams to send and events.
fn collect(ike: &mut IkeClient) -> (Vec<ipsec_xlat::ike::Transmit>, Vec<IkeClientEvent>) {
    let mut transmits = Vec::new();
    let mut events = Vec::new();
    while let Some(t) = ike.poll_transmit() {
        transmits.push(t);
    }
    while let Some(event) = ike.poll_event() {
        events.push(event);
    }
    (transmits, events)
}

/// The phase as a status word.
fn phase_name(phase: Option<IkePhase>) -> &'static str {
    match phase {
        None => "idle",
        Some(IkePhase::MainMode) => "main-mode",
        Some(IkePhase::QuickMode) => "quick-mode",
        Some(IkePhase::Established) => "established",
        Some(IkePhase::AnsweringQuickMode) => "answering-quick-mode",
        Some(IkePhase::Failed) => "failed",
        Some(IkePhase::Deleted) => "deleted",
    }
}

/// A bundle's SPI in hex as the status file writes it (ESP's, or AH's for AH alone), with
/// AH's after a `+` for an ESP+AH bundle.
fn spi_hex(spis: BundleSpis) -> String {
    match (spis.esp, spis.ah) {
        (Some(esp), Some(ah)) => format!("{esp:08x}+{ah:08x}"),
        (Some(spi), None) | (None, Some(spi)) => format!("{spi:08x}"),
        (None, None) => "-".into(),
    }
}
