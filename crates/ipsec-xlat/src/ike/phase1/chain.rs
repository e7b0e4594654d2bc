//! Owned view of a received payload chain, with each payload's position: what the exchanges
//! need (bodies for hashing, "message after HASH" ranges) without lifetimes tying a state
//! machine to a receive buffer.

use crate::wire::isakmp::{
    decrypted_payloads, IsakmpError, Message, PayloadType, GENERIC_HEADER_LEN, HEADER_LEN,
};

/// One payload of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) kind: PayloadType,
    /// The body, generic header excluded.
    pub(crate) body: Vec<u8>,
    /// Start of the generic header within the chain bytes.
    pub(crate) start: usize,
    /// End of the payload within the chain bytes.
    pub(crate) end: usize,
}

/// A walked chain.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    pub(crate) items: Vec<Item>,
    /// Where the payloads end (the rest is padding, for a decrypted body).
    pub(crate) end: usize,
}

impl Chain {
    /// Walks a plaintext message's chain; trailing bytes are an error.
    pub(crate) fn plaintext(message: &Message<'_>) -> Result<Self, IsakmpError> {
        let iter = message.payloads()?;
        Self::walk(iter)
    }

    /// Walks a decrypted body whose first payload is `first`; trailing bytes are padding.
    pub(crate) fn decrypted(first: PayloadType, plaintext: &[u8]) -> Result<Self, IsakmpError> {
        Self::walk(decrypted_payloads(first, plaintext))
    }

    fn walk(mut iter: crate::wire::isakmp::PayloadIter<'_>) -> Result<Self, IsakmpError> {
        let mut items = Vec::new();
        for p in iter.by_ref() {
            let p = p?;
            let start = p.offset().saturating_sub(HEADER_LEN);
            items.push(Item {
                kind: p.payload_type(),
                body: p.body().to_vec(),
                start,
                end: start
                    .saturating_add(GENERIC_HEADER_LEN)
                    .saturating_add(p.body().len()),
            });
        }
        let end = iter.offset().saturating_sub(HEADER_LEN);
        Ok(Self { items, end })
    }

    /// The first payload of `kind`.
    pub(crate) fn first(&self, kind: PayloadType) -> Option<&Item> {
        self.items.iter().find(|i| i.kind == kind)
    }

    /// Every payload of `kind`, in order.
    pub(crate) fn all(&self, kind: PayloadType) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(move |i| i.kind == kind)
    }
}
