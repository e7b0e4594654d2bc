//! The client role: one type, [`Client`], that owns everything the client does between its
//! TUN side and the relay (`docs/PROTOCOL.md` §3 and §4).
//!
//! - IKE: the IKE client ([`IkeClient`]) talks to the SGW through the relay. With UDP
//!   encapsulation toward the relay ([`ClientSettings::c_udp_encap`]) it speaks IKE on the
//!   NAT-T ports from its first message (RFC 3947 allows starting there), so its IKE and its
//!   ESP share one UDP flow and the relay learns from the authenticated IKE exchange where
//!   the client's ESP comes from, NAT or not.
//! - TUN → relay (`datapath.rs`): the newest child SA seals the inner packet with the s-side
//!   SPI and writes the c-side SPI; the IPsec part goes out as a UDP payload or by raw IP.
//!   AH covers the outer IP header, so it is sealed over the header the SGW will see and
//!   travels by raw IP with the header written here.
//! - relay → TUN: the SA whose c-side inbound SPI the packet carries restores the s-side SPI,
//!   verifies and opens.
//! - Keeping the tunnel up (`session.rs`): the IKE client rekeys a child at 90% of its lifetime;
//!   before the IKE SA's own end a successor IKE client reauthenticates next to it (IKEv1 has
//!   no IKE SA rekey) and traffic moves to its first bundle (make before break); bundles we
//!   delete keep opening inbound packets for [`DRAIN_GRACE`]. A tunnel lost anyway starts over
//!   after a backoff (1 s doubling to [`SessionSettings::restart_max_backoff`], jittered), as
//!   strongSwan's `close_action=restart`.
//! - Commands: [`Client::initiate`], [`Client::rekey`], [`Client::terminate`], with a typed
//!   [`Client::status`] (compare `swanctl --initiate/--rekey/--terminate/--list-sas`).
//!
//! Time and randomness come in as arguments: the caller's generator seeds the client's own
//! at construction.

mod child;
mod datapath;
mod error;
mod session;
mod settings;
mod status;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use crate::ike::{IkeClient, IkeClientCounters, IkePhase};
use crate::net::{Endpoint, Received, Transmit, TxQueue};
use crate::sa::SaCounters;
use crate::Timestamp;
use child::ChildPath;
use session::Backoff;

pub use error::{ClientCommandError, ClientInstallError};
pub use session::DRAIN_GRACE;
pub use settings::{ClientSettings, SessionSettings};
pub use status::{
    phase_word, ChildRemoval, ChildStatus, ClientCounters, ClientEvent, ClientStatus,
};

/// The client: IKE through the relay, the child SAs' datapath, reauthentication and restart.
/// Feed it datagrams (from the relay, and inner packets from the TUN side) and timeouts;
/// take transmits and events.
pub struct Client {
    settings: ClientSettings,
    /// The current IKE client; `None` before the first `initiate` of a client started idle.
    ike: Option<IkeClient>,
    /// Its successor while a reauthentication runs.
    next: Option<IkeClient>,
    /// Generations of `ike` and `next`: every IKE client gets a new one, and each child
    /// records the generation that negotiated it.
    ike_gen: u64,
    next_gen: u64,
    generations: u64,
    /// Bundles we deleted, still opening inbound packets until the instant given.
    draining: Vec<(Timestamp, ChildPath)>,
    /// When to start over after the tunnel was lost.
    restart_at: Option<Timestamp>,
    backoff: Backoff,
    /// Why the tunnel was last lost (for status).
    last_loss: Option<String>,
    /// IKE clients started so far (the current one's number).
    attempt: u64,
    /// Child SAs installed so far.
    installs: u64,
    /// Installed bundles, oldest first; the newest sends.
    children: Vec<ChildPath>,
    rng: ChaCha20Rng,
    scratch: Vec<u8>,
    tx: TxQueue,
    failed: Option<String>,
    counters: ClientCounters,
    events: VecDeque<ClientEvent>,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("relay", &self.settings.relay)
            .field("attempt", &self.attempt)
            .field("children", &self.children.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client from its settings. The IKE exchange starts at once (mm1 is queued), unless
    /// [`ClientSettings::initiate`] is off: then it waits for [`Self::initiate`]. Even then one
    /// IKE client is built (and dropped unsent), so that settings the IKE client refuses fail
    /// now and not at the first `initiate`.
    pub fn new<R: RngCore + CryptoRng>(
        settings: ClientSettings,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self, ClientCommandError> {
        let ike = session::new_ike(&settings, now, rng)?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let initiate = settings.initiate;
        let backoff = Backoff::new(settings.session.restart_max_backoff);
        let mut client = Self {
            settings,
            ike: initiate.then_some(ike),
            next: None,
            ike_gen: 1,
            next_gen: 0,
            generations: 1,
            draining: Vec::new(),
            restart_at: None,
            backoff,
            last_loss: None,
            attempt: u64::from(initiate),
            installs: 0,
            children: Vec::new(),
            rng: ChaCha20Rng::from_seed(seed),
            scratch: Vec::with_capacity(65_536),
            tx: TxQueue::default(),
            failed: None,
            counters: ClientCounters::default(),
            events: VecDeque::new(),
        };
        client.drain_ike(now);
        Ok(client)
    }

    /// Steered from outside, or not (see [`ClientSettings::controlled`]).
    pub fn set_controlled(&mut self, controlled: bool) {
        self.settings.controlled = controlled;
    }

    /// The next event, oldest first. Events wait in a queue until polled: poll them after
    /// every `handle_*` call and command, as with transmits.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Where the current IKE client stands; `None` when none was started (idle).
    pub fn phase(&self) -> Option<IkePhase> {
        self.ike.as_ref().map(IkeClient::phase)
    }

    /// IKE attempts started so far: the current one's number.
    pub fn attempt(&self) -> u64 {
        self.attempt
    }

    /// Child SAs installed so far (a rekey is done when this grows).
    pub fn installs(&self) -> u64 {
        self.installs
    }

    /// Why the client gave up, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Whether a child SA carries traffic.
    pub fn is_established(&self) -> bool {
        !self.children.is_empty()
    }

    /// The installed child SAs, oldest first (the newest sends).
    pub fn children(&self) -> impl Iterator<Item = &crate::ike::phase2::ChildSummary> {
        self.children.iter().map(ChildPath::summary)
    }

    /// The datapath counters.
    pub fn counters(&self) -> ClientCounters {
        self.counters
    }

    /// The current IKE client's drop counters.
    pub fn ike_counters(&self) -> IkeClientCounters {
        self.ike
            .as_ref()
            .map(IkeClient::counters)
            .unwrap_or_default()
    }

    /// Per child SA, oldest first: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.children.iter().map(ChildPath::counters).collect()
    }

    /// A snapshot for a status command.
    pub fn status(&self) -> ClientStatus {
        ClientStatus {
            phase: self.phase(),
            reauth_phase: self.next.as_ref().map(IkeClient::phase),
            attempt: self.attempt,
            installs: self.installs,
            ike_sa: self
                .ike
                .as_ref()
                .and_then(IkeClient::ike_sa)
                .map(|(cookies, nat)| (cookies, nat.float())),
            children: self
                .children
                .iter()
                .map(|c| {
                    let (outbound, inbound) = c.counters();
                    ChildStatus {
                        summary: c.summary().clone(),
                        outbound,
                        inbound,
                    }
                })
                .collect(),
            counters: self.counters,
            ike_counters: self.ike_counters(),
            last_loss: self
                .last_loss
                .clone()
                .map(|reason| (reason, self.restart_at.is_some())),
            failure: self.failed.clone(),
        }
    }

    /// Before exiting: a DELETE for every child SA and then for the IKE SA, so that the SGW
    /// and the relay retire them at once, as `swanctl --terminate` does (an SGW left holding
    /// the IKE SA would trip over the next start). Poll the transmits once more to send them.
    pub fn begin_shutdown(&mut self, now: Timestamp) {
        self.terminate(now);
    }

    fn emit(&mut self, event: ClientEvent) {
        self.events.push_back(event);
    }
}

impl Endpoint for Client {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        self.receive(now, rx, datagram);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(ike) = self.ike.as_mut() {
            ike.handle_timeout(now);
        }
        if let Some(next) = self.next.as_mut() {
            next.handle_timeout(now);
        }
        self.draining.retain(|(until, _)| *until > now);
        self.restart_if_due(now);
        for child in &mut self.children {
            child.handle_timeout(now);
        }
        // The IKE client deletes a bundle when its lifetime ends (ChildDeleted); an SA whose
        // hard limit passed without that (the DELETE was lost) goes here.
        let (expired, live): (Vec<_>, Vec<_>) = core::mem::take(&mut self.children)
            .into_iter()
            .partition(ChildPath::is_expired);
        self.children = live;
        for child in expired {
            self.emit(ClientEvent::ChildRemoved {
                inbound: child.summary().inbound,
                reason: ChildRemoval::Expired,
            });
        }
        self.drain_ike(now);
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let sa = self.children.iter().filter_map(ChildPath::next_deadline);
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
        !self.settings.controlled && self.failed.is_some() && self.tx.is_empty()
    }
}
