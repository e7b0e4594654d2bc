//! Keeping the tunnel up: IKE attempts, reauthentication (make before break), restart with
//! backoff, and the drain period of bundles we deleted (`docs/PROTOCOL.md` §4.5).
//!
//! IKEv1 has no IKE SA rekey, and the relay cannot carry a main mode the SGW starts, so when
//! the IKE client reports [`IkeClientEvent::ReauthDue`] a second IKE client
//! ([`IkeClient::reauthenticate`]: new cookies, a new main mode and quick mode through the
//! relay) runs next to the current one. When its first bundle is installed, traffic moves to
//! it (the newest bundle sends) and the old client deletes its bundles and its IKE SA
//! (DELETEs through the relay, which retires its entries).

use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use super::child::ChildPath;
use super::error::ClientCommandError;
use super::settings::ClientSettings;
use super::status::{ChildRemoval, ClientEvent};
use super::Client;
use crate::ike::phase2::BundleSpis;
use crate::ike::{ClientChild, IkeClient, IkeClientEvent, IkeDatagram, IkePhase};
use crate::Timestamp;

/// How long a bundle we deleted still opens inbound packets: the SGW may have sent some
/// before our DELETE reached it (strongSwan keeps a rekeyed inbound SA 5 s for the same
/// reason, `charon.delete_rekeyed_delay`).
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// After a successor IKE client failed, the current one tries reauthenticating again this
/// much later (it still has the rest of its lifetime).
const REAUTH_RETRY: Duration = Duration::from_secs(10);

/// The first wait before a restart; each next one doubles, up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The wait before the next restart: 1 s doubling up to a maximum, plus up to a quarter of
/// it at random, so that many clients the same SGW dropped do not come back in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starting at one second, doubling up to `max`.
    pub(crate) fn new(max: Duration) -> Self {
        Self {
            next: FIRST_BACKOFF,
            max,
        }
    }

    /// Back to one second (a child SA was installed: the tunnel works again).
    pub(crate) fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }

    /// The wait to use now, jitter included; the next one doubles (up to the maximum).
    pub(crate) fn delay<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let quarter = u64::try_from(self.next.as_millis() / 4).unwrap_or(0);
        let jitter = rng
            .next_u64()
            .checked_rem(quarter.saturating_add(1))
            .unwrap_or(0);
        let delay = self.next.saturating_add(Duration::from_millis(jitter));
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }
}

/// A new IKE client from the settings, with reauthentication enabled as they say.
pub(super) fn new_ike<R: RngCore + CryptoRng>(
    settings: &ClientSettings,
    now: Timestamp,
    rng: &mut R,
) -> Result<IkeClient, ClientCommandError> {
    let mut ike =
        IkeClient::new(settings.ike.clone(), now, rng).map_err(ClientCommandError::Start)?;
    if settings.session.reauth {
        ike.enable_reauth(settings.session.reauth_margin);
    }
    Ok(ike)
}

/// What an IKE client queued: datagrams to send and events.
fn collect(ike: &mut IkeClient) -> (Vec<IkeDatagram>, Vec<IkeClientEvent>) {
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

fn later(now: Timestamp, by: Duration) -> Timestamp {
    now.checked_add(by).unwrap_or(now)
}

impl Client {
    /// Starts a new IKE attempt (main mode, then quick mode) unless one runs or an IKE SA
    /// exists; with an IKE SA but no child SA left, starts a quick mode. Returns the
    /// attempt's number. `swanctl --initiate`'s counterpart.
    pub fn initiate(&mut self, now: Timestamp) -> Result<u64, ClientCommandError> {
        match self.phase() {
            Some(IkePhase::Established) if self.children.is_empty() => {
                self.rekey(now)?;
                return Ok(self.attempt);
            }
            Some(phase) if !phase.is_finished() => return Ok(self.attempt),
            _ => {}
        }
        let ike = new_ike(&self.settings, now, &mut self.rng)?;
        self.ike = Some(ike);
        self.next = None;
        self.restart_at = None;
        self.generations = self.generations.saturating_add(1);
        self.ike_gen = self.generations;
        self.attempt = self.attempt.saturating_add(1);
        self.failed = None;
        self.emit(ClientEvent::Started {
            attempt: self.attempt,
        });
        self.drain_ike(now);
        Ok(self.attempt)
    }

    /// Starts a quick mode under the IKE SA now (a new child SA; the old ones stay until
    /// their lifetime ends, as with the IKE client's own rekeying).
    pub fn rekey(&mut self, now: Timestamp) -> Result<(), ClientCommandError> {
        let ike = self.ike.as_mut().ok_or(ClientCommandError::NoIkeSa)?;
        let phase = ike.phase();
        ike.rekey(now)
            .map_err(|error| ClientCommandError::Rekey { phase, error })?;
        self.drain_ike(now);
        Ok(())
    }

    /// Deletes every child SA and the IKE SA toward the SGW, through the relay (which retires
    /// its entries on the way), as `swanctl --terminate` does; an attempt still in main mode
    /// is abandoned (there is no IKE SA to delete yet; the relay's half-open entry expires).
    /// Returns how many child SAs were deleted. The DELETEs are queued as transmits.
    pub fn terminate(&mut self, now: Timestamp) -> usize {
        let deleted = self.children.len();
        let mut abandoned = false;
        if let Some(ike) = self.ike.as_mut() {
            if ike.phase().has_ike_sa() {
                for child in &self.children {
                    // A DELETE that cannot be built changes nothing: the SGW's lifetime ends
                    // the SA instead.
                    let _unsent = ike.delete_child(child.summary().inbound);
                }
                let _unsent = ike.delete_phase1();
            } else if !ike.phase().is_finished() {
                abandoned = true;
            }
        }
        if abandoned {
            self.ike = None;
            self.emit(ClientEvent::Abandoned);
        }
        // A reauthentication under way ends too: its IKE SA (if any) and bundles are deleted.
        if let Some(mut next) = self.next.take() {
            if next.phase().has_ike_sa() {
                let _unsent = next.delete_phase1();
            }
            let (transmits, events) = collect(&mut next);
            self.process(now, self.next_gen, transmits, events);
        }
        self.restart_at = None;
        for child in core::mem::take(&mut self.children) {
            self.emit(ClientEvent::ChildRemoved {
                inbound: child.summary().inbound,
                reason: ChildRemoval::Terminated,
            });
        }
        self.draining.clear();
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
                self.emit(ClientEvent::ReauthStarted);
            }
            Err(error) => self.emit(ClientEvent::ReauthNotStarted(error)),
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
        self.emit(ClientEvent::Reauthenticated {
            reauths: self.counters.reauths,
        });
        let Some(mut old) = old else {
            return;
        };
        if old.phase().has_ike_sa() {
            let _unsent = old.delete_phase1();
        }
        let (transmits, events) = collect(&mut old);
        self.process(now, old_gen, transmits, events);
        // Whatever the old client did not report deleted goes with it.
        let (gone, kept): (Vec<_>, Vec<_>) = core::mem::take(&mut self.children)
            .into_iter()
            .partition(|c| c.generation() == old_gen);
        self.children = kept;
        for child in gone {
            self.emit(ClientEvent::ChildRemoved {
                inbound: child.summary().inbound,
                reason: ChildRemoval::Retired,
            });
            self.draining.push((later(now, DRAIN_GRACE), child));
        }
    }

    /// The tunnel was lost (`reason`): start over later if allowed (not controlled,
    /// restart on, and `retryable`), else give up (drained, or idle when controlled).
    fn lost(&mut self, now: Timestamp, reason: String, retryable: bool) {
        if retryable && self.settings.session.restart && !self.settings.controlled {
            self.schedule_restart(now, reason);
            return;
        }
        self.emit(ClientEvent::Failed {
            reason: reason.clone(),
        });
        self.failed = Some(reason);
    }

    /// Arms the restart timer (unless armed) after the current backoff.
    fn schedule_restart(&mut self, now: Timestamp, reason: String) {
        if self.restart_at.is_some() {
            return;
        }
        let delay = self.backoff.delay(&mut self.rng);
        self.restart_at = Some(later(now, delay));
        self.counters.restarts = self.counters.restarts.saturating_add(1);
        self.emit(ClientEvent::RestartScheduled {
            reason: reason.clone(),
            delay,
        });
        self.last_loss = Some(reason);
    }

    /// Starts over when the restart timer has fired.
    pub(super) fn restart_if_due(&mut self, now: Timestamp) {
        if self.restart_at.is_none_or(|at| at > now) {
            return;
        }
        self.restart_at = None;
        let reason = self.last_loss.clone().unwrap_or_default();
        self.emit(ClientEvent::Restarting { reason });
        if let Err(error) = self.initiate(now) {
            self.schedule_restart(now, error.to_string());
        }
    }

    /// Moves what the IKE clients queued: the current one first (its `ReauthDue` may start
    /// the successor, drained right after). A current client that ended while its
    /// successor runs hands over to it.
    pub(super) fn drain_ike(&mut self, now: Timestamp) {
        if let Some(ike) = self.ike.as_mut() {
            let (transmits, events) = collect(ike);
            self.process(now, self.ike_gen, transmits, events);
        }
        if let Some(next) = self.next.as_mut() {
            let (transmits, events) = collect(next);
            self.process(now, self.next_gen, transmits, events);
        }
        if self.next.is_some() && self.ike.as_ref().is_none_or(|c| c.phase().is_finished()) {
            self.emit(ClientEvent::SuccessorTookOver);
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
        transmits: Vec<IkeDatagram>,
        events: Vec<IkeClientEvent>,
    ) {
        for t in transmits {
            self.send_ike(t);
        }
        for event in events {
            let is_next = self.next.is_some() && generation == self.next_gen;
            let is_current = !is_next && generation == self.ike_gen;
            match event {
                IkeClientEvent::Phase1Established { cookies, nat } => {
                    self.emit(ClientEvent::Phase1Established {
                        cookies,
                        nat_t: nat.float(),
                        reauth: is_next,
                    });
                }
                IkeClientEvent::ChildEstablished(child) => {
                    self.install(now, &child, generation);
                    if is_next && self.failed.is_none() {
                        self.switch_over(now);
                    }
                }
                IkeClientEvent::ReauthDue => {
                    if is_current && self.settings.session.reauth {
                        self.start_reauth(now);
                    }
                }
                IkeClientEvent::Failed(error) if is_next => {
                    self.emit(ClientEvent::ReauthFailed(error));
                    self.next = None;
                    if let Some(ike) = self.ike.as_mut() {
                        ike.defer_reauth(later(now, REAUTH_RETRY));
                    }
                }
                IkeClientEvent::Failed(error) => {
                    if !is_current || self.next.is_some() {
                        // A retired client, or one whose successor takes over.
                        self.emit(ClientEvent::IkeEnded(error));
                        continue;
                    }
                    let retryable = error.is_retryable();
                    let reason = error.to_string();
                    self.emit(ClientEvent::IkeFailed(error));
                    let restart =
                        retryable && self.settings.session.restart && !self.settings.controlled;
                    // Bundles of a failed IKE client are gone from the SGW's view too: the
                    // datapath follows (it had none unless a rekey failed).
                    if self.settings.controlled || restart {
                        self.remove_generation(generation);
                    }
                    self.lost(now, reason, retryable);
                }
                IkeClientEvent::Phase1Deleted { cookies, by_peer } => {
                    self.emit(ClientEvent::Phase1Deleted { cookies, by_peer });
                    if by_peer && is_current && self.next.is_none() {
                        // Nothing is left to carry traffic or rekey: start over, or stop as
                        // after a failure so that whoever runs us starts over.
                        self.lost(now, "the SGW deleted the IKE SA".into(), true);
                    }
                }
                IkeClientEvent::ChildDeleted {
                    s_spis_in, by_peer, ..
                } => self.child_deleted(now, generation, is_current, s_spis_in, by_peer),
            }
        }
    }

    /// The IKE client of `generation` deleted (or saw deleted) the bundle `s_spis_in`.
    fn child_deleted(
        &mut self,
        now: Timestamp,
        generation: u64,
        is_current: bool,
        s_spis_in: BundleSpis,
        by_peer: bool,
    ) {
        let found = self
            .children
            .iter()
            .position(|c| c.generation() == generation && c.summary().inbound == s_spis_in);
        if let Some(i) = found {
            let child = self.children.remove(i);
            self.emit(ClientEvent::ChildRemoved {
                inbound: child.summary().inbound,
                reason: ChildRemoval::Deleted { by_peer },
            });
            if !by_peer {
                // Ours: the SGW may still have packets on their way.
                self.draining.push((later(now, DRAIN_GRACE), child));
            }
        }
        let none_left = !self.children.iter().any(|c| c.generation() == generation);
        let ike_up = self.ike.as_ref().is_some_and(|c| c.phase().has_ike_sa());
        if by_peer
            && is_current
            && self.next.is_none()
            && none_left
            && ike_up
            && self.settings.session.restart
            && !self.settings.controlled
        {
            self.schedule_restart(now, "the SGW deleted every child SA".into());
        }
    }

    /// Drops the bundles the IKE client of `generation` negotiated.
    fn remove_generation(&mut self, generation: u64) {
        let (gone, kept): (Vec<_>, Vec<_>) = core::mem::take(&mut self.children)
            .into_iter()
            .partition(|c| c.generation() == generation);
        self.children = kept;
        for child in gone {
            self.emit(ClientEvent::ChildRemoved {
                inbound: child.summary().inbound,
                reason: ChildRemoval::IkeFailed,
            });
        }
    }

    /// Installs a bundle the IKE client of `generation` negotiated; it sends from now on.
    fn install(&mut self, now: Timestamp, child: &ClientChild, generation: u64) {
        let (local, relay) = (self.settings.local, self.settings.relay);
        match ChildPath::install(child, generation, local, relay, now, &mut self.rng) {
            Ok(path) => {
                self.backoff.reset();
                self.emit(ClientEvent::ChildInstalled {
                    summary: path.summary().clone(),
                    c_udp_encap: self.settings.c_udp_encap,
                    s_udp_encap: child.s_udp_encap,
                });
                self.children.push(path);
                self.installs = self.installs.saturating_add(1);
            }
            Err(error) => {
                let reason = format!("cannot install the child SA: {error}");
                self.emit(ClientEvent::ChildRejected(error));
                self.emit(ClientEvent::Failed {
                    reason: reason.clone(),
                });
                self.failed = Some(reason);
            }
        }
    }
}
