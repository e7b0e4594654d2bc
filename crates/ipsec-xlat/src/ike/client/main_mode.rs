//! Main mode with the SGW through the relay (RFC 2409 section 5), one handler per message the
//! client receives:
//!
//! - [`IkeClient::mm1`]: mm1 with the Noise handshake tail naming the user
//!   (`docs/PROTOCOL.md` §4.2).
//! - [`IkeClient::on_mm2`]: mm2's handshake tail completes the Noise handshake and brings the
//!   s-side cookies and path; the client adopts them and answers with mm3 (its NAT-D is
//!   computed over the relay's s-side address, RFC 3947 section 3.2).
//! - [`IkeClient::on_mm4`]: mm5 with a tail giving our c-side SPIs and whether IKE floats to
//!   port 4500 (RFC 3947 section 4).
//! - [`IkeClient::on_mm6`]: the IKE SA is up; mm6's tail brings the SPI grant for the first
//!   quick mode, which starts at once.
//!
//! See `docs/PROTOCOL.md` §4.1 and §4.3 for what the relay does with each.

use crate::time::Timestamp;

use rand_chacha::ChaCha20Rng;

use super::AwaitQm2;
use super::{
    IkeClient, IkeClientConfig, IkeClientError, IkeClientEvent, ReceivedTail, Reject, State, Step,
};
use crate::ike::crypto::Cookies;
use crate::ike::endpoint::tail_aad;
use crate::ike::phase1::{MainModeInitiator, NatState, Phase1Error, Phase1Sa};
use crate::ike::phase2::{BundleSpis, QuickModeInitiator};
use crate::ike::tail_content::{Mm1Tail, Mm2Tail, Mm5Tail, SpiGrant};
use crate::ike::tail_crypto::{TailInitiator, TailSession, MM1_OVERHEAD};
use crate::wire::isakmp::Message;
use crate::wire::tail::{join, TailType};
use std::collections::VecDeque;

/// mm1 sent, waiting for mm2 and its handshake tail.
pub(super) struct AwaitMm2 {
    tail: Box<TailInitiator>,
    core: Box<MainModeInitiator>,
}

/// mm3 sent, waiting for mm4.
pub(super) struct AwaitMm4 {
    session: TailSession,
    core: Box<MainModeInitiator>,
}

/// mm5 sent, waiting for mm6 and its tail.
pub(super) struct AwaitMm6 {
    session: TailSession,
    core: Box<MainModeInitiator>,
    /// c-SPI-1 of the first quick mode, sent in mm5's tail.
    c_spis: BundleSpis,
    nat: NatState,
}

impl IkeClient {
    /// mm1 with its handshake tail (the user ID for the relay's identification table), the
    /// state waiting for mm2, and our c-side cookies.
    pub(super) fn mm1(
        config: &IkeClientConfig,
        rng: &mut ChaCha20Rng,
    ) -> Result<(AwaitMm2, Cookies, Vec<u8>), IkeClientError> {
        let mut tail = TailInitiator::new(&config.static_key, &config.relay_key, rng)?;
        let (core, mm1) = MainModeInitiator::start(config.phase1.clone(), config.relay, rng)
            .map_err(IkeClientError::Phase1)?;
        let c_cookies = core.cookies();
        let items = Mm1Tail {
            user_id: config.user_id.clone(),
        }
        .encode()?;
        let body_len = items.len().saturating_add(MM1_OVERHEAD);
        let body = tail.write_mm1(&tail_aad(&mm1, TailType::HANDSHAKE, body_len), &items)?;
        let datagram = join(&mm1, TailType::HANDSHAKE, &body)?;
        let state = AwaitMm2 {
            tail: Box::new(tail),
            core: Box::new(core),
        };
        Ok((state, c_cookies, datagram))
    }

    /// mm2: on to mm4, or stay.
    pub(super) fn on_mm2(
        &mut self,
        now: Timestamp,
        mut s: AwaitMm2,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        match self.send_mm3(now, &mut s, msg, tail) {
            Ok(session) => (
                State::AwaitMm4(AwaitMm4 {
                    session,
                    core: s.core,
                }),
                Ok(()),
            ),
            Err(e) => (State::AwaitMm2(s), Err(e)),
        }
    }

    /// Completes the handshake from mm2's tail, adopts the s-side view it names, sends mm3.
    fn send_mm3(
        &mut self,
        now: Timestamp,
        s: &mut AwaitMm2,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> Result<TailSession, Step> {
        let (ty, header, body) = tail.ok_or(Step::Reject(Reject::Tail))?;
        if ty != TailType::HANDSHAKE {
            return Err(Step::Reject(Reject::Tail));
        }
        let mut aad = msg.to_vec();
        aad.extend_from_slice(&header);
        let (session, items) = s
            .tail
            .read_mm2(&aad, &body)
            .map_err(|_| Step::Reject(Reject::Tail))?;
        let mm2t = Mm2Tail::decode(&items).map_err(|e| Step::Fatal(e.into()))?;
        let c_responder = Message::parse_exact(msg)
            .map(|m| m.header().responder_cookie().0)
            .map_err(|_| Step::Reject(Reject::Message))?;
        // From here on the exchange is committed to these s-side values: the tail that
        // carried them authenticated, and the Noise handshake is complete.
        self.c_cookies.responder = c_responder;
        self.s_cookies = mm2t.s_cookies;
        s.core.set_initiator_cookie(mm2t.s_cookies.initiator);
        s.core.set_nat_view(mm2t.relay_s, mm2t.sgw);
        self.s_path = (mm2t.relay_s, mm2t.sgw);
        let mm3 = s
            .core
            .handle_mm2(&self.to_s_side(msg), &mut self.rng)
            .map_err(|e| match phase1_step(e) {
                // The handshake is spent: a bad mm2 behind a good tail cannot be retried, so
                // it ends the attempt.
                Step::Reject(_) => Step::Fatal(IkeClientError::Phase1(Phase1Error::Unexpected(
                    "mm2 refused after its tail",
                ))),
                fatal => fatal,
            })?;
        let mm3 = self.to_c_side(mm3);
        self.send(now, mm3, true);
        Ok(session)
    }

    /// mm4: on to mm6, or stay.
    pub(super) fn on_mm4(
        &mut self,
        now: Timestamp,
        mut s: AwaitMm4,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        match self.send_mm5(now, &mut s, msg, tail) {
            Ok((c_spis, nat)) => (
                State::AwaitMm6(AwaitMm6 {
                    session: s.session,
                    core: s.core,
                    c_spis,
                    nat,
                }),
                Ok(()),
            ),
            Err(e) => (State::AwaitMm4(s), Err(e)),
        }
    }

    /// Sends mm5 with a tail giving the first quick mode's c-side SPIs and whether NAT
    /// detection made IKE float to port 4500.
    fn send_mm5(
        &mut self,
        now: Timestamp,
        s: &mut AwaitMm4,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> Result<(BundleSpis, NatState), Step> {
        if tail.is_some() {
            return Err(Step::Reject(Reject::Tail));
        }
        let mm5 = s
            .core
            .handle_mm4(&self.to_s_side(msg), &mut self.rng)
            .map_err(phase1_step)?;
        let nat = s.core.nat().unwrap_or_default();
        let c_spis = self.fresh_c_spis();
        let items = Mm5Tail {
            c_spis,
            s_float: nat.float(),
        }
        .encode()
        .map_err(|e| Step::Fatal(e.into()))?;
        let mm5 = self.to_c_side(mm5);
        let d = Self::with_tail(&mut s.session, mm5, &items).map_err(Step::Fatal)?;
        self.send(now, d, true);
        Ok((c_spis, nat))
    }

    /// mm6: the IKE SA is up and the first quick mode starts, or stay.
    pub(super) fn on_mm6(
        &mut self,
        now: Timestamp,
        mut s: AwaitMm6,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> (State, Result<(), Step>) {
        match self.send_qm1(now, &mut s, msg, tail) {
            Ok((p1, qm, grant)) => (
                State::AwaitQm2(AwaitQm2 {
                    session: s.session,
                    p1,
                    qm,
                    grant,
                    c_spis: s.c_spis,
                    spare: VecDeque::new(),
                }),
                Ok(()),
            ),
            Err(e) => (State::AwaitMm6(s), Err(e)),
        }
    }

    /// Completes main mode with mm6, arms the reauthentication, starts the first quick mode
    /// with the grant from mm6's tail.
    fn send_qm1(
        &mut self,
        now: Timestamp,
        s: &mut AwaitMm6,
        msg: &[u8],
        tail: ReceivedTail,
    ) -> Result<(Box<Phase1Sa>, QuickModeInitiator, SpiGrant), Step> {
        let (ty, header, body) = tail.ok_or(Step::Reject(Reject::Tail))?;
        if ty != TailType::TRANSPORT {
            return Err(Step::Reject(Reject::Tail));
        }
        let grant = Self::open_grant(&mut s.session, msg, &header, &body)?;
        let p1 = s
            .core
            .handle_mm6(&self.to_s_side(msg))
            .map_err(phase1_step)?;
        let qm = self.start_quick(now, &p1, s.nat.float(), grant.s_spi_offer)?;
        self.arm_reauth(now, p1.suite.lifetime_secs);
        self.events.push_back(IkeClientEvent::Phase1Established {
            cookies: p1.cookies,
            nat: s.nat,
        });
        Ok((Box::new(p1), qm, grant))
    }
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
