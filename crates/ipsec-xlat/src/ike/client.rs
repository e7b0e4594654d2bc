//! `Client`: the mobile client's IKEv1 initiator, talking to an unmodified SGW through the
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

use crate::time::Timestamp;
use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::crypto::Cookies;
use super::endpoint::{
    framed, ike_bytes, set_cookies, tail_aad, Pending, RetransmitPolicy, Transmit,
};
use super::phase1::{MainModeInitiator, NatState, Phase1Config, Phase1Error, Phase1Sa};
use super::phase2::{
    delete_message, delete_phase1_message, dpd_ack, notify_message, open_informational, BundleSpis,
    ChildConfig, ChildProposal, ChildSa, Encapsulation, Phase2Error, QuickModeInitiator,
    QuickModeResponder,
};
use super::tail_content::{
    IkeRetireTail, Mm1Tail, Mm2Tail, Mm5Tail, Qm3Tail, RetireTail, SpiGrant, TailContentError,
    UserId,
};
use super::tail_crypto::{
    StaticKeypair, StaticPublicKey, TailCryptoError, TailInitiator, TailSession, MM1_OVERHEAD,
    TRANSPORT_OVERHEAD,
};
use crate::wire::isakmp::{ExchangeType, IsakmpError, Message, NotifyType, PayloadType};
use crate::wire::tail::{join, split, TailError, TailType};

/// Client configuration.
#[derive(Clone, Debug)]
pub struct IkeClientConfig {
    /// Our IKE address and port on the access network (c-side).
    pub local: SocketAddr,
    /// The relay's c-side IKE address and port.
    pub relay: SocketAddr,
    /// Our static key for the tail handshake.
    pub static_key: StaticKeypair,
    /// The relay's static public key.
    pub relay_key: StaticPublicKey,
    /// Who we are, for the relay's identification table.
    pub user_id: UserId,
    /// Phase-1 suites, credentials and the ID the SGW sees. `local_addr` is ignored: NAT-D
    /// uses the relay's s-side address from mm2's tail.
    pub phase1: Phase1Config,
    /// Quick mode alternatives and selectors. The encapsulation mode is set from NAT
    /// detection toward the SGW.
    pub child: ChildConfig,
    /// Whether our ESP/AH to the relay goes in UDP (our own access-network need).
    pub c_udp_encap: bool,
    /// Request retransmission.
    pub retransmit: RetransmitPolicy,
    /// Rekey each bundle at 90 % of its lifetime and delete it when the lifetime ends (as
    /// strongSwan's default rekey_time/life_time ratio does). Off: the caller drives
    /// [`IkeClient::rekey`] and [`IkeClient::delete_child`].
    pub auto_rekey: bool,
}

/// Everything the client's datapath needs for one SA bundle.
#[derive(Debug)]
pub struct ClientChild {
    /// Algorithms, keys and **s-side** SPIs (the keys were derived with them): inbound
    /// s-SPI-2, outbound s-SPI-3.
    pub sa: ChildSa,
    /// c-SPI-1: what packets from the relay carry (restore `sa.inbound_spis` before
    /// verifying).
    pub c_spis_in: BundleSpis,
    /// c-SPI-2: what to write on packets to the relay (after sealing with the s-side SPI).
    pub c_spis_out: BundleSpis,
    /// ESP/AH toward the SGW is UDP-encapsulated (the relay's s-side leg).
    pub s_udp_encap: bool,
    /// ESP/AH between us and the relay is UDP-encapsulated.
    pub c_udp_encap: bool,
    /// The relay, where our ESP/AH goes.
    pub relay: SocketAddr,
    /// The relay's s-side address and the SGW's, as the SGW sees the path (from mm2's tail).
    /// AH's ICV covers the outer addresses, so an AH datapath seals over this header.
    pub s_path: (SocketAddr, SocketAddr),
    /// Whether we started this quick mode (false: the SGW rekeyed and we answered).
    pub we_initiated: bool,
}

/// What the client reports.
#[derive(Debug)]
pub enum IkeClientEvent {
    /// Main mode with the SGW completed.
    Phase1Established {
        /// The s-side cookies.
        cookies: Cookies,
        /// NAT detection toward the SGW.
        nat: NatState,
    },
    /// Quick mode completed.
    ChildEstablished(Box<ClientChild>),
    /// An SA bundle ended: the SGW deleted it (we answered with our own DELETE, which tells
    /// the relay), or we deleted it with [`IkeClient::delete_child`].
    ChildDeleted {
        /// s-SPI-2: the bundle's inbound SPIs (as in [`ClientChild::sa`]).
        s_spis_in: BundleSpis,
        /// s-SPI-3: its outbound SPIs.
        s_spis_out: BundleSpis,
        /// Whether the SGW asked for it.
        by_peer: bool,
    },
    /// The IKE SA ended: we deleted it with [`IkeClient::delete_phase1`] (after deleting every
    /// bundle), or the SGW sent an ISAKMP-SA DELETE for it (bundles still live were reported
    /// as [`IkeClientEvent::ChildDeleted`] just before). Either way the relay was told in the
    /// tail of our ISAKMP-SA DELETE; the client is finished, a new [`IkeClient`] starts over.
    Phase1Deleted {
        /// The s-side cookies of the IKE SA.
        cookies: Cookies,
        /// Whether the SGW asked for it.
        by_peer: bool,
    },
    /// The IKE SA nears the end of its lifetime (see [`IkeClient::enable_reauth`]): start its
    /// successor with [`IkeClient::reauthenticate`]. Reported once.
    ReauthDue,
    /// The attempt failed; the client is finished.
    Failed(IkeClientError),
}

/// Why the client failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IkeClientError {
    /// No answer after all retransmissions.
    #[error("no answer after {0} retransmissions")]
    Timeout(u32),
    /// The relay or SGW answered with an error notification (NO-PROPOSAL-CHOSEN, INVALID-*,
    /// AUTHENTICATION-FAILED...).
    #[error("peer sent notification {0:?}")]
    Notified(NotifyType),
    /// Main mode failed (e.g. authentication).
    #[error("main mode: {0}")]
    Phase1(#[from] Phase1Error),
    /// Quick mode failed.
    #[error("quick mode: {0}")]
    Phase2(#[from] Phase2Error),
    /// The tail channel with the relay failed.
    #[error("tail: {0}")]
    Tail(#[from] TailCryptoError),
    /// The relay's tail contents were unusable.
    #[error("tail contents: {0}")]
    TailContent(#[from] TailContentError),
    /// A message or tail could not be built.
    #[error("encoding: {0}")]
    Encoding(String),
    /// A rekey was asked for before the IKE SA was established, or while another quick mode
    /// runs, or with no SPI grant from the relay left.
    #[error("cannot start a quick mode now")]
    NotReady,
}

impl IkeClientError {
    /// Whether starting over may succeed (strongSwan's `keyingtries` / `close_action=restart`
    /// territory): lost messages, transient notifications and garbled exchanges may; a
    /// refused proposal, a failed authentication or an unusable configuration will fail the
    /// same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Tail(_) | Self::TailContent(_) => true,
            Self::Notified(ty) => {
                *ty != NotifyType::NO_PROPOSAL_CHOSEN && *ty != NotifyType::AUTHENTICATION_FAILED
            }
            Self::Phase1(e) => !matches!(
                e,
                Phase1Error::AuthenticationFailed
                    | Phase1Error::Proposal(_)
                    | Phase1Error::UntrustedCertificate
                    | Phase1Error::IdentityMismatch
                    | Phase1Error::NoCredentials(_)
                    | Phase1Error::Notified(_)
            ),
            Self::Phase2(e) => {
                !matches!(e, Phase2Error::Proposal(_) | Phase2Error::TrafficSelectors)
            }
            Self::Encoding(_) | Self::NotReady => false,
        }
    }
}

impl From<IsakmpError> for IkeClientError {
    fn from(e: IsakmpError) -> Self {
        Self::Encoding(e.to_string())
    }
}

impl From<TailError> for IkeClientError {
    fn from(e: TailError) -> Self {
        Self::Encoding(e.to_string())
    }
}

/// Where the client's exchange stands: what a control interface reports as the phase-1 and
/// phase-2 state (compare `swanctl --list-sas`), and what tells it whether a rekey or a
/// terminate can be asked for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkePhase {
    /// Main mode runs (mm1 to mm6); no IKE SA yet.
    MainMode,
    /// The IKE SA is up and our quick mode (the first one or a rekey) waits for qm2.
    QuickMode,
    /// The IKE SA is up and no quick mode runs: [`IkeClient::rekey`] may start one.
    Established,
    /// The IKE SA is up and we answer a quick mode the SGW started (its rekey).
    AnsweringQuickMode,
    /// The attempt failed ([`IkeClientEvent::Failed`]); a new [`IkeClient`] starts over.
    Failed,
    /// The IKE SA was deleted, by us or by the SGW; a new [`IkeClient`] starts over.
    Deleted,
}

impl IkePhase {
    /// Whether an IKE SA with the SGW exists (main mode completed and not deleted).
    pub fn has_ike_sa(self) -> bool {
        matches!(
            self,
            Self::QuickMode | Self::Established | Self::AnsweringQuickMode
        )
    }

    /// Whether the client is finished: nothing more will happen without a new [`IkeClient`].
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Failed | Self::Deleted)
    }
}

/// Datagrams the client dropped, by reason (each is otherwise silent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IkeClientCounters {
    /// Not from the relay, not IKE, or unparseable.
    pub ignored: u64,
    /// Wrong cookies for our exchange.
    pub wrong_cookies: u64,
    /// Tails that failed authentication, binding or replay checks.
    pub tail_rejected: u64,
    /// Messages that failed their exchange's checks (the exchange goes on: a genuine
    /// retransmission may still come).
    pub rejected: u64,
    /// Repeated answers.
    pub duplicates: u64,
}

enum State {
    AwaitMm2 {
        tail: Box<TailInitiator>,
        core: Box<MainModeInitiator>,
    },
    AwaitMm4 {
        session: TailSession,
        core: Box<MainModeInitiator>,
    },
    AwaitMm6 {
        session: TailSession,
        core: Box<MainModeInitiator>,
        c_spis: BundleSpis,
        nat: NatState,
    },
    AwaitQm2 {
        session: TailSession,
        p1: Box<Phase1Sa>,
        qm: QuickModeInitiator,
        /// The grant this quick mode offers (s-SPI-2) and sends with (c-SPI-2).
        grant: SpiGrant,
        /// c-SPI-1 of this quick mode.
        c_spis: BundleSpis,
        /// Grants for later quick modes.
        spare: VecDeque<SpiGrant>,
    },
    Established {
        session: TailSession,
        p1: Box<Phase1Sa>,
        spare: VecDeque<SpiGrant>,
        /// The qm2 we answered and our qm3, to answer a repeated qm2.
        last: Option<(Vec<u8>, Transmit)>,
    },
    /// Answering a quick mode the SGW started (its rekey): qm2 sent, waiting for qm3.
    RespondingQm {
        session: TailSession,
        p1: Box<Phase1Sa>,
        spare: VecDeque<SpiGrant>,
        qm: Box<QuickModeResponder>,
        grant: SpiGrant,
        c_spis: BundleSpis,
        /// qm1 as received (c-side) and our qm2, for a repeated qm1.
        qm1: Vec<u8>,
        qm2: Transmit,
    },
    Failed,
    /// The IKE SA was deleted (by us or by the SGW): nothing more to do.
    Deleted,
}

/// A live bundle, by its s-side SPIs.
#[derive(Clone, Copy, Debug)]
struct LiveChild {
    s_in: BundleSpis,
    s_out: BundleSpis,
    /// When to start its successor (auto-rekey), until done.
    soft: Option<Timestamp>,
    /// When its lifetime ends.
    hard: Timestamp,
}

impl LiveChild {
    fn new(sa: &ChildSa, now: Timestamp) -> Self {
        let secs = u64::from(sa.proposal.lifetime_secs);
        Self {
            s_in: sa.inbound_spis,
            s_out: sa.outbound_spis,
            soft: now.checked_add(Duration::from_secs(secs.saturating_mul(9) / 10)),
            hard: now.checked_add(Duration::from_secs(secs)).unwrap_or(now),
        }
    }
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
    transmits: VecDeque<Transmit>,
    events: VecDeque<IkeClientEvent>,
    counters: IkeClientCounters,
    /// Reauthentication, when enabled ([`IkeClient::enable_reauth`]).
    reauth: Option<ReauthTimer>,
}

/// When to replace the IKE SA by a new main mode.
#[derive(Clone, Copy, Debug)]
struct ReauthTimer {
    /// How long before the end of the IKE SA's lifetime to start (before jitter); `None`:
    /// 10 % of the negotiated lifetime.
    margin: Option<Duration>,
    /// When it is due (known once main mode completed).
    due: Option<Timestamp>,
    /// [`IkeClientEvent::ReauthDue`] was reported (once per timer).
    reported: bool,
}

impl ReauthTimer {
    /// The instant to reauthenticate for an IKE SA established at `now` with a lifetime of
    /// `lifetime_secs`: the lifetime minus the margin (default 10 %) minus a random jitter of
    /// up to half the margin, so that a client and an SGW with the same lifetime do not both
    /// start at once and the client, whose main mode the relay can carry, usually goes first
    /// (strongSwan's ipsec.conf defaults start between 90 % and 95 % of a 3 h lifetime).
    /// Never earlier than half the lifetime: a margin as long as the lifetime would otherwise
    /// reauthenticate in a loop.
    fn schedule<R: RngCore>(
        margin: Option<Duration>,
        now: Timestamp,
        lifetime_secs: u32,
        rng: &mut R,
    ) -> Option<Timestamp> {
        let life = Duration::from_secs(u64::from(lifetime_secs));
        let margin = margin.unwrap_or(life.checked_div(10).unwrap_or_default());
        let jitter_ms = u64::try_from(margin.as_millis() / 2).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(
            rng.next_u64()
                .checked_rem(jitter_ms.saturating_add(1))
                .unwrap_or(0),
        );
        let lead = margin
            .saturating_add(jitter)
            .min(life.checked_div(2).unwrap_or_default());
        now.checked_add(life.saturating_sub(lead))
    }
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

fn random_spi<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let s = rng.next_u32();
        if s > 255 {
            return s;
        }
    }
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
        let mut tail = TailInitiator::new(&config.static_key, &config.relay_key, &mut rng)?;
        let (core, mm1) = MainModeInitiator::start(config.phase1.clone(), config.relay, &mut rng)
            .map_err(IkeClientError::Phase1)?;
        let c_cookies = core.cookies();
        let items = Mm1Tail {
            user_id: config.user_id.clone(),
        }
        .encode()?;
        let body_len = items.len().saturating_add(MM1_OVERHEAD);
        let body = tail.write_mm1(&tail_aad(&mm1, TailType::HANDSHAKE, body_len), &items)?;
        let datagram = join(&mm1, TailType::HANDSHAKE, &body)?;
        let t = framed(config.local, config.relay, datagram);
        let client = Self {
            children: Vec::new(),
            rng,
            c_cookies,
            s_cookies: Cookies::new([0; 8], [0; 8]),
            s_path: (unspecified(config.relay), unspecified(config.relay)),
            state: State::AwaitMm2 {
                tail: Box::new(tail),
                core: Box::new(core),
            },
            pending: Some(Pending::new(t.clone(), now, &config.retransmit)),
            transmits: VecDeque::from([t]),
            events: VecDeque::new(),
            counters: IkeClientCounters::default(),
            reauth: None,
            config,
        };
        Ok(client)
    }

    /// Reauthenticate before the IKE SA's lifetime ends: `margin` before it (`None`: 10 % of
    /// the negotiated lifetime), minus a random jitter of up to half the margin. The client
    /// then reports [`IkeClientEvent::ReauthDue`] once (see [`Self::reauthenticate`]). Off by
    /// default: the IKE SA then ends with its lifetime at the SGW.
    pub fn enable_reauth(&mut self, margin: Option<Duration>) {
        self.reauth = Some(ReauthTimer {
            margin,
            due: None,
            reported: false,
        });
    }

    /// When the reauthentication is due, once main mode completed with it enabled.
    pub fn reauth_at(&self) -> Option<Timestamp> {
        self.reauth.and_then(|r| r.due)
    }

    /// Whether the IKE SA should be replaced now: it exists and its reauthentication time
    /// passed.
    pub fn reauth_due(&self, now: Timestamp) -> bool {
        self.phase().has_ike_sa() && self.reauth_at().is_some_and(|at| at <= now)
    }

    /// Re-arms the reauthentication for `at` (a successor failed and there is still time):
    /// [`IkeClientEvent::ReauthDue`] is reported again then.
    pub fn defer_reauth(&mut self, at: Timestamp) {
        if let Some(r) = self.reauth.as_mut() {
            r.due = Some(at);
            r.reported = false;
        }
    }

    /// The successor of this client for a reauthentication: a new main mode and quick mode
    /// through the relay with the same configuration and new cookies, but without
    /// INITIAL-CONTACT: that notification tells the SGW to delete every other IKE SA of our
    /// identity (RFC 2407 4.6.3.3), which would kill this client's bundles before the
    /// successor's exist. strongSwan's own IKEv1 reauthentication omits it too. The caller
    /// keeps this client until the successor's first bundle is installed, then ends it with
    /// [`Self::delete_phase1`].
    pub fn reauthenticate<R: RngCore + CryptoRng>(
        &self,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<IkeClient, IkeClientError> {
        let mut config = self.config.clone();
        config.phase1.initial_contact = false;
        let mut next = IkeClient::new(config, now, rng)?;
        if let Some(r) = self.reauth {
            next.enable_reauth(r.margin);
        }
        Ok(next)
    }

    /// The cookie pair on the c-side link (ours and the relay's; the responder half is zero
    /// until mm2): what the relay's messages for this exchange carry, so a caller running
    /// two clients (during a reauthentication) can tell whose a datagram is.
    pub fn relay_cookies(&self) -> Cookies {
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
    pub fn ike_sa(&self) -> Option<(Cookies, NatState)> {
        self.phase1().map(|p1| (p1.cookies, p1.nat))
    }

    /// Whether the client finished (established or failed) and waits for nothing.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    fn send(&mut self, now: Timestamp, message: Vec<u8>, retransmit: bool) -> Transmit {
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

    /// Feeds one received UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        if remote.ip() != self.config.relay.ip() {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        }
        let Some(ike) = ike_bytes(local, remote, payload) else {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        };
        let Ok(parts) = split(ike) else {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        };
        let message = parts.message;
        let h = message.header();
        if h.initiator_cookie().0 != self.c_cookies.initiator
            || (!matches!(self.state, State::AwaitMm2 { .. })
                && h.responder_cookie().0 != self.c_cookies.responder)
        {
            self.counters.wrong_cookies = self.counters.wrong_cookies.saturating_add(1);
            return;
        }
        // An unencrypted error notification ends the attempt (NO-PROPOSAL-CHOSEN before keys,
        // AUTHENTICATION-FAILED from a responder that could not verify us).
        if h.exchange_type() == ExchangeType::INFORMATIONAL && !message.is_encrypted() {
            if let Some(ty) = error_notification(&message) {
                self.fail(IkeClientError::Notified(ty));
            } else {
                self.counters.ignored = self.counters.ignored.saturating_add(1);
            }
            return;
        }
        let tail = parts
            .tail
            .map(|t| (t.tail_type(), t.header_bytes().to_vec(), t.body().to_vec()));
        let bytes = message.as_bytes().to_vec();
        let result = if h.exchange_type() == ExchangeType::INFORMATIONAL {
            self.on_informational(&bytes)
        } else {
            self.step(now, &bytes, tail)
        };
        match result {
            Ok(()) => {}
            Err(Step::Reject(kind)) => match kind {
                Reject::Tail => {
                    self.counters.tail_rejected = self.counters.tail_rejected.saturating_add(1)
                }
                Reject::Message => {
                    self.counters.rejected = self.counters.rejected.saturating_add(1)
                }
                Reject::Duplicate => {
                    self.counters.duplicates = self.counters.duplicates.saturating_add(1)
                }
                Reject::Unexpected => {
                    self.counters.ignored = self.counters.ignored.saturating_add(1)
                }
            },
            Err(Step::Fatal(e)) => self.fail(e),
        }
    }

    fn step(
        &mut self,
        now: Timestamp,
        msg: &[u8],
        tail: Option<(TailType, Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Step> {
        let state = core::mem::replace(&mut self.state, State::Failed);
        let (next, result) = self.advance(now, state, msg, tail);
        self.state = next;
        result
    }

    /// One transition. Always returns the state to keep: the old one when the message was
    /// refused (so a genuine retransmission can still complete the exchange).
    fn advance(
        &mut self,
        now: Timestamp,
        state: State,
        msg: &[u8],
        tail: Option<(TailType, Vec<u8>, Vec<u8>)>,
    ) -> (State, Result<(), Step>) {
        match state {
            State::AwaitMm2 {
                tail: mut tail_init,
                mut core,
            } => {
                let r = (|| {
                    let (ty, header, body) = tail.ok_or(Step::Reject(Reject::Tail))?;
                    if ty != TailType::HANDSHAKE {
                        return Err(Step::Reject(Reject::Tail));
                    }
                    let mut aad = msg.to_vec();
                    aad.extend_from_slice(&header);
                    let (session, items) = tail_init
                        .read_mm2(&aad, &body)
                        .map_err(|_| Step::Reject(Reject::Tail))?;
                    let mm2t = Mm2Tail::decode(&items).map_err(|e| Step::Fatal(e.into()))?;
                    let c_responder = Message::parse_exact(msg)
                        .map(|m| m.header().responder_cookie().0)
                        .map_err(|_| Step::Reject(Reject::Message))?;
                    // From here on the exchange is committed to these s-side values: the tail
                    // that carried them authenticated, and the Noise handshake is complete.
                    self.c_cookies.responder = c_responder;
                    self.s_cookies = mm2t.s_cookies;
                    core.set_initiator_cookie(mm2t.s_cookies.initiator);
                    core.set_nat_view(mm2t.relay_s, mm2t.sgw);
                    self.s_path = (mm2t.relay_s, mm2t.sgw);
                    let mm3 = core
                        .handle_mm2(&self.to_s_side(msg), &mut self.rng)
                        .map_err(|e| match phase1_step(e) {
                            // The handshake is spent: a bad mm2 behind a good tail cannot be
                            // retried, so it ends the attempt.
                            Step::Reject(_) => Step::Fatal(IkeClientError::Phase1(
                                Phase1Error::Unexpected("mm2 refused after its tail"),
                            )),
                            fatal => fatal,
                        })?;
                    let mm3 = self.to_c_side(mm3);
                    self.send(now, mm3, true);
                    Ok(session)
                })();
                match r {
                    Ok(session) => (State::AwaitMm4 { session, core }, Ok(())),
                    Err(e) => (
                        State::AwaitMm2 {
                            tail: tail_init,
                            core,
                        },
                        Err(e),
                    ),
                }
            }
            State::AwaitMm4 {
                mut session,
                mut core,
            } => {
                let r = (|| {
                    if tail.is_some() {
                        return Err(Step::Reject(Reject::Tail));
                    }
                    let mm5 = core
                        .handle_mm4(&self.to_s_side(msg), &mut self.rng)
                        .map_err(phase1_step)?;
                    let nat = core.nat().unwrap_or_default();
                    let c_spis = self.fresh_c_spis();
                    let items = Mm5Tail {
                        c_spis,
                        s_float: nat.float(),
                    }
                    .encode()
                    .map_err(|e| Step::Fatal(e.into()))?;
                    let mm5 = self.to_c_side(mm5);
                    let d = Self::with_tail(&mut session, mm5, &items).map_err(Step::Fatal)?;
                    self.send(now, d, true);
                    Ok((c_spis, nat))
                })();
                match r {
                    Ok((c_spis, nat)) => (
                        State::AwaitMm6 {
                            session,
                            core,
                            c_spis,
                            nat,
                        },
                        Ok(()),
                    ),
                    Err(e) => (State::AwaitMm4 { session, core }, Err(e)),
                }
            }
            State::AwaitMm6 {
                mut session,
                mut core,
                c_spis,
                nat,
            } => {
                let r = (|| {
                    let (ty, header, body) = tail.ok_or(Step::Reject(Reject::Tail))?;
                    if ty != TailType::TRANSPORT {
                        return Err(Step::Reject(Reject::Tail));
                    }
                    let mut aad = msg.to_vec();
                    aad.extend_from_slice(&header);
                    let items = session
                        .open(&aad, &body)
                        .map_err(|_| Step::Reject(Reject::Tail))?;
                    let grant = SpiGrant::decode(&items).map_err(|e| Step::Fatal(e.into()))?;
                    let p1 = core.handle_mm6(&self.to_s_side(msg)).map_err(phase1_step)?;
                    let qm = self.start_quick(now, &p1, nat.float(), grant.s_spi_offer)?;
                    if let Some(r) = self.reauth.as_mut() {
                        r.due = ReauthTimer::schedule(
                            r.margin,
                            now,
                            p1.suite.lifetime_secs,
                            &mut self.rng,
                        );
                    }
                    self.events.push_back(IkeClientEvent::Phase1Established {
                        cookies: p1.cookies,
                        nat,
                    });
                    Ok((Box::new(p1), qm, grant))
                })();
                match r {
                    Ok((p1, qm, grant)) => (
                        State::AwaitQm2 {
                            session,
                            p1,
                            qm,
                            grant,
                            c_spis,
                            spare: VecDeque::new(),
                        },
                        Ok(()),
                    ),
                    Err(e) => (
                        State::AwaitMm6 {
                            session,
                            core,
                            c_spis,
                            nat,
                        },
                        Err(e),
                    ),
                }
            }
            State::AwaitQm2 {
                mut session,
                p1,
                mut qm,
                grant,
                c_spis,
                mut spare,
            } => {
                let r = (|| {
                    // The relay's grant for the next quick mode rides on qm2.
                    let next_grant = match tail {
                        Some((TailType::TRANSPORT, header, body)) => {
                            let mut aad = msg.to_vec();
                            aad.extend_from_slice(&header);
                            let items = session
                                .open(&aad, &body)
                                .map_err(|_| Step::Reject(Reject::Tail))?;
                            Some(SpiGrant::decode(&items).map_err(|e| Step::Fatal(e.into()))?)
                        }
                        Some(_) => return Err(Step::Reject(Reject::Tail)),
                        None => None,
                    };
                    let (qm3, sa) = qm
                        .handle_qm2(&p1, &self.to_s_side(msg))
                        .map_err(phase2_step)?;
                    let s_udp_encap = sa.proposal.mode == Encapsulation::UdpTunnel;
                    let items = Qm3Tail {
                        s_spi_sgw: sa.outbound_spis,
                        s_spi_offer: grant.s_spi_offer,
                        c_spi_client: c_spis,
                        s_udp_encap,
                        c_udp_encap: self.config.c_udp_encap,
                        lifetime_secs: sa.proposal.lifetime_secs,
                    }
                    .encode()
                    .map_err(|e| Step::Fatal(e.into()))?;
                    let qm3 = self.to_c_side(qm3);
                    let d = Self::with_tail(&mut session, qm3, &items).map_err(Step::Fatal)?;
                    let t = self.send(now, d, false);
                    self.children.push(LiveChild::new(&sa, now));
                    self.events
                        .push_back(IkeClientEvent::ChildEstablished(Box::new(ClientChild {
                            sa,
                            c_spis_in: c_spis,
                            c_spis_out: grant.c_spi_relay,
                            s_udp_encap,
                            c_udp_encap: self.config.c_udp_encap,
                            relay: self.config.relay,
                            s_path: self.s_path,
                            we_initiated: true,
                        })));
                    Ok((t, next_grant))
                })();
                match r {
                    Ok((t, next_grant)) => {
                        spare.extend(next_grant);
                        (
                            State::Established {
                                session,
                                p1,
                                spare,
                                last: Some((msg.to_vec(), t)),
                            },
                            Ok(()),
                        )
                    }
                    Err(e) => (
                        State::AwaitQm2 {
                            session,
                            p1,
                            qm,
                            grant,
                            c_spis,
                            spare,
                        },
                        Err(e),
                    ),
                }
            }
            State::Established {
                mut session,
                p1,
                spare,
                last,
            } => {
                if let Some((qm2, qm3)) = &last {
                    if qm2.as_slice() == msg {
                        self.transmits.push_back(qm3.clone());
                        let state = State::Established {
                            session,
                            p1,
                            spare,
                            last,
                        };
                        return (state, Err(Step::Reject(Reject::Duplicate)));
                    }
                }
                // A quick mode the SGW starts (its rekey) comes with the relay's grant.
                match self.respond_quick(now, &mut session, &p1, msg, tail) {
                    Ok((qm, grant, c_spis, qm2)) => (
                        State::RespondingQm {
                            session,
                            p1,
                            spare,
                            qm: Box::new(qm),
                            grant,
                            c_spis,
                            qm1: msg.to_vec(),
                            qm2,
                        },
                        Ok(()),
                    ),
                    Err(e) => (
                        State::Established {
                            session,
                            p1,
                            spare,
                            last,
                        },
                        Err(e),
                    ),
                }
            }
            State::RespondingQm {
                session,
                p1,
                spare,
                mut qm,
                grant,
                c_spis,
                qm1,
                qm2,
            } => {
                if qm1.as_slice() == msg {
                    self.transmits.push_back(qm2.clone());
                    let state = State::RespondingQm {
                        session,
                        p1,
                        spare,
                        qm,
                        grant,
                        c_spis,
                        qm1,
                        qm2,
                    };
                    return (state, Err(Step::Reject(Reject::Duplicate)));
                }
                match qm.handle_qm3(&p1, &self.to_s_side(msg)) {
                    Ok(sa) => {
                        self.pending = None;
                        self.children.push(LiveChild::new(&sa, now));
                        let s_udp_encap = sa.proposal.mode == Encapsulation::UdpTunnel;
                        self.events
                            .push_back(IkeClientEvent::ChildEstablished(Box::new(ClientChild {
                                sa,
                                c_spis_in: c_spis,
                                c_spis_out: grant.c_spi_relay,
                                s_udp_encap,
                                c_udp_encap: self.config.c_udp_encap,
                                relay: self.config.relay,
                                s_path: self.s_path,
                                we_initiated: false,
                            })));
                        (
                            State::Established {
                                session,
                                p1,
                                spare,
                                last: None,
                            },
                            Ok(()),
                        )
                    }
                    Err(e) => (
                        State::RespondingQm {
                            session,
                            p1,
                            spare,
                            qm,
                            grant,
                            c_spis,
                            qm1,
                            qm2,
                        },
                        Err(phase2_step(e)),
                    ),
                }
            }
            State::Failed => (State::Failed, Err(Step::Reject(Reject::Unexpected))),
            State::Deleted => (State::Deleted, Err(Step::Reject(Reject::Unexpected))),
        }
    }

    /// An encrypted informational exchange from the SGW: DELETEs end bundles (we delete our
    /// half too and tell the relay in the tail of our DELETE); a DPD R-U-THERE is answered
    /// with R-U-THERE-ACK (RFC 3706), which needs no tail: the relay forwards it as it is.
    fn on_informational(&mut self, msg: &[u8]) -> Result<(), Step> {
        let s_msg = self.to_s_side(msg);
        let (info, acks, ike_gone) = {
            let p1 = self.phase1().ok_or(Step::Reject(Reject::Unexpected))?;
            let info = open_informational(p1, &s_msg).map_err(|_| Step::Reject(Reject::Message))?;
            // Only a DELETE naming our own cookie pair ends the IKE SA (strongSwan ignores
            // one for another IKE SA the same way).
            let ike_gone = info.ike_deletes.contains(&p1.cookies);
            let mut rng = self.rng.clone();
            let mut acks = Vec::new();
            for (ty, spi, data) in &info.notifies {
                if *ty == NotifyType::R_U_THERE {
                    let ack = notify_message(p1, &dpd_ack(spi, data), &mut rng)
                        .map_err(|e| Step::Fatal(e.into()))?;
                    acks.push(ack);
                }
            }
            self.rng = rng;
            (info, acks, ike_gone)
        };
        let answered = !acks.is_empty();
        for ack in acks {
            let ack = self.to_c_side(ack);
            let t = framed(self.config.local, self.config.relay, ack);
            self.transmits.push_back(t);
        }
        let mut ended = Vec::new();
        for (protocol, spis) in &info.deletes {
            for spi in spis {
                let hit = self.children.iter().position(|c| {
                    let out = if *protocol == crate::wire::isakmp::ProtocolId::IPSEC_AH {
                        c.s_out.ah
                    } else {
                        c.s_out.esp
                    };
                    out == Some(*spi)
                });
                if let Some(i) = hit {
                    ended.push(self.children.remove(i));
                }
            }
        }
        if ended.is_empty() && !ike_gone {
            return if answered {
                Ok(())
            } else {
                Err(Step::Reject(Reject::Unexpected))
            };
        }
        for child in ended {
            self.send_delete(&child).map_err(Step::Fatal)?;
            self.events.push_back(IkeClientEvent::ChildDeleted {
                s_spis_in: child.s_in,
                s_spis_out: child.s_out,
                by_peer: true,
            });
        }
        if ike_gone {
            // The SGW forgot the IKE SA; the relay still has its entry and only our tail can
            // tell it. A failure to build that message must not keep a dead SA alive: the
            // relay's entry then ends with its lifetime.
            if let Ok(t) = self.phase1_delete_datagram(true) {
                self.transmits.push_back(t);
            }
            self.close(true);
        }
        Ok(())
    }

    /// Our ISAKMP-SA DELETE (RFC 2408 section 3.15, SPI = the s-side cookie pair) with the
    /// tail that makes the relay forget the IKE entry. `s_deleted`: the SGW deleted it first,
    /// so the relay must not forward the message to it.
    fn phase1_delete_datagram(&mut self, s_deleted: bool) -> Result<Transmit, IkeClientError> {
        let (message, s_cookies) = {
            let p1 = self.phase1().ok_or(IkeClientError::NotReady)?;
            let mut rng = self.rng.clone();
            let m = delete_phase1_message(p1, &mut rng)?;
            let cookies = p1.cookies;
            self.rng = rng;
            (m, cookies)
        };
        let message = self.to_c_side(message);
        let items = IkeRetireTail {
            s_cookies,
            s_deleted,
        }
        .encode()?;
        let session = self.session().ok_or(IkeClientError::NotReady)?;
        let d = Self::with_tail(session, message, &items)?;
        Ok(framed(self.config.local, self.config.relay, d))
    }

    /// Ends the IKE SA locally: bundles still live end with it, nothing is retransmitted.
    fn close(&mut self, by_peer: bool) {
        let cookies = self.phase1().map(|p1| p1.cookies).unwrap_or(self.s_cookies);
        for child in core::mem::take(&mut self.children) {
            self.events.push_back(IkeClientEvent::ChildDeleted {
                s_spis_in: child.s_in,
                s_spis_out: child.s_out,
                by_peer,
            });
        }
        self.state = State::Deleted;
        self.pending = None;
        self.events
            .push_back(IkeClientEvent::Phase1Deleted { cookies, by_peer });
    }

    /// Deletes the IKE SA itself, as `swanctl --terminate` does: a DELETE for every live
    /// bundle first (each retiring its relay entry), then the ISAKMP-SA DELETE, whose tail
    /// makes the relay forward it and forget the IKE entry. Without it the SGW would keep the
    /// IKE SA and refuse or confuse the next main mode from the same identity. The DELETEs
    /// are queued for [`Self::poll_transmit`]; the client is finished afterwards
    /// ([`IkeClientEvent::Phase1Deleted`]). `NotReady` before main mode completed (there is no
    /// IKE SA to delete yet).
    pub fn delete_phase1(&mut self) -> Result<(), IkeClientError> {
        if self.phase1().is_none() {
            return Err(IkeClientError::NotReady);
        }
        let all: Vec<BundleSpis> = self.children.iter().map(|c| c.s_in).collect();
        for s_in in all {
            self.delete_child(s_in)?;
        }
        let t = self.phase1_delete_datagram(false)?;
        // IKEv1 informational exchanges are not acknowledged, so not retransmitted.
        self.transmits.push_back(t);
        self.close(false);
        Ok(())
    }

    /// SKEYID and SKEYID_d/a/e of the current IKE SA, if one is established. For audits and
    /// tests that check where key material ends up (the relay must never hold it).
    pub fn phase1_keys(&self) -> Option<&crate::ike::crypto::Phase1Keys> {
        self.phase1().map(|p1| &p1.keys)
    }

    fn phase1(&self) -> Option<&Phase1Sa> {
        match &self.state {
            State::Established { p1, .. }
            | State::AwaitQm2 { p1, .. }
            | State::RespondingQm { p1, .. } => Some(p1),
            _ => None,
        }
    }

    fn session(&mut self) -> Option<&mut TailSession> {
        match &mut self.state {
            State::Established { session, .. }
            | State::AwaitQm2 { session, .. }
            | State::RespondingQm { session, .. } => Some(session),
            _ => None,
        }
    }

    /// Sends our DELETE for `child`'s inbound SPIs, with a tail naming it for the relay.
    fn send_delete(&mut self, child: &LiveChild) -> Result<(), IkeClientError> {
        use crate::wire::isakmp::ProtocolId;
        let deletes: Vec<(ProtocolId, Vec<u32>)> = [
            (ProtocolId::IPSEC_AH, child.s_in.ah),
            (ProtocolId::IPSEC_ESP, child.s_in.esp),
        ]
        .into_iter()
        .filter_map(|(p, spi)| spi.map(|s| (p, vec![s])))
        .collect();
        let message = {
            let p1 = self.phase1().ok_or(IkeClientError::NotReady)?;
            let mut rng = self.rng.clone();
            let m = delete_message(p1, &deletes, &mut rng)?;
            self.rng = rng;
            m
        };
        let message = self.to_c_side(message);
        let items = RetireTail {
            s_spi_2: child.s_in,
        }
        .encode()?;
        let session = self.session().ok_or(IkeClientError::NotReady)?;
        let d = Self::with_tail(session, message, &items)?;
        let t = framed(self.config.local, self.config.relay, d);
        // IKEv1 informational exchanges are not acknowledged, so not retransmitted.
        self.transmits.push_back(t);
        Ok(())
    }

    /// Deletes a bundle we no longer need (after a rekey, when the old one's lifetime ends):
    /// sends DELETE to the SGW with a tail that makes the relay retire its entry.
    /// `s_spis_in` names the bundle by its inbound s-side SPIs (`ClientChild::sa.inbound_spis`).
    pub fn delete_child(&mut self, s_spis_in: BundleSpis) -> Result<(), IkeClientError> {
        let i = self
            .children
            .iter()
            .position(|c| c.s_in == s_spis_in)
            .ok_or(IkeClientError::NotReady)?;
        let child = self.children.remove(i);
        if let Err(e) = self.send_delete(&child) {
            self.children.insert(i, child);
            return Err(e);
        }
        self.events.push_back(IkeClientEvent::ChildDeleted {
            s_spis_in: child.s_in,
            s_spis_out: child.s_out,
            by_peer: false,
        });
        Ok(())
    }

    /// Answers an SGW-initiated quick mode: the relay's grant in the tail gives the s-side SPI
    /// we offer in qm2 and the c-side SPI we send with; qm2's tail reports the bundle to the
    /// relay (it is complete from our side once qm2 is sent).
    fn respond_quick(
        &mut self,
        now: Timestamp,
        session: &mut TailSession,
        p1: &Phase1Sa,
        msg: &[u8],
        tail: Option<(TailType, Vec<u8>, Vec<u8>)>,
    ) -> Result<(QuickModeResponder, SpiGrant, BundleSpis, Transmit), Step> {
        let is_quick = Message::parse_exact(msg)
            .map(|m| m.header().exchange_type() == ExchangeType::QUICK_MODE)
            .unwrap_or(false);
        if !is_quick {
            return Err(Step::Reject(Reject::Unexpected));
        }
        let Some((TailType::TRANSPORT, header, body)) = tail else {
            return Err(Step::Reject(Reject::Tail));
        };
        let mut aad = msg.to_vec();
        aad.extend_from_slice(&header);
        let items = session
            .open(&aad, &body)
            .map_err(|_| Step::Reject(Reject::Tail))?;
        let grant = SpiGrant::decode(&items).map_err(|e| Step::Fatal(e.into()))?;
        let float = p1.nat.float();
        let config = ChildConfig {
            proposals: self
                .config
                .child
                .proposals
                .iter()
                .map(|p| ChildProposal {
                    mode: if float {
                        Encapsulation::UdpTunnel
                    } else {
                        Encapsulation::Tunnel
                    },
                    ..*p
                })
                .collect(),
            ..self.config.child.clone()
        };
        let (qm, qm2) = QuickModeResponder::handle_qm1(
            p1,
            &config,
            grant.s_spi_offer,
            &self.to_s_side(msg),
            &mut self.rng,
        )
        .map_err(phase2_step)?;
        let child = qm.pending_child().ok_or(Step::Reject(Reject::Message))?;
        let c_spis = self.fresh_c_spis();
        let items = Qm3Tail {
            s_spi_sgw: child.outbound_spis,
            s_spi_offer: grant.s_spi_offer,
            c_spi_client: c_spis,
            s_udp_encap: child.proposal.mode == Encapsulation::UdpTunnel,
            c_udp_encap: self.config.c_udp_encap,
            lifetime_secs: child.proposal.lifetime_secs,
        }
        .encode()
        .map_err(|e| Step::Fatal(e.into()))?;
        let qm2 = self.to_c_side(qm2);
        let d = Self::with_tail(session, qm2, &items).map_err(Step::Fatal)?;
        let t = self.send(now, d, true);
        Ok((qm, grant, c_spis, t))
    }

    /// Starts a quick mode offering the relay's granted s-side SPIs; sends qm1.
    fn start_quick(
        &mut self,
        now: Timestamp,
        p1: &Phase1Sa,
        float: bool,
        s_spis: BundleSpis,
    ) -> Result<QuickModeInitiator, Step> {
        let child_config = ChildConfig {
            proposals: self
                .config
                .child
                .proposals
                .iter()
                .map(|p| ChildProposal {
                    mode: if float {
                        Encapsulation::UdpTunnel
                    } else {
                        Encapsulation::Tunnel
                    },
                    ..*p
                })
                .collect(),
            ..self.config.child.clone()
        };
        let (qm, qm1) = QuickModeInitiator::start(p1, child_config, s_spis, &mut self.rng)
            .map_err(|e| Step::Fatal(e.into()))?;
        let qm1 = self.to_c_side(qm1);
        self.send(now, qm1, true);
        Ok(qm)
    }

    /// Starts a new quick mode under the established IKE SA (rekeying), using the SPI grant
    /// the previous quick mode brought. The new bundle arrives as another
    /// [`IkeClientEvent::ChildEstablished`]; the caller retires the old one when its lifetime
    /// ends (the relay's entries follow the same rule).
    pub fn rekey(&mut self, now: Timestamp) -> Result<(), IkeClientError> {
        if !matches!(&self.state, State::Established { spare, .. } if !spare.is_empty()) {
            return Err(IkeClientError::NotReady);
        }
        let State::Established {
            session,
            p1,
            mut spare,
            last,
        } = core::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(IkeClientError::NotReady);
        };
        let Some(grant) = spare.pop_front() else {
            self.state = State::Established {
                session,
                p1,
                spare,
                last,
            };
            return Err(IkeClientError::NotReady);
        };
        let c_spis = self.fresh_c_spis();
        let float = p1.nat.float();
        match self.start_quick(now, &p1, float, grant.s_spi_offer) {
            Ok(qm) => {
                self.state = State::AwaitQm2 {
                    session,
                    p1,
                    qm,
                    grant,
                    c_spis,
                    spare,
                };
                Ok(())
            }
            Err(Step::Fatal(e)) => {
                self.fail(e.clone());
                Err(e)
            }
            Err(Step::Reject(_)) => Err(IkeClientError::NotReady),
        }
    }

    /// New c-side inbound SPIs for the protocols our proposals use.
    fn fresh_c_spis(&mut self) -> BundleSpis {
        let uses = |f: fn(&ChildProposal) -> bool| self.config.child.proposals.iter().any(f);
        let (esp, ah) = (uses(|p| p.esp.is_some()), uses(|p| p.ah.is_some()));
        BundleSpis {
            esp: esp.then(|| random_spi(&mut self.rng)),
            ah: ah.then(|| random_spi(&mut self.rng)),
        }
    }

    /// Retransmits the pending request (or fails after the last retransmission), and with
    /// `auto_rekey` rekeys bundles at 90 % of their lifetime and deletes them at its end.
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
        if self.reauth_due(now) {
            if let Some(r) = self.reauth.as_mut().filter(|r| !r.reported) {
                r.reported = true;
                self.events.push_back(IkeClientEvent::ReauthDue);
            }
        }
        if !self.config.auto_rekey {
            return;
        }
        let expired: Vec<BundleSpis> = self
            .children
            .iter()
            .filter(|c| c.hard <= now)
            .map(|c| c.s_in)
            .collect();
        for s_in in expired {
            // A failure here leaves the bundle to the SGW's own expiry.
            let _ = self.delete_child(s_in);
        }
        let due = self
            .children
            .iter()
            .position(|c| c.soft.is_some_and(|s| s <= now));
        if let Some(i) = due {
            match self.rekey(now) {
                Ok(()) => {
                    if let Some(c) = self.children.get_mut(i) {
                        c.soft = None;
                    }
                }
                // Another quick mode runs or no grant yet: try again shortly.
                Err(_) => {
                    if let Some(c) = self.children.get_mut(i) {
                        c.soft = now.checked_add(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let lifetimes = self
            .children
            .iter()
            .filter(|_| self.config.auto_rekey)
            .flat_map(|c| [c.soft, Some(c.hard)])
            .flatten();
        let reauth = self
            .reauth
            .filter(|r| !r.reported && self.phase().has_ike_sa())
            .and_then(|r| r.due);
        self.pending
            .as_ref()
            .map(|p| p.deadline)
            .into_iter()
            .chain(lifetimes)
            .chain(reauth)
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IkeClientEvent> {
        self.events.pop_front()
    }
}

/// Outcome of a refused message.
enum Step {
    /// Drop and count; keep waiting.
    Reject(Reject),
    /// End the attempt.
    Fatal(IkeClientError),
}

enum Reject {
    Tail,
    Message,
    Duplicate,
    Unexpected,
}

/// Authentication failures end the attempt (a wrong PSK never gets better); malformed or
/// forged messages are dropped so a genuine retransmission can still succeed.
fn phase1_step(e: Phase1Error) -> Step {
    match e {
        Phase1Error::AuthenticationFailed
        | Phase1Error::Proposal(_)
        | Phase1Error::UntrustedCertificate
        | Phase1Error::IdentityMismatch
        | Phase1Error::NoCredentials(_)
        | Phase1Error::Notified(_) => Step::Fatal(IkeClientError::Phase1(e)),
        _ => Step::Reject(Reject::Message),
    }
}

fn phase2_step(e: Phase2Error) -> Step {
    match e {
        Phase2Error::Proposal(_) | Phase2Error::TrafficSelectors => {
            Step::Fatal(IkeClientError::Phase2(e))
        }
        _ => Step::Reject(Reject::Message),
    }
}

/// The first error-range notification (type < 16384) of an unencrypted message.
fn error_notification(message: &Message<'_>) -> Option<NotifyType> {
    let chain = super::phase1::Chain::plaintext(message).ok()?;
    let found = chain.all(PayloadType::NOTIFICATION).find_map(|n| {
        let b = n.body.get(6..8)?;
        let ty = NotifyType(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
        (ty.0 < 16384).then_some(ty)
    });
    found
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm, SecretBytes};
    use crate::ike::dh::DhGroup;
    use crate::ike::phase1::{Phase1Auth, Phase1Credentials, Phase1Proposal};
    use crate::ike::phase2::{EspCipher, Integrity};
    use crate::wire::isakmp::{IdRepr, IdType};

    fn config(rng: &mut StdRng) -> IkeClientConfig {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)), 4500);
        IkeClientConfig {
            local,
            relay: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 4500),
            static_key: StaticKeypair::generate(rng),
            relay_key: StaticKeypair::generate(rng).public(),
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: b"alice@example.com".to_vec(),
            },
            phase1: Phase1Config {
                suites: vec![Phase1Proposal {
                    cipher: IkeCipherAlgorithm::Aes128Cbc,
                    hash: HashAlgorithm::Sha256,
                    group: DhGroup::MODP_2048,
                    auth: Phase1Auth::PreSharedKey,
                    lifetime_secs: 10_800,
                }],
                credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(b"psk")),
                local_id: IdRepr::user_fqdn("alice@example.com"),
                local_addr: local,
                initial_contact: true,
            },
            child: ChildConfig {
                proposals: vec![ChildProposal {
                    esp: Some((EspCipher::AesCbc128, Some(Integrity::HmacSha256_128))),
                    ah: None,
                    pfs: None,
                    mode: Encapsulation::Tunnel,
                    lifetime_secs: 3600,
                }],
                local_ts: IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into()),
                remote_ts: IdRepr::ipv4_subnet(
                    Ipv4Addr::new(10, 9, 0, 0),
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
            },
            c_udp_encap: true,
            retransmit: RetransmitPolicy {
                initial: Duration::from_secs(1),
                max_retransmissions: 2,
            },
            auto_rekey: false,
        }
    }

    #[test]
    fn a_new_client_is_in_main_mode_and_refuses_rekey_and_delete() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Timestamp::ZERO;
        let mut client = IkeClient::new(config(&mut rng), now, &mut rng).unwrap();
        assert_eq!(client.phase(), IkePhase::MainMode);
        assert!(!client.phase().has_ike_sa());
        assert!(client.ike_sa().is_none());
        assert!(client.poll_transmit().is_some(), "mm1 queued");
        assert_eq!(client.rekey(now), Err(IkeClientError::NotReady));
        assert_eq!(client.delete_phase1(), Err(IkeClientError::NotReady));
        // Neither refusal changed anything.
        assert_eq!(client.phase(), IkePhase::MainMode);
        assert!(client.poll_transmit().is_none());
        assert!(client.poll_event().is_none());
    }

    #[test]
    fn an_unanswered_client_ends_in_the_failed_phase() {
        let mut rng = StdRng::seed_from_u64(2);
        let start = Timestamp::ZERO;
        let mut client = IkeClient::new(config(&mut rng), start, &mut rng).unwrap();
        assert!(client.poll_transmit().is_some(), "mm1");
        let mut sent = 0;
        while let Some(at) = client.poll_timeout() {
            client.handle_timeout(at);
            while client.poll_transmit().is_some() {
                sent += 1;
            }
        }
        assert_eq!(sent, 2, "two retransmissions of mm1");
        assert_eq!(client.phase(), IkePhase::Failed);
        assert!(client.phase().is_finished());
        assert!(matches!(
            client.poll_event(),
            Some(IkeClientEvent::Failed(IkeClientError::Timeout(2)))
        ));
    }

    #[test]
    fn reauthentication_is_scheduled_before_the_lifetime_ends_with_jitter() {
        let mut rng = StdRng::seed_from_u64(3);
        let now = Timestamp::ZERO;
        let life = 10_800u32;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            // Default margin: 10 % of the lifetime, plus up to 5 % jitter.
            let at = ReauthTimer::schedule(None, now, life, &mut rng).unwrap();
            let lead = Duration::from_secs(u64::from(life)) - (at - now);
            assert!(lead >= Duration::from_secs(1080), "{lead:?}");
            assert!(lead <= Duration::from_secs(1620), "{lead:?}");
            seen.insert(lead.as_millis());
        }
        assert!(seen.len() > 150, "jitter varies: {} distinct", seen.len());
        // An explicit margin.
        let at = ReauthTimer::schedule(Some(Duration::from_secs(60)), now, life, &mut rng).unwrap();
        let lead = Duration::from_secs(u64::from(life)) - (at - now);
        assert!((60..=90).contains(&lead.as_secs()), "{lead:?}");
        // A margin as long as the lifetime never reauthenticates before half of it.
        let at =
            ReauthTimer::schedule(Some(Duration::from_secs(20_000)), now, life, &mut rng).unwrap();
        assert_eq!(at - now, Duration::from_secs(5400));
    }

    #[test]
    fn reauthentication_needs_an_ike_sa_and_its_successor_omits_initial_contact() {
        let mut rng = StdRng::seed_from_u64(4);
        let now = Timestamp::ZERO;
        let mut client = IkeClient::new(config(&mut rng), now, &mut rng).unwrap();
        client.enable_reauth(None);
        // In main mode: no timer yet, nothing due however late.
        assert_eq!(client.reauth_at(), None);
        let late = now + Duration::from_secs(100_000);
        assert!(!client.reauth_due(late));
        // Forcing a time does not make it due without an IKE SA either.
        client.defer_reauth(now);
        assert!(!client.reauth_due(late));
        let _ = client.poll_transmit();
        client.handle_timeout(now + Duration::from_millis(1));
        assert!(
            !std::iter::from_fn(|| client.poll_event())
                .any(|e| matches!(e, IkeClientEvent::ReauthDue)),
            "no ReauthDue in main mode"
        );
        // The successor: new cookies, same settings, no INITIAL-CONTACT.
        let next = client.reauthenticate(now, &mut rng).unwrap();
        assert_ne!(
            next.relay_cookies().initiator,
            client.relay_cookies().initiator
        );
        assert!(client.config.phase1.initial_contact);
        assert!(!next.config.phase1.initial_contact);
        assert!(next.reauth.is_some(), "reauth stays enabled");
        assert_eq!(next.phase(), IkePhase::MainMode);
    }

    /// Client, relay and test-SGW of the core exchanging datagrams in memory (no loss).
    struct Lab {
        relay: crate::ike::IkeRelay,
        spis: crate::relay::StandaloneSpis,
        sgw: crate::ike::TestSgw,
        clients: Vec<IkeClient>,
        events: Vec<IkeClientEvent>,
        now: Timestamp,
    }

    const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
    const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

    impl Lab {
        fn new(rng: &mut StdRng) -> (Self, IkeClientConfig) {
            use crate::ike::{IdentityRule, IkeRelayConfig, TestSgw, TestSgwConfig};
            let mut client = config(rng);
            client.relay = SocketAddr::new(IpAddr::V4(RELAY_C), 4500);
            let relay_key = StaticKeypair::generate(rng);
            client.relay_key = relay_key.public();
            let mut relay = crate::ike::IkeRelay::new(
                IkeRelayConfig {
                    c_side: SocketAddr::new(IpAddr::V4(RELAY_C), 500),
                    s_side: IpAddr::V4(RELAY_S),
                    static_key: relay_key,
                    authorised_clients: Vec::new(),
                    identities: vec![IdentityRule {
                        id_type: Some(IdType::USER_FQDN),
                        pattern: "*@example.com".into(),
                        sgw: SocketAddr::new(IpAddr::V4(SGW), 500),
                        s_side: None,
                    }],
                    half_open_timeout: Duration::from_secs(30),
                },
                rng,
            );
            relay.authorise_client(client.static_key.public());
            let sgw = TestSgw::new(
                TestSgwConfig {
                    phase1: Phase1Config {
                        local_id: IdRepr::address(IpAddr::V4(SGW)),
                        local_addr: SocketAddr::new(IpAddr::V4(SGW), 500),
                        initial_contact: false,
                        ..client.phase1.clone()
                    },
                    child: ChildConfig {
                        local_ts: client.child.remote_ts.clone(),
                        remote_ts: client.child.local_ts.clone(),
                        ..client.child.clone()
                    },
                    retransmit: RetransmitPolicy::default(),
                },
                rng,
            );
            let lab = Self {
                relay,
                spis: crate::relay::StandaloneSpis::new(1),
                sgw,
                clients: Vec::new(),
                events: Vec::new(),
                now: Timestamp::ZERO,
            };
            (lab, client)
        }

        /// Delivers datagrams until none is left.
        fn settle(&mut self) {
            for _ in 0..100 {
                let mut flight = Vec::new();
                for c in &mut self.clients {
                    flight.extend(std::iter::from_fn(|| c.poll_transmit()));
                    self.events.extend(std::iter::from_fn(|| c.poll_event()));
                }
                flight.extend(std::iter::from_fn(|| self.relay.poll_transmit()));
                flight.extend(std::iter::from_fn(|| self.sgw.poll_transmit()));
                while self.relay.poll_event().is_some() {}
                while self.sgw.poll_event().is_some() {}
                if flight.is_empty() {
                    return;
                }
                for t in flight {
                    let (local, remote) = (t.remote, t.local);
                    match local.ip() {
                        IpAddr::V4(ip) if ip == RELAY_C || ip == RELAY_S => self
                            .relay
                            .handle_datagram(self.now, local, remote, &t.payload, &mut self.spis),
                        IpAddr::V4(ip) if ip == SGW => self
                            .sgw
                            .handle_datagram(self.now, local, remote, &t.payload),
                        _ => {
                            for c in &mut self.clients {
                                c.handle_datagram(self.now, local, remote, &t.payload);
                            }
                        }
                    }
                }
            }
            panic!("no quiet");
        }

        fn take_events(&mut self) -> Vec<IkeClientEvent> {
            core::mem::take(&mut self.events)
        }
    }

    #[test]
    fn reauth_due_is_reported_once_before_the_lifetime_ends_and_the_successor_takes_over() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut lab, config) = Lab::new(&mut rng);
        let start = lab.now;
        let mut first = IkeClient::new(config, start, &mut rng).unwrap();
        first.enable_reauth(None);
        lab.clients.push(first);
        lab.settle();
        assert_eq!(lab.clients[0].phase(), IkePhase::Established);
        // 10 800 s lifetime: due between 85 % and 90 % of it.
        let at = lab.clients[0].reauth_at().expect("armed at main mode");
        assert!(at >= start + Duration::from_secs(9180), "{:?}", at - start);
        assert!(at <= start + Duration::from_secs(9720), "{:?}", at - start);
        assert_eq!(lab.clients[0].poll_timeout(), Some(at), "the next timer");
        assert!(!lab.clients[0].reauth_due(at - Duration::from_millis(1)));
        assert!(lab.clients[0].reauth_due(at));
        lab.take_events();
        // Not yet, then exactly once.
        lab.clients[0].handle_timeout(at - Duration::from_millis(1));
        lab.now = at;
        lab.clients[0].handle_timeout(at);
        lab.clients[0].handle_timeout(at + Duration::from_secs(1));
        lab.settle();
        let due = lab
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, IkeClientEvent::ReauthDue))
            .count();
        assert_eq!(due, 1);
        assert_eq!(lab.clients[0].poll_timeout(), None, "nothing more to time");
        // The successor: a second session of the same client through the relay.
        let next = lab.clients[0].reauthenticate(lab.now, &mut rng).unwrap();
        lab.clients.push(next);
        lab.settle();
        assert_eq!(lab.clients[1].phase(), IkePhase::Established);
        assert_eq!(lab.relay.sessions(), 2);
        assert_eq!(
            lab.sgw.ike_sas(),
            2,
            "the SGW kept the old IKE SA (no INITIAL-CONTACT)"
        );
        let (old, _) = lab.clients[0].ike_sa().unwrap();
        let (new, _) = lab.clients[1].ike_sa().unwrap();
        assert_ne!(old, new);
        // Break after make: the old IKE SA goes, at the SGW and at the relay.
        lab.clients[0].delete_phase1().unwrap();
        lab.settle();
        assert_eq!(lab.sgw.ike_sas(), 1);
        assert_eq!(lab.relay.sessions(), 1);
        assert_eq!(lab.clients[1].phase(), IkePhase::Established);
        // The successor's own timer is armed from its own main mode.
        assert!(lab.clients[1].reauth_at().unwrap() > at + Duration::from_secs(9000));
    }

    #[test]
    fn which_failures_are_worth_a_restart() {
        assert!(IkeClientError::Timeout(5).is_retryable());
        assert!(IkeClientError::Notified(NotifyType::INVALID_SPI).is_retryable());
        assert!(!IkeClientError::Notified(NotifyType::NO_PROPOSAL_CHOSEN).is_retryable());
        assert!(!IkeClientError::Phase1(Phase1Error::AuthenticationFailed).is_retryable());
        assert!(!IkeClientError::Phase2(Phase2Error::TrafficSelectors).is_retryable());
        assert!(!IkeClientError::NotReady.is_retryable());
    }

    #[test]
    fn phases_with_an_ike_sa() {
        use IkePhase::*;
        let with: Vec<_> = [
            MainMode,
            QuickMode,
            Established,
            AnsweringQuickMode,
            Failed,
            Deleted,
        ]
        .into_iter()
        .filter(|p| p.has_ike_sa())
        .collect();
        assert_eq!(with, [QuickMode, Established, AnsweringQuickMode]);
        assert!(Failed.is_finished() && Deleted.is_finished() && !Established.is_finished());
    }
}
