//! Quick mode proposals: the ESP and/or AH SA payload of qm1 and the responder's choice.
//!
//! Shape as strongSwan sends it: for each alternative, one proposal per protocol of the bundle
//! (AH before ESP when both, sharing the proposal number, RFC 2408 section 4.2), each with
//! one transform whose attributes come in the order key length, authentication algorithm,
//! group (with PFS), encapsulation mode, life type, life duration. The SPI in each proposal is
//! the sender's *inbound* SPI for that protocol; KEYMAT is computed with exactly these SPIs,
//! which is why the client offers the s-side SPI its relay chose.

use crate::ike::crypto::IpsecProtocolId;
use crate::ike::dh::DhGroup;
use crate::wire::isakmp::{
    AhTransformId, AttrValue, AttributeRepr, EncapsulationMode, EspTransformId, IpsecAttributeType,
    IpsecAuthAlgorithm, LifeType, ProposalRepr, ProtocolId, SaPayload, SaRepr, TransformRepr,
};

/// ESP encryption transforms we negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspCipher {
    /// AES-CBC, 128-bit key (RFC 3602).
    AesCbc128,
    /// AES-CBC, 256-bit key.
    AesCbc256,
    /// AES-GCM with 16-byte ICV, 128-bit key (RFC 4106).
    AesGcm16_128,
    /// AES-GCM with 16-byte ICV, 256-bit key.
    AesGcm16_256,
}

impl EspCipher {
    fn transform_id(self) -> EspTransformId {
        match self {
            Self::AesCbc128 | Self::AesCbc256 => EspTransformId::AES_CBC,
            Self::AesGcm16_128 | Self::AesGcm16_256 => EspTransformId::AES_GCM_16,
        }
    }

    fn key_bits(self) -> u16 {
        match self {
            Self::AesCbc128 | Self::AesGcm16_128 => 128,
            Self::AesCbc256 | Self::AesGcm16_256 => 256,
        }
    }

    fn from_wire(id: u8, key_bits: Option<u64>) -> Option<Self> {
        match (EspTransformId(id), key_bits) {
            (EspTransformId::AES_CBC, Some(128)) => Some(Self::AesCbc128),
            (EspTransformId::AES_CBC, Some(256)) => Some(Self::AesCbc256),
            (EspTransformId::AES_GCM_16, Some(128)) => Some(Self::AesGcm16_128),
            (EspTransformId::AES_GCM_16, Some(256)) => Some(Self::AesGcm16_256),
            _ => None,
        }
    }

    /// Whether this is an AEAD cipher (no separate integrity algorithm).
    pub(crate) fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16_128 | Self::AesGcm16_256)
    }

    /// KEYMAT bytes for the encryption key: the AES key, plus the 4-byte salt for GCM
    /// (RFC 4106 section 8.1).
    pub fn keymat_len(self) -> usize {
        let key = usize::from(self.key_bits() / 8);
        if self.is_aead() {
            key + 4
        } else {
            key
        }
    }
}

/// ChildIntegrity algorithms for ESP and AH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildIntegrity {
    /// HMAC-SHA-1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA-256-128 (RFC 4868).
    HmacSha256_128,
}

impl ChildIntegrity {
    fn auth_algorithm(self) -> IpsecAuthAlgorithm {
        match self {
            Self::HmacSha1_96 => IpsecAuthAlgorithm::HMAC_SHA1,
            Self::HmacSha256_128 => IpsecAuthAlgorithm::HMAC_SHA2_256,
        }
    }

    fn ah_transform_id(self) -> AhTransformId {
        match self {
            Self::HmacSha1_96 => AhTransformId::SHA,
            Self::HmacSha256_128 => AhTransformId::SHA2_256,
        }
    }

    fn from_auth_algorithm(v: u64) -> Option<Self> {
        match IpsecAuthAlgorithm(u16::try_from(v).ok()?) {
            IpsecAuthAlgorithm::HMAC_SHA1 => Some(Self::HmacSha1_96),
            IpsecAuthAlgorithm::HMAC_SHA2_256 => Some(Self::HmacSha256_128),
            _ => None,
        }
    }

    /// KEYMAT bytes for the integrity key (the HMAC key is the hash length).
    pub fn keymat_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
        }
    }
}

/// How the SA carries packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// Tunnel mode, raw ESP/AH.
    Tunnel,
    /// Tunnel mode in UDP (RFC 3948), negotiated after NAT detection.
    UdpTunnel,
}

impl Encapsulation {
    fn attribute(self) -> EncapsulationMode {
        match self {
            Self::Tunnel => EncapsulationMode::TUNNEL,
            Self::UdpTunnel => EncapsulationMode::UDP_TUNNEL,
        }
    }

    fn from_attribute(v: u64) -> Option<Self> {
        match EncapsulationMode(u16::try_from(v).ok()?) {
            EncapsulationMode::TUNNEL => Some(Self::Tunnel),
            EncapsulationMode::UDP_TUNNEL => Some(Self::UdpTunnel),
            _ => None,
        }
    }
}

/// One quick mode alternative: an ESP SA, an AH SA, or both as a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildProposal {
    /// ESP cipher and (for non-AEAD ciphers) integrity, if the bundle has ESP.
    pub esp: Option<(EspCipher, Option<ChildIntegrity>)>,
    /// AH integrity, if the bundle has AH.
    pub ah: Option<ChildIntegrity>,
    /// PFS group (KE payloads in qm1/qm2), if any.
    pub pfs: Option<DhGroup>,
    /// Encapsulation mode.
    pub mode: Encapsulation,
    /// Lifetime in seconds (strongSwan offers 3960 by default).
    pub lifetime_secs: u32,
}

/// The inbound SPIs one side offers, per protocol of the bundle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BundleSpis {
    /// ESP SPI.
    pub esp: Option<u32>,
    /// AH SPI.
    pub ah: Option<u32>,
}

/// Why quick mode proposals did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildProposalError {
    /// Nothing acceptable was offered (NO-PROPOSAL-CHOSEN).
    #[error("no acceptable quick mode proposal")]
    NoProposalChosen,
    /// The responder's answer is not one of our alternatives.
    #[error("responder chose a proposal we did not offer")]
    NotOffered,
    /// A proposal lacks the SPI for one of its protocols.
    #[error("missing SPI for a protocol of the bundle")]
    MissingSpi,
}

fn attrs(
    p: &ChildProposal,
    integ: Option<ChildIntegrity>,
    key_bits: Option<u16>,
) -> Vec<AttributeRepr> {
    let mut a = Vec::new();
    if let Some(bits) = key_bits {
        a.push(AttributeRepr::basic(IpsecAttributeType::KEY_LENGTH, bits));
    }
    if let Some(i) = integ {
        a.push(AttributeRepr::basic(
            IpsecAttributeType::AUTHENTICATION_ALGORITHM,
            i.auth_algorithm(),
        ));
    }
    if let Some(g) = p.pfs {
        a.push(AttributeRepr::basic(
            IpsecAttributeType::GROUP_DESCRIPTION,
            g.0,
        ));
    }
    a.push(AttributeRepr::basic(
        IpsecAttributeType::ENCAPSULATION_MODE,
        p.mode.attribute(),
    ));
    a.push(AttributeRepr::basic(
        IpsecAttributeType::SA_LIFE_TYPE,
        LifeType::SECONDS,
    ));
    a.push(AttributeRepr::number(
        IpsecAttributeType::SA_LIFE_DURATION,
        u64::from(p.lifetime_secs),
    ));
    a
}

impl ChildProposal {
    /// The proposal payloads of this alternative, numbered `number`, carrying `spis`.
    fn proposals(
        &self,
        number: u8,
        spis: &BundleSpis,
    ) -> Result<Vec<ProposalRepr>, ChildProposalError> {
        let mut out = Vec::new();
        if let Some(integ) = self.ah {
            let spi = spis.ah.ok_or(ChildProposalError::MissingSpi)?;
            out.push(ProposalRepr {
                number,
                protocol: ProtocolId::IPSEC_AH,
                spi: spi.to_be_bytes().to_vec(),
                transforms: vec![TransformRepr {
                    number: 1,
                    transform_id: integ.ah_transform_id().0,
                    attributes: attrs(self, Some(integ), None),
                }],
            });
        }
        if let Some((cipher, integ)) = self.esp {
            let spi = spis.esp.ok_or(ChildProposalError::MissingSpi)?;
            out.push(ProposalRepr {
                number,
                protocol: ProtocolId::IPSEC_ESP,
                spi: spi.to_be_bytes().to_vec(),
                transforms: vec![TransformRepr {
                    number: 1,
                    transform_id: cipher.transform_id().0,
                    attributes: attrs(self, integ, Some(cipher.key_bits())),
                }],
            });
        }
        Ok(out)
    }

    /// KEYMAT lengths (encryption, integrity) for `protocol` in this bundle.
    pub(crate) fn keymat_lens(&self, protocol: IpsecProtocolId) -> Option<(usize, usize)> {
        match protocol {
            IpsecProtocolId::ESP => self.esp.map(|(c, i)| {
                (
                    c.keymat_len(),
                    i.map(ChildIntegrity::keymat_len).unwrap_or(0),
                )
            }),
            IpsecProtocolId::AH => self.ah.map(|i| (0, i.keymat_len())),
            _ => None,
        }
    }
}

/// The SA payload of qm1: each alternative as its own proposal number, carrying our SPIs.
pub fn offer_child(
    alternatives: &[ChildProposal],
    spis: &BundleSpis,
) -> Result<SaRepr, ChildProposalError> {
    let mut proposals = Vec::new();
    for (alt, number) in alternatives.iter().zip(1u8..) {
        proposals.extend(alt.proposals(number, spis)?);
    }
    Ok(SaRepr::ipsec(proposals))
}

fn attr_u64(value: &AttrValue) -> Option<u64> {
    match value {
        AttrValue::Basic(v) => Some(u64::from(*v)),
        AttrValue::Variable(bytes) if bytes.len() <= 8 => {
            Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        }
        AttrValue::Variable(_) => None,
    }
}

/// Common attributes of one transform.
#[derive(Default)]
struct Attrs {
    key_bits: Option<u64>,
    integ: Option<u64>,
    group: Option<u64>,
    mode: Option<u64>,
    life_type: Option<u64>,
    life: Option<u64>,
}

fn read_attrs(t: &TransformRepr) -> Option<Attrs> {
    let mut a = Attrs::default();
    for attr in &t.attributes {
        let v = attr_u64(&attr.value)?;
        match IpsecAttributeType(attr.attr_type) {
            IpsecAttributeType::KEY_LENGTH => a.key_bits = Some(v),
            IpsecAttributeType::AUTHENTICATION_ALGORITHM => a.integ = Some(v),
            IpsecAttributeType::GROUP_DESCRIPTION => a.group = Some(v),
            IpsecAttributeType::ENCAPSULATION_MODE => a.mode = Some(v),
            IpsecAttributeType::SA_LIFE_TYPE => a.life_type = Some(v),
            IpsecAttributeType::SA_LIFE_DURATION => a.life = Some(v),
            _ => return None,
        }
    }
    Some(a)
}

/// One received proposal number: the alternative it describes and the SPIs it carries.
fn decode_alternative(protos: &[&ProposalRepr]) -> Option<(ChildProposal, BundleSpis)> {
    let mut alt = ChildProposal {
        esp: None,
        ah: None,
        pfs: None,
        mode: Encapsulation::Tunnel,
        lifetime_secs: 28_800,
    };
    let mut spis = BundleSpis::default();
    for p in protos {
        // One transform per protocol in what we accept (the alternatives are separate
        // proposal numbers, as strongSwan sends them).
        let [t] = p.transforms.as_slice() else {
            return None;
        };
        let a = read_attrs(t)?;
        let spi = u32::from_be_bytes(p.spi.as_slice().try_into().ok()?);
        alt.mode = Encapsulation::from_attribute(a.mode?)?;
        alt.pfs = match a.group {
            Some(g) => Some(DhGroup(u16::try_from(g).ok()?)).filter(|g| g.is_supported()),
            None => None,
        };
        if a.group.is_some() && alt.pfs.is_none() {
            return None;
        }
        alt.lifetime_secs = match (a.life_type, a.life) {
            (None, None) => 28_800,
            (Some(t), Some(d)) if t == u64::from(LifeType::SECONDS.0) => u32::try_from(d).ok()?,
            _ => return None,
        };
        match p.protocol {
            ProtocolId::IPSEC_ESP => {
                let cipher = EspCipher::from_wire(t.transform_id, a.key_bits)?;
                let integ = match a.integ {
                    Some(i) => Some(ChildIntegrity::from_auth_algorithm(i)?),
                    None => None,
                };
                if cipher.is_aead() == integ.is_some() {
                    return None;
                }
                alt.esp = Some((cipher, integ));
                spis.esp = Some(spi);
            }
            ProtocolId::IPSEC_AH => {
                let integ = ChildIntegrity::from_auth_algorithm(a.integ?)?;
                if integ.ah_transform_id().0 != t.transform_id {
                    return None;
                }
                alt.ah = Some(integ);
                spis.ah = Some(spi);
            }
            _ => return None,
        }
    }
    Some((alt, spis))
}

/// Groups a received SA payload's proposals by proposal number, in order.
fn alternatives(sa: &SaPayload<'_>) -> Vec<Option<(ChildProposal, BundleSpis, u8)>> {
    let repr = sa.to_repr();
    let mut numbers: Vec<u8> = Vec::new();
    for p in &repr.proposals {
        if !numbers.contains(&p.number) {
            numbers.push(p.number);
        }
    }
    numbers
        .into_iter()
        .map(|n| {
            let protos: Vec<&ProposalRepr> =
                repr.proposals.iter().filter(|p| p.number == n).collect();
            decode_alternative(&protos).map(|(a, s)| (a, s, n))
        })
        .collect()
}

/// Same algorithms, PFS group and mode (lifetimes may differ: the initiator's is taken).
fn same_algorithms(a: &ChildProposal, b: &ChildProposal) -> bool {
    a.esp == b.esp && a.ah == b.ah && a.pfs == b.pfs && a.mode == b.mode
}

/// Responder: the first offered alternative matching one of `ours`, with the initiator's
/// SPIs. Returns it and the SA payload to answer with, carrying `our_spis`.
pub fn select_child(
    offered: &SaPayload<'_>,
    ours: &[ChildProposal],
    our_spis: &BundleSpis,
) -> Result<(ChildProposal, BundleSpis, SaRepr), ChildProposalError> {
    for (alt, their_spis, number) in alternatives(offered).into_iter().flatten() {
        if ours.iter().any(|o| same_algorithms(o, &alt)) {
            let answer = SaRepr::ipsec(alt.proposals(number, our_spis)?);
            return Ok((alt, their_spis, answer));
        }
    }
    Err(ChildProposalError::NoProposalChosen)
}

/// Initiator: the responder's qm2 SA must be exactly one of our alternatives; returns it and
/// the responder's SPIs.
pub fn accept_child(
    chosen: &SaPayload<'_>,
    offered: &[ChildProposal],
) -> Result<(ChildProposal, BundleSpis), ChildProposalError> {
    let mut alts = alternatives(chosen).into_iter();
    let (Some(Some((alt, spis, _))), None) = (alts.next(), alts.next()) else {
        return Err(ChildProposalError::NotOffered);
    };
    if offered.iter().any(|o| same_algorithms(o, &alt)) {
        Ok((alt, spis))
    } else {
        Err(ChildProposalError::NotOffered)
    }
}
