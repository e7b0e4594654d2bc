//! ISAKMP / IKEv1 messages (RFC 2408, RFC 2409, RFC 3947).
//!
//! Reading is zero-copy and lazy: [`Message::parse`] checks the header and splits off whatever
//! follows the message's own length (our tail, see [`crate::wire::tail`]); [`Message::payloads`]
//! walks the generic payload chain one [`GenericPayload`] at a time; [`Payload::parse`] turns one
//! into the typed view of its kind (SA with proposals, transforms and attributes; KE; ID; CERT;
//! CERTREQ; HASH; SIG; NONCE; N; D; VID; NAT-D; NAT-OA; fragments). An encrypted body stays
//! opaque until the caller decrypts it and walks the plaintext with
//! [`Message::decrypted_payloads`].
//!
//! Writing goes through owned `*Repr` values and the [`MessageBuilder`]/[`ChainBuilder`], which
//! keep the next-payload and length fields consistent.
//!
//! Every parser is total: any input gives `Ok` or an [`IsakmpError`] naming the structure and the
//! offset (counted from the first byte of the ISAKMP header, i.e. after any non-ESP marker).

mod attr_numbers;
mod attribute;
mod builder;
mod chain;
mod codec;
mod data;
mod error;
mod header;
mod ident;
mod message;
mod notify;
pub(crate) mod numbers;
mod payload;
mod sa;

pub use attr_numbers::{
    AhTransformId, AuthMethod, EncapsulationMode, EspTransformId, GroupDescription,
    IkeAttributeType, IkeEncryption, IkeHash, IpsecAttributeType, IpsecAuthAlgorithm,
    IsakmpTransformId, LifeType,
};
pub use attribute::{AttrValue, AttrValueRef, Attribute, AttributeIter, AttributeRepr};
pub use builder::{encode_message, ChainBuilder, MessageBuilder};
pub use chain::{GenericPayload, PayloadIter, Trailing, GENERIC_HEADER_LEN};
pub use data::{
    CertPayload, CertReqPayload, FragmentPayload, HashPayload, KePayload, NatDPayload,
    NoncePayload, SigPayload, VendorIdPayload,
};
pub use error::IsakmpError;
pub use header::{Cookie, Flags, Header, HeaderRepr, HEADER_LEN, IKEV1_VERSION};
pub use ident::{IdPayload, IdRepr, Identity, NatOaPayload};
pub use message::{decrypted_payloads, Message};
pub use notify::{DeletePayload, DeleteRepr, NotifyPayload, NotifyRepr, SpiIter};
pub use numbers::{CertEncoding, Doi, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId};
pub use payload::{Payload, PayloadRepr};
pub use sa::{
    Proposal, ProposalIter, ProposalRepr, SaPayload, SaRepr, Substructure, SubstructureIter,
    Transform, TransformIter, TransformRepr, SIT_IDENTITY_ONLY,
};

pub(crate) use numbers::open_number;
