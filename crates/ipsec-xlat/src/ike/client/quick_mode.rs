//! Quick mode under the IKE SA (RFC 2409 section 5.5), both ways:
//!
//! - ours, the first one (started from mm6) and every rekey ([`IkeClient::rekey`]): qm1
//!   offers the s-side SPIs of the relay's grant; [`IkeClient::on_qm2`] answers qm2 with qm3,
//!   whose tail reports the bundle to the relay; a repeated qm2 gets the same qm3.
//! - the SGW's (its rekey): [`IkeClient::on_qm1`] answers qm1 with qm2 using the grant in
//!   qm1's tail; [`IkeClient::on_qm3`] completes the bundle; a repeated qm1 gets the same
//!   qm2.
//!
//! With NAT detected toward the SGW, the proposals ask for the UDP-encapsulated modes
//! (RFC 3947 section 5). `docs/PROTOCOL.md` §4.3 ("SPI grants") says where each SPI comes
//! from.

use crate::time::Timestamp;
use std::collections::VecDeque;

use super::{IkeClient, IkeClientError, ReceivedTail, Reject, State, Step};
use crate::ike::endpoint::IkeDatagram;
use crate::ike::phase1::Phase1Sa;
use crate::ike::phase2::{
    BundleSpis, ChildConfig, ChildProposal, ChildSa, Encapsulation, Phase2Error,
    QuickModeInitiator, QuickModeResponder,
};
use crate::ike::tail_content::{Qm3Tail, SpiGrant};
use crate::ike::tail_crypto::TailSession;
use crate::wire::isakmp::{ExchangeType, Message};
use crate::wire::tail::TailType;

/// Our quick mode: qm1 sent, waiting for qm2.
pub(super) struct AwaitQm2 {
    pub(super) session: TailSession,
    pub(super) p1: Box<Phase1Sa>,
    pub(super) qm: QuickModeInitiator,
    /// The grant this quick mode offers (s-SPI-2) and sends with (c-SPI-2).
    pub(super) grant: SpiGrant,
    /// c-SPI-1 of this quick mode.
    pub(super) c_spis: BundleSpis,
    /// Grants for later quick modes.
    pub(super) spare: VecDeque<SpiGrant>,
}

/// The IKE SA is up and no quick mode runs.
pub(super) struct Established {
    pub(super) session: TailSession,
    pub(super) p1: Box<Phase1Sa>,
    pub(super) spare: VecDeque<SpiGrant>,
    /// The qm2 we answered and our qm3, to answer a repeated qm2.
    pub(super) last: Option<(Vec<u8>, IkeDatagram)>,
}

/// Answering a quick mode the SGW started (its rekey): qm2 sent, waiting for qm3.
pub(super) struct RespondingQm {
    pub(super) session: TailSession,
    pub(super) p1: Box<Phase1Sa>,
    spare: VecDeque<SpiGrant>,
    qm: Box<QuickModeResponder>,
    grant: SpiGrant,
    c_spis: BundleSpis,
    /// qm1 as received (c-side) and our qm2, for a repeated qm1.
    qm1: Vec<u8>,
    qm2: IkeDatagram,
}

impl IkeClient {
    /// Starts a new quick mode under the established IKE SA (rekeying), using the SPI grant
    /// the previous quick mode brought. The new bundle arrives as another
    /// [`IkeClientEvent::ChildEstablished`](super::IkeClientEvent::ChildEstablished); the
    /// caller retires the old one when its lifetime ends (the relay's entries follow the same
    /// rule).
    pub fn rekey(&mut self, now: Timestamp) -> Result<(), IkeClientError> {
        if !matches!(&self.state, State::Established(e) if !e.spare.is_empty()) {
            return Err(IkeClientError::NotReady);
        }
        let State::Established(mut est) = core::mem::replace(&mut self.state, State::Failed) else {
            return Err(IkeClientError::NotReady);
        };
        let Some(grant) = est.spare.pop_front() else {
            self.state = State::Established(est);
            return Err(IkeClientError::NotReady);
        };
        let c_spis = self.fresh_c_spis();
        let float = est.p1.nat.float();
        match self.start_quick(now, &est.p1, float, grant.s_spi_offer) {
            Ok(qm) => {
                self.state = State::AwaitQm2(AwaitQm2 {
                    session: est.session,
                    p1: est.p1,
                    qm,
                    grant,
                    c_spis,
                    spare: est.spare,
                });
                Ok(())
            }
            Err(Step::Fatal(e)) => {
                self.fail(e.clone());
                Err(e)
            }
            Err(Step::Reject(_)) => Err(IkeClientError::NotReady),
        }
    }

    /// Starts a quick mode offering the relay's granted s-side SPIs; sends qm1.
    pub(super) fn start_quick(
        &mut self,
        now: Timestamp,
        p1: &Phase1Sa,
        float: bool,
        s_spis: BundleSpis,
    ) -> Result<QuickModeInitiator, Step> {
        let (qm, qm1) =
            QuickModeInitiator::start(p1, self.child_config(float), s_spis, &mut self.rng)
                .map_err(|e| Step::Fatal(e.into()))?;
        let qm1 = self.to_c_side(qm1);
        self.send(now, qm1, true);
        Ok(qm)
    }

    /// The configured proposals in the mode NAT detection toward the SGW asks for:
    /// UDP-encapsulated tunnel when IKE floated, plain tunnel otherwise.
    fn child_config(&self, float: bool) -> ChildConfig {
        let mode = if float {
            Encapsulation::UdpTunnel
        } else {
            Encapsulation::Tunnel
        };
        ChildConfig {
            proposals: self
                .config
                .child
                .proposals
                .iter()
                .map(|p| ChildProposal { mode, ..*p })
                .collect(),
            ..self.config.child.clone()
        }
    }

    /// The tail of the message that completes a bundle on our side (our qm3, or our qm2 to
    /// the SGW's qm1): everything the relay needs for its datapath entry.
    fn bundle_tail(
        &self,
        child: &ChildSa,
        s_spi_offer: BundleSpis,
        c_spis: BundleSpis,
    ) -> Result<Vec<u8>, Step> {
        Qm3Tail {
            s_spi_sgw: child.outbound_spis,
            s_spi_offer,
            c_spi_client: c_spis,
            s_udp_encap: child.proposal.mode == Encapsulation::UdpTunnel,
            c_udp_encap: self.config.c_udp_encap,
            lifetime_secs: child.proposal.lifetime_secs,
        }
        .encode()
        .map_err(|e| Step::Fatal(e.into()))
    }

    /// qm2 of our quick mode: established, or stay.
    pub(super) fn on_qm2(
        &mut self,
        now: Timestamp,
        mut s: AwaitQm2,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        match self.send_qm3(now, &mut s, msg, tail) {
            Ok((t, next_grant)) => {
                s.spare.extend(next_grant);
                let e = Established {
                    session: s.session,
                    p1: s.p1,
                    spare: s.spare,
                    last: Some((msg.to_vec(), t)),
                };
                (State::Established(e), Ok(()))
            }
            Err(e) => (State::AwaitQm2(s), Err(e)),
        }
    }

    /// Answers qm2 with qm3 (not retransmitted: a repeated qm2 asks for it again) and reports
    /// the bundle; returns qm3 and the grant for the next quick mode, if qm2's tail brought
    /// one.
    fn send_qm3(
        &mut self,
        now: Timestamp,
        s: &mut AwaitQm2,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> Result<(IkeDatagram, Option<SpiGrant>), Step> {
        // The relay's grant for the next quick mode rides on qm2.
        let next_grant = match tail {
            Some((TailType::TRANSPORT, header, body)) => {
                Some(Self::open_grant(&mut s.session, msg, &header, &body)?)
            }
            Some(_) => return Err(Step::Reject(Reject::Tail)),
            None => None,
        };
        let (qm3, sa) =
            s.qm.handle_qm2(&s.p1, &self.to_s_side(msg))
                .map_err(phase2_step)?;
        let items = self.bundle_tail(&sa, s.grant.s_spi_offer, s.c_spis)?;
        let qm3 = self.to_c_side(qm3);
        let d = Self::with_tail(&mut s.session, qm3, &items).map_err(Step::Fatal)?;
        let t = self.send(now, d, false);
        self.child_established(now, sa, s.c_spis, s.grant.c_spi_relay, true);
        Ok((t, next_grant))
    }

    /// With the IKE SA up: a repeated qm2 (answered with the same qm3) or a qm1 of the SGW
    /// (its rekey), which comes with the relay's grant.
    pub(super) fn on_qm1(
        &mut self,
        now: Timestamp,
        mut s: Established,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        if let Some((qm2, qm3)) = &s.last {
            if qm2.as_slice() == msg {
                self.transmits.push_back(qm3.clone());
                return (State::Established(s), Err(Step::Reject(Reject::Duplicate)));
            }
        }
        match self.respond_quick(now, &mut s.session, &s.p1, msg, tail) {
            Ok((qm, grant, c_spis, qm2)) => {
                let r = RespondingQm {
                    session: s.session,
                    p1: s.p1,
                    spare: s.spare,
                    qm: Box::new(qm),
                    grant,
                    c_spis,
                    qm1: msg.to_vec(),
                    qm2,
                };
                (State::RespondingQm(r), Ok(()))
            }
            Err(e) => (State::Established(s), Err(e)),
        }
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
        tail: ReceivedTail,
    ) -> Result<(QuickModeResponder, SpiGrant, BundleSpis, IkeDatagram), Step> {
        let is_quick = Message::parse_exact(msg)
            .map(|m| m.header().exchange_type() == ExchangeType::QUICK_MODE)
            .unwrap_or(false);
        if !is_quick {
            return Err(Step::Reject(Reject::Unexpected));
        }
        let Some((TailType::TRANSPORT, header, body)) = tail else {
            return Err(Step::Reject(Reject::Tail));
        };
        let grant = Self::open_grant(session, msg, &header, &body)?;
        let config = self.child_config(p1.nat.float());
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
        let items = self.bundle_tail(child, grant.s_spi_offer, c_spis)?;
        let qm2 = self.to_c_side(qm2);
        let d = Self::with_tail(session, qm2, &items).map_err(Step::Fatal)?;
        let t = self.send(now, d, true);
        Ok((qm, grant, c_spis, t))
    }

    /// qm3 of the SGW's quick mode (or a repeated qm1, answered with the same qm2): the
    /// bundle is established, or stay.
    pub(super) fn on_qm3(
        &mut self,
        now: Timestamp,
        mut s: RespondingQm,
        msg: &[u8],
    ) -> (State, Result<(), Step>) {
        if s.qm1.as_slice() == msg {
            self.transmits.push_back(s.qm2.clone());
            return (State::RespondingQm(s), Err(Step::Reject(Reject::Duplicate)));
        }
        match s.qm.handle_qm3(&s.p1, &self.to_s_side(msg)) {
            Ok(sa) => {
                self.pending = None;
                self.child_established(now, sa, s.c_spis, s.grant.c_spi_relay, false);
                let e = Established {
                    session: s.session,
                    p1: s.p1,
                    spare: s.spare,
                    last: None,
                };
                (State::Established(e), Ok(()))
            }
            Err(e) => (State::RespondingQm(s), Err(phase2_step(e))),
        }
    }
}

/// A refused proposal or traffic selectors end the attempt; anything else is dropped so a
/// genuine retransmission can still succeed.
fn phase2_step(e: Phase2Error) -> Step {
    match e {
        Phase2Error::Proposal(_) | Phase2Error::TrafficSelectors => {
            Step::Fatal(IkeClientError::Phase2(e))
        }
        _ => Step::Reject(Reject::Message),
    }
}
