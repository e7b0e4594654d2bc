//! The gateway role (our test-SGW): a plain IKEv1 responder and ESP/AH gateway that knows
//! nothing of relays, standing in for strongSwan where it cannot go (AH through the relay,
//! deterministic in-memory tests). One [`Gateway`] owns all of the role's protocol state —
//! the IKE responder, the installed bundles, the routes learnt from traffic, the counters —
//! and keeps the [`Endpoint`] contract; its owner only moves bytes and reads events.
//!
//! Like any SGW it sees the relay's s-side address as its peer, with whatever ports the relay
//! really uses; only our own sockets are mapped to the standard ports ([`PortPair`]). A relay
//! whose s-side sockets are not on 500/4500 therefore looks NAT-ed to it, and quick mode
//! moves to UDP encapsulation (RFC 3947, RFC 3948), exactly as strongSwan would behave
//! (`docs/PROTOCOL.md` §4.3).
//!
//! - [`settings`](GatewaySettings): what it is told at construction;
//! - `child`: one installed bundle; `routes`: what traffic teaches;
//! - `ike`: the responder's datagrams and events; `datapath`: sealing and opening;
//! - [`GatewayEvent`], [`GatewayCounters`]: what it tells.

mod child;
mod counters;
mod datapath;
mod event;
mod ike;
mod routes;
mod settings;
#[cfg(test)]
mod tests;

use core::net::SocketAddr;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

pub use counters::GatewayCounters;
pub use event::{GatewayEvent, GatewayInstallError, TerminateStep};
pub use routes::MAX_ROUTES;
pub use settings::GatewaySettings;

use crate::ike::crypto::Cookies;
use crate::ike::{SgwError, TestSgw};
use crate::net::{Endpoint, Path, PortPair, Received, Transmit, Transport, TxQueue};
use crate::sa::SaCounters;
use crate::time::Timestamp;
use crate::wire::encap::{classify, EncapError, Encapsulated};
use crate::wire::isakmp::ProtocolId;
use crate::wire::IpProtocol;
use child::InstalledChild;
use counters::bump;
use datapath::Arrival;
use event::Events;
use routes::{LocalAddresses, Routes};

/// The gateway: see the [module documentation](self).
pub struct Gateway {
    ike: TestSgw,
    own: PortPair,
    header_included: bool,
    locals: LocalAddresses,
    children: Vec<InstalledChild>,
    routes: Routes,
    /// CBC IVs.
    rng: ChaCha20Rng,
    /// Where an arriving ESP/AH packet is made whole and opened.
    scratch: Vec<u8>,
    tx: TxQueue,
    events: Events,
    counters: GatewayCounters,
}

impl core::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gateway")
            .field("children", &self.children.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway; the IKE responder's randomness (cookies, DH, nonces, SPIs) and then the
    /// datapath's (CBC IVs) are seeded from `rng`, so a seeded test replays exactly.
    pub fn new<R: RngCore + CryptoRng>(settings: GatewaySettings, rng: &mut R) -> Self {
        let ike = TestSgw::new(settings.ike, rng);
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            ike,
            own: settings.own,
            header_included: settings.header_included,
            locals: LocalAddresses::new(settings.default_local),
            children: Vec::new(),
            routes: Routes::new(),
            rng: ChaCha20Rng::from_seed(seed),
            scratch: Vec::with_capacity(65_536),
            tx: TxQueue::default(),
            events: Events::default(),
            counters: GatewayCounters::default(),
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop()
    }

    /// The datapath counters.
    pub fn counters(&self) -> GatewayCounters {
        self.counters
    }

    /// Per installed bundle, oldest first: (outbound counters, inbound counters).
    pub fn sa_counters(&self) -> Vec<(SaCounters, SaCounters)> {
        self.children.iter().map(|c| c.sa.counters()).collect()
    }

    /// IKE SAs (established or in main mode) the responder holds.
    pub fn ike_sas(&self) -> usize {
        self.ike.ike_sas()
    }

    /// Terminates every established IKE SA as `swanctl --terminate --ike` does on strongSwan:
    /// a DELETE naming the inbound SPIs of each of its bundles, then one for the ISAKMP SA; the
    /// bundles leave the datapath. Returns how many IKE SAs were terminated.
    pub fn terminate_all(&mut self, now: Timestamp) -> usize {
        let mut terminated: usize = 0;
        for (cookies, peer) in self.ike.established_ike_sas() {
            let (mut esp, mut ah) = (Vec::new(), Vec::new());
            for child in self.children.iter().filter(|c| c.peer.ip() == peer.ip()) {
                esp.extend(child.in_spis.esp);
                ah.extend(child.in_spis.ah);
            }
            let deletes: Vec<(ProtocolId, Vec<u32>)> =
                [(ProtocolId::IPSEC_ESP, esp), (ProtocolId::IPSEC_AH, ah)]
                    .into_iter()
                    .filter(|(_, spis)| !spis.is_empty())
                    .collect();
            if !deletes.is_empty() {
                if let Err(error) = self.ike.delete_child(&cookies, &deletes) {
                    self.terminate_failed(peer, TerminateStep::Children, error);
                }
            }
            match self.ike.delete_phase1(&cookies) {
                Ok(()) => terminated = terminated.saturating_add(1),
                Err(error) => self.terminate_failed(peer, TerminateStep::IkeSa, error),
            }
            self.children.retain(|c| c.peer.ip() != peer.ip());
            self.routes.clear();
            self.events
                .push(GatewayEvent::Terminated { peer }, &mut self.counters);
        }
        self.drain_ike(now);
        terminated
    }

    fn terminate_failed(&mut self, peer: SocketAddr, what: TerminateStep, error: SgwError) {
        let event = GatewayEvent::TerminateFailed { peer, what, error };
        self.events.push(event, &mut self.counters);
    }

    /// Starts a quick mode toward the initiator of the IKE SA with these cookies (the SGW
    /// rekeying, as strongSwan does when its own rekey time comes first).
    pub fn start_quick_mode(&mut self, now: Timestamp, cookies: &Cookies) -> Result<(), SgwError> {
        let started = self.ike.start_quick_mode(now, cookies);
        self.drain_ike(now);
        started
    }

    /// Sends a DPD R-U-THERE (RFC 3706) with `sequence` on the IKE SA with these cookies; the
    /// answer comes as [`GatewayEvent::DpdAck`].
    pub fn send_dpd(
        &mut self,
        now: Timestamp,
        cookies: &Cookies,
        sequence: u32,
    ) -> Result<(), SgwError> {
        let sent = self.ike.send_dpd(cookies, sequence);
        self.drain_ike(now);
        sent
    }

    /// An IKE datagram: remembered as telling which of our addresses `remote` talks to, then
    /// handed to the responder in the standard-port view.
    fn handle_ike(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        bump(&mut self.counters.ike_datagrams);
        self.locals.learn(remote.ip(), local.ip());
        let local = SocketAddr::new(local.ip(), self.own.to_core(local.port()));
        self.ike.handle_datagram(now, local, remote, datagram);
        self.drain_ike(now);
    }
}

impl Endpoint for Gateway {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let path = match rx.path {
            Path::Tun => return self.seal(now, datagram),
            Path::Net(path) => path,
        };
        let esp = |bytes, whole, protocol| Arrival {
            bytes,
            whole,
            protocol,
            src: path.remote,
            dst: path.local,
        };
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => {
                let local = SocketAddr::new(path.local, local_port);
                let remote = SocketAddr::new(path.remote, remote_port);
                if !self.own.is_natt(local_port) {
                    return self.handle_ike(now, local, remote, datagram);
                }
                // RFC 3948 §2: a malformed datagram goes where it was aimed and is refused
                // there (a short IKE message by the responder, anything else by the SA
                // lookup), so each is counted once with its kind.
                match classify(datagram) {
                    Encapsulated::Keepalive => bump(&mut self.counters.ignored),
                    Encapsulated::Ike(_)
                    | Encapsulated::Garbage(EncapError::IkeTooShort { .. }) => {
                        self.handle_ike(now, local, remote, datagram);
                    }
                    Encapsulated::Esp(_) | Encapsulated::Garbage(_) => {
                        self.open(now, &esp(datagram, false, IpProtocol::ESP));
                    }
                }
            }
            Transport::Ip {
                protocol,
                header_included,
            } => self.open(now, &esp(datagram, header_included, protocol)),
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.ike.handle_timeout(now);
        self.drain_ike(now);
        for child in &mut self.children {
            child.sa.handle_timeout(now);
        }
        if self.children.iter().any(|c| c.sa.is_expired()) {
            let mut expired = Vec::new();
            self.children.retain(|c| {
                let gone = c.sa.is_expired();
                if gone {
                    expired.push(c.peer);
                }
                !gone
            });
            // Indices moved: forget the learnt routes (traffic teaches them again).
            self.routes.clear();
            for peer in expired {
                self.events
                    .push(GatewayEvent::ChildExpired { peer }, &mut self.counters);
            }
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let sa = self.children.iter().filter_map(|c| c.sa.next_deadline());
        self.ike.poll_timeout().into_iter().chain(sa).min()
    }
}
