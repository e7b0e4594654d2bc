//! [`IkeClient`]: the mobile client's IKEv1 initiator, talking to an unmodified SGW through the
//! relay, sans-IO in the quinn-proto style (`handle_datagram`/`handle_timeout` in,
//! `poll_transmit`/`poll_timeout`/`poll_event` out).
//!
//! The client runs the standard main mode and quick mode cores over the **s-side view**: the
//! cookies the SGW sees (learned from the relay's mm2 tail), the relay's s-side address for
//! NAT-D, the s-side SPIs in quick mode. On the c-side link it rewrites the header cookies to
//! the pair it shares with the relay, and it exchanges tails with the relay:
//!
//! | step | client sends | client receives |
//! | --- | --- | --- |
//! | 1 | mm1 + handshake tail (user ID) | mm2 + handshake tail (SGW, relay s-address, s-cookies) |
//! | 2 | mm3 | mm4 |
//! | 3 | mm5 + tail (c-SPI-1, float to 4500?) | mm6 + tail (s-SPI-2 to offer, c-SPI-2 to send with) |
//! | 4 | qm1 (offering s-SPI-2) | qm2 (SGW's s-SPI-3) |
//! | 5 | qm3 + tail (s-SPI-3, grant used, c-SPI-1, encapsulation) | (nothing: qm2 is repeated if qm3 was lost) |
//!
//! qm2 also brings, in its tail, the relay's SPI grant for the *next* quick mode, which
//! [`IkeClient::rekey`] uses: a rekey is steps 4 and 5 again under the same IKE SA.
//!
//! [`IkeClient::delete_phase1`] ends it all (shutdown): DELETEs for the bundles, then the
//! ISAKMP-SA DELETE, whose tail makes the relay forget the IKE entry. An ISAKMP-SA DELETE
//! from the SGW ends the client too ([`IkeClientEvent::Phase1Deleted`]).
//!
//! Requests are retransmitted with backoff until answered; a repeated qm2 is answered with
//! the same qm3. Failures reach the caller as [`IkeClientEvent::Failed`] with a typed error.
//!
//! IKEv1 has no IKE SA rekey: the IKE SA is replaced by a new main mode (reauthentication).
//! The relay cannot hand an SGW-initiated main mode to a client, so the client must do it
//! first. With [`IkeClient::enable_reauth`] the core arms a timer at the negotiated phase-1
//! lifetime minus a margin and a random jitter, and reports [`IkeClientEvent::ReauthDue`] once;
//! the caller then starts the successor with [`IkeClient::reauthenticate`] (new cookies, no
//! INITIAL-CONTACT, which would make the SGW drop the old IKE SA before the new bundles
//! exist), switches its traffic to the successor's bundles and ends this client with
//! [`IkeClient::delete_phase1`]: make-before-break.

//!
//! # Files
//!
//! One exchange per file; this one holds the endpoint itself: its state, the constructor,
//! the getters, and the dispatch of `handle_datagram`/`handle_timeout`/`poll_*` to them.
//!
//! - `config.rs`: [`IkeClientConfig`].
//! - `events.rs`: [`IkeClientEvent`], [`ClientChild`], [`IkeClientError`], [`IkePhase`],
//!   [`IkeClientCounters`].
//! - `main_mode.rs`: mm1 to mm6 with their tails (RFC 2409 section 5, NAT detection and
//!   floating to port 4500 as RFC 3947 sections 3 and 4 say; `docs/PROTOCOL.md` §4.2, §4.3).
//! - `quick_mode.rs`: quick mode, ours (qm1 to qm3, the first one and rekeys) and the SGW's
//!   (its rekey, answered with the relay's SPI grant) (RFC 2409 section 5.5;
//!   `docs/PROTOCOL.md` §4.3 "SPI grants").
//! - `informational.rs`: DELETE of bundles and of the ISAKMP SA both ways, DPD answers, error
//!   notifications (RFC 2408 sections 3.14, 3.15 and 4.8, RFC 2409 section 5.7, RFC 3706
//!   section 5; `docs/PROTOCOL.md` §4.3 "Retiring").
//! - `children.rs`: the live bundles, their lifetimes and the auto-rekey timers.
//! - `reauth.rs`: the reauthentication timer and the successor client (`docs/PROTOCOL.md`
//!   §4.5).

use crate::time::Timestamp;
use core::net::SocketAddr;
use std::collections::VecDeque;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::crypto::Cookies;
use super::endpoint::{framed, ike_bytes, set_cookies, tail_aad, IkeDatagram, Pending};
use super::phase1::{NatState, Phase1Sa};
use super::tail_content::SpiGrant;
use super::tail_crypto::{TailSession, TRANSPORT_OVERHEAD};
use crate::wire::isakmp::ExchangeType;
use crate::wire::tail::{join, split, TailType};

mod children;
mod config;
mod events;
mod informational;
mod main_mode;
mod quick_mode;
mod reauth;
#[cfg(test)]
pub(crate) mod tests;

pub use config::IkeClientConfig;
pub use events::{ClientChild, IkeClientCounters, IkeClientError, IkeClientEvent, IkePhase};

use children::LiveChild;
use informational::error_notification;
use main_mode::{AwaitMm2, AwaitMm4, AwaitMm6};
use quick_mode::{AwaitQm2, Established, RespondingQm};
use reauth::ReauthTimer;

/// Where the exchange stands, with what each step needs. Each exchange's file holds its
/// states and the handler that leaves them.
enum State {
    AwaitMm2(AwaitMm2),
    AwaitMm4(AwaitMm4),
    AwaitMm6(AwaitMm6),
    AwaitQm2(AwaitQm2),
    Established(Established),
    /// Answering a quick mode the SGW started (its rekey): qm2 sent, waiting for qm3.
    RespondingQm(RespondingQm),
    Failed,
    /// The IKE SA was deleted (by us or by the SGW): nothing more to do.
    Deleted,
}

/// The tail that came after a message, if any: its type, its header bytes and its body.
type ReceivedTail = Option<(TailType, Vec<u8>, Vec<u8>)>;

/// Outcome of a refused message.
enum Step {
    /// Drop and count; keep waiting.
    Reject(Reject),
    /// End the attempt.
    Fatal(IkeClientError),
}

/// Why a message was dropped: which of [`IkeClientCounters`] counts it.
enum Reject {
    /// `tail_rejected`.
    Tail,
    /// `rejected`.
    Message,
    /// `duplicates`.
    Duplicate,
    /// `ignored`.
    Unexpected,
    /// `wrong_cookies`.
    Cookies,
    /// `unprotected`.
    Unprotected,
}

/// The client endpoint.
pub struct IkeClient {
    config: IkeClientConfig,
    children: Vec<LiveChild>,
    rng: ChaCha20Rng,
    /// Our c-side pair with the relay (responder half known from mm2).
    c_cookies: Cookies,
    /// The s-side pair (from mm2's tail).
    s_cookies: Cookies,
    /// The relay's s-side address and the SGW's (from mm2's tail; unspecified before).
    s_path: (SocketAddr, SocketAddr),
    state: State,
    pending: Option<Pending>,
    transmits: VecDeque<IkeDatagram>,
    events: VecDeque<IkeClientEvent>,
    counters: IkeClientCounters,
    /// Reauthentication, when enabled ([`IkeClient::enable_reauth`]).
    reauth: Option<ReauthTimer>,
}

impl core::fmt::Debug for IkeClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("c_cookies", &self.c_cookies)
            .field("s_cookies", &self.s_cookies)
            .finish_non_exhaustive()
    }
}

/// The unspecified address of `like`'s family, port 0: a placeholder until mm2 names it.
fn unspecified(like: SocketAddr) -> SocketAddr {
    let ip = match like {
        SocketAddr::V4(_) => core::net::IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => core::net::IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

impl IkeClient {
    /// Starts: queues mm1 with its handshake tail. Randomness for the whole exchange is seeded
    /// from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        config: IkeClientConfig,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Self, IkeClientError> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let (state, c_cookies, datagram) = Self::mm1(&config, &mut rng)?;
        let t = framed(config.local, config.relay, datagram);
        let client = Self {
            children: Vec::new(),
            rng,
            c_cookies,
            s_cookies: Cookies::new([0; 8], [0; 8]),
            s_path: (unspecified(config.relay), unspecified(config.relay)),
            state: State::AwaitMm2(state),
            pending: Some(Pending::new(t.clone(), now, &config.retransmit)),
            transmits: VecDeque::from([t]),
            events: VecDeque::new(),
            counters: IkeClientCounters::default(),
            reauth: None,
            config,
        };
        Ok(client)
    }

    /// The cookie pair on the c-side link (ours and the relay's; the responder half is zero
    /// until mm2): what the relay's messages for this exchange carry, so a caller running
    /// two clients (during a reauthentication) can tell whose a datagram is.
    pub(crate) fn relay_cookies(&self) -> Cookies {
        self.c_cookies
    }

    /// Drop counters.
    pub fn counters(&self) -> IkeClientCounters {
        self.counters
    }

    /// Where the exchange stands (see [`IkePhase`]).
    pub fn phase(&self) -> IkePhase {
        match &self.state {
            State::AwaitMm2 { .. } | State::AwaitMm4 { .. } | State::AwaitMm6 { .. } => {
                IkePhase::MainMode
            }
            State::AwaitQm2 { .. } => IkePhase::QuickMode,
            State::Established { .. } => IkePhase::Established,
            State::RespondingQm { .. } => IkePhase::AnsweringQuickMode,
            State::Failed => IkePhase::Failed,
            State::Deleted => IkePhase::Deleted,
        }
    }

    /// The IKE SA's s-side cookies (the pair the SGW knows it by) and NAT detection toward
    /// the SGW, while one exists.
    pub(crate) fn ike_sa(&self) -> Option<(Cookies, NatState)> {
        self.phase1().map(|p1| (p1.cookies, p1.nat))
    }

    /// Whether the client finished (established or failed) and waits for nothing.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// SKEYID and SKEYID_d/a/e of the current IKE SA, if one is established. For audits and
    /// tests that check where key material ends up (the relay must never hold it).
    pub fn phase1_keys(&self) -> Option<&crate::ike::crypto::Phase1Keys> {
        self.phase1().map(|p1| &p1.keys)
    }

    fn phase1(&self) -> Option<&Phase1Sa> {
        match &self.state {
            State::Established(Established { p1, .. })
            | State::AwaitQm2(AwaitQm2 { p1, .. })
            | State::RespondingQm(RespondingQm { p1, .. }) => Some(p1),
            _ => None,
        }
    }

    fn session(&mut self) -> Option<&mut TailSession> {
        match &mut self.state {
            State::Established(Established { session, .. })
            | State::AwaitQm2(AwaitQm2 { session, .. })
            | State::RespondingQm(RespondingQm { session, .. }) => Some(session),
            _ => None,
        }
    }

    fn send(&mut self, now: Timestamp, message: Vec<u8>, retransmit: bool) -> IkeDatagram {
        let t = framed(self.config.local, self.config.relay, message);
        self.pending = retransmit.then(|| Pending::new(t.clone(), now, &self.config.retransmit));
        self.transmits.push_back(t.clone());
        t
    }

    fn fail(&mut self, error: IkeClientError) {
        self.state = State::Failed;
        self.pending = None;
        self.children.clear();
        self.events.push_back(IkeClientEvent::Failed(error));
    }

    /// Message with the s-side cookies in place of the c-side ones (what the SGW sent).
    fn to_s_side(&self, message: &[u8]) -> Vec<u8> {
        let mut m = message.to_vec();
        set_cookies(&mut m, self.s_cookies.initiator, self.s_cookies.responder);
        m
    }

    /// Message with the c-side cookies (what the relay expects from us).
    fn to_c_side(&self, mut message: Vec<u8>) -> Vec<u8> {
        set_cookies(
            &mut message,
            self.c_cookies.initiator,
            self.c_cookies.responder,
        );
        message
    }

    /// Seals `items` into a transport tail after `message` (c-side bytes).
    fn with_tail(
        session: &mut TailSession,
        message: Vec<u8>,
        items: &[u8],
    ) -> Result<Vec<u8>, IkeClientError> {
        let body_len = items.len().saturating_add(TRANSPORT_OVERHEAD);
        let body = session.seal(&tail_aad(&message, TailType::TRANSPORT, body_len), items)?;
        Ok(join(&message, TailType::TRANSPORT, &body)?)
    }

    /// Opens a transport tail that follows `msg` and reads the relay's SPI grant in it (mm6,
    /// qm2, an SGW's qm1).
    fn open_grant(
        session: &mut TailSession,
        msg: &[u8],
        header: &[u8],
        body: &[u8],
    ) -> Result<SpiGrant, Step> {
        let mut aad = msg.to_vec();
        aad.extend_from_slice(header);
        let items = session
            .open(&aad, body)
            .map_err(|_| Step::Reject(Reject::Tail))?;
        SpiGrant::decode(&items).map_err(|e| Step::Fatal(e.into()))
    }

    /// Feeds one received UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        match self.receive(now, local, remote, payload) {
            Ok(()) => {}
            Err(Step::Reject(kind)) => self.count(kind),
            Err(Step::Fatal(e)) => self.fail(e),
        }
    }

    /// Checks that a datagram is IKE from the relay for our exchange and hands it to the
    /// handler of the message the state waits for, or of the informational exchange.
    fn receive(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) -> Result<(), Step> {
        if remote.ip() != self.config.relay.ip() {
            return Err(Step::Reject(Reject::Unexpected));
        }
        let ike = ike_bytes(local, remote, payload).ok_or(Step::Reject(Reject::Unexpected))?;
        let parts = split(ike).map_err(|_| Step::Reject(Reject::Unexpected))?;
        let message = parts.message;
        let h = message.header();
        if h.initiator_cookie().0 != self.c_cookies.initiator
            || (!matches!(self.state, State::AwaitMm2 { .. })
                && h.responder_cookie().0 != self.c_cookies.responder)
        {
            return Err(Step::Reject(Reject::Cookies));
        }
        // An unencrypted error notification ends the attempt only during main mode, where
        // the SGW may have no keys to protect it with (NO-PROPOSAL-CHOSEN before keys,
        // AUTHENTICATION-FAILED from a responder that could not verify us; RFC 2408 §4.8).
        // After main mode every genuine notification is encrypted: an unprotected one is
        // counted and ignored, so nobody who sees the cookies can end the tunnel with it.
        if h.exchange_type() == ExchangeType::INFORMATIONAL && !message.is_encrypted() {
            if !self.in_main_mode() {
                return Err(Step::Reject(Reject::Unprotected));
            }
            let ty = error_notification(&message).ok_or(Step::Reject(Reject::Unexpected))?;
            return Err(Step::Fatal(IkeClientError::Notified(ty)));
        }
        let tail = parts
            .tail
            .map(|t| (t.tail_type(), t.header_bytes().to_vec(), t.body().to_vec()));
        let bytes = message.as_bytes().to_vec();
        if h.exchange_type() == ExchangeType::INFORMATIONAL {
            self.on_informational(&bytes)
        } else {
            self.step(now, &bytes, tail)
        }
    }

    /// Whether main mode is still running (no authenticated IKE SA yet).
    fn in_main_mode(&self) -> bool {
        matches!(
            self.state,
            State::AwaitMm2(_) | State::AwaitMm4(_) | State::AwaitMm6(_)
        )
    }

    /// Counts a dropped message.
    fn count(&mut self, kind: Reject) {
        let counter = match kind {
            Reject::Tail => &mut self.counters.tail_rejected,
            Reject::Message => &mut self.counters.rejected,
            Reject::Duplicate => &mut self.counters.duplicates,
            Reject::Unexpected => &mut self.counters.ignored,
            Reject::Cookies => &mut self.counters.wrong_cookies,
            Reject::Unprotected => &mut self.counters.unprotected,
        };
        *counter = counter.saturating_add(1);
    }

    fn step(&mut self, now: Timestamp, msg: &[u8], tail: ReceivedTail) -> Result<(), Step> {
        let state = core::mem::replace(&mut self.state, State::Failed);
        let (next, result) = self.advance(now, state, msg, tail);
        self.state = next;
        result
    }

    /// One transition, by the message the state waits for. Always returns the state to keep:
    /// the old one when the message was refused (so a genuine retransmission can still
    /// complete the exchange).
    fn advance(
        &mut self,
        now: Timestamp,
        state: State,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        match state {
            State::AwaitMm2(s) => self.on_mm2(now, s, msg, tail),
            State::AwaitMm4(s) => self.on_mm4(now, s, msg, tail),
            State::AwaitMm6(s) => self.on_mm6(now, s, msg, tail),
            State::AwaitQm2(s) => self.on_qm2(now, s, msg, tail),
            State::Established(s) => self.on_qm1(now, s, msg, tail),
            State::RespondingQm(s) => self.on_qm3(now, s, msg),
            State::Failed => (State::Failed, Err(Step::Reject(Reject::Unexpected))),
            State::Deleted => (State::Deleted, Err(Step::Reject(Reject::Unexpected))),
        }
    }

    /// Retransmits the pending request (or fails after the last retransmission), reports a
    /// due reauthentication, and with `auto_rekey` rekeys bundles at 90 % of their lifetime
    /// and deletes them at its end.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(p) = self.pending.as_mut() {
            if p.deadline <= now {
                match p.fire(now) {
                    Some(t) => self.transmits.push_back(t),
                    None => {
                        let tries = self.config.retransmit.max_retransmissions;
                        self.fail(IkeClientError::Timeout(tries));
                        return;
                    }
                }
            }
        }
        self.report_reauth_due(now);
        if self.config.auto_rekey {
            self.child_timers(now);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<IkeDatagram> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.pending
            .as_ref()
            .map(|p| p.deadline)
            .into_iter()
            .chain(self.child_deadlines())
            .chain(self.reauth_deadline())
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IkeClientEvent> {
        self.events.pop_front()
    }
}
