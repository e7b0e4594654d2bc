//! Builders: append payloads and let the builder keep every next-payload and length field right.
//!
//! The IKE state machines build messages from parts; getting a next-payload byte or a length
//! wrong is the classic IKEv1 builder bug, so nobody writes those fields by hand:
//! [`ChainBuilder`] patches the previous payload's next-payload field when a payload is appended
//! and writes each payload's length when its body is done; [`MessageBuilder`] adds the header,
//! whose next-payload and length it fills in at the end.
//!
//! ```
//! use ipsec_xlat::wire::isakmp::{Cookie, ExchangeType, MessageBuilder, Message, PayloadType};
//! let mut m = MessageBuilder::new(Cookie([1; 8]), Cookie::ZERO, ExchangeType::MAIN_MODE, 0);
//! m.push_key_exchange(&[0xaa; 256])?.push_nonce(&[0xbb; 32])?;
//! let bytes = m.build()?;
//! let (msg, _tail) = Message::parse(&bytes)?;
//! let types: Vec<PayloadType> = msg.payloads()?.map(|p| p.map(|p| p.payload_type())).collect::<Result<_, _>>()?;
//! assert_eq!(types, [PayloadType::KEY_EXCHANGE, PayloadType::NONCE]);
//! # Ok::<(), ipsec_xlat::wire::isakmp::IsakmpError>(())
//! ```

use super::chain::{GenericPayload, GENERIC_HEADER_LEN};
use super::codec::{at, len_u16, patch_u16, patch_u8};
use super::error::IsakmpError;
use super::header::{Cookie, Flags, HeaderRepr, HEADER_LEN, IKEV1_VERSION};
use super::ident::IdRepr;
use super::notify::{DeleteRepr, NotifyRepr};
use super::numbers::{CertEncoding, ExchangeType, PayloadType};
use super::payload::PayloadRepr;
use super::sa::SaRepr;

/// Builds a payload chain: a message body before encryption, or after the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainBuilder {
    buf: Vec<u8>,
    first: PayloadType,
    last_header: Option<usize>,
}

impl ChainBuilder {
    /// An empty chain.
    pub fn new() -> Self {
        ChainBuilder::default()
    }

    /// Appends a payload of type `payload_type` whose body `write_body` appends. On error the
    /// chain is left as it was.
    pub fn push_with(
        &mut self,
        payload_type: PayloadType,
        write_body: impl FnOnce(&mut Vec<u8>) -> Result<(), IsakmpError>,
    ) -> Result<&mut Self, IsakmpError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; GENERIC_HEADER_LEN]);
        let length = write_body(&mut self.buf)
            .and_then(|()| len_u16("payload", self.buf.len().saturating_sub(start)));
        let length = match length {
            Ok(length) => length,
            Err(e) => {
                self.buf.truncate(start);
                return Err(e);
            }
        };
        patch_u16(&mut self.buf, at(start, 2), length);
        match self.last_header {
            Some(previous) => patch_u8(&mut self.buf, previous, payload_type.0),
            None => self.first = payload_type,
        }
        self.last_header = Some(start);
        Ok(self)
    }

    /// Appends a payload.
    pub fn push(&mut self, payload: &PayloadRepr) -> Result<&mut Self, IsakmpError> {
        self.push_with(payload.payload_type(), |out| payload.emit_body(out))
    }

    /// Appends a payload whose body is given verbatim.
    pub fn push_raw(
        &mut self,
        payload_type: PayloadType,
        body: &[u8],
    ) -> Result<&mut Self, IsakmpError> {
        self.push_with(payload_type, |out| {
            out.extend_from_slice(body);
            Ok(())
        })
    }

    /// Appends a received payload unchanged (its body and type; next-payload is re-linked).
    pub fn push_generic(&mut self, payload: &GenericPayload<'_>) -> Result<&mut Self, IsakmpError> {
        self.push_raw(payload.payload_type(), payload.body())
    }

    /// Appends an SA payload.
    pub fn push_sa(&mut self, sa: &SaRepr) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::SECURITY_ASSOCIATION, |out| sa.emit_body(out))
    }

    /// Appends a KE payload.
    pub fn push_key_exchange(&mut self, public_value: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::KEY_EXCHANGE, public_value)
    }

    /// Appends an ID payload.
    pub fn push_identification(&mut self, id: &IdRepr) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::IDENTIFICATION, |out| {
            id.emit_body(out);
            Ok(())
        })
    }

    /// Appends a CERT payload.
    pub fn push_certificate(
        &mut self,
        encoding: CertEncoding,
        data: &[u8],
    ) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::CERTIFICATE, |out| {
            out.push(encoding.0);
            out.extend_from_slice(data);
            Ok(())
        })
    }

    /// Appends a CERTREQ payload.
    pub fn push_certificate_request(
        &mut self,
        cert_type: CertEncoding,
        authority: &[u8],
    ) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::CERTIFICATE_REQUEST, |out| {
            out.push(cert_type.0);
            out.extend_from_slice(authority);
            Ok(())
        })
    }

    /// Appends a HASH payload.
    pub fn push_hash(&mut self, hash: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::HASH, hash)
    }

    /// Appends a SIG payload.
    pub fn push_signature(&mut self, signature: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::SIGNATURE, signature)
    }

    /// Appends a NONCE payload.
    pub fn push_nonce(&mut self, nonce: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::NONCE, nonce)
    }

    /// Appends an N payload.
    pub fn push_notification(&mut self, notify: &NotifyRepr) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::NOTIFICATION, |out| notify.emit_body(out))
    }

    /// Appends a D payload.
    pub fn push_delete(&mut self, delete: &DeleteRepr) -> Result<&mut Self, IsakmpError> {
        self.push_with(PayloadType::DELETE, |out| delete.emit_body(out))
    }

    /// Appends a VID payload.
    pub fn push_vendor_id(&mut self, vendor_id: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::VENDOR_ID, vendor_id)
    }

    /// Appends a NAT-D payload with RFC 3947's type (20).
    pub fn push_nat_d(&mut self, hash: &[u8]) -> Result<&mut Self, IsakmpError> {
        self.push_raw(PayloadType::NAT_DISCOVERY, hash)
    }

    /// Appends every payload of `other` after this chain's, linking the two. Handy for quick
    /// mode: build the payloads that follow HASH, compute HASH(1..3) over
    /// [`ChainBuilder::as_bytes`], then push the HASH payload and append the rest.
    pub fn append(&mut self, other: &ChainBuilder) -> &mut Self {
        let Some(other_last) = other.last_header else {
            return self;
        };
        let start = self.buf.len();
        match self.last_header {
            Some(previous) => patch_u8(&mut self.buf, previous, other.first.0),
            None => self.first = other.first,
        }
        self.buf.extend_from_slice(&other.buf);
        self.last_header = Some(at(start, other_last));
        self
    }

    /// The type of the first payload ([`PayloadType::NONE`] while empty): the value for the
    /// header's next-payload field.
    pub fn first_payload(&self) -> PayloadType {
        self.first
    }

    /// The chain's bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The chain's length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no payload was appended.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The first payload's type and the chain's bytes.
    pub(crate) fn into_parts(self) -> (PayloadType, Vec<u8>) {
        (self.first, self.buf)
    }
}

/// Builds a whole message: a header and a [`ChainBuilder`] (reachable through `Deref`, so
/// every `push_*` method works on the message builder too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBuilder {
    header: HeaderRepr,
    chain: ChainBuilder,
}

impl MessageBuilder {
    /// A message with these cookies, exchange type and message ID; version 1.0, no flags.
    pub fn new(
        initiator_cookie: Cookie,
        responder_cookie: Cookie,
        exchange_type: ExchangeType,
        message_id: u32,
    ) -> Self {
        MessageBuilder::from_header(HeaderRepr {
            initiator_cookie,
            responder_cookie,
            next_payload: PayloadType::NONE,
            version: IKEV1_VERSION,
            exchange_type,
            flags: Flags::NONE,
            message_id,
            length: 0,
        })
    }

    /// A message with `header`'s fields; next-payload and length are recomputed at the end.
    pub fn from_header(header: HeaderRepr) -> Self {
        MessageBuilder {
            header,
            chain: ChainBuilder::new(),
        }
    }

    /// The header as it stands (next-payload and length are filled in when building).
    pub fn header(&self) -> &HeaderRepr {
        &self.header
    }

    /// The plaintext message. The E flag is cleared: this body is not encrypted.
    pub fn build(self) -> Result<Vec<u8>, IsakmpError> {
        let (first, body) = self.chain.into_parts();
        let header = HeaderRepr {
            next_payload: first,
            flags: self.header.flags.without(Flags::ENCRYPTION),
            ..self.header
        };
        encode_message(&header, &body)
    }

    /// The encrypted message: `encrypt` receives the payload chain and returns the ciphertext
    /// (padding is its business, as the IV chaining is); the header gets the E flag, the first
    /// payload's type and the final length.
    pub fn seal(self, encrypt: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Result<Vec<u8>, IsakmpError> {
        let (first, body) = self.chain.into_parts();
        let header = HeaderRepr {
            next_payload: first,
            flags: self.header.flags.with(Flags::ENCRYPTION),
            ..self.header
        };
        encode_message(&header, &encrypt(body))
    }
}

impl core::ops::Deref for MessageBuilder {
    type Target = ChainBuilder;
    fn deref(&self) -> &ChainBuilder {
        &self.chain
    }
}

impl core::ops::DerefMut for MessageBuilder {
    fn deref_mut(&mut self) -> &mut ChainBuilder {
        &mut self.chain
    }
}

/// Header followed by `body`, with the header's length field set to the total. The rest of
/// `header` is written as given.
pub fn encode_message(header: &HeaderRepr, body: &[u8]) -> Result<Vec<u8>, IsakmpError> {
    let total = HEADER_LEN.saturating_add(body.len());
    let length = u32::try_from(total).map_err(|_| IsakmpError::TooLong {
        what: "ISAKMP message",
        length: total,
        maximum: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
    })?;
    let mut out = Vec::with_capacity(total);
    HeaderRepr { length, ..*header }.emit(&mut out);
    out.extend_from_slice(body);
    Ok(out)
}
