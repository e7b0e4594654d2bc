//! Open newtypes for the numbers ISAKMP/IKEv1 puts on the wire.
//!
//! Each is a transparent wrapper with named constants rather than a closed enum: a peer may send
//! a value we have never heard of (a private-use payload type, a vendor notify), and the parser
//! must still hand it back so the caller can report it, skip it or forward it byte-exact.

/// Declares an open newtype over an integer with named, documented constants, a `name()` lookup
/// and `Debug`/`Display` that show the name when one is known.
macro_rules! open_number {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($inner:ty) {
            $( $(#[$cmeta:meta])* $cname:ident = $cval:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        $vis struct $name(pub $inner);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: $name = $name($cval); )*

            /// The registered name of this value, or `None` for a value we do not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $cval => Some(stringify!($cname)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $inner {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}
pub(crate) use open_number;

open_number! {
    /// ISAKMP exchange type (RFC 2408 §3.1, RFC 2409 §5, IANA "ISAKMP Exchange Types").
    pub struct ExchangeType(u8) {
        /// No exchange.
        NONE = 0,
        /// Base exchange (RFC 2408 §4.4).
        BASE = 1,
        /// Identity protection, known in IKEv1 as main mode (RFC 2409 §5).
        IDENTITY_PROTECTION = 2,
        /// Authentication only (RFC 2408 §4.6).
        AUTHENTICATION_ONLY = 3,
        /// Aggressive mode (RFC 2409 §5).
        AGGRESSIVE = 4,
        /// Informational exchange (RFC 2408 §4.8).
        INFORMATIONAL = 5,
        /// Transaction exchange, used by mode config and XAUTH (draft-ietf-ipsec-isakmp-mode-cfg).
        TRANSACTION = 6,
        /// Quick mode (RFC 2409 §5.5).
        QUICK_MODE = 32,
        /// New group mode (RFC 2409 §6).
        NEW_GROUP_MODE = 33,
    }
}

impl ExchangeType {
    /// IKEv1's usual name for identity protection.
    pub const MAIN_MODE: ExchangeType = ExchangeType::IDENTITY_PROTECTION;
}

open_number! {
    /// Payload type, as carried in every "next payload" field (RFC 2408 §3.1, RFC 3947 §3-4,
    /// IANA "ISAKMP Payload Types").
    pub struct PayloadType(u8) {
        /// End of the payload chain.
        NONE = 0,
        /// Security association (RFC 2408 §3.4).
        SECURITY_ASSOCIATION = 1,
        /// Proposal; only inside an SA payload (RFC 2408 §3.5).
        PROPOSAL = 2,
        /// Transform; only inside a proposal (RFC 2408 §3.6).
        TRANSFORM = 3,
        /// Key exchange (RFC 2408 §3.7).
        KEY_EXCHANGE = 4,
        /// Identification (RFC 2408 §3.8, RFC 2407 §4.6.2).
        IDENTIFICATION = 5,
        /// Certificate (RFC 2408 §3.9).
        CERTIFICATE = 6,
        /// Certificate request (RFC 2408 §3.10).
        CERTIFICATE_REQUEST = 7,
        /// Hash (RFC 2408 §3.11).
        HASH = 8,
        /// Signature (RFC 2408 §3.12).
        SIGNATURE = 9,
        /// Nonce (RFC 2408 §3.13).
        NONCE = 10,
        /// Notification (RFC 2408 §3.14).
        NOTIFICATION = 11,
        /// Delete (RFC 2408 §3.15).
        DELETE = 12,
        /// Vendor ID (RFC 2408 §3.16).
        VENDOR_ID = 13,
        /// Mode-config attributes (draft-ietf-ipsec-isakmp-mode-cfg; number 14 in IANA's table).
        ATTRIBUTES = 14,
        /// GDOI SA KEK (RFC 6407), listed so that its name shows up in logs.
        SA_KEK = 15,
        /// NAT discovery (RFC 3947 §3.2).
        NAT_DISCOVERY = 20,
        /// NAT original address (RFC 3947 §5.2).
        NAT_ORIGINAL_ADDRESS = 21,
        /// NAT discovery, pre-RFC number used with draft-ietf-ipsec-nat-t-ike-02/03.
        NAT_DISCOVERY_DRAFT = 130,
        /// NAT original address, pre-RFC number used with the NAT-T drafts.
        NAT_ORIGINAL_ADDRESS_DRAFT = 131,
        /// IKEv1 fragment (Cisco's format, also spoken by strongSwan).
        FRAGMENT = 132,
    }
}

open_number! {
    /// Notify message type (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706).
    pub struct NotifyType(u16) {
        /// The next-payload type is unknown to the receiver.
        INVALID_PAYLOAD_TYPE = 1,
        /// The DOI is not supported.
        DOI_NOT_SUPPORTED = 2,
        /// The situation is not supported.
        SITUATION_NOT_SUPPORTED = 3,
        /// A cookie is invalid.
        INVALID_COOKIE = 4,
        /// The major version is not supported.
        INVALID_MAJOR_VERSION = 5,
        /// The minor version is not supported.
        INVALID_MINOR_VERSION = 6,
        /// The exchange type is not supported.
        INVALID_EXCHANGE_TYPE = 7,
        /// The flags are invalid.
        INVALID_FLAGS = 8,
        /// The message ID is invalid.
        INVALID_MESSAGE_ID = 9,
        /// The protocol ID is invalid.
        INVALID_PROTOCOL_ID = 10,
        /// The SPI is invalid.
        INVALID_SPI = 11,
        /// The transform ID is invalid.
        INVALID_TRANSFORM_ID = 12,
        /// An attribute is not supported.
        ATTRIBUTES_NOT_SUPPORTED = 13,
        /// None of the proposals was acceptable.
        NO_PROPOSAL_CHOSEN = 14,
        /// The proposal syntax is wrong.
        BAD_PROPOSAL_SYNTAX = 15,
        /// A payload is malformed.
        PAYLOAD_MALFORMED = 16,
        /// The key exchange data is invalid.
        INVALID_KEY_INFORMATION = 17,
        /// The identification is invalid.
        INVALID_ID_INFORMATION = 18,
        /// The certificate encoding is invalid.
        INVALID_CERT_ENCODING = 19,
        /// The certificate is invalid.
        INVALID_CERTIFICATE = 20,
        /// The certificate type is unsupported.
        CERT_TYPE_UNSUPPORTED = 21,
        /// The certificate authority is invalid.
        INVALID_CERT_AUTHORITY = 22,
        /// The hash is invalid.
        INVALID_HASH_INFORMATION = 23,
        /// Authentication failed.
        AUTHENTICATION_FAILED = 24,
        /// The signature is invalid.
        INVALID_SIGNATURE = 25,
        /// Address notification.
        ADDRESS_NOTIFICATION = 26,
        /// SA lifetime notification.
        NOTIFY_SA_LIFETIME = 27,
        /// The certificate is unavailable.
        CERTIFICATE_UNAVAILABLE = 28,
        /// The exchange type is unsupported.
        UNSUPPORTED_EXCHANGE_TYPE = 29,
        /// Payload lengths disagree.
        UNEQUAL_PAYLOAD_LENGTHS = 30,
        /// Status: connected (RFC 2408).
        CONNECTED = 16384,
        /// IPsec DOI: the responder's lifetime (RFC 2407 §4.6.3.1).
        RESPONDER_LIFETIME = 24576,
        /// IPsec DOI: replay status (RFC 2407 §4.6.3.2).
        REPLAY_STATUS = 24577,
        /// IPsec DOI: initial contact (RFC 2407 §4.6.3.3).
        INITIAL_CONTACT = 24578,
        /// Dead peer detection request (RFC 3706).
        R_U_THERE = 36136,
        /// Dead peer detection acknowledgement (RFC 3706).
        R_U_THERE_ACK = 36137,
    }
}

impl NotifyType {
    /// Types below 16384 report errors (RFC 2408 §3.14.1); the rest report status.
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

open_number! {
    /// Domain of interpretation (RFC 2408 §3.4, RFC 2407 §4.2).
    pub struct Doi(u32) {
        /// The generic ISAKMP DOI.
        ISAKMP = 0,
        /// The Internet IP security DOI (RFC 2407).
        IPSEC = 1,
    }
}

open_number! {
    /// Protocol identifier in proposals, notifications and deletes (RFC 2407 §4.4.1).
    pub struct ProtocolId(u8) {
        /// Reserved / not applicable.
        RESERVED = 0,
        /// The ISAKMP SA itself.
        ISAKMP = 1,
        /// IPsec AH.
        IPSEC_AH = 2,
        /// IPsec ESP.
        IPSEC_ESP = 3,
        /// IP payload compression.
        IPCOMP = 4,
    }
}

open_number! {
    /// Identification type (RFC 2407 §4.6.2.1).
    pub struct IdType(u8) {
        /// One IPv4 address.
        IPV4_ADDR = 1,
        /// Fully qualified domain name.
        FQDN = 2,
        /// User FQDN (`user@example.com`).
        USER_FQDN = 3,
        /// IPv4 address and netmask.
        IPV4_ADDR_SUBNET = 4,
        /// One IPv6 address.
        IPV6_ADDR = 5,
        /// IPv6 address and netmask.
        IPV6_ADDR_SUBNET = 6,
        /// IPv4 address range.
        IPV4_ADDR_RANGE = 7,
        /// IPv6 address range.
        IPV6_ADDR_RANGE = 8,
        /// DER-encoded X.500 distinguished name.
        DER_ASN1_DN = 9,
        /// DER-encoded X.500 general name.
        DER_ASN1_GN = 10,
        /// Opaque key identifier.
        KEY_ID = 11,
    }
}

open_number! {
    /// Certificate encoding in CERT and certificate type in CERTREQ (RFC 2408 §3.9).
    pub struct CertEncoding(u8) {
        /// None.
        NONE = 0,
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7 = 1,
        /// PGP certificate.
        PGP = 2,
        /// DNS signed key.
        DNS_SIGNED_KEY = 3,
        /// X.509 certificate, signature.
        X509_SIGNATURE = 4,
        /// X.509 certificate, key exchange.
        X509_KEY_EXCHANGE = 5,
        /// Kerberos tokens.
        KERBEROS = 6,
        /// Certificate revocation list.
        CRL = 7,
        /// Authority revocation list.
        ARL = 8,
        /// SPKI certificate.
        SPKI = 9,
        /// X.509 certificate, attribute.
        X509_ATTRIBUTE = 10,
    }
}
