//! `TestSgw`: a standard IKEv1 responder (main mode + quick mode) with no knowledge of tails,
//! sans-IO in the quinn-proto style. It stands in for strongSwan in deterministic in-memory
//! tests, so it behaves as strongSwan does where that matters: it answers from the port the
//! request came to (floating to 4500 with the initiator), retransmits its last answer when a
//! request is repeated, retransmits qm2 until qm3 arrives, and installs the child SA only on
//! qm3. Tests must not depend on it being more lenient than strongSwan.

use crate::time::Timestamp;
use core::net::SocketAddr;
use std::collections::VecDeque;

use hashbrown::HashMap;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::crypto::Cookies;
use super::endpoint::{framed, ike_bytes, IkeDatagram, Pending, RetransmitPolicy};
use super::phase1::{MainModeResponder, Phase1Config, Phase1Error, Phase1Sa, ProposalError};
use super::phase2::{
    delete_message, delete_phase1_message, notify_message, open_informational, BundleSpis,
    ChildConfig, ChildProposal, ChildProposalError, ChildSa, Encapsulation, Phase2Error,
    QuickModeInitiator, QuickModeResponder,
};
use crate::wire::isakmp::{
    Cookie, Doi, ExchangeType, Message, MessageBuilder, NotifyRepr, NotifyType, ProtocolId,
};

/// Configuration of a test-SGW.
#[derive(Clone, Debug)]
pub struct TestSgwConfig {
    /// Phase-1 suites, credentials and ID. `local_addr` is replaced per exchange by the
    /// address the request arrived on.
    pub phase1: Phase1Config,
    /// Acceptable quick mode proposals and selectors (local = behind the SGW).
    pub child: ChildConfig,
    /// qm2 retransmission.
    pub retransmit: RetransmitPolicy,
}

/// What a test-SGW reports.
#[derive(Debug)]
pub enum SgwEvent {
    /// Main mode completed with `peer`.
    Phase1Established {
        /// The initiator's address.
        peer: SocketAddr,
        /// The cookie pair.
        cookies: Cookies,
    },
    /// A quick mode completed: the SA bundle is ready for the datapath.
    ChildEstablished {
        /// The initiator's address (IKE), where ESP-in-UDP goes when encapsulated.
        peer: SocketAddr,
        /// Keys and SPIs.
        child: Box<ChildSa>,
    },
    /// The peer deleted SAs (protocol and the SPIs the peer received with, i.e. our outbound
    /// SPIs).
    Deleted {
        /// The peer.
        peer: SocketAddr,
        /// What it deleted.
        deletes: Vec<(ProtocolId, Vec<u32>)>,
    },
    /// The peer deleted the IKE SA (an ISAKMP-SA DELETE naming its cookie pair); we forgot
    /// it, so later messages with these cookies are ignored and a new main mode starts over.
    Phase1Deleted {
        /// The peer.
        peer: SocketAddr,
        /// The cookie pair.
        cookies: Cookies,
    },
    /// The peer answered our DPD R-U-THERE with this sequence number.
    DpdAck {
        /// The peer.
        peer: SocketAddr,
        /// The sequence number it acknowledged.
        sequence: u32,
    },
    /// An exchange was refused.
    Refused {
        /// Who sent it.
        peer: SocketAddr,
        /// Why.
        error: SgwError,
    },
}

/// Why the test-SGW refused an exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SgwError {
    /// Phase 1 failed.
    #[error("main mode: {0}")]
    Phase1(#[from] Phase1Error),
    /// Quick mode failed.
    #[error("quick mode: {0}")]
    Phase2(#[from] Phase2Error),
}

enum Phase {
    Negotiating(Box<MainModeResponder>),
    Established(Box<Phase1Sa>),
}

struct Quick {
    core: QuickModeResponder,
    qm2: Pending,
}

struct IkeSa {
    /// Our address the peer talks to (500, or 4500 after floating).
    local: SocketAddr,
    peer: SocketAddr,
    cookies: Cookies,
    phase: Phase,
    /// Last request and our answer to it, to answer a retransmission the same way.
    last: Option<(Vec<u8>, IkeDatagram)>,
    quick: HashMap<u32, Quick>,
    /// Quick modes we started (rekeys), waiting for qm2.
    initiated: HashMap<u32, (QuickModeInitiator, Pending)>,
}

/// The test-SGW endpoint.
pub struct TestSgw {
    config: TestSgwConfig,
    rng: ChaCha20Rng,
    /// By our (responder) cookie.
    sas: HashMap<[u8; 8], IkeSa>,
    /// mm1 seen: (initiator address, CKY-I) -> our CKY-R.
    half_open: HashMap<(SocketAddr, [u8; 8]), [u8; 8]>,
    transmits: VecDeque<IkeDatagram>,
    events: VecDeque<SgwEvent>,
    /// Datagrams dropped as not ours or unparseable.
    pub ignored: u64,
}

impl core::fmt::Debug for TestSgw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestSgw")
            .field("sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

fn random_spi<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let s = rng.next_u32();
        if s > 255 {
            return s;
        }
    }
}

/// An unencrypted informational exchange carrying one error notification, as strongSwan
/// sends for NO-PROPOSAL-CHOSEN before keys exist.
fn error_notify<R: RngCore>(cookies: &Cookies, ty: NotifyType, rng: &mut R) -> Option<Vec<u8>> {
    let mut b = MessageBuilder::new(
        Cookie(cookies.initiator),
        Cookie(cookies.responder),
        ExchangeType::INFORMATIONAL,
        rng.next_u32(),
    );
    let mut spi = cookies.initiator.to_vec();
    spi.extend_from_slice(&cookies.responder);
    b.push_notification(&NotifyRepr {
        doi: Doi::IPSEC,
        protocol: ProtocolId::ISAKMP,
        notify_type: ty,
        spi,
        data: Vec::new(),
    })
    .ok()?;
    b.build().ok()
}

/// Refusal of an exchange we are asked to start under cookies we hold no IKE SA for.
const NO_SUCH_IKE_SA: SgwError = SgwError::Phase2(Phase2Error::Unexpected("no such IKE SA"));

/// The IKE SA whose responder cookie (ours) `cookies` names.
fn ike_sa<'a>(sas: &'a HashMap<[u8; 8], IkeSa>, cookies: &Cookies) -> Result<&'a IkeSa, SgwError> {
    sas.get(&cookies.responder).ok_or(NO_SUCH_IKE_SA)
}

impl IkeSa {
    /// Its phase-1 SA, under which we start quick modes and informational exchanges: only
    /// once main mode completed.
    fn established(&self) -> Result<&Phase1Sa, SgwError> {
        match &self.phase {
            Phase::Established(p1) => Ok(p1),
            Phase::Negotiating(_) => Err(SgwError::Phase2(Phase2Error::Unexpected(
                "IKE SA not established",
            ))),
        }
    }
}

impl TestSgw {
    /// A test-SGW; its randomness (cookies, DH, nonces, SPIs) is seeded from `rng`.
    pub fn new<R: RngCore + CryptoRng>(config: TestSgwConfig, rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self {
            config,
            rng: ChaCha20Rng::from_seed(seed),
            sas: HashMap::new(),
            half_open: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            ignored: 0,
        }
    }

    /// Feeds one received UDP payload.
    pub fn handle_datagram(
        &mut self,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) {
        let Some(ike) = ike_bytes(local, remote, payload) else {
            self.ignored = self.ignored.saturating_add(1);
            return;
        };
        // A standard responder reads the message's own length and nothing after it.
        let Ok((message, _)) = Message::parse(ike) else {
            self.ignored = self.ignored.saturating_add(1);
            return;
        };
        let bytes = message.as_bytes().to_vec();
        let h = message.header();
        let (cky_i, cky_r) = (h.initiator_cookie().0, h.responder_cookie().0);
        if cky_r == [0; 8] && h.exchange_type() == ExchangeType::IDENTITY_PROTECTION {
            self.on_mm1(local, remote, cky_i, &bytes);
            return;
        }
        let Some(sa) = self.sas.get_mut(&cky_r) else {
            self.ignored = self.ignored.saturating_add(1);
            return;
        };
        if sa.cookies.initiator != cky_i {
            self.ignored = self.ignored.saturating_add(1);
            return;
        }
        if let Some((req, resp)) = &sa.last {
            if *req == bytes {
                let mut again = resp.clone();
                again.local = local;
                again.remote = remote;
                self.transmits.push_back(again);
                return;
            }
        }
        sa.peer = remote;
        sa.local = local;
        let result = match h.exchange_type() {
            ExchangeType::IDENTITY_PROTECTION => {
                Self::on_main_mode(sa, local, remote, &bytes, &mut self.rng)
            }
            ExchangeType::INFORMATIONAL => match &sa.phase {
                Phase::Established(p1) => open_informational(p1, &bytes)
                    .map(|info| {
                        let mut out: Vec<Out> = info
                            .notifies
                            .iter()
                            .filter(|(ty, _, _)| *ty == NotifyType::R_U_THERE_ACK)
                            .filter_map(|(_, _, data)| <[u8; 4]>::try_from(data.as_slice()).ok())
                            .map(|seq| {
                                Out::Event(SgwEvent::DpdAck {
                                    peer: remote,
                                    sequence: u32::from_be_bytes(seq),
                                })
                            })
                            .collect();
                        if !info.deletes.is_empty() {
                            out.push(Out::Event(SgwEvent::Deleted {
                                peer: remote,
                                deletes: info.deletes,
                            }));
                        }
                        // As strongSwan's isakmp_delete: only our own cookie pair counts.
                        if info.ike_deletes.contains(&sa.cookies) {
                            out.push(Out::Event(SgwEvent::Phase1Deleted {
                                peer: remote,
                                cookies: sa.cookies,
                            }));
                        }
                        out
                    })
                    .map_err(SgwError::from),
                Phase::Negotiating(_) => Ok(Vec::new()),
            },
            ExchangeType::QUICK_MODE => Self::on_quick_mode(
                sa,
                &self.config,
                now,
                local,
                remote,
                h.message_id(),
                &bytes,
                &mut self.rng,
            ),
            _ => Ok(Vec::new()),
        };
        match result {
            Ok(out) => {
                let mut gone = false;
                for o in out {
                    match o {
                        Out::Send(t) => {
                            sa.last = Some((bytes.clone(), t.clone()));
                            self.transmits.push_back(t);
                        }
                        Out::Event(e) => {
                            gone |= matches!(e, SgwEvent::Phase1Deleted { .. });
                            self.events.push_back(e);
                        }
                    }
                }
                if gone {
                    self.forget(&Cookies::new(cky_i, cky_r));
                }
            }
            Err(error) => {
                if let SgwError::Phase1(Phase1Error::AuthenticationFailed) = error {
                    if let Some(n) = error_notify(
                        &sa.cookies,
                        NotifyType::AUTHENTICATION_FAILED,
                        &mut self.rng,
                    ) {
                        self.transmits.push_back(framed(local, remote, n));
                    }
                }
                self.events.push_back(SgwEvent::Refused {
                    peer: remote,
                    error,
                });
            }
        }
    }

    fn on_mm1(&mut self, local: SocketAddr, remote: SocketAddr, cky_i: [u8; 8], mm1: &[u8]) {
        if let Some(cky_r) = self.half_open.get(&(remote, cky_i)) {
            if let Some(sa) = self.sas.get(cky_r) {
                if let Some((req, resp)) = &sa.last {
                    if req == mm1 {
                        self.transmits.push_back(resp.clone());
                    }
                }
            }
            return;
        }
        let mut p1 = self.config.phase1.clone();
        p1.local_addr = local;
        match MainModeResponder::handle_mm1(p1, mm1, remote, &mut self.rng) {
            Ok((core, mm2)) => {
                let cookies = core.cookies();
                let t = framed(local, remote, mm2);
                self.transmits.push_back(t.clone());
                self.half_open.insert((remote, cky_i), cookies.responder);
                self.sas.insert(
                    cookies.responder,
                    IkeSa {
                        local,
                        peer: remote,
                        cookies,
                        phase: Phase::Negotiating(Box::new(core)),
                        last: Some((mm1.to_vec(), t)),
                        quick: HashMap::new(),
                        initiated: HashMap::new(),
                    },
                );
            }
            Err(error) => {
                if let Phase1Error::Proposal(ProposalError::NoProposalChosen) = error {
                    let cookies = Cookies::new(cky_i, [0; 8]);
                    if let Some(n) =
                        error_notify(&cookies, NotifyType::NO_PROPOSAL_CHOSEN, &mut self.rng)
                    {
                        self.transmits.push_back(framed(local, remote, n));
                    }
                }
                self.events.push_back(SgwEvent::Refused {
                    peer: remote,
                    error: error.into(),
                });
            }
        }
    }

    fn on_main_mode(
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<Out>, SgwError> {
        let Phase::Negotiating(core) = &mut sa.phase else {
            return Ok(Vec::new());
        };
        let encrypted = Message::parse_exact(msg)
            .map(|m| m.is_encrypted())
            .unwrap_or(false);
        if !encrypted {
            let mm4 = core.handle_mm3(msg, remote, rng)?;
            return Ok(vec![Out::Send(framed(local, remote, mm4))]);
        }
        let (mm6, p1) = core.handle_mm5(msg, rng)?;
        let cookies = p1.cookies;
        sa.phase = Phase::Established(Box::new(p1));
        Ok(vec![
            Out::Send(framed(local, remote, mm6)),
            Out::Event(SgwEvent::Phase1Established {
                peer: remote,
                cookies,
            }),
        ])
    }

    #[allow(clippy::too_many_arguments)]
    fn on_quick_mode(
        sa: &mut IkeSa,
        config: &TestSgwConfig,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        message_id: u32,
        msg: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<Out>, SgwError> {
        let Phase::Established(p1) = &sa.phase else {
            return Ok(Vec::new());
        };
        if let Some((qm, _)) = sa.initiated.get_mut(&message_id) {
            let (qm3, child) = qm.handle_qm2(p1, msg)?;
            sa.initiated.remove(&message_id);
            return Ok(vec![
                Out::Send(framed(local, remote, qm3)),
                Out::Event(SgwEvent::ChildEstablished {
                    peer: remote,
                    child: Box::new(child),
                }),
            ]);
        }
        if let Some(q) = sa.quick.get_mut(&message_id) {
            let child = q.core.handle_qm3(p1, msg)?;
            sa.quick.remove(&message_id);
            return Ok(vec![Out::Event(SgwEvent::ChildEstablished {
                peer: remote,
                child: Box::new(child),
            })]);
        }
        // Our inbound SPIs, one per protocol any acceptable proposal uses.
        let spis = BundleSpis {
            esp: config
                .child
                .proposals
                .iter()
                .any(|p| p.esp.is_some())
                .then(|| random_spi(rng)),
            ah: config
                .child
                .proposals
                .iter()
                .any(|p| p.ah.is_some())
                .then(|| random_spi(rng)),
        };
        // Accept the tunnel mode the initiator asks for when NAT was detected, as strongSwan.
        let mut child_config = config.child.clone();
        let extra: Vec<_> = child_config
            .proposals
            .iter()
            .map(|p| super::phase2::ChildProposal {
                mode: if p1.nat.float() {
                    Encapsulation::UdpTunnel
                } else {
                    Encapsulation::Tunnel
                },
                ..*p
            })
            .collect();
        child_config.proposals = extra;
        let (core, qm2) = QuickModeResponder::handle_qm1(p1, &child_config, spis, msg, rng)
            .map_err(|e| match e {
                Phase2Error::Proposal(ChildProposalError::MissingSpi) => {
                    Phase2Error::Proposal(ChildProposalError::NoProposalChosen)
                }
                other => other,
            })?;
        let t = framed(local, remote, qm2);
        sa.quick.insert(
            message_id,
            Quick {
                core,
                qm2: Pending::new(t.clone(), now, &config.retransmit),
            },
        );
        Ok(vec![Out::Send(t)])
    }

    /// Starts a quick mode toward the initiator of the IKE SA whose cookies are `cookies` (the
    /// SGW rekeying, as strongSwan does when its own rekey time comes first).
    pub fn start_quick_mode(&mut self, now: Timestamp, cookies: &Cookies) -> Result<(), SgwError> {
        let config = self.config.clone();
        let sa = self.sas.get_mut(&cookies.responder).ok_or(NO_SUCH_IKE_SA)?;
        let p1 = sa.established()?;
        let float = p1.nat.float();
        let child = ChildConfig {
            proposals: config
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
            // As initiator our selector is IDci.
            local_ts: config.child.local_ts.clone(),
            remote_ts: config.child.remote_ts.clone(),
        };
        let spis = BundleSpis {
            esp: child
                .proposals
                .iter()
                .any(|p| p.esp.is_some())
                .then(|| random_spi(&mut self.rng)),
            ah: child
                .proposals
                .iter()
                .any(|p| p.ah.is_some())
                .then(|| random_spi(&mut self.rng)),
        };
        let (qm, qm1) = QuickModeInitiator::start(p1, child, spis, &mut self.rng)?;
        let t = framed(sa.local, sa.peer, qm1);
        let pending = Pending::new(t.clone(), now, &config.retransmit);
        sa.initiated.insert(qm.message_id(), (qm, pending));
        self.transmits.push_back(t);
        Ok(())
    }

    /// Deletes our inbound SAs `spis` (of `protocol`) of the IKE SA with these cookies: sends
    /// an encrypted informational DELETE, as strongSwan does when a rekeyed SA expires.
    pub fn delete_child(
        &mut self,
        cookies: &Cookies,
        deletes: &[(ProtocolId, Vec<u32>)],
    ) -> Result<(), SgwError> {
        let sa = ike_sa(&self.sas, cookies)?;
        let p1 = sa.established()?;
        let msg = delete_message(p1, deletes, &mut self.rng)?;
        self.transmits.push_back(framed(sa.local, sa.peer, msg));
        Ok(())
    }

    /// Deletes the IKE SA with these cookies, as `swanctl --terminate --ike` does on
    /// strongSwan: an encrypted ISAKMP-SA DELETE to the initiator, then the SA is forgotten.
    /// (strongSwan deletes the bundles first; a test does that with [`Self::delete_child`].)
    pub fn delete_phase1(&mut self, cookies: &Cookies) -> Result<(), SgwError> {
        let sa = ike_sa(&self.sas, cookies)?;
        let p1 = sa.established()?;
        let msg = delete_phase1_message(p1, &mut self.rng)?;
        self.transmits.push_back(framed(sa.local, sa.peer, msg));
        self.forget(cookies);
        Ok(())
    }

    /// Forgets an IKE SA and its half-open record.
    fn forget(&mut self, cookies: &Cookies) {
        if self.sas.remove(&cookies.responder).is_some() {
            self.half_open.retain(|_, r| *r != cookies.responder);
        }
    }

    /// Number of IKE SAs (established or in main mode) we hold.
    pub fn ike_sas(&self) -> usize {
        self.sas.len()
    }

    /// The cookies and peer of every IKE SA whose main mode completed: what
    /// `swanctl --terminate --ike` would act on.
    pub fn established_ike_sas(&self) -> Vec<(Cookies, SocketAddr)> {
        self.sas
            .values()
            .filter(|sa| sa.established().is_ok())
            .map(|sa| (sa.cookies, sa.peer))
            .collect()
    }

    /// Sends a DPD R-U-THERE (RFC 3706) with `sequence` to the initiator of the IKE SA with
    /// these cookies.
    pub fn send_dpd(&mut self, cookies: &Cookies, sequence: u32) -> Result<(), SgwError> {
        let sa = ike_sa(&self.sas, cookies)?;
        let p1 = sa.established()?;
        let mut spi = cookies.initiator.to_vec();
        spi.extend_from_slice(&cookies.responder);
        let notify = NotifyRepr {
            doi: Doi::IPSEC,
            protocol: ProtocolId::ISAKMP,
            notify_type: NotifyType::R_U_THERE,
            spi,
            data: sequence.to_be_bytes().to_vec(),
        };
        let msg = notify_message(p1, &notify, &mut self.rng)?;
        self.transmits.push_back(framed(sa.local, sa.peer, msg));
        Ok(())
    }

    /// Retransmits qm1s and qm2s whose answer is overdue.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        for sa in self.sas.values_mut() {
            let mut dead = Vec::new();
            for (mid, (_, p)) in sa.initiated.iter_mut() {
                if p.deadline <= now {
                    match p.fire(now) {
                        Some(t) => self.transmits.push_back(t),
                        None => dead.push(*mid),
                    }
                }
            }
            for mid in dead {
                sa.initiated.remove(&mid);
            }
            let mut dead = Vec::new();
            for (mid, q) in sa.quick.iter_mut() {
                if q.qm2.deadline <= now {
                    match q.qm2.fire(now) {
                        Some(t) => self.transmits.push_back(t),
                        None => dead.push(*mid),
                    }
                }
            }
            for mid in dead {
                sa.quick.remove(&mid);
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<IkeDatagram> {
        self.transmits.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.sas
            .values()
            .flat_map(|sa| {
                sa.quick
                    .values()
                    .map(|q| q.qm2.deadline)
                    .chain(sa.initiated.values().map(|(_, p)| p.deadline))
            })
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SgwEvent> {
        self.events.pop_front()
    }
}

enum Out {
    Send(IkeDatagram),
    Event(SgwEvent),
}
