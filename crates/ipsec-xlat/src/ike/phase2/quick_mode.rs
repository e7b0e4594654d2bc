//! Quick mode (RFC 2409 section 5.5) as message-level initiator and responder cores over an
//! established [`Phase1Sa`].
//!
//! | msg | payloads (all encrypted) |
//! | --- | --- |
//! | qm1 | HASH(1), SA, NONCE, [KE], ID(ci), ID(cr) |
//! | qm2 | HASH(2), SA, NONCE, [KE], ID(ci), ID(cr) |
//! | qm3 | HASH(3) |
//!
//! IVs: the exchange starts from `hash(last phase-1 block | M-ID)` and chains through the
//! three messages. As in phase 1, a handler that fails leaves the core unchanged.

use rand_core::{CryptoRng, RngCore};

use super::proposal::{
    accept_child, offer_child, select_child, BundleSpis, ChildProposal, ChildProposalError,
};
use crate::ike::crypto::{
    quick_mode_hash1, quick_mode_hash2, quick_mode_hash3, verify_hash, IkeCryptoError,
    IpsecProtocolId, Iv, KeymatInput, SaKeys,
};
use crate::ike::dh::{DhError, DhPrivate, SharedSecret};
use crate::ike::phase1::{fresh_message_id, fresh_nonce, seal_chained, Chain, Phase1Sa};
use crate::wire::isakmp::{
    ChainBuilder, Cookie, ExchangeType, IdRepr, IsakmpError, Message, MessageBuilder, PayloadType,
    SaPayload, SaRepr,
};

/// Why a quick mode message was refused or could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Phase2Error {
    /// The message does not parse.
    #[error("malformed message: {0}")]
    Malformed(#[from] IsakmpError),
    /// Wrong exchange, message ID, cookies, or not awaited now.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// A required payload is absent or out of place.
    #[error("message lacks a {0:?} payload")]
    MissingPayload(PayloadType),
    /// Proposal negotiation failed.
    #[error(transparent)]
    Proposal(#[from] ChildProposalError),
    /// The PFS key exchange failed.
    #[error("PFS key exchange: {0}")]
    Dh(#[from] DhError),
    /// Decryption failed (length).
    #[error("decryption: {0}")]
    Crypto(#[from] IkeCryptoError),
    /// HASH(1), HASH(2) or HASH(3) did not verify, or the body did not decrypt to payloads.
    #[error("quick mode hash did not verify")]
    AuthenticationFailed,
    /// The traffic selectors differ from what we propose or accept.
    #[error("traffic selectors not acceptable")]
    TrafficSelectors,
}

/// Traffic selectors and proposals of one child SA.
#[derive(Clone, Debug)]
pub struct ChildConfig {
    /// Alternatives in preference order (initiator: offered; responder: acceptable). All must
    /// use the same PFS group, as only one KE payload can be sent.
    pub proposals: Vec<ChildProposal>,
    /// Our side's selector (IDci for the initiator, IDcr for the responder).
    pub local_ts: IdRepr,
    /// The peer's side.
    pub remote_ts: IdRepr,
}

/// An established child SA (bundle): algorithms, SPIs and keys for both directions.
#[derive(Debug)]
pub struct ChildSa {
    /// The quick mode's message ID.
    pub message_id: u32,
    /// The agreed alternative.
    pub proposal: ChildProposal,
    /// Our inbound SPIs (those we put in our SA payload).
    pub inbound_spis: BundleSpis,
    /// Our outbound SPIs (those the peer put in its SA payload).
    pub outbound_spis: BundleSpis,
    /// ESP keys for traffic we receive.
    pub esp_in: Option<SaKeys>,
    /// ESP keys for traffic we send.
    pub esp_out: Option<SaKeys>,
    /// AH keys for traffic we receive.
    pub ah_in: Option<SaKeys>,
    /// AH keys for traffic we send.
    pub ah_out: Option<SaKeys>,
}

fn keys_for(
    p1: &Phase1Sa,
    pfs: Option<&SharedSecret>,
    proposal: &ChildProposal,
    protocol: IpsecProtocolId,
    spi: Option<u32>,
    ni_b: &[u8],
    nr_b: &[u8],
) -> Option<SaKeys> {
    let (enc, integ) = proposal.keymat_lens(protocol)?;
    let input = KeymatInput {
        protocol,
        spi: spi?,
        ni_b,
        nr_b,
    };
    Some(SaKeys::derive(&p1.keys, pfs, &input, enc, integ))
}

#[allow(clippy::too_many_arguments)]
fn child_sa(
    p1: &Phase1Sa,
    message_id: u32,
    proposal: ChildProposal,
    inbound_spis: BundleSpis,
    outbound_spis: BundleSpis,
    pfs: Option<&SharedSecret>,
    ni_b: &[u8],
    nr_b: &[u8],
) -> ChildSa {
    let k = |protocol, spi| keys_for(p1, pfs, &proposal, protocol, spi, ni_b, nr_b);
    ChildSa {
        message_id,
        proposal,
        esp_in: k(IpsecProtocolId::ESP, inbound_spis.esp),
        esp_out: k(IpsecProtocolId::ESP, outbound_spis.esp),
        ah_in: k(IpsecProtocolId::AH, inbound_spis.ah),
        ah_out: k(IpsecProtocolId::AH, outbound_spis.ah),
        inbound_spis,
        outbound_spis,
    }
}

fn builder(p1: &Phase1Sa, exchange: ExchangeType, message_id: u32) -> MessageBuilder {
    MessageBuilder::new(
        Cookie(p1.cookies.initiator),
        Cookie(p1.cookies.responder),
        exchange,
        message_id,
    )
}

/// Everything after the HASH payload, in order.
struct Body<'a> {
    sa: &'a SaRepr,
    nonce: &'a [u8],
    ke: Option<&'a [u8]>,
    id_ci: &'a IdRepr,
    id_cr: &'a IdRepr,
}

impl Body<'_> {
    fn push_into(&self, c: &mut ChainBuilder) -> Result<(), IsakmpError> {
        c.push_sa(self.sa)?;
        c.push_nonce(self.nonce)?;
        if let Some(ke) = self.ke {
            c.push_key_exchange(ke)?;
        }
        c.push_identification(self.id_ci)?;
        c.push_identification(self.id_cr)?;
        Ok(())
    }

    /// The bytes HASH(1)/HASH(2) cover.
    fn bytes(&self) -> Result<Vec<u8>, IsakmpError> {
        let mut c = ChainBuilder::new();
        self.push_into(&mut c)?;
        Ok(c.into_parts().1)
    }
}

/// Builds `HASH | body`, encrypts it under `iv`, returns the message and the next IV.
fn seal(
    p1: &Phase1Sa,
    message_id: u32,
    hash: &[u8],
    body: Option<&Body<'_>>,
    iv: &Iv,
) -> Result<(Vec<u8>, Iv), IsakmpError> {
    let mut b = builder(p1, ExchangeType::QUICK_MODE, message_id);
    b.push_hash(hash)?;
    if let Some(body) = body {
        body.push_into(&mut b)?;
    }
    seal_chained(b, &p1.cipher, iv)
}

/// Builds `HASH | chain` for an exchange other than quick mode (informational) and
/// encrypts it under `iv`.
pub(super) fn seal_chain(
    p1: &Phase1Sa,
    exchange: ExchangeType,
    message_id: u32,
    hash: &[u8],
    chain: &ChainBuilder,
    iv: &Iv,
) -> Result<Vec<u8>, IsakmpError> {
    let mut b = builder(p1, exchange, message_id);
    b.push_hash(hash)?;
    b.append(chain);
    b.seal(|plain| p1.cipher.encrypt(iv, &plain).bytes)
}

/// A decrypted phase-2 message: its chain, the HASH body and the bytes after HASH.
pub(super) struct Opened {
    pub(super) chain: Chain,
    pub(super) hash: Vec<u8>,
    pub(super) after_hash: Vec<u8>,
    pub(super) next_iv: Iv,
}

fn open(p1: &Phase1Sa, message_id: u32, msg: &[u8], iv: &Iv) -> Result<Opened, Phase2Error> {
    open_exchange(p1, ExchangeType::QUICK_MODE, message_id, msg, iv)
}

/// Decrypts a phase-2 message of `exchange` under `iv` and splits off its leading HASH.
pub(super) fn open_exchange(
    p1: &Phase1Sa,
    exchange: ExchangeType,
    message_id: u32,
    msg: &[u8],
    iv: &Iv,
) -> Result<Opened, Phase2Error> {
    let message = Message::parse_exact(msg)?;
    let h = message.header();
    if h.exchange_type() != exchange || h.message_id() != message_id {
        return Err(Phase2Error::Unexpected("not this exchange"));
    }
    if h.initiator_cookie().0 != p1.cookies.initiator
        || h.responder_cookie().0 != p1.cookies.responder
    {
        return Err(Phase2Error::Unexpected("cookie mismatch"));
    }
    if !message.is_encrypted() {
        return Err(Phase2Error::Unexpected("quick mode must be encrypted"));
    }
    let out = p1.cipher.decrypt(iv, message.body())?;
    let chain = Chain::decrypted(h.next_payload(), &out.bytes)
        .map_err(|_| Phase2Error::AuthenticationFailed)?;
    let first = chain
        .items
        .first()
        .filter(|i| i.kind == PayloadType::HASH)
        .ok_or(Phase2Error::MissingPayload(PayloadType::HASH))?;
    let after_hash = out
        .bytes
        .get(first.end..chain.end)
        .ok_or(Phase2Error::MissingPayload(PayloadType::HASH))?
        .to_vec();
    Ok(Opened {
        hash: first.body.clone(),
        chain,
        after_hash,
        next_iv: out.next_iv,
    })
}

fn need(chain: &Chain, kind: PayloadType) -> Result<Vec<u8>, Phase2Error> {
    chain
        .first(kind)
        .map(|i| i.body.clone())
        .ok_or(Phase2Error::MissingPayload(kind))
}

/// The two ID payload bodies (IDci, IDcr) if present.
fn ids(chain: &Chain) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut it = chain.all(PayloadType::IDENTIFICATION);
    let (ci, cr) = (it.next()?, it.next()?);
    Some((ci.body.clone(), cr.body.clone()))
}

fn id_body(id: &IdRepr) -> Vec<u8> {
    let mut v = Vec::new();
    id.emit_body(&mut v);
    v
}

/// The quick mode initiator (the client, toward the SGW).
pub struct QuickModeInitiator {
    config: ChildConfig,
    message_id: u32,
    spis: BundleSpis,
    ni: Vec<u8>,
    dh: Option<Box<DhPrivate>>,
    iv: Iv,
    done: bool,
}

impl core::fmt::Debug for QuickModeInitiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuickModeInitiator")
            .field("message_id", &self.message_id)
            .field("spis", &self.spis)
            .finish_non_exhaustive()
    }
}

impl QuickModeInitiator {
    /// Starts a quick mode offering `spis` (our inbound SPIs, as the SGW will see them) and
    /// returns qm1. The message ID is drawn from `rng` (non-zero).
    pub fn start<R: RngCore + CryptoRng>(
        p1: &Phase1Sa,
        config: ChildConfig,
        spis: BundleSpis,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Phase2Error> {
        let message_id = fresh_message_id(rng);
        let pfs = config.proposals.first().and_then(|p| p.pfs);
        if config.proposals.iter().any(|p| p.pfs != pfs) {
            return Err(Phase2Error::Proposal(ChildProposalError::NoProposalChosen));
        }
        let dh = match pfs {
            Some(g) => Some(Box::new(DhPrivate::generate(g, rng)?)),
            None => None,
        };
        let ke = dh.as_ref().map(|d| d.public_value());
        let ni = fresh_nonce(rng);
        let sa = offer_child(&config.proposals, &spis)?;
        let body = Body {
            sa: &sa,
            nonce: &ni,
            ke: ke.as_deref(),
            id_ci: &config.local_ts,
            id_cr: &config.remote_ts,
        };
        let hash = quick_mode_hash1(&p1.keys, message_id, &body.bytes()?);
        let iv = Iv::phase2_initial(p1.suite.hash, &p1.last_block, message_id);
        let (qm1, next) = seal(p1, message_id, &hash, Some(&body), &iv)?;
        Ok((
            Self {
                config,
                message_id,
                spis,
                ni,
                dh,
                iv: next,
                done: false,
            },
            qm1,
        ))
    }

    /// This exchange's message ID.
    pub fn message_id(&self) -> u32 {
        self.message_id
    }

    /// Handles qm2: verifies HASH(2), the proposal and selectors, derives KEYMAT and returns
    /// qm3 with the child SA.
    pub fn handle_qm2(
        &mut self,
        p1: &Phase1Sa,
        qm2: &[u8],
    ) -> Result<(Vec<u8>, ChildSa), Phase2Error> {
        if self.done {
            return Err(Phase2Error::Unexpected("quick mode already complete"));
        }
        let o = open(p1, self.message_id, qm2, &self.iv)?;
        let expected = quick_mode_hash2(&p1.keys, self.message_id, &self.ni, &o.after_hash);
        if !verify_hash(&expected, &o.hash) {
            return Err(Phase2Error::AuthenticationFailed);
        }
        let sa_body = need(&o.chain, PayloadType::SECURITY_ASSOCIATION)?;
        let (proposal, peer_spis) =
            accept_child(&SaPayload::parse(&sa_body, 0)?, &self.config.proposals)?;
        let nr = need(&o.chain, PayloadType::NONCE)?;
        let g_qm = match (&self.dh, o.chain.first(PayloadType::KEY_EXCHANGE)) {
            (Some(dh), Some(ke)) => Some(dh.agree(&ke.body)?),
            (None, None) => None,
            _ => return Err(Phase2Error::MissingPayload(PayloadType::KEY_EXCHANGE)),
        };
        let (ci, cr) =
            ids(&o.chain).ok_or(Phase2Error::MissingPayload(PayloadType::IDENTIFICATION))?;
        if ci != id_body(&self.config.local_ts) || cr != id_body(&self.config.remote_ts) {
            return Err(Phase2Error::TrafficSelectors);
        }
        let hash3 = quick_mode_hash3(&p1.keys, self.message_id, &self.ni, &nr);
        let (qm3, _) = seal(p1, self.message_id, &hash3, None, &o.next_iv)?;
        let child = child_sa(
            p1,
            self.message_id,
            proposal,
            self.spis,
            peer_spis,
            g_qm.as_ref(),
            &self.ni,
            &nr,
        );
        self.done = true;
        Ok((qm3, child))
    }
}

/// The quick mode responder (the test-SGW).
pub struct QuickModeResponder {
    message_id: u32,
    ni: Vec<u8>,
    nr: Vec<u8>,
    iv: Iv,
    child: Option<ChildSa>,
}

impl core::fmt::Debug for QuickModeResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuickModeResponder")
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

impl QuickModeResponder {
    /// Handles qm1: verifies HASH(1), selects a proposal, checks the selectors (they must be
    /// the mirror of ours), answers with qm2 offering `spis`.
    pub fn handle_qm1<R: RngCore + CryptoRng>(
        p1: &Phase1Sa,
        config: &ChildConfig,
        spis: BundleSpis,
        qm1: &[u8],
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Phase2Error> {
        let message_id = Message::parse_exact(qm1)?.header().message_id();
        if message_id == 0 {
            return Err(Phase2Error::Unexpected("quick mode with message ID 0"));
        }
        let iv = Iv::phase2_initial(p1.suite.hash, &p1.last_block, message_id);
        let o = open(p1, message_id, qm1, &iv)?;
        let expected = quick_mode_hash1(&p1.keys, message_id, &o.after_hash);
        if !verify_hash(&expected, &o.hash) {
            return Err(Phase2Error::AuthenticationFailed);
        }
        let sa_body = need(&o.chain, PayloadType::SECURITY_ASSOCIATION)?;
        let (proposal, peer_spis, answer) =
            select_child(&SaPayload::parse(&sa_body, 0)?, &config.proposals, &spis)?;
        let ni = need(&o.chain, PayloadType::NONCE)?;
        let (ci, cr) =
            ids(&o.chain).ok_or(Phase2Error::MissingPayload(PayloadType::IDENTIFICATION))?;
        if ci != id_body(&config.remote_ts) || cr != id_body(&config.local_ts) {
            return Err(Phase2Error::TrafficSelectors);
        }
        let (ke, g_qm) = match (proposal.pfs, o.chain.first(PayloadType::KEY_EXCHANGE)) {
            (Some(group), Some(peer)) => {
                let dh = DhPrivate::generate(group, rng)?;
                let shared = dh.agree(&peer.body)?;
                (Some(dh.public_value()), Some(shared))
            }
            (None, None) => (None, None),
            _ => return Err(Phase2Error::MissingPayload(PayloadType::KEY_EXCHANGE)),
        };
        let nr = fresh_nonce(rng);
        let body = Body {
            sa: &answer,
            nonce: &nr,
            ke: ke.as_deref(),
            id_ci: &config.remote_ts,
            id_cr: &config.local_ts,
        };
        let hash2 = quick_mode_hash2(&p1.keys, message_id, &ni, &body.bytes()?);
        let (qm2, next) = seal(p1, message_id, &hash2, Some(&body), &o.next_iv)?;
        let child = child_sa(
            p1,
            message_id,
            proposal,
            spis,
            peer_spis,
            g_qm.as_ref(),
            &ni,
            &nr,
        );
        Ok((
            Self {
                message_id,
                ni,
                nr,
                iv: next,
                child: Some(child),
            },
            qm2,
        ))
    }

    /// This exchange's message ID.
    pub fn message_id(&self) -> u32 {
        self.message_id
    }

    /// The child SA this exchange will yield once qm3 verifies (available from qm1 on: the
    /// relay-side client needs the peer's SPIs to report them with qm2).
    pub(crate) fn pending_child(&self) -> Option<&ChildSa> {
        self.child.as_ref()
    }

    /// Handles qm3: verifies HASH(3) and hands over the child SA (installed only now, as
    /// strongSwan's responder does).
    pub fn handle_qm3(&mut self, p1: &Phase1Sa, qm3: &[u8]) -> Result<ChildSa, Phase2Error> {
        if self.child.is_none() {
            return Err(Phase2Error::Unexpected("quick mode already complete"));
        }
        let o = open(p1, self.message_id, qm3, &self.iv)?;
        let expected = quick_mode_hash3(&p1.keys, self.message_id, &self.ni, &self.nr);
        if !verify_hash(&expected, &o.hash) {
            return Err(Phase2Error::AuthenticationFailed);
        }
        self.child
            .take()
            .ok_or(Phase2Error::Unexpected("quick mode already complete"))
    }
}
