//! Data attributes (RFC 2408 §3.3), the TV/TLV list inside a transform.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !A!       Attribute Type        !    AF=0  Attribute Length     !
//! !F!                             !    AF=1  Attribute Value      !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! .                   AF=0  Attribute Value                       .
//! .                   AF=1  Not Transmitted                       .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The attribute type is a raw `u16` here because its meaning depends on the proposal's
//! protocol: see [`super::IkeAttributeType`] and [`super::IpsecAttributeType`].

use nom::number::complete::be_u16;

use super::codec::{at, fixed, len_u16, take_len};
use super::error::IsakmpError;

/// The AF bit: set for a basic (TV) attribute.
const AF_BIT: u16 = 0x8000;

/// An attribute's value as it sits in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrValueRef<'a> {
    /// Basic (TV, AF=1): a 16-bit value in the header.
    Basic(u16),
    /// Variable (TLV, AF=0): a length and that many bytes.
    Variable(&'a [u8]),
}

/// An attribute's value, owned, for building.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// Basic (TV, AF=1).
    Basic(u16),
    /// Variable (TLV, AF=0).
    Variable(Vec<u8>),
}

impl AttrValue {
    /// The shortest encoding of `value`: basic when it fits 16 bits (as strongSwan does for
    /// life durations), else a 4- or 8-byte variable value.
    pub(crate) fn from_u64(value: u64) -> AttrValue {
        if let Ok(v) = u16::try_from(value) {
            AttrValue::Basic(v)
        } else if let Ok(v) = u32::try_from(value) {
            AttrValue::Variable(v.to_be_bytes().to_vec())
        } else {
            AttrValue::Variable(value.to_be_bytes().to_vec())
        }
    }
}

/// One data attribute read from a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    attr_type: u16,
    value: AttrValueRef<'a>,
    offset: usize,
}

impl<'a> Attribute<'a> {
    /// Reads one attribute from the start of `input` (at `offset` in the message).
    pub fn parse(input: &'a [u8], offset: usize) -> Result<(Attribute<'a>, &'a [u8]), IsakmpError> {
        let (rest, (type_field, length_or_value)) =
            fixed(input, offset, "attribute", 4, (be_u16, be_u16))?;
        let attr_type = type_field & !AF_BIT;
        if type_field & AF_BIT != 0 {
            return Ok((
                Attribute {
                    attr_type,
                    value: AttrValueRef::Basic(length_or_value),
                    offset,
                },
                rest,
            ));
        }
        let (value, rest) = take_len(
            rest,
            usize::from(length_or_value),
            "attribute value",
            at(offset, 4),
        )?;
        Ok((
            Attribute {
                attr_type,
                value: AttrValueRef::Variable(value),
                offset,
            },
            rest,
        ))
    }

    /// The attribute type, AF bit removed.
    pub fn attr_type(&self) -> u16 {
        self.attr_type
    }

    /// The value.
    pub fn value(&self) -> AttrValueRef<'a> {
        self.value
    }

    /// Whether this is a basic (TV) attribute.
    pub fn is_basic(&self) -> bool {
        matches!(self.value, AttrValueRef::Basic(_))
    }

    /// The value as a number: a basic value, or a variable one of at most 8 bytes read big
    /// endian (life durations come either way). `None` for longer variable values.
    pub fn as_u64(&self) -> Option<u64> {
        match self.value {
            AttrValueRef::Basic(v) => Some(u64::from(v)),
            AttrValueRef::Variable(bytes) if bytes.len() <= 8 => Some(
                bytes
                    .iter()
                    .fold(0u64, |acc, b| acc.wrapping_shl(8) | u64::from(*b)),
            ),
            AttrValueRef::Variable(_) => None,
        }
    }

    /// Where the attribute starts in the message.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The owned form.
    pub fn to_repr(&self) -> AttributeRepr {
        AttributeRepr {
            attr_type: self.attr_type,
            value: match self.value {
                AttrValueRef::Basic(v) => AttrValue::Basic(v),
                AttrValueRef::Variable(b) => AttrValue::Variable(b.to_vec()),
            },
        }
    }
}

/// Walks an attribute list that `validate_attributes` accepted; stops at the first
/// malformed attribute, which validation rules out.
#[derive(Debug, Clone)]
pub struct AttributeIter<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> AttributeIter<'a> {
    pub(crate) fn new(list: &'a [u8], offset: usize) -> Self {
        AttributeIter { rest: list, offset }
    }
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match Attribute::parse(self.rest, self.offset) {
            Ok((attribute, rest)) => {
                self.offset = at(self.offset, self.rest.len().saturating_sub(rest.len()));
                self.rest = rest;
                Some(attribute)
            }
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Checks that `list` is a whole number of well-formed attributes; returns how many.
pub(crate) fn validate_attributes(list: &[u8], offset: usize) -> Result<usize, IsakmpError> {
    let mut rest = list;
    let mut offset = offset;
    let mut count = 0usize;
    while !rest.is_empty() {
        let (_, after) = Attribute::parse(rest, offset)?;
        offset = at(offset, rest.len().saturating_sub(after.len()));
        rest = after;
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// An attribute to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributeRepr {
    /// Attribute type (15 bits; the AF bit is set from the value's form).
    pub attr_type: u16,
    /// Value.
    pub value: AttrValue,
}

impl AttributeRepr {
    /// A basic (TV) attribute.
    pub fn basic(attr_type: impl Into<u16>, value: impl Into<u16>) -> Self {
        AttributeRepr {
            attr_type: attr_type.into(),
            value: AttrValue::Basic(value.into()),
        }
    }

    /// A variable (TLV) attribute.
    pub fn variable(attr_type: impl Into<u16>, value: impl Into<Vec<u8>>) -> Self {
        AttributeRepr {
            attr_type: attr_type.into(),
            value: AttrValue::Variable(value.into()),
        }
    }

    /// A numeric attribute in its shortest form (see `AttrValue::from_u64`).
    pub fn number(attr_type: impl Into<u16>, value: u64) -> Self {
        AttributeRepr {
            attr_type: attr_type.into(),
            value: AttrValue::from_u64(value),
        }
    }

    /// Appends the attribute to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), IsakmpError> {
        if self.attr_type & AF_BIT != 0 {
            return Err(IsakmpError::Inconsistent {
                what: "attribute",
                reason: "attribute type exceeds 15 bits",
            });
        }
        match &self.value {
            AttrValue::Basic(v) => {
                out.extend_from_slice(&(self.attr_type | AF_BIT).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttrValue::Variable(v) => {
                let len = len_u16("attribute value", v.len())?;
                out.extend_from_slice(&self.attr_type.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(v);
            }
        }
        Ok(())
    }
}
