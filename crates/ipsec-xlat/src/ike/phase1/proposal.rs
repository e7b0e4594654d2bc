//! Phase-1 proposals: what an initiator offers in mm1's SA payload and how a responder picks.
//!
//! The SA payload body (SAi_b) enters HASH_I and HASH_R byte for byte, so the client must send
//! exactly what it hashes, and the relay must forward it untouched. We emit the shape
//! strongSwan emits (one ISAKMP proposal with one KEY_IKE transform per suite, attributes in
//! the order encryption, key length, hash, group, authentication method, life type, life
//! duration), which a test checks against a captured mm1.

use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm};
use crate::ike::dh::DhGroup;
use crate::wire::isakmp::{
    AttrValue, AttributeRepr, AuthMethod, Doi, IkeAttributeType, IsakmpTransformId, LifeType,
    ProposalRepr, ProtocolId, SaPayload, SaRepr, TransformRepr, SIT_IDENTITY_ONLY,
};

/// Phase-1 authentication methods we implement (RFC 2409 App. A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase1Auth {
    /// Pre-shared key (1).
    PreSharedKey,
    /// RSA signatures (3).
    RsaSignatures,
}

impl Phase1Auth {
    fn attribute(self) -> AuthMethod {
        match self {
            Self::PreSharedKey => AuthMethod::PRE_SHARED_KEY,
            Self::RsaSignatures => AuthMethod::RSA_SIGNATURES,
        }
    }

    fn from_attribute(value: u64) -> Option<Self> {
        match u16::try_from(value).ok().map(AuthMethod) {
            Some(AuthMethod::PRE_SHARED_KEY) => Some(Self::PreSharedKey),
            Some(AuthMethod::RSA_SIGNATURES) => Some(Self::RsaSignatures),
            _ => None,
        }
    }
}

/// One phase-1 suite: cipher, hash (and thus PRF), DH group, authentication, lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phase1Proposal {
    /// Encryption of mm5 onward.
    pub cipher: IkeCipherAlgorithm,
    /// Hash algorithm; the PRF is its HMAC.
    pub hash: HashAlgorithm,
    /// Diffie-Hellman group of mm3/mm4.
    pub group: DhGroup,
    /// Authentication method.
    pub auth: Phase1Auth,
    /// Lifetime in seconds (strongSwan offers 15840 by default).
    pub lifetime_secs: u32,
}

/// Why a received phase-1 SA payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Nothing offered matches any of our suites (NO-PROPOSAL-CHOSEN).
    #[error("no acceptable phase-1 proposal")]
    NoProposalChosen,
    /// A responder's answer is not one transform of what we offered.
    #[error("responder chose a transform we did not offer")]
    NotOffered,
}

impl Phase1Proposal {
    /// The KEY_IKE transform for this suite, numbered `number`.
    fn transform(&self, number: u8) -> TransformRepr {
        let mut attributes = vec![AttributeRepr::basic(
            IkeAttributeType::ENCRYPTION_ALGORITHM,
            IkeCipherAlgorithm::IKEV1_AES_CBC,
        )];
        attributes.push(AttributeRepr::basic(
            IkeAttributeType::KEY_LENGTH,
            self.cipher.key_length_bits(),
        ));
        attributes.push(AttributeRepr::basic(
            IkeAttributeType::HASH_ALGORITHM,
            self.hash.ikev1_attribute(),
        ));
        attributes.push(AttributeRepr::basic(
            IkeAttributeType::GROUP_DESCRIPTION,
            self.group.0,
        ));
        attributes.push(AttributeRepr::basic(
            IkeAttributeType::AUTHENTICATION_METHOD,
            self.auth.attribute(),
        ));
        attributes.push(AttributeRepr::basic(
            IkeAttributeType::LIFE_TYPE,
            LifeType::SECONDS,
        ));
        attributes.push(AttributeRepr::number(
            IkeAttributeType::LIFE_DURATION,
            u64::from(self.lifetime_secs),
        ));
        TransformRepr {
            number,
            transform_id: IsakmpTransformId::KEY_IKE.0,
            attributes,
        }
    }

    /// Reads one KEY_IKE transform back; `None` if it uses anything we do not implement
    /// (including unknown attributes, which RFC 2409 says must make the transform
    /// unacceptable).
    fn from_transform(t: &TransformRepr) -> Option<Self> {
        if t.transform_id != IsakmpTransformId::KEY_IKE.0 {
            return None;
        }
        let (mut enc, mut key_len, mut hash, mut group, mut auth) = (None, None, None, None, None);
        let (mut life_type, mut life) = (None, None);
        for a in &t.attributes {
            let v = attr_u64(&a.value)?;
            match IkeAttributeType(a.attr_type) {
                IkeAttributeType::ENCRYPTION_ALGORITHM => enc = Some(v),
                IkeAttributeType::KEY_LENGTH => key_len = Some(v),
                IkeAttributeType::HASH_ALGORITHM => hash = Some(v),
                IkeAttributeType::GROUP_DESCRIPTION => group = Some(v),
                IkeAttributeType::AUTHENTICATION_METHOD => auth = Some(v),
                IkeAttributeType::LIFE_TYPE => life_type = Some(v),
                IkeAttributeType::LIFE_DURATION => life = Some(v),
                _ => return None,
            }
        }
        let cipher = IkeCipherAlgorithm::from_ikev1_attributes(
            u16::try_from(enc?).ok()?,
            key_len.and_then(|k| u16::try_from(k).ok()),
        )?;
        let hash = HashAlgorithm::from_ikev1_attribute(u16::try_from(hash?).ok()?)?;
        let group = DhGroup(u16::try_from(group?).ok()?);
        if !group.is_supported() {
            return None;
        }
        let auth = Phase1Auth::from_attribute(auth?)?;
        // Only a lifetime in seconds is understood; absent means the RFC 2409 default of 8 h.
        let lifetime_secs = match (life_type, life) {
            (None, None) => 28_800,
            (Some(t), Some(d)) if t == u64::from(LifeType::SECONDS.0) => u32::try_from(d).ok()?,
            _ => return None,
        };
        Some(Self {
            cipher,
            hash,
            group,
            auth,
            lifetime_secs,
        })
    }
}

/// A numeric attribute value (basic, or variable up to 8 bytes, big-endian).
fn attr_u64(value: &AttrValue) -> Option<u64> {
    match value {
        AttrValue::Basic(v) => Some(u64::from(*v)),
        AttrValue::Variable(bytes) if bytes.len() <= 8 => {
            Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        }
        AttrValue::Variable(_) => None,
    }
}

/// The SA payload an initiator sends in mm1: one ISAKMP proposal holding one transform per
/// suite, in our order of preference.
pub fn offer(suites: &[Phase1Proposal]) -> SaRepr {
    let transforms = suites
        .iter()
        .zip(1u8..)
        .map(|(s, n)| s.transform(n))
        .collect();
    SaRepr {
        doi: Doi::IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![ProposalRepr {
            number: 1,
            protocol: ProtocolId::ISAKMP,
            spi: Vec::new(),
            transforms,
        }],
    }
}

/// Responder: picks the first offered transform (initiator's preference order) that equals one
/// of `ours` in algorithms; the initiator's lifetime is accepted as offered, as strongSwan
/// does. Returns the suite and the SA payload to answer with (the chosen transform alone,
/// with its original number).
pub fn select(
    offered: &SaPayload<'_>,
    ours: &[Phase1Proposal],
) -> Result<(Phase1Proposal, SaRepr), ProposalError> {
    let offered = offered.to_repr();
    for proposal in &offered.proposals {
        if proposal.protocol != ProtocolId::ISAKMP {
            continue;
        }
        for t in &proposal.transforms {
            let Some(suite) = Phase1Proposal::from_transform(t) else {
                continue;
            };
            let acceptable = ours.iter().any(|o| {
                o.cipher == suite.cipher
                    && o.hash == suite.hash
                    && o.group == suite.group
                    && o.auth == suite.auth
            });
            if acceptable {
                let answer = SaRepr {
                    doi: offered.doi,
                    situation: offered.situation,
                    proposals: vec![ProposalRepr {
                        number: proposal.number,
                        protocol: ProtocolId::ISAKMP,
                        spi: proposal.spi.clone(),
                        transforms: vec![t.clone()],
                    }],
                };
                return Ok((suite, answer));
            }
        }
    }
    Err(ProposalError::NoProposalChosen)
}

/// Initiator: checks the responder's mm2 SA payload names exactly one transform that we
/// offered, and returns that suite.
pub fn accept_choice(
    chosen: &SaPayload<'_>,
    offered: &[Phase1Proposal],
) -> Result<Phase1Proposal, ProposalError> {
    let chosen = chosen.to_repr();
    let mut transforms = chosen.proposals.iter().flat_map(|p| p.transforms.iter());
    let (Some(t), None) = (transforms.next(), transforms.next()) else {
        return Err(ProposalError::NotOffered);
    };
    let suite = Phase1Proposal::from_transform(t).ok_or(ProposalError::NotOffered)?;
    if offered.contains(&suite) {
        Ok(suite)
    } else {
        Err(ProposalError::NotOffered)
    }
}

/// The lifetime (seconds) of the single transform a responder chose (mm2's SA payload), if it
/// is one we understand. The relay reads it to expire its IKE entry with the SA.
pub fn chosen_lifetime(chosen: &SaPayload<'_>) -> Option<u32> {
    let chosen = chosen.to_repr();
    let mut transforms = chosen.proposals.iter().flat_map(|p| p.transforms.iter());
    let (Some(t), None) = (transforms.next(), transforms.next()) else {
        return None;
    };
    Phase1Proposal::from_transform(t).map(|p| p.lifetime_secs)
}
