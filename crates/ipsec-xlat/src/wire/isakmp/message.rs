//! A whole ISAKMP message: header plus body, delimited by the header's length field.
//!
//! Anything after that length in the datagram is not ISAKMP; it is our tail (see
//! [`crate::wire::tail`]), which is why [`Message::parse`] hands back the rest rather than
//! refusing it.

use super::chain::{PayloadIter, Trailing};
use super::error::IsakmpError;
use super::header::{Header, HEADER_LEN};
use super::numbers::PayloadType;

/// A validated ISAKMP message: at least a header, a length field that covers the header and
/// that the input holds, and major version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Reads the message at the start of `datagram` (non-ESP marker already stripped) and
    /// returns it with the bytes that follow its length.
    #[inline]
    pub fn parse(datagram: &'a [u8]) -> Result<(Message<'a>, &'a [u8]), IsakmpError> {
        let header = Header::new_checked(datagram)?;
        if header.major_version() != 1 {
            return Err(IsakmpError::UnsupportedVersion {
                version: header.version(),
            });
        }
        let declared = header.length();
        let length = usize::try_from(declared).unwrap_or(usize::MAX);
        if length < HEADER_LEN {
            return Err(IsakmpError::MessageLengthTooSmall { declared });
        }
        match datagram.split_at_checked(length) {
            Some((bytes, rest)) => Ok((Message { bytes }, rest)),
            None => Err(IsakmpError::MessageTruncated {
                declared,
                available: datagram.len(),
            }),
        }
    }

    /// Reads a message that must fill `bytes` exactly.
    pub fn parse_exact(bytes: &'a [u8]) -> Result<Message<'a>, IsakmpError> {
        let (message, rest) = Message::parse(bytes)?;
        if rest.is_empty() {
            Ok(message)
        } else {
            Err(IsakmpError::TrailingData {
                what: "ISAKMP message",
                offset: message.bytes.len(),
                len: rest.len(),
            })
        }
    }

    /// The header.
    #[inline]
    pub fn header(&self) -> Header<&'a [u8]> {
        Header::new_unchecked(self.bytes)
    }

    /// The whole message, header included, exactly `length` bytes.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Everything after the header: the payload chain, or ciphertext if the E flag is set.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// Whether the body is encrypted (E flag).
    #[inline]
    pub fn is_encrypted(&self) -> bool {
        self.header().flags().encryption()
    }

    /// Walks the payload chain of a plaintext message. An encrypted body is opaque:
    /// [`IsakmpError::Encrypted`]; decrypt it and use [`Message::decrypted_payloads`].
    #[inline]
    pub fn payloads(&self) -> Result<PayloadIter<'a>, IsakmpError> {
        if self.is_encrypted() {
            return Err(IsakmpError::Encrypted);
        }
        Ok(PayloadIter::new(
            self.header().next_payload(),
            self.body(),
            HEADER_LEN,
            Trailing::Reject,
        ))
    }

    /// Walks the payload chain of this message's decrypted body. The header's next-payload field
    /// names the first payload; bytes after the last payload are padding
    /// ([`PayloadIter::remaining`] once the walk ends). Error offsets count from the message
    /// start, as if the plaintext sat where the ciphertext was.
    pub fn decrypted_payloads<'p>(&self, plaintext: &'p [u8]) -> PayloadIter<'p> {
        decrypted_payloads(self.header().next_payload(), plaintext)
    }
}

/// Walks a decrypted body whose first payload has type `first` (the header's next-payload
/// field). See [`Message::decrypted_payloads`].
pub fn decrypted_payloads(first: PayloadType, plaintext: &[u8]) -> PayloadIter<'_> {
    PayloadIter::new(first, plaintext, HEADER_LEN, Trailing::Padding)
}
