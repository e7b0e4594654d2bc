//! The client as an [`Endpoint`]: the core's [`Client`] (IKE through the relay, the child
//! SAs' datapath, reauthentication and restart) on the c-side leg and the TUN device. This
//! adapter converts the configuration ([`convert::client_settings`]), logs the client's
//! events, sends them as [`Notice`]s, keeps the status file, and maps control commands to the
//! client's commands and its typed status to reply lines ([`Controllable`]).
//!
//! With [`ClientEndpoint::controlled`] a failure no longer ends the daemon: it waits for the
//! next `initiate`.

use ipsec_xlat::client::{phase_word, ChildRemoval, ClientStatus};
use ipsec_xlat::ike::phase2::BundleSpis;
use ipsec_xlat::ike::{IkeClientCounters, IkePhase};
use ipsec_xlat::net::PortPair;
use ipsec_xlat::sa::SaCounters;
use ipsec_xlat::Timestamp;
use ipsec_xlat::{Client, ClientCommandError, ClientCounters, ClientEvent};
use rand::{CryptoRng, RngCore};

use super::convert::{self, SetupError};
use super::notice::{Notice, Notifier};
use super::relay::cookies_hex;
use crate::config::ClientConfig;
use crate::sys::control::{ControlAnswer, ControlCommand, ControlReply, Controllable, ReplyLine};
use crate::{Endpoint, Received, Transmit};

/// The client datapath's counters (the core's [`ClientCounters`]).
pub type ClientAdapterCounters = ClientCounters;

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
#[derive(Debug)]
pub struct ClientEndpoint {
    client: Client,
    notifier: Notifier,
    status_file: Option<std::path::PathBuf>,
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
        let settings = convert::client_settings(config, own, &mut warnings)?;
        let client =
            Client::new(settings, now, rng).map_err(|e| SetupError::Inconsistent(e.to_string()))?;
        let mut endpoint = Self {
            client,
            notifier: Notifier::default(),
            status_file: None,
        };
        endpoint.drain_events();
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
        self.client.set_controlled(true);
        self
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

    /// The core client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where the current IKE client stands; `None` when none was started (idle).
    pub fn ike_phase(&self) -> Option<IkePhase> {
        self.client.phase()
    }

    /// Starts a new IKE attempt unless one runs (see [`Client::initiate`]); returns the
    /// attempt's number.
    pub fn initiate(&mut self, now: Timestamp) -> Result<u64, ClientCommandError> {
        let result = self.client.initiate(now);
        self.drain_events();
        result
    }

    /// Starts a quick mode under the IKE SA now (see [`Client::rekey`]).
    pub fn rekey(&mut self, now: Timestamp) -> Result<(), ClientCommandError> {
        let result = self.client.rekey(now);
        self.drain_events();
        result
    }

    /// Deletes every child SA and the IKE SA (see [`Client::terminate`]); returns how many
    /// child SAs were deleted. The DELETEs are queued for the next turn.
    pub fn terminate(&mut self, now: Timestamp) -> usize {
        let deleted = self.client.terminate(now);
        self.drain_events();
        self.write_status();
        deleted
    }

    /// Before exiting (SIGTERM): DELETEs for every child SA and the IKE SA (see
    /// [`Client::begin_shutdown`]); let the driver run one more turn to send them.
    pub fn begin_shutdown(&mut self, now: Timestamp) {
        self.terminate(now);
    }

    /// `status`: the IKE client's phase, the IKE SA, every child SA with its s-side and
    /// c-side SPIs and counters, and the datapath and IKE counters.
    pub fn status(&self) -> ControlReply {
        status_reply(&self.client.status())
    }

    /// Why the client gave up, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.client.failure()
    }

    /// Whether a child SA carries traffic.
    pub fn is_established(&self) -> bool {
        self.client.is_established()
    }

    /// The IKE client's drop counters.
    pub fn ike_counters(&self) -> IkeClientCounters {
        self.client.ike_counters()
    }

    /// The datapath counters.
    pub fn counters(&self) -> ClientCounters {
        self.client.counters()
    }

    /// Per child SA, oldest first: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.client.sa_counters()
    }

    /// An `ok` reply to a waiting command: `done` names what happened, then the status.
    fn done(&self, what: &str) -> ControlReply {
        let mut reply = self.status();
        reply
            .lines
            .insert(0, ReplyLine::new("done").field("command", what));
        reply
    }

    /// Logs the client's events, sends them on as notices, and rewrites the status file when
    /// the installed SAs changed.
    fn drain_events(&mut self) {
        let mut sas_changed = false;
        while let Some(event) = self.client.poll_event() {
            sas_changed |= matches!(
                event,
                ClientEvent::ChildInstalled { .. }
                    | ClientEvent::ChildRemoved { .. }
                    | ClientEvent::Reauthenticated { .. }
            );
            self.report(event);
        }
        if sas_changed {
            self.write_status();
        }
    }

    fn report(&self, event: ClientEvent) {
        match event {
            ClientEvent::Started { attempt } => {
                tracing::info!(attempt, "IKE through the relay started");
            }
            ClientEvent::Phase1Established {
                cookies,
                nat_t,
                reauth,
            } => {
                let cookies = cookies_hex(cookies.initiator, cookies.responder);
                tracing::info!(s_cookies = %cookies, nat_t, reauth, "IKE SA established with the SGW through the relay");
                self.notifier.send(Notice::ClientPhase1 { cookies, nat_t });
            }
            ClientEvent::ChildInstalled {
                summary,
                c_udp_encap,
                s_udp_encap,
            } => {
                tracing::info!(
                    suite = %summary.suite,
                    c_udp = c_udp_encap,
                    s_udp = s_udp_encap,
                    "child SA installed"
                );
                self.notifier.send(Notice::ClientChild(summary));
            }
            ClientEvent::ChildRejected(error) => {
                tracing::error!(%error, "cannot install the child SA");
            }
            ClientEvent::ChildRemoved { reason, .. } => match reason {
                ChildRemoval::Deleted { by_peer } => tracing::info!(by_peer, "child SA deleted"),
                ChildRemoval::Expired => tracing::info!("expired child SA removed"),
                ChildRemoval::Retired | ChildRemoval::IkeFailed | ChildRemoval::Terminated => {}
            },
            ClientEvent::Phase1Deleted { cookies, by_peer } => {
                let cookies = cookies_hex(cookies.initiator, cookies.responder);
                tracing::info!(s_cookies = %cookies, by_peer, "IKE SA deleted");
            }
            ClientEvent::ReauthStarted => tracing::info!(
                "IKE SA nears the end of its lifetime: reauthenticating (new main mode \
                 through the relay)"
            ),
            ClientEvent::ReauthNotStarted(error) => {
                tracing::warn!(%error, "cannot start the reauthentication");
            }
            ClientEvent::ReauthFailed(error) => {
                tracing::warn!(%error, "reauthentication failed; the current IKE SA stays");
            }
            ClientEvent::Reauthenticated { reauths } => tracing::info!(
                reauths,
                "reauthenticated: traffic moved to the new SAs, deleting the old ones"
            ),
            ClientEvent::SuccessorTookOver => tracing::info!(
                "the old IKE SA ended during the reauthentication: its successor takes over"
            ),
            ClientEvent::IkeEnded(error) => tracing::info!(%error, "IKE client ended"),
            ClientEvent::IkeFailed(error) => tracing::error!(%error, "IKE failed"),
            ClientEvent::Abandoned => {
                tracing::info!("IKE attempt abandoned before main mode completed");
            }
            ClientEvent::RestartScheduled { reason, delay } => {
                let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(%reason, delay_ms, "tunnel lost: restarting");
            }
            ClientEvent::Restarting { reason } => {
                tracing::info!(%reason, "restarting the tunnel");
            }
            ClientEvent::Failed { reason } => self.notifier.send(Notice::ClientFailed(reason)),
        }
    }

    fn write_status(&self) {
        let Some(path) = &self.status_file else {
            return;
        };
        let mut text = String::new();
        for child in self.client.children() {
            let spi = |s: BundleSpis| s.esp.or(s.ah).unwrap_or(0);
            text.push_str(&format!(
                "{:08x} {:08x}\n",
                spi(child.inbound),
                spi(child.outbound)
            ));
        }
        let tmp = path.with_extension("tmp");
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(error) = result {
            tracing::warn!(%error, path = %path.display(), "cannot write the status file");
        }
    }
}

impl Endpoint for ClientEndpoint {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        self.client.handle_datagram(now, rx, datagram);
        self.drain_events();
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.client.handle_timeout(now);
        self.drain_events();
    }

    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.client.poll_transmit(now, out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.client.poll_timeout()
    }

    fn is_drained(&self) -> bool {
        self.client.is_drained()
    }
}

impl Controllable for ClientEndpoint {
    type Ticket = ClientTicket;

    fn control(&mut self, now: Timestamp, command: ControlCommand) -> ControlAnswer<ClientTicket> {
        match command {
            ControlCommand::Status => ControlAnswer::Now(self.status()),
            ControlCommand::Initiate => {
                if self.client.is_established() {
                    return ControlAnswer::Now(self.done("initiate"));
                }
                match self.initiate(now) {
                    Ok(attempt) => ControlAnswer::Later(ClientTicket::Established { attempt }),
                    Err(reason) => ControlAnswer::Now(ControlReply::error(reason.to_string())),
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
                let installs = self.client.installs();
                match self.rekey(now) {
                    Ok(()) => ControlAnswer::Later(ClientTicket::Rekeyed {
                        attempt: self.client.attempt(),
                        installs,
                    }),
                    Err(reason) => ControlAnswer::Now(ControlReply::error(reason.to_string())),
                }
            }
        }
    }

    fn resolve(&mut self, _now: Timestamp, ticket: &ClientTicket) -> Option<ControlReply> {
        let (attempt, installs, what) = match *ticket {
            ClientTicket::Established { attempt } => (attempt, None, "initiate"),
            ClientTicket::Rekeyed { attempt, installs } => (attempt, Some(installs), "rekey"),
        };
        if attempt != self.client.attempt() {
            return Some(ControlReply::error("superseded by a later initiate"));
        }
        let installed = match installs {
            None => self.client.is_established(),
            Some(before) => self.client.installs() > before,
        };
        if installed {
            return Some(self.done(what));
        }
        if let Some(reason) = self.client.failure() {
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

/// The client's status as reply lines: `state`, `reauth` (while one runs), `lost`, `ike`,
/// one `child` per SA, `datapath`, `ike_drops`, `failure`.
fn status_reply(status: &ClientStatus) -> ControlReply {
    let c = status.counters;
    let mut lines = vec![ReplyLine::new("state")
        .field("ike", phase_word(status.phase))
        .field("children", status.children.len())
        .field("attempt", status.attempt)
        .field("installs", status.installs)
        .field("reauths", c.reauths)
        .field("restarts", c.restarts)];
    if let Some(phase) = status.reauth_phase {
        lines.push(ReplyLine::new("reauth").field("ike", phase_word(Some(phase))));
    }
    if let Some((reason, restart_pending)) = &status.last_loss {
        lines.push(
            ReplyLine::new("lost")
                .field("reason", reason)
                .field("restart_pending", restart_pending),
        );
    }
    if let Some((cookies, nat_t)) = status.ike_sa {
        lines.push(
            ReplyLine::new("ike")
                .field(
                    "s_cookies",
                    cookies_hex(cookies.initiator, cookies.responder),
                )
                .field("nat_t", if nat_t { "yes" } else { "no" }),
        );
    }
    for (n, child) in status.children.iter().enumerate() {
        let s = &child.summary;
        let (c_in, c_out) = s.c_side.unwrap_or_default();
        let (out, inb) = (child.outbound, child.inbound);
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
    let k = status.ike_counters;
    lines.push(
        ReplyLine::new("ike_drops")
            .field("ignored", k.ignored)
            .field("wrong_cookies", k.wrong_cookies)
            .field("tail_rejected", k.tail_rejected)
            .field("rejected", k.rejected)
            .field("duplicates", k.duplicates),
    );
    if let Some(reason) = &status.failure {
        lines.push(ReplyLine::new("failure").field("reason", reason));
    }
    ControlReply::ok(lines)
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
