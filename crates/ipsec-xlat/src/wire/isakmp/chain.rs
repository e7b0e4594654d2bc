//! The generic payload chain (RFC 2408 §3.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ! Next Payload  !   RESERVED    !         Payload Length        !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A payload's type is not in the payload itself but in the previous one's "next payload" field
//! (the header's for the first). The walk is lazy and zero-copy: [`PayloadIter`] yields one
//! [`GenericPayload`] per step, or the first error, and then stops. It cannot loop: every payload
//! length must cover at least its own 4-byte header, so each step advances.

use nom::number::complete::be_u32;

use super::codec::{at, fixed};
use super::error::IsakmpError;
use super::numbers::PayloadType;

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// One payload of a chain, not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericPayload<'a> {
    payload_type: PayloadType,
    next_payload: PayloadType,
    reserved: u8,
    raw: &'a [u8],
    body: &'a [u8],
    offset: usize,
}

impl<'a> GenericPayload<'a> {
    /// Reads one payload of type `payload_type` from the start of `input`, which is at `offset`
    /// in the message; returns it and the bytes after it.
    #[inline]
    pub fn parse(
        payload_type: PayloadType,
        input: &'a [u8],
        offset: usize,
    ) -> Result<(GenericPayload<'a>, &'a [u8]), IsakmpError> {
        // One 32-bit read for the whole generic header: this runs once per payload of every
        // message the relay sees, so it is kept to a single bounds check.
        let (after_header, word) =
            fixed(input, offset, "payload header", GENERIC_HEADER_LEN, be_u32)?;
        let [next, reserved, len_hi, len_lo] = word.to_be_bytes();
        let length = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let body_len =
            length
                .checked_sub(GENERIC_HEADER_LEN)
                .ok_or(IsakmpError::LengthTooSmall {
                    what: "payload",
                    offset,
                    length,
                    minimum: GENERIC_HEADER_LEN,
                })?;
        let (body, rest) =
            after_header
                .split_at_checked(body_len)
                .ok_or(IsakmpError::LengthOverrun {
                    what: "payload",
                    offset,
                    length,
                    available: input.len(),
                })?;
        Ok((
            GenericPayload {
                payload_type,
                next_payload: PayloadType(next),
                reserved,
                raw: input.get(..length).unwrap_or(input),
                body,
                offset,
            },
            rest,
        ))
    }

    /// This payload's type (from the previous next-payload field).
    #[inline]
    pub fn payload_type(&self) -> PayloadType {
        self.payload_type
    }

    /// The type of the payload after this one, [`PayloadType::NONE`] for the last.
    #[inline]
    pub fn next_payload(&self) -> PayloadType {
        self.next_payload
    }

    /// The reserved byte. IKEv1 says "set to 0" but not "reject otherwise", and the relay must
    /// forward peers' bytes untouched, so it is reported rather than refused.
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.reserved
    }

    /// The top bit of the reserved byte, IKEv2's "critical" flag. An IKEv1 sender leaves it clear;
    /// [`super::Payload::parse`] refuses an unknown payload type that sets it.
    #[inline]
    pub fn critical(&self) -> bool {
        self.reserved & 0x80 != 0
    }

    /// The payload length field: header plus body.
    #[inline]
    pub fn length(&self) -> usize {
        self.body.len().saturating_add(GENERIC_HEADER_LEN)
    }

    /// The bytes after the 4-byte generic header.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The whole payload, generic header included. Quick mode's HASH(1..3) cover the payloads
    /// after the HASH payload with their headers (RFC 2409 §5.5): concatenate their `raw()`.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Where this payload's generic header starts in the message.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Where this payload's body starts in the message.
    #[inline]
    pub(crate) fn body_offset(&self) -> usize {
        at(self.offset, GENERIC_HEADER_LEN)
    }
}

/// What a chain walk does with bytes after the payload whose next-payload is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// They are an error: a plaintext message's payloads must end exactly at its length.
    Reject,
    /// They are padding: a decrypted body is padded to the cipher's block size, and IKEv1
    /// padding has no length field of its own (RFC 2409 Appendix B).
    Padding,
}

/// Walks a payload chain. Yields `Ok` payloads until the chain ends, or one `Err` and then
/// nothing.
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    rest: &'a [u8],
    next: PayloadType,
    offset: usize,
    trailing: Trailing,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// A walk over `chain`, whose first payload has type `first` and which starts at `offset` in
    /// the message.
    #[inline]
    pub fn new(first: PayloadType, chain: &'a [u8], offset: usize, trailing: Trailing) -> Self {
        PayloadIter {
            rest: chain,
            next: first,
            offset,
            trailing,
            done: false,
        }
    }

    /// The bytes not yet walked; once the walk ended without error, the padding of a
    /// decrypted body.
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The walk with each payload parsed into its typed view.
    pub fn typed(self) -> impl Iterator<Item = Result<super::Payload<'a>, IsakmpError>> {
        self.map(|g| g.and_then(|g| super::Payload::parse(&g)))
    }

    /// Where the next payload (or the padding) starts in the message.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<GenericPayload<'a>, IsakmpError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.next == PayloadType::NONE {
            self.done = true;
            if self.trailing == Trailing::Reject && !self.rest.is_empty() {
                return Some(Err(IsakmpError::TrailingData {
                    what: "payload",
                    offset: self.offset,
                    len: self.rest.len(),
                }));
            }
            return None;
        }
        if self.rest.is_empty() {
            self.done = true;
            return Some(Err(IsakmpError::MissingNext {
                what: "payload",
                offset: self.offset,
            }));
        }
        match GenericPayload::parse(self.next, self.rest, self.offset) {
            Ok((payload, rest)) => {
                self.rest = rest;
                self.next = payload.next_payload;
                self.offset = at(self.offset, payload.length());
                Some(Ok(payload))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for PayloadIter<'_> {}
