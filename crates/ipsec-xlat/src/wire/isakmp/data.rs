//! Payloads whose body is one opaque value, plus CERT, CERTREQ and the IKEv1 fragment.
//!
//! KE (§3.7), HASH (§3.11), SIG (§3.12), NONCE (§3.13) and VID (§3.16) of RFC 2408 and NAT-D
//! (RFC 3947 §3.2) carry nothing but their data; they differ in meaning, so each has its own type
//! and the compiler keeps a nonce from being used as a hash.

use nom::number::complete::{be_u16, be_u8};

use super::codec::fixed;
use super::error::IsakmpError;
use super::numbers::CertEncoding;

macro_rules! data_payload {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            data: &'a [u8],
        }

        impl<'a> $name<'a> {
            /// Wraps the payload body; every byte string is a valid one.
            #[inline]
            pub fn parse(body: &'a [u8]) -> Result<Self, IsakmpError> {
                Ok($name { data: body })
            }

            #[doc = concat!("The ", $what, ".")]
            #[inline]
            pub fn data(&self) -> &'a [u8] {
                self.data
            }
        }
    };
}

data_payload!(
    /// Key exchange payload: the sender's Diffie-Hellman public value.
    KePayload,
    "Diffie-Hellman public value"
);
data_payload!(
    /// Hash payload: HASH_I/HASH_R or quick mode's HASH(1..3).
    HashPayload,
    "hash value"
);
data_payload!(
    /// Signature payload: SIG_I/SIG_R.
    SigPayload,
    "signature"
);
data_payload!(
    /// Nonce payload: Ni/Nr.
    NoncePayload,
    "nonce"
);
data_payload!(
    /// Vendor ID payload.
    VendorIdPayload,
    "vendor ID"
);
data_payload!(
    /// NAT discovery payload: a hash of cookies, address and port (RFC 3947 §3.2). Payload type
    /// 20, or 130 with the drafts.
    NatDPayload,
    "hash of cookies, address and port"
);

/// Certificate payload (RFC 2408 §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertPayload<'a> {
    encoding: CertEncoding,
    data: &'a [u8],
}

impl<'a> CertPayload<'a> {
    /// Reads a certificate payload body at `offset`.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (data, encoding) = fixed(body, offset, "certificate payload", 1, be_u8)?;
        Ok(CertPayload {
            encoding: CertEncoding(encoding),
            data,
        })
    }

    /// The certificate encoding.
    pub fn encoding(&self) -> CertEncoding {
        self.encoding
    }

    /// The certificate (DER for X.509).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// Certificate request payload (RFC 2408 §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertReqPayload<'a> {
    cert_type: CertEncoding,
    authority: &'a [u8],
}

impl<'a> CertReqPayload<'a> {
    /// Reads a certificate request payload body at `offset`.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (authority, cert_type) = fixed(body, offset, "certificate request payload", 1, be_u8)?;
        Ok(CertReqPayload {
            cert_type: CertEncoding(cert_type),
            authority,
        })
    }

    /// The certificate type requested.
    pub fn cert_type(&self) -> CertEncoding {
        self.cert_type
    }

    /// The certificate authority (a DER distinguished name for X.509), possibly empty.
    pub fn authority(&self) -> &'a [u8] {
        self.authority
    }
}

/// IKEv1 fragment payload (type 132, Cisco's format that strongSwan also speaks): a large
/// message split so that no IP fragmentation is needed.
///
/// ```text
/// ! Next Payload ! RESERVED ! Payload Length ! Fragment ID (2) ! Fragment # ! Flags ! Data...
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentPayload<'a> {
    fragment_id: u16,
    number: u8,
    flags: u8,
    data: &'a [u8],
}

impl<'a> FragmentPayload<'a> {
    /// The "last fragment" flag.
    pub(crate) const LAST: u8 = 0x01;

    /// Reads a fragment payload body at `offset`.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (data, (fragment_id, number, flags)) =
            fixed(body, offset, "fragment payload", 4, (be_u16, be_u8, be_u8))?;
        Ok(FragmentPayload {
            fragment_id,
            number,
            flags,
            data,
        })
    }

    /// The fragment ID shared by the fragments of one message.
    pub fn fragment_id(&self) -> u16 {
        self.fragment_id
    }

    /// The fragment number, from 1.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether this is the last fragment.
    pub fn is_last(&self) -> bool {
        self.flags & Self::LAST != 0
    }

    /// The fragment's slice of the original message.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}
