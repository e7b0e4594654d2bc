//! Typed payloads: the dispatch from a [`GenericPayload`] to the view of its type, and the owned
//! [`PayloadRepr`] a builder writes.

use std::net::IpAddr;

use super::chain::GenericPayload;
use super::data::{
    CertPayload, CertReqPayload, FragmentPayload, HashPayload, KePayload, NatDPayload,
    NoncePayload, SigPayload, VendorIdPayload,
};
use super::error::IsakmpError;
use super::ident::{IdPayload, IdRepr, NatOaPayload};
use super::notify::{DeletePayload, DeleteRepr, NotifyPayload, NotifyRepr};
use super::numbers::{CertEncoding, PayloadType};
use super::sa::{SaPayload, SaRepr};

/// A payload interpreted according to its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// SA.
    Sa(SaPayload<'a>),
    /// KE.
    KeyExchange(KePayload<'a>),
    /// ID.
    Identification(IdPayload<'a>),
    /// CERT.
    Certificate(CertPayload<'a>),
    /// CERTREQ.
    CertificateRequest(CertReqPayload<'a>),
    /// HASH.
    Hash(HashPayload<'a>),
    /// SIG.
    Signature(SigPayload<'a>),
    /// NONCE.
    Nonce(NoncePayload<'a>),
    /// N.
    Notification(NotifyPayload<'a>),
    /// D.
    Delete(DeletePayload<'a>),
    /// VID.
    VendorId(VendorIdPayload<'a>),
    /// NAT-D, with its payload type (RFC 3947's 20 or the drafts' 130).
    NatDiscovery(PayloadType, NatDPayload<'a>),
    /// NAT-OA, with its payload type (RFC 3947's 21 or the drafts' 131).
    NatOriginalAddress(PayloadType, NatOaPayload),
    /// IKEv1 fragment.
    Fragment(FragmentPayload<'a>),
    /// A payload type without a typed view here (mode-config attributes, private use...),
    /// not marked critical.
    Unknown(GenericPayload<'a>),
}

impl<'a> Payload<'a> {
    /// Interprets `generic` according to its type.
    pub fn parse(generic: &GenericPayload<'a>) -> Result<Payload<'a>, IsakmpError> {
        let body = generic.body();
        let offset = generic.body_offset();
        let t = generic.payload_type();
        Ok(match t {
            PayloadType::SECURITY_ASSOCIATION => Payload::Sa(SaPayload::parse(body, offset)?),
            PayloadType::KEY_EXCHANGE => Payload::KeyExchange(KePayload::parse(body)?),
            PayloadType::IDENTIFICATION => Payload::Identification(IdPayload::parse(body, offset)?),
            PayloadType::CERTIFICATE => Payload::Certificate(CertPayload::parse(body, offset)?),
            PayloadType::CERTIFICATE_REQUEST => {
                Payload::CertificateRequest(CertReqPayload::parse(body, offset)?)
            }
            PayloadType::HASH => Payload::Hash(HashPayload::parse(body)?),
            PayloadType::SIGNATURE => Payload::Signature(SigPayload::parse(body)?),
            PayloadType::NONCE => Payload::Nonce(NoncePayload::parse(body)?),
            PayloadType::NOTIFICATION => Payload::Notification(NotifyPayload::parse(body, offset)?),
            PayloadType::DELETE => Payload::Delete(DeletePayload::parse(body, offset)?),
            PayloadType::VENDOR_ID => Payload::VendorId(VendorIdPayload::parse(body)?),
            PayloadType::NAT_DISCOVERY | PayloadType::NAT_DISCOVERY_DRAFT => {
                Payload::NatDiscovery(t, NatDPayload::parse(body)?)
            }
            PayloadType::NAT_ORIGINAL_ADDRESS | PayloadType::NAT_ORIGINAL_ADDRESS_DRAFT => {
                Payload::NatOriginalAddress(t, NatOaPayload::parse(body, offset)?)
            }
            PayloadType::FRAGMENT => Payload::Fragment(FragmentPayload::parse(body, offset)?),
            PayloadType::PROPOSAL | PayloadType::TRANSFORM | PayloadType::NONE => {
                return Err(IsakmpError::MisplacedPayload {
                    offset: generic.offset(),
                    payload_type: t,
                })
            }
            _ if generic.critical() => {
                return Err(IsakmpError::UnknownCriticalPayload {
                    offset: generic.offset(),
                    payload_type: t,
                })
            }
            _ => Payload::Unknown(*generic),
        })
    }

    /// The payload's type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SECURITY_ASSOCIATION,
            Payload::KeyExchange(_) => PayloadType::KEY_EXCHANGE,
            Payload::Identification(_) => PayloadType::IDENTIFICATION,
            Payload::Certificate(_) => PayloadType::CERTIFICATE,
            Payload::CertificateRequest(_) => PayloadType::CERTIFICATE_REQUEST,
            Payload::Hash(_) => PayloadType::HASH,
            Payload::Signature(_) => PayloadType::SIGNATURE,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notification(_) => PayloadType::NOTIFICATION,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::NatDiscovery(t, _) | Payload::NatOriginalAddress(t, _) => *t,
            Payload::Fragment(_) => PayloadType::FRAGMENT,
            Payload::Unknown(g) => g.payload_type(),
        }
    }

    /// The owned form, for re-emitting or building from a received message.
    pub fn to_repr(&self) -> PayloadRepr {
        match self {
            Payload::Sa(p) => PayloadRepr::Sa(p.to_repr()),
            Payload::KeyExchange(p) => PayloadRepr::KeyExchange(p.data().to_vec()),
            Payload::Identification(p) => PayloadRepr::Identification(p.to_repr()),
            Payload::Certificate(p) => PayloadRepr::Certificate {
                encoding: p.encoding(),
                data: p.data().to_vec(),
            },
            Payload::CertificateRequest(p) => PayloadRepr::CertificateRequest {
                cert_type: p.cert_type(),
                authority: p.authority().to_vec(),
            },
            Payload::Hash(p) => PayloadRepr::Hash(p.data().to_vec()),
            Payload::Signature(p) => PayloadRepr::Signature(p.data().to_vec()),
            Payload::Nonce(p) => PayloadRepr::Nonce(p.data().to_vec()),
            Payload::Notification(p) => PayloadRepr::Notification(p.to_repr()),
            Payload::Delete(p) => PayloadRepr::Delete(p.to_repr()),
            Payload::VendorId(p) => PayloadRepr::VendorId(p.data().to_vec()),
            Payload::NatDiscovery(t, p) => PayloadRepr::NatDiscovery {
                payload_type: *t,
                hash: p.data().to_vec(),
            },
            Payload::NatOriginalAddress(t, p) => PayloadRepr::NatOriginalAddress {
                payload_type: *t,
                address: p.address(),
            },
            Payload::Fragment(p) => PayloadRepr::Fragment {
                fragment_id: p.fragment_id(),
                number: p.number(),
                flags: p.flags(),
                data: p.data().to_vec(),
            },
            Payload::Unknown(g) => PayloadRepr::Other {
                payload_type: g.payload_type(),
                body: g.body().to_vec(),
            },
        }
    }
}

/// A payload to write; the builder adds the generic header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PayloadRepr {
    /// SA.
    Sa(SaRepr),
    /// KE: the Diffie-Hellman public value.
    KeyExchange(Vec<u8>),
    /// ID.
    Identification(IdRepr),
    /// CERT.
    Certificate {
        /// Encoding.
        encoding: CertEncoding,
        /// Certificate.
        data: Vec<u8>,
    },
    /// CERTREQ.
    CertificateRequest {
        /// Certificate type.
        cert_type: CertEncoding,
        /// Certificate authority.
        authority: Vec<u8>,
    },
    /// HASH.
    Hash(Vec<u8>),
    /// SIG.
    Signature(Vec<u8>),
    /// NONCE.
    Nonce(Vec<u8>),
    /// N.
    Notification(NotifyRepr),
    /// D.
    Delete(DeleteRepr),
    /// VID.
    VendorId(Vec<u8>),
    /// NAT-D.
    NatDiscovery {
        /// [`PayloadType::NAT_DISCOVERY`] or [`PayloadType::NAT_DISCOVERY_DRAFT`].
        payload_type: PayloadType,
        /// The hash.
        hash: Vec<u8>,
    },
    /// NAT-OA.
    NatOriginalAddress {
        /// [`PayloadType::NAT_ORIGINAL_ADDRESS`] or [`PayloadType::NAT_ORIGINAL_ADDRESS_DRAFT`].
        payload_type: PayloadType,
        /// The original address.
        address: IpAddr,
    },
    /// IKEv1 fragment.
    Fragment {
        /// Fragment ID.
        fragment_id: u16,
        /// Fragment number.
        number: u8,
        /// Flags (`FragmentPayload::LAST`).
        flags: u8,
        /// Data.
        data: Vec<u8>,
    },
    /// Any other payload, body given verbatim.
    Other {
        /// Payload type.
        payload_type: PayloadType,
        /// Body.
        body: Vec<u8>,
    },
}

impl PayloadRepr {
    /// The payload's type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            PayloadRepr::Sa(_) => PayloadType::SECURITY_ASSOCIATION,
            PayloadRepr::KeyExchange(_) => PayloadType::KEY_EXCHANGE,
            PayloadRepr::Identification(_) => PayloadType::IDENTIFICATION,
            PayloadRepr::Certificate { .. } => PayloadType::CERTIFICATE,
            PayloadRepr::CertificateRequest { .. } => PayloadType::CERTIFICATE_REQUEST,
            PayloadRepr::Hash(_) => PayloadType::HASH,
            PayloadRepr::Signature(_) => PayloadType::SIGNATURE,
            PayloadRepr::Nonce(_) => PayloadType::NONCE,
            PayloadRepr::Notification(_) => PayloadType::NOTIFICATION,
            PayloadRepr::Delete(_) => PayloadType::DELETE,
            PayloadRepr::VendorId(_) => PayloadType::VENDOR_ID,
            PayloadRepr::NatDiscovery { payload_type, .. }
            | PayloadRepr::NatOriginalAddress { payload_type, .. }
            | PayloadRepr::Other { payload_type, .. } => *payload_type,
            PayloadRepr::Fragment { .. } => PayloadType::FRAGMENT,
        }
    }

    /// Appends the payload body (no generic header) to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), IsakmpError> {
        match self {
            PayloadRepr::Sa(sa) => sa.emit_body(out)?,
            PayloadRepr::Identification(id) => id.emit_body(out),
            PayloadRepr::Certificate { encoding, data } => {
                out.push(encoding.0);
                out.extend_from_slice(data);
            }
            PayloadRepr::CertificateRequest {
                cert_type,
                authority,
            } => {
                out.push(cert_type.0);
                out.extend_from_slice(authority);
            }
            PayloadRepr::KeyExchange(data)
            | PayloadRepr::Hash(data)
            | PayloadRepr::Signature(data)
            | PayloadRepr::Nonce(data)
            | PayloadRepr::VendorId(data)
            | PayloadRepr::NatDiscovery { hash: data, .. }
            | PayloadRepr::Other { body: data, .. } => out.extend_from_slice(data),
            PayloadRepr::Notification(n) => n.emit_body(out)?,
            PayloadRepr::Delete(d) => d.emit_body(out)?,
            PayloadRepr::NatOriginalAddress { address, .. } => {
                NatOaPayload::new(*address).emit_body(out)
            }
            PayloadRepr::Fragment {
                fragment_id,
                number,
                flags,
                data,
            } => {
                out.extend_from_slice(&fragment_id.to_be_bytes());
                out.push(*number);
                out.push(*flags);
                out.extend_from_slice(data);
            }
        }
        Ok(())
    }
}
