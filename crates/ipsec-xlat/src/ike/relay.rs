//! `Relay`: the relay's IKE side, sans-IO. It translates IKE headers between the client link
//! (c-side) and the SGW link (s-side) with cookies as the index, runs the tail channel with
//! each client, and produces the translation entries the datapath needs. It holds no IKE or
//! IPsec key: only its static tail key and, per client, a [`TailSession`].
//!
//! Per message (c = client link, s = SGW link):
//!
//! | msg | relay does |
//! | --- | --- |
//! | mm1 c→s | authorise the client (tail handshake), pick the SGW from the identification table, choose the s-side address (the rule's, the user's surrogate from the pool, or the default) and s-side CKY-I, strip the tail, forward |
//! | mm2 s→c | record the SGW's CKY-R, choose c-side CKY-R, answer the handshake with SGW, s-address and s-cookies, report an [`IkeTranslation`] |
//! | mm3, mm4 | header translation only |
//! | mm5 c→s | tail: c-SPI-1 and whether to float to 4500; strip, forward (on 4500 if so) |
//! | mm6 s→c | allocate s-SPI-2 and c-SPI-2 per protocol (an SPI grant), tail them to the client |
//! | qm1 c→s | header translation only |
//! | qm2 s→c (first SGW message of any quick mode) | header translation, plus a fresh grant for the next quick mode |
//! | qm3 c→s | tail: s-SPI-3, the grant used, c-SPI-1, encapsulations; report an [`IpsecTranslation`]; strip, forward |
//!
//! | informational c→s (the client's DELETE) | tail: s-SPI-2 of the bundle that ended; report [`IkeRelayEvent::IpsecRetired`] (the relay role drains the entry 5 s, then frees its SPIs); strip, forward |
//! | informational c→s (the client's ISAKMP-SA DELETE) | tail: the s-side cookies; strip, forward (not if the SGW deleted first), forget the session, report [`IkeRelayEvent::IkeRetired`] |
//!
//! Rekeying is a new quick mode under the same IKE SA: it uses the grant the previous one
//! brought and yields a new [`IpsecTranslation`]; the datapath retires the old entry when its
//! lifetime ends.
//!
//! Unknown cookies, missing or unauthentic tails, unauthorised clients and users without an
//! SGW are dropped and counted, never reflected. A datagram repeated byte for byte is answered
//! with what the first one produced (the tail replay window would otherwise refuse it).

use crate::time::Timestamp;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;
use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::crypto::Cookies;
use super::endpoint::{framed, ike_bytes, set_cookies, tail_aad, IkeDatagram, NAT_T_PORT};
use super::phase1::{chosen_lifetime, Chain};
use super::phase2::BundleSpis;
use super::tail_content::{
    IkeRetireTail, Mm1Tail, Mm2Tail, Mm5Tail, Qm3Tail, RetireTail, SpiGrant, UserId,
};
use super::tail_crypto::{
    StaticKeypair, StaticPublicKey, TailCryptoError, TailResponder, TailSession, MM2_OVERHEAD,
    TRANSPORT_OVERHEAD,
};
use crate::wire::isakmp::{ExchangeType, PayloadType, SaPayload};
use crate::wire::tail::{join, split, TailType};

mod admission;
mod identity;
mod pool;
mod spis;

pub use admission::AdmissionLimits;
use admission::{Admission, Refused};

pub use identity::{AddressPrefix, IdentityMatch, IdentityRule};
use pool::{Holder, SurrogatePool};
pub use spis::SpiAllocator;

/// Relay configuration.
#[derive(Clone, Debug)]
pub struct IkeRelayConfig {
    /// The c-side IKE address and port clients send to.
    pub c_side: SocketAddr,
    /// The default s-side address (IKE from port 500, 4500 after floating).
    pub s_side: IpAddr,
    /// Our static tail key.
    pub static_key: StaticKeypair,
    /// Clients allowed to use the relay, by static key.
    pub authorised_clients: Vec<StaticPublicKey>,
    /// The identification table, first match wins.
    pub identities: Vec<IdentityRule>,
    /// How long an IKE session may stay without the SGW's mm2 before it is forgotten.
    pub half_open_timeout: Duration,
}

/// The IKE translation entry, reported when mm2 completes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeTranslation {
    /// The client's address.
    pub client: SocketAddr,
    /// Our c-side address.
    pub relay_c: SocketAddr,
    /// Cookies on the c-side.
    pub c_cookies: Cookies,
    /// Our s-side address.
    pub relay_s: SocketAddr,
    /// The SGW.
    pub sgw: SocketAddr,
    /// Cookies on the s-side.
    pub s_cookies: Cookies,
    /// The user the client identified as.
    pub user: UserId,
}

/// The IPsec translation entry, reported when qm3 completes it: everything the datapath's
/// translation table needs, and no key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpsecTranslation {
    /// The client's address (where c-side packets go).
    pub client: SocketAddr,
    /// Our c-side address.
    pub relay_c: SocketAddr,
    /// Our s-side address (IKE address; ESP-in-UDP uses port 4500 when `s_udp_encap`).
    pub relay_s: SocketAddr,
    /// The SGW.
    pub sgw: SocketAddr,
    /// c-SPI-1: SPIs on packets we send to the client.
    pub c_spi_1: BundleSpis,
    /// c-SPI-2: SPIs on packets the client sends us.
    pub c_spi_2: BundleSpis,
    /// s-SPI-2: SPIs on packets the SGW sends us.
    pub s_spi_2: BundleSpis,
    /// s-SPI-3: SPIs on packets we send to the SGW.
    pub s_spi_3: BundleSpis,
    /// ESP/AH on the s-side in UDP.
    pub s_udp_encap: bool,
    /// ESP/AH on the c-side in UDP.
    pub c_udp_encap: bool,
    /// Negotiated lifetime of the bundle in seconds: the entry is retired after it (a rekey
    /// makes its successor before then).
    pub lifetime_secs: u32,
}

/// What the relay reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IkeRelayEvent {
    /// An IKE translation entry is complete.
    IkeTranslation(IkeTranslation),
    /// An IPsec translation entry is complete.
    IpsecTranslation(IpsecTranslation),
    /// An SA bundle ended (the client's DELETE said so): retire the IPsec translation entry
    /// whose s-SPI-2 this is. Its SPIs come free when that entry leaves the table.
    IpsecRetired {
        /// The client.
        client: SocketAddr,
        /// s-SPI-2 of the ended bundle.
        s_spi_2: BundleSpis,
        /// c-SPI-2 of the ended bundle.
        c_spi_2: BundleSpis,
    },
    /// The client deleted its IKE SA (the tail of its ISAKMP-SA DELETE said so): remove the
    /// IKE translation entry with these cookies. Bundles still live under it were reported
    /// as [`IkeRelayEvent::IpsecRetired`] just before.
    IkeRetired {
        /// The client.
        client: SocketAddr,
        /// Cookies on the c-side.
        c_cookies: Cookies,
        /// Cookies on the s-side.
        s_cookies: Cookies,
    },
    /// An IKE session ended (its SA lifetime passed, or it never got the SGW's answer): remove
    /// the IKE translation entry with these cookies.
    IkeExpired {
        /// The client.
        client: SocketAddr,
        /// Cookies on the c-side.
        c_cookies: Cookies,
        /// Cookies on the s-side (responder half zero if mm2 never came).
        s_cookies: Cookies,
    },
}

/// Dropped datagrams by reason, and forwarded ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IkeRelayCounters {
    /// Not IKE (no non-ESP marker on 4500), or not parseable.
    pub malformed: u64,
    /// Cookies of no session (never reflected).
    pub unknown_cookies: u64,
    /// A message that needs a tail came without one, or with the wrong kind.
    pub tail_missing: u64,
    /// Tail failed authentication, binding or replay.
    pub tail_rejected: u64,
    /// Tail handshake from a client static key not in the table.
    pub unauthorised: u64,
    /// No identification rule for the user.
    pub no_sgw: u64,
    /// Every surrogate s-side address of the SGW's family is held by other users.
    pub pool_exhausted: u64,
    /// Tail contents unusable.
    pub tail_content: u64,
    /// The SPI allocator found no free SPI for a grant.
    pub no_spi: u64,
    /// Repeated datagrams answered from cache.
    pub duplicates: u64,
    /// Datagrams forwarded.
    pub forwarded: u64,
    /// New sessions refused: `max_sessions` reached.
    pub over_sessions: u64,
    /// New sessions refused: `max_half_open` reached.
    pub over_half_open: u64,
    /// New sessions refused: the relay-wide rate of new sessions.
    pub over_rate: u64,
    /// New sessions refused: the per-client-address rate of new sessions.
    pub over_client_rate: u64,
}

#[derive(Debug)]
enum TailState {
    Handshake(Box<TailResponder>),
    Session(TailSession),
    Gone,
}

#[derive(Debug)]
struct Session {
    /// When mm1 arrived.
    created: Timestamp,
    /// When the IKE SA's lifetime ends (known from mm2's SA payload).
    expires: Option<Timestamp>,
    client: SocketAddr,
    relay_c: SocketAddr,
    c_cookies: Cookies,
    s_cookies: Cookies,
    sgw: SocketAddr,
    relay_s: SocketAddr,
    user: UserId,
    /// The user's hold on a surrogate s-side address, given back when the session ends.
    surrogate: Option<Holder>,
    tail: TailState,
    /// From mm5: c-SPI-1 of the first quick mode, and the protocol set of every grant.
    c_spis: Option<BundleSpis>,
    /// Whether mm6 (and its grant) went out.
    mm6_done: bool,
    /// Grants handed out and not yet used, by their s-SPI-2.
    grants: Vec<SpiGrant>,
    /// Grants in use by a live bundle.
    used: Vec<SpiGrant>,
    /// Quick mode message IDs already seen from the SGW (each gets one grant).
    quick_seen: HashSet<u32>,
    c_udp_encap: bool,
    /// Last datagram from the client and what it produced.
    last_c: Option<(Vec<u8>, IkeDatagram)>,
    /// Last message from the SGW and what it produced.
    last_s: Option<(Vec<u8>, IkeDatagram)>,
}

/// The relay's IKE endpoint.
pub struct IkeRelay {
    config: IkeRelayConfig,
    rng: ChaCha20Rng,
    sessions: HashMap<u64, Session>,
    next_id: u64,
    by_client: HashMap<(SocketAddr, [u8; 8]), u64>,
    by_s_cookie: HashMap<[u8; 8], u64>,
    c_cookies_in_use: HashSet<[u8; 8]>,
    /// Limits on new sessions (none until [`IkeRelay::with_limits`]).
    admission: Admission,
    pool: SurrogatePool,
    transmits: VecDeque<IkeDatagram>,
    events: VecDeque<IkeRelayEvent>,
    counters: IkeRelayCounters,
}

impl core::fmt::Debug for IkeRelay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Every piece of state is printed (an audit can then check that no IKE or IPsec key
        // is among it); only the random generator's state is left out.
        f.debug_struct("Relay")
            .field("config", &self.config)
            .field("sessions", &self.sessions)
            .field("next_id", &self.next_id)
            .field("by_client", &self.by_client)
            .field("by_s_cookie", &self.by_s_cookie)
            .field("c_cookies_in_use", &self.c_cookies_in_use)
            .field("pool", &self.pool)
            .field("transmits", &self.transmits)
            .field("events", &self.events)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

enum Drop {
    Admission(Refused),
    Malformed,
    UnknownCookies,
    TailMissing,
    TailRejected,
    Unauthorised,
    NoSgw,
    PoolExhausted,
    TailContent,
    NoSpi,
}

impl IkeRelay {
    /// A relay; its randomness (cookies, tail ephemeral keys) is seeded from `rng`. Its SPIs
    /// come from the [`SpiAllocator`] passed with each datagram.
    pub fn new<R: RngCore + CryptoRng>(config: IkeRelayConfig, rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            config,
            rng: ChaCha20Rng::from_seed(seed),
            sessions: HashMap::new(),
            next_id: 0,
            by_client: HashMap::new(),
            by_s_cookie: HashMap::new(),
            c_cookies_in_use: HashSet::new(),
            admission: Admission::default(),
            pool: SurrogatePool::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: IkeRelayCounters::default(),
        }
    }

    /// Admits new sessions only within `limits` (each refusal counted under its reason in
    /// [`IkeRelayCounters`]); without this call there is no limit.
    pub fn with_limits(mut self, limits: AdmissionLimits) -> Self {
        self.admission = Admission::new(limits);
        self
    }

    /// Gives the relay a pool of surrogate s-side addresses: a user whose rule names no
    /// s-side address reaches its SGW from an address of the pool held for it alone while it
    /// has IKE sessions (stable per user, distinct between users while any is free; see
    /// `relay/pool.rs`). A user finding every address of its SGW's family held is dropped and
    /// counted ([`IkeRelayCounters::pool_exhausted`]). Without a pool (or with an empty one) every
    /// user uses [`IkeRelayConfig::s_side`]. Set at construction: the I/O shell must have sockets
    /// on every address of the pool.
    pub fn with_s_side_pool(mut self, addresses: Vec<IpAddr>) -> Self {
        self.pool = SurrogatePool::new(addresses);
        self
    }

    /// Surrogate s-side addresses held by users now.
    pub(crate) fn surrogates_held(&self) -> usize {
        self.pool.held()
    }

    /// Adds a client static key to the authorisation table (configuration reload).
    pub fn authorise_client(&mut self, key: StaticPublicKey) {
        if !self.config.authorised_clients.contains(&key) {
            self.config.authorised_clients.push(key);
        }
    }

    /// Replaces the identification table (configuration reload). Only mm1s that arrive from
    /// now on are matched against it: every session already begun, half-open ones included,
    /// keeps the SGW and the s-side address chosen at its mm1, because its cookies, the
    /// client's keys and the IPsec entries under it are bound to them.
    pub(crate) fn set_identities(&mut self, rules: Vec<IdentityRule>) {
        self.config.identities = rules;
    }

    /// The identification table in force.
    pub fn identities(&self) -> &[IdentityRule] {
        &self.config.identities
    }

    /// The SGWs live sessions talk to (half-open ones included), each once: the I/O shell
    /// keeps their transport settings (ports) across a reload.
    pub(crate) fn sgws_in_use(&self) -> HashSet<SocketAddr> {
        self.sessions.values().map(|s| s.sgw).collect()
    }

    /// Counters.
    pub fn counters(&self) -> IkeRelayCounters {
        self.counters
    }

    /// Number of live IKE sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn unique_cookie(&mut self, taken: impl Fn(&Self, &[u8; 8]) -> bool) -> [u8; 8] {
        loop {
            let mut c = [0u8; 8];
            self.rng.fill_bytes(&mut c);
            if c != [0; 8] && !taken(self, &c) {
                return c;
            }
        }
    }

    fn count(&mut self, d: Drop) {
        let c = &mut self.counters;
        match d {
            Drop::Malformed => c.malformed = c.malformed.saturating_add(1),
            Drop::UnknownCookies => c.unknown_cookies = c.unknown_cookies.saturating_add(1),
            Drop::TailMissing => c.tail_missing = c.tail_missing.saturating_add(1),
            Drop::TailRejected => c.tail_rejected = c.tail_rejected.saturating_add(1),
            Drop::Unauthorised => c.unauthorised = c.unauthorised.saturating_add(1),
            Drop::NoSgw => c.no_sgw = c.no_sgw.saturating_add(1),
            Drop::PoolExhausted => c.pool_exhausted = c.pool_exhausted.saturating_add(1),
            Drop::TailContent => c.tail_content = c.tail_content.saturating_add(1),
            Drop::NoSpi => c.no_spi = c.no_spi.saturating_add(1),
            Drop::Admission(Refused::Sessions) => {
                c.over_sessions = c.over_sessions.saturating_add(1);
            }
            Drop::Admission(Refused::HalfOpen) => {
                c.over_half_open = c.over_half_open.saturating_add(1);
            }
            Drop::Admission(Refused::Rate) => c.over_rate = c.over_rate.saturating_add(1),
            Drop::Admission(Refused::ClientRate) => {
                c.over_client_rate = c.over_client_rate.saturating_add(1);
            }
        }
    }

    fn emit(&mut self, t: IkeDatagram) {
        self.counters.forwarded = self.counters.forwarded.saturating_add(1);
        self.transmits.push_back(t);
    }

    /// Feeds one UDP payload received on `local` (a c-side or s-side address) from `remote`.
    /// SPIs granted on the way (mm6, the SGW's first message of a quick mode) come from `spis`;
    /// grants of a session the client deletes go back to it.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
        spis: &mut dyn SpiAllocator,
    ) {
        let result = if local.ip() == self.config.c_side.ip() {
            self.on_client_datagram(now, local, remote, payload, spis)
        } else {
            self.on_sgw_datagram(now, local, remote, payload, spis)
        };
        if let Err(d) = result {
            self.count(d);
        }
    }

    fn on_client_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
        spis: &mut dyn SpiAllocator,
    ) -> Result<(), Drop> {
        let ike = ike_bytes(local, remote, payload).ok_or(Drop::Malformed)?;
        let parts = split(ike).map_err(|_| Drop::Malformed)?;
        let h = parts.message.header();
        let (cky_i, cky_r) = (h.initiator_cookie().0, h.responder_cookie().0);
        let exchange = h.exchange_type();
        let encrypted = parts.message.is_encrypted();
        let message = parts.message.as_bytes().to_vec();
        let tail = parts
            .tail
            .map(|t| (t.tail_type(), t.header_bytes().to_vec(), t.body().to_vec()));

        let Some(&id) = self.by_client.get(&(remote, cky_i)) else {
            if cky_r == [0; 8] && exchange == ExchangeType::IDENTITY_PROTECTION {
                return self.new_session(now, local, remote, cky_i, &message, tail);
            }
            return Err(Drop::UnknownCookies);
        };
        let session = self.sessions.get_mut(&id).ok_or(Drop::UnknownCookies)?;
        // A repeated datagram gets what the first one produced.
        if let Some((seen, out)) = &session.last_c {
            if seen.as_slice() == ike {
                let out = out.clone();
                self.counters.duplicates = self.counters.duplicates.saturating_add(1);
                self.transmits.push_back(out);
                return Ok(());
            }
        }
        if cky_r != session.c_cookies.responder {
            return Err(Drop::UnknownCookies);
        }
        // Tails expected from the client: mm5 (first encrypted main mode message) and qm3
        // (the quick mode message after the IPsec SPIs were allocated, i.e. with a tail).
        let mut ipsec = None;
        let mut retired: Option<(SocketAddr, SpiGrant)> = None;
        let mut ike_retired: Option<IkeRetireTail> = None;
        if let Some((ty, header, body)) = tail {
            let TailState::Session(tails) = &mut session.tail else {
                return Err(Drop::TailMissing);
            };
            if ty != TailType::TRANSPORT {
                return Err(Drop::TailMissing);
            }
            let mut aad = message.clone();
            aad.extend_from_slice(&header);
            let items = tails.open(&aad, &body).map_err(|_| Drop::TailRejected)?;
            if exchange == ExchangeType::IDENTITY_PROTECTION && encrypted {
                let m5 = Mm5Tail::decode(&items).map_err(|_| Drop::TailContent)?;
                session.c_spis = Some(m5.c_spis);
                if m5.s_float {
                    session.sgw.set_port(NAT_T_PORT);
                    session.relay_s.set_port(NAT_T_PORT);
                }
            } else if exchange == ExchangeType::QUICK_MODE {
                let q3 = Qm3Tail::decode(&items).map_err(|_| Drop::TailContent)?;
                let used = session
                    .grants
                    .iter()
                    .position(|g| g.s_spi_offer == q3.s_spi_offer)
                    .ok_or(Drop::TailContent)?;
                let grant = session.grants.remove(used);
                session.used.push(grant);
                session.c_udp_encap = q3.c_udp_encap;
                ipsec = Some(IpsecTranslation {
                    client: session.client,
                    relay_c: session.relay_c,
                    relay_s: session.relay_s,
                    sgw: session.sgw,
                    c_spi_1: q3.c_spi_client,
                    c_spi_2: grant.c_spi_relay,
                    s_spi_2: grant.s_spi_offer,
                    s_spi_3: q3.s_spi_sgw,
                    s_udp_encap: q3.s_udp_encap,
                    c_udp_encap: q3.c_udp_encap,
                    lifetime_secs: q3.lifetime_secs,
                });
            } else if exchange == ExchangeType::INFORMATIONAL {
                // Either a bundle's DELETE or the IKE SA's own: each tail refuses the other's
                // critical item, so at most one decodes.
                if let Ok(r) = IkeRetireTail::decode(&items) {
                    if r.s_cookies != session.s_cookies {
                        return Err(Drop::TailContent);
                    }
                    ike_retired = Some(r);
                } else {
                    let r = RetireTail::decode(&items).map_err(|_| Drop::TailContent)?;
                    let at = session
                        .used
                        .iter()
                        .position(|g| g.s_spi_offer == r.s_spi_2)
                        .ok_or(Drop::TailContent)?;
                    let grant = session.used.remove(at);
                    retired = Some((session.client, grant));
                }
            } else {
                return Err(Drop::TailContent);
            }
        } else if exchange == ExchangeType::IDENTITY_PROTECTION
            && encrypted
            && session.c_spis.is_none()
        {
            return Err(Drop::TailMissing);
        }
        let mut out = message;
        set_cookies(
            &mut out,
            session.s_cookies.initiator,
            session.s_cookies.responder,
        );
        let t = framed(session.relay_s, session.sgw, out);
        if let Some(r) = ike_retired {
            // The IKE SA is over: forward its DELETE (unless the SGW deleted it first and
            // would not know the cookies any more), then forget the session. Later datagrams
            // with these cookies are unknown.
            if !r.s_deleted {
                self.emit(t);
            }
            self.forget(id, true, spis);
            return Ok(());
        }
        session.last_c = Some((ike.to_vec(), t.clone()));
        if let Some(entry) = ipsec {
            self.events
                .push_back(IkeRelayEvent::IpsecTranslation(entry));
        }
        if let Some((client, grant)) = retired {
            // Its SPIs are the entry's: they come free when the entry leaves the table.
            self.events.push_back(IkeRelayEvent::IpsecRetired {
                client,
                s_spi_2: grant.s_spi_offer,
                c_spi_2: grant.c_spi_relay,
            });
        }
        self.emit(t);
        Ok(())
    }

    fn new_session(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        cky_i: [u8; 8],
        mm1: &[u8],
        tail: Option<(TailType, Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Drop> {
        let (ty, header, body) = tail.ok_or(Drop::TailMissing)?;
        if ty != TailType::HANDSHAKE {
            return Err(Drop::TailMissing);
        }
        // Limits first: before the tail handshake's Diffie-Hellman and before anything
        // reaches the SGW.
        let sessions = &self.sessions;
        let half_open = || sessions.values().filter(|s| s.expires.is_none()).count();
        self.admission
            .admit(now, remote.ip(), sessions.len(), half_open)
            .map_err(Drop::Admission)?;
        let mut aad = mm1.to_vec();
        aad.extend_from_slice(&header);
        let authorised = &self.config.authorised_clients;
        let (responder, items) = TailResponder::accept_mm1(
            &self.config.static_key,
            &aad,
            &body,
            |k| authorised.contains(k),
            &mut self.rng,
        )
        .map_err(|e| match e {
            TailCryptoError::UnauthorisedClient => Drop::Unauthorised,
            _ => Drop::TailRejected,
        })?;
        let user = Mm1Tail::decode(&items)
            .map_err(|_| Drop::TailContent)?
            .user_id;
        let rule = self
            .config
            .identities
            .iter()
            .find(|r| r.matches(&user))
            .cloned()
            .ok_or(Drop::NoSgw)?;
        let (s_address, surrogate) = match rule.s_side {
            Some(address) => (address, None),
            None if self.pool.is_empty() => (self.config.s_side, None),
            None => {
                let (holder, address) = self
                    .pool
                    .acquire(&user, rule.sgw.is_ipv4())
                    .ok_or(Drop::PoolExhausted)?;
                (address, Some(holder))
            }
        };
        let s_cky_i = self.unique_cookie(|r, c| r.by_s_cookie.contains_key(c));
        let c_cky_r = self.unique_cookie(|r, c| r.c_cookies_in_use.contains(c));
        let relay_s = SocketAddr::new(s_address, 500);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut out = mm1.to_vec();
        set_cookies(&mut out, s_cky_i, [0; 8]);
        let t = framed(relay_s, rule.sgw, out);
        self.sessions.insert(
            id,
            Session {
                created: now,
                expires: None,
                client: remote,
                relay_c: local,
                c_cookies: Cookies::new(cky_i, c_cky_r),
                s_cookies: Cookies::new(s_cky_i, [0; 8]),
                sgw: rule.sgw,
                relay_s,
                user,
                surrogate,
                tail: TailState::Handshake(Box::new(responder)),
                c_spis: None,
                mm6_done: false,
                grants: Vec::new(),
                used: Vec::new(),
                quick_seen: HashSet::new(),
                c_udp_encap: false,
                last_c: None,
                last_s: None,
            },
        );
        self.by_client.insert((remote, cky_i), id);
        self.by_s_cookie.insert(s_cky_i, id);
        self.c_cookies_in_use.insert(c_cky_r);
        if let Some(s) = self.sessions.get_mut(&id) {
            // The mm1 bytes as received, tail included: a retransmission repeats them.
            let mut received = mm1.to_vec();
            received.extend_from_slice(&header);
            received.extend_from_slice(&body);
            s.last_c = Some((received, t.clone()));
        }
        self.emit(t);
        Ok(())
    }

    fn on_sgw_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
        allocator: &mut dyn SpiAllocator,
    ) -> Result<(), Drop> {
        let ike = ike_bytes(local, remote, payload).ok_or(Drop::Malformed)?;
        let parts = split(ike).map_err(|_| Drop::Malformed)?;
        let h = parts.message.header();
        let (cky_i, cky_r) = (h.initiator_cookie().0, h.responder_cookie().0);
        let exchange = h.exchange_type();
        let encrypted = parts.message.is_encrypted();
        // A standard SGW sends no tail; anything after the message is not forwarded.
        let message = parts.message.as_bytes().to_vec();
        let &id = self.by_s_cookie.get(&cky_i).ok_or(Drop::UnknownCookies)?;
        let mut spis = Vec::new();
        {
            let session = self.sessions.get(&id).ok_or(Drop::UnknownCookies)?;
            if remote.ip() != session.sgw.ip() {
                return Err(Drop::UnknownCookies);
            }
            if let Some((seen, out)) = &session.last_s {
                if seen.as_slice() == message.as_slice() {
                    let out = out.clone();
                    self.counters.duplicates = self.counters.duplicates.saturating_add(1);
                    self.transmits.push_back(out);
                    return Ok(());
                }
            }
            if session.s_cookies.responder != [0; 8] && session.s_cookies.responder != cky_r {
                return Err(Drop::UnknownCookies);
            }
            let mm6 =
                exchange == ExchangeType::IDENTITY_PROTECTION && encrypted && !session.mm6_done;
            let new_quick = exchange == ExchangeType::QUICK_MODE
                && session.mm6_done
                && !session.quick_seen.contains(&h.message_id());
            if mm6 || new_quick {
                let c_spis = session.c_spis.ok_or(Drop::TailContent)?;
                let n = usize::from(c_spis.esp.is_some())
                    .saturating_add(usize::from(c_spis.ah.is_some()));
                spis.resize(n.saturating_mul(2), 0);
            }
        }
        draw(&mut spis, now, allocator)?;
        let mut new_ike = None;
        let session = self.sessions.get_mut(&id).ok_or(Drop::UnknownCookies)?;
        let mut out = message.clone();
        set_cookies(
            &mut out,
            session.c_cookies.initiator,
            session.c_cookies.responder,
        );
        let datagram = if session.s_cookies.responder == [0; 8] {
            // mm2: complete the IKE entry and answer the tail handshake. The chosen SA's
            // lifetime (plaintext in mm2) bounds the entry.
            session.s_cookies.responder = cky_r;
            let lifetime = Chain::plaintext(&parts.message)
                .ok()
                .and_then(|c| {
                    let sa = c.first(PayloadType::SECURITY_ASSOCIATION)?.body.clone();
                    chosen_lifetime(&SaPayload::parse(&sa, 0).ok()?)
                })
                .unwrap_or(28_800);
            session.expires = now.checked_add(Duration::from_secs(u64::from(lifetime)));
            let TailState::Handshake(_) = &session.tail else {
                return Err(Drop::TailMissing);
            };
            let TailState::Handshake(responder) =
                core::mem::replace(&mut session.tail, TailState::Gone)
            else {
                return Err(Drop::TailMissing);
            };
            let items = Mm2Tail {
                sgw: session.sgw,
                relay_s: session.relay_s,
                s_cookies: session.s_cookies,
            }
            .encode()
            .map_err(|_| Drop::TailContent)?;
            let aad = tail_aad(
                &out,
                TailType::HANDSHAKE,
                items.len().saturating_add(MM2_OVERHEAD),
            );
            let (tails, body) = responder
                .write_mm2(&aad, &items)
                .map_err(|_| Drop::TailRejected)?;
            session.tail = TailState::Session(tails);
            new_ike = Some(IkeTranslation {
                client: session.client,
                relay_c: session.relay_c,
                c_cookies: session.c_cookies,
                relay_s: session.relay_s,
                sgw: session.sgw,
                s_cookies: session.s_cookies,
                user: session.user.clone(),
            });
            join(&out, TailType::HANDSHAKE, &body).map_err(|_| Drop::TailContent)?
        } else if !spis.is_empty() {
            // mm6, or the first SGW message of a quick mode: grant SPIs for the next quick
            // mode and tell the client.
            if exchange == ExchangeType::QUICK_MODE {
                session.quick_seen.insert(h.message_id());
            }
            session.mm6_done = true;
            let c_spis = session.c_spis.ok_or(Drop::TailContent)?;
            let mut it = spis.into_iter();
            let mut pick = |present: bool| if present { it.next() } else { None };
            let s_esp = pick(c_spis.esp.is_some());
            let s_ah = pick(c_spis.ah.is_some());
            let c_esp = pick(c_spis.esp.is_some());
            let c_ah = pick(c_spis.ah.is_some());
            let alloc = SpiGrant {
                s_spi_offer: BundleSpis {
                    esp: s_esp,
                    ah: s_ah,
                },
                c_spi_relay: BundleSpis {
                    esp: c_esp,
                    ah: c_ah,
                },
            };
            session.grants.push(alloc);
            let items = alloc.encode().map_err(|_| Drop::TailContent)?;
            let TailState::Session(tails) = &mut session.tail else {
                return Err(Drop::TailMissing);
            };
            let aad = tail_aad(
                &out,
                TailType::TRANSPORT,
                items.len().saturating_add(TRANSPORT_OVERHEAD),
            );
            let body = tails.seal(&aad, &items).map_err(|_| Drop::TailRejected)?;
            join(&out, TailType::TRANSPORT, &body).map_err(|_| Drop::TailContent)?
        } else {
            out
        };
        let t = framed(session.relay_c, session.client, datagram);
        session.last_s = Some((message, t.clone()));
        if let Some(e) = new_ike {
            self.events.push_back(IkeRelayEvent::IkeTranslation(e));
        }
        self.emit(t);
        Ok(())
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<IkeDatagram> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IkeRelayEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called: the earliest session expiry.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.sessions
            .values()
            .filter_map(|s| self.deadline(s))
            .min()
    }

    fn deadline(&self, s: &Session) -> Option<Timestamp> {
        match s.expires {
            Some(e) => Some(e),
            None => s.created.checked_add(self.config.half_open_timeout),
        }
    }

    /// Forgets sessions whose IKE SA lifetime passed, or that never got the SGW's mm2, and
    /// reports each as [`IkeRelayEvent::IkeExpired`]. SPIs granted but never used go back to
    /// `spis`.
    pub fn handle_timeout(&mut self, now: Timestamp, spis: &mut dyn SpiAllocator) {
        let expired: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| self.deadline(s).is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.forget(id, false, spis);
        }
    }

    /// Removes a session and frees what it held. `retired`: the client deleted the IKE SA
    /// ([`IkeRelayEvent::IkeRetired`]), and every bundle still live under it ended with it
    /// ([`IkeRelayEvent::IpsecRetired`] each; normally none, the client deletes bundles first).
    /// Otherwise it expired ([`IkeRelayEvent::IkeExpired`]) and live bundles are left to their
    /// own lifetimes in the datapath. Grants never used go back to `spis`; the SPIs of used ones
    /// belong to their entries.
    fn forget(&mut self, id: u64, retired: bool, spis: &mut dyn SpiAllocator) {
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        self.by_client.remove(&(s.client, s.c_cookies.initiator));
        self.by_s_cookie.remove(&s.s_cookies.initiator);
        self.c_cookies_in_use.remove(&s.c_cookies.responder);
        if let Some(holder) = &s.surrogate {
            self.pool.release(holder);
        }
        for g in &s.grants {
            release_grant(g, spis);
        }
        if !retired {
            self.events.push_back(IkeRelayEvent::IkeExpired {
                client: s.client,
                c_cookies: s.c_cookies,
                s_cookies: s.s_cookies,
            });
            return;
        }
        for g in &s.used {
            self.events.push_back(IkeRelayEvent::IpsecRetired {
                client: s.client,
                s_spi_2: g.s_spi_offer,
                c_spi_2: g.c_spi_relay,
            });
        }
        self.events.push_back(IkeRelayEvent::IkeRetired {
            client: s.client,
            c_cookies: s.c_cookies,
            s_cookies: s.s_cookies,
        });
    }
}

/// Fills `spis` with fresh SPIs from `allocator`; if it runs dry, gives back what it drew.
fn draw(spis: &mut [u32], now: Timestamp, allocator: &mut dyn SpiAllocator) -> Result<(), Drop> {
    for at in 0..spis.len() {
        match allocator.allocate(now) {
            Some(spi) => {
                if let Some(slot) = spis.get_mut(at) {
                    *slot = spi;
                }
            }
            None => {
                for spi in spis.iter().take(at) {
                    allocator.release(*spi);
                }
                return Err(Drop::NoSpi);
            }
        }
    }
    Ok(())
}

/// Gives the SPIs of a grant no quick mode used back to `allocator`.
fn release_grant(g: &SpiGrant, allocator: &mut dyn SpiAllocator) {
    for spi in [g.s_spi_offer, g.c_spi_relay]
        .iter()
        .flat_map(|b| [b.esp, b.ah])
        .flatten()
    {
        allocator.release(spi);
    }
}

#[cfg(test)]
pub(crate) mod tests;
