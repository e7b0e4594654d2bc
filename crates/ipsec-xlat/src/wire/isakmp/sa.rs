//! The security association payload and the proposals, transforms and attributes nested in it
//! (RFC 2408 §3.4-3.6, RFC 2407 §4.6.1).
//!
//! ```text
//! SA body:        ! Domain of Interpretation (4) ! Situation (4) ! Proposals...
//! Proposal:       ! Next (0|2) ! RESERVED ! Length (2) !
//!                 ! Proposal # ! Protocol-Id ! SPI Size ! # of Transforms ! SPI ! Transforms...
//! Transform:      ! Next (0|3) ! RESERVED ! Length (2) !
//!                 ! Transform # ! Transform-Id ! RESERVED2 (2) ! SA Attributes...
//! ```
//!
//! [`SaPayload::parse`] validates the whole tree once (lengths, next-payload values, transform
//! counts, attributes), so the iterators it hands out yield plain items, never errors.

use nom::number::complete::{be_u16, be_u32, be_u8};

use super::attribute::{validate_attributes, AttributeIter, AttributeRepr};
use super::codec::{at, fixed, len_u16, len_u8, patch_u16, take_len};
use super::error::IsakmpError;
use super::numbers::{Doi, PayloadType, ProtocolId};

/// The IPsec DOI's "identity only" situation, the only one in use (RFC 2407 §4.2).
pub const SIT_IDENTITY_ONLY: u32 = 0x01;

const PROPOSAL_FIXED: usize = 8;
const TRANSFORM_FIXED: usize = 8;

/// A validated SA payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaPayload<'a> {
    doi: Doi,
    situation: u32,
    proposals: &'a [u8],
    proposals_offset: usize,
}

impl<'a> SaPayload<'a> {
    /// Reads and validates an SA payload body that starts at `offset` in the message.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<SaPayload<'a>, IsakmpError> {
        let (rest, doi) = fixed(body, offset, "SA payload", 4, be_u32)?;
        if Doi(doi) != Doi::IPSEC {
            return Err(IsakmpError::UnsupportedDoi { offset, doi });
        }
        let situation_offset = at(offset, 4);
        let (rest, situation) = fixed(rest, situation_offset, "SA situation", 4, be_u32)?;
        if situation & !SIT_IDENTITY_ONLY != 0 {
            return Err(IsakmpError::UnsupportedSituation {
                offset: situation_offset,
                situation,
            });
        }
        let sa = SaPayload {
            doi: Doi(doi),
            situation,
            proposals: rest,
            proposals_offset: at(offset, 8),
        };
        sa.validate()?;
        Ok(sa)
    }

    fn validate(&self) -> Result<(), IsakmpError> {
        walk(
            self.proposals,
            self.proposals_offset,
            "proposal",
            |input, offset| Proposal::parse(input, offset).map(|(p, rest)| (p.next, rest)),
        )
    }

    /// The domain of interpretation (always the IPsec DOI after parsing).
    pub fn doi(&self) -> Doi {
        self.doi
    }

    /// The situation bitmap.
    pub fn situation(&self) -> u32 {
        self.situation
    }

    /// The proposals, in order. Proposals sharing a number form one bundle (e.g. ESP and AH).
    pub fn proposals(&self) -> ProposalIter<'a> {
        ProposalIter::new(self.proposals, self.proposals_offset)
    }

    /// The owned form.
    pub fn to_repr(&self) -> SaRepr {
        SaRepr {
            doi: self.doi,
            situation: self.situation,
            proposals: self.proposals().map(|p| p.to_repr()).collect(),
        }
    }
}

/// Walks a chain of proposals or transforms (`step` reads one and checks its next-payload field)
/// whose last element must end exactly at the end of `input`.
fn walk<'a>(
    input: &'a [u8],
    offset: usize,
    what: &'static str,
    mut step: impl FnMut(&'a [u8], usize) -> Result<(PayloadType, &'a [u8]), IsakmpError>,
) -> Result<(), IsakmpError> {
    let mut rest = input;
    let mut offset = offset;
    loop {
        if rest.is_empty() {
            return Err(IsakmpError::MissingNext { what, offset });
        }
        let (next, after) = step(rest, offset)?;
        offset = at(offset, rest.len().saturating_sub(after.len()));
        rest = after;
        if next == PayloadType::NONE {
            if !rest.is_empty() {
                return Err(IsakmpError::TrailingData {
                    what,
                    offset,
                    len: rest.len(),
                });
            }
            return Ok(());
        }
    }
}

/// Reads the 4-byte generic header of a proposal or transform and checks its next-payload
/// field; returns (next, body, rest).
fn nested_header<'a>(
    input: &'a [u8],
    offset: usize,
    what: &'static str,
    kind: PayloadType,
    fixed_len: usize,
) -> Result<(PayloadType, &'a [u8], &'a [u8]), IsakmpError> {
    let (after, (next, _reserved, length)) =
        fixed(input, offset, what, fixed_len, (be_u8, be_u8, be_u16))?;
    if next != 0 && next != kind.0 {
        return Err(IsakmpError::BadNextPayload {
            what,
            offset,
            value: next,
            expected: kind.0,
        });
    }
    let length = usize::from(length);
    let body_len = length
        .checked_sub(4)
        .filter(|_| length >= fixed_len)
        .ok_or(IsakmpError::LengthTooSmall {
            what,
            offset,
            length,
            minimum: fixed_len,
        })?;
    let (body, rest) =
        take_len(after, body_len, what, offset).map_err(|_| IsakmpError::LengthOverrun {
            what,
            offset,
            length,
            available: input.len(),
        })?;
    Ok((PayloadType(next), body, rest))
}

/// A proposal or a transform: the substructures of an SA payload that come in a chain, each
/// saying in its Next field whether another of its kind follows. [`SubstructureIter`] walks
/// both through this one interface.
pub trait Substructure<'a>: Sized {
    /// Parses one substructure at the front of `input` (which starts at message offset
    /// `offset`) and returns it with the bytes after it.
    fn parse_one(input: &'a [u8], offset: usize) -> Result<(Self, &'a [u8]), IsakmpError>;
    /// Whether its Next field says no further substructure of its kind follows.
    fn is_last(&self) -> bool;
}

/// Iterates over the proposals of a validated SA payload, or the transforms of a validated
/// proposal: stops after the last one, and (as the tree was validated up front) at the first
/// that does not parse rather than yielding an error.
#[derive(Debug, Clone)]
pub struct SubstructureIter<'a, T> {
    rest: &'a [u8],
    offset: usize,
    kind: core::marker::PhantomData<T>,
}

impl<'a, T> SubstructureIter<'a, T> {
    fn new(rest: &'a [u8], offset: usize) -> Self {
        Self {
            rest,
            offset,
            kind: core::marker::PhantomData,
        }
    }
}

impl<'a, T: Substructure<'a>> Iterator for SubstructureIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.rest.is_empty() {
            return None;
        }
        match T::parse_one(self.rest, self.offset) {
            Ok((item, rest)) => {
                self.offset = at(self.offset, self.rest.len().saturating_sub(rest.len()));
                self.rest = if item.is_last() { &[] } else { rest };
                Some(item)
            }
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Iterates over the proposals of a validated SA payload.
pub type ProposalIter<'a> = SubstructureIter<'a, Proposal<'a>>;

impl<'a> Substructure<'a> for Proposal<'a> {
    fn parse_one(input: &'a [u8], offset: usize) -> Result<(Self, &'a [u8]), IsakmpError> {
        Proposal::parse(input, offset)
    }
    fn is_last(&self) -> bool {
        self.next == PayloadType::NONE
    }
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal<'a> {
    next: PayloadType,
    length: usize,
    number: u8,
    protocol: ProtocolId,
    transform_count: u8,
    spi: &'a [u8],
    transforms: &'a [u8],
    offset: usize,
    transforms_offset: usize,
}

impl<'a> Proposal<'a> {
    /// Reads and validates one proposal (with its transforms) at `offset`.
    pub fn parse(input: &'a [u8], offset: usize) -> Result<(Proposal<'a>, &'a [u8]), IsakmpError> {
        let (next, body, rest) = nested_header(
            input,
            offset,
            "proposal",
            PayloadType::PROPOSAL,
            PROPOSAL_FIXED,
        )?;
        let (after, (number, protocol, spi_size, transform_count)) = fixed(
            body,
            at(offset, 4),
            "proposal",
            4,
            (be_u8, be_u8, be_u8, be_u8),
        )?;
        let spi_offset = at(offset, PROPOSAL_FIXED);
        let (spi, transforms) = take_len(after, usize::from(spi_size), "proposal SPI", spi_offset)?;
        let transforms_offset = at(spi_offset, spi.len());
        let mut found = 0usize;
        walk(
            transforms,
            transforms_offset,
            "transform",
            |input, offset| {
                found = found.saturating_add(1);
                Transform::parse(input, offset).map(|(t, rest)| (t.next, rest))
            },
        )?;
        if found != usize::from(transform_count) {
            return Err(IsakmpError::TransformCountMismatch {
                offset,
                declared: transform_count,
                found,
            });
        }
        Ok((
            Proposal {
                next,
                length: input.len().saturating_sub(rest.len()),
                number,
                protocol: ProtocolId(protocol),
                transform_count,
                spi,
                transforms,
                offset,
                transforms_offset,
            },
            rest,
        ))
    }

    /// The next-payload field: PROPOSAL if another proposal follows, else NONE.
    pub fn next_payload(&self) -> PayloadType {
        self.next
    }

    /// The length field: the whole proposal, nested parts included.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The proposal number; equal numbers mean "AND" (a bundle), different ones "OR".
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The protocol: ISAKMP in phase 1, ESP/AH in phase 2.
    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    /// The SPI: empty (or the cookies) for ISAKMP, 4 bytes for ESP/AH. The SPI the SGW sees in
    /// quick mode enters KEYMAT, so callers copy it exactly.
    pub fn spi(&self) -> &'a [u8] {
        self.spi
    }

    /// The SPI as a `u32` when it is 4 bytes long (ESP/AH).
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi).ok().map(u32::from_be_bytes)
    }

    /// The declared number of transforms (validated to match).
    pub fn transform_count(&self) -> u8 {
        self.transform_count
    }

    /// The transforms, in order of preference.
    pub fn transforms(&self) -> TransformIter<'a> {
        TransformIter::new(self.transforms, self.transforms_offset)
    }

    /// Where the proposal starts in the message.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The owned form.
    pub fn to_repr(&self) -> ProposalRepr {
        ProposalRepr {
            number: self.number,
            protocol: self.protocol,
            spi: self.spi.to_vec(),
            transforms: self.transforms().map(|t| t.to_repr()).collect(),
        }
    }
}

/// Iterates over the transforms of a validated proposal.
pub type TransformIter<'a> = SubstructureIter<'a, Transform<'a>>;

impl<'a> Substructure<'a> for Transform<'a> {
    fn parse_one(input: &'a [u8], offset: usize) -> Result<(Self, &'a [u8]), IsakmpError> {
        Transform::parse(input, offset)
    }
    fn is_last(&self) -> bool {
        self.next == PayloadType::NONE
    }
}

/// One transform of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform<'a> {
    next: PayloadType,
    length: usize,
    number: u8,
    transform_id: u8,
    attributes: &'a [u8],
    offset: usize,
}

impl<'a> Transform<'a> {
    /// Reads and validates one transform (with its attributes) at `offset`.
    pub fn parse(input: &'a [u8], offset: usize) -> Result<(Transform<'a>, &'a [u8]), IsakmpError> {
        let (next, body, rest) = nested_header(
            input,
            offset,
            "transform",
            PayloadType::TRANSFORM,
            TRANSFORM_FIXED,
        )?;
        let (attributes, (number, transform_id, _reserved2)) =
            fixed(body, at(offset, 4), "transform", 4, (be_u8, be_u8, be_u16))?;
        validate_attributes(attributes, at(offset, TRANSFORM_FIXED))?;
        Ok((
            Transform {
                next,
                length: input.len().saturating_sub(rest.len()),
                number,
                transform_id,
                attributes,
                offset,
            },
            rest,
        ))
    }

    /// The next-payload field: TRANSFORM if another transform follows, else NONE.
    pub fn next_payload(&self) -> PayloadType {
        self.next
    }

    /// The length field: the whole transform, nested parts included.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The transform number.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The transform ID; its registry depends on the proposal's protocol
    /// ([`super::IsakmpTransformId`], [`super::EspTransformId`], [`super::AhTransformId`]).
    pub fn transform_id(&self) -> u8 {
        self.transform_id
    }

    /// The data attributes.
    pub fn attributes(&self) -> AttributeIter<'a> {
        AttributeIter::new(self.attributes, at(self.offset, TRANSFORM_FIXED))
    }

    /// The first attribute of type `attr_type`, as a number (see
    /// [`super::Attribute::as_u64`]).
    pub fn attribute_u64(&self, attr_type: impl Into<u16>) -> Option<u64> {
        let attr_type = attr_type.into();
        self.attributes()
            .find(|a| a.attr_type() == attr_type)
            .and_then(|a| a.as_u64())
    }

    /// Where the transform starts in the message.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The owned form.
    pub fn to_repr(&self) -> TransformRepr {
        TransformRepr {
            number: self.number,
            transform_id: self.transform_id,
            attributes: self.attributes().map(|a| a.to_repr()).collect(),
        }
    }
}

/// An SA payload body to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaRepr {
    /// Domain of interpretation; [`Doi::IPSEC`].
    pub doi: Doi,
    /// Situation; [`SIT_IDENTITY_ONLY`].
    pub situation: u32,
    /// Proposals, in order.
    pub proposals: Vec<ProposalRepr>,
}

impl SaRepr {
    /// An IPsec-DOI, identity-only SA with these proposals.
    pub fn ipsec(proposals: Vec<ProposalRepr>) -> Self {
        SaRepr {
            doi: Doi::IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals,
        }
    }

    /// Appends the SA payload body to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), IsakmpError> {
        if self.proposals.is_empty() {
            return Err(IsakmpError::Inconsistent {
                what: "SA payload",
                reason: "no proposal",
            });
        }
        out.extend_from_slice(&self.doi.0.to_be_bytes());
        out.extend_from_slice(&self.situation.to_be_bytes());
        let last = self.proposals.len().saturating_sub(1);
        for (i, proposal) in self.proposals.iter().enumerate() {
            proposal.emit(out, i != last)?;
        }
        Ok(())
    }
}

/// A proposal to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProposalRepr {
    /// Proposal number.
    pub number: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// SPI (empty for phase 1, 4 bytes for ESP/AH).
    pub spi: Vec<u8>,
    /// Transforms, in order of preference.
    pub transforms: Vec<TransformRepr>,
}

impl ProposalRepr {
    fn emit(&self, out: &mut Vec<u8>, more: bool) -> Result<(), IsakmpError> {
        if self.transforms.is_empty() {
            return Err(IsakmpError::Inconsistent {
                what: "proposal",
                reason: "no transform",
            });
        }
        let start = out.len();
        let next = if more { PayloadType::PROPOSAL.0 } else { 0 };
        out.extend_from_slice(&[next, 0, 0, 0, self.number, self.protocol.0]);
        out.push(len_u8("proposal SPI", self.spi.len())?);
        out.push(len_u8("proposal transforms", self.transforms.len())?);
        out.extend_from_slice(&self.spi);
        let last = self.transforms.len().saturating_sub(1);
        for (i, transform) in self.transforms.iter().enumerate() {
            transform.emit(out, i != last)?;
        }
        let length = len_u16("proposal", out.len().saturating_sub(start))?;
        patch_u16(out, at(start, 2), length);
        Ok(())
    }
}

/// A transform to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransformRepr {
    /// Transform number.
    pub number: u8,
    /// Transform ID.
    pub transform_id: u8,
    /// Data attributes, in order.
    pub attributes: Vec<AttributeRepr>,
}

impl TransformRepr {
    fn emit(&self, out: &mut Vec<u8>, more: bool) -> Result<(), IsakmpError> {
        let start = out.len();
        let next = if more { PayloadType::TRANSFORM.0 } else { 0 };
        out.extend_from_slice(&[next, 0, 0, 0, self.number, self.transform_id, 0, 0]);
        for attribute in &self.attributes {
            attribute.emit(out)?;
        }
        let length = len_u16("transform", out.len().saturating_sub(start))?;
        patch_u16(out, at(start, 2), length);
        Ok(())
    }
}
