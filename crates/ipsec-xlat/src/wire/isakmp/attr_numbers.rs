//! Numbers used inside SA payloads: transform IDs and the types and values of data attributes.
//!
//! Phase 1 (protocol ISAKMP) and phase 2 (protocol ESP/AH) transforms use different attribute
//! registries (RFC 2409 Appendix A and RFC 2407 §4.5), so each registry gets its own newtype:
//! mixing them up is then a type error rather than a silent misreading.

use super::numbers::open_number;

open_number! {
    /// Transform ID of a transform in an ISAKMP (phase 1) proposal (RFC 2407 §4.4.2).
    pub struct IsakmpTransformId(u8) {
        /// The only one defined: IKE.
        KEY_IKE = 1,
    }
}

open_number! {
    /// Transform ID of an ESP transform (RFC 2407 §4.4.4, IANA "IPsec ESP Transform Identifiers").
    pub struct EspTransformId(u8) {
        /// DES (deprecated).
        DES = 2,
        /// Triple DES.
        TRIPLE_DES = 3,
        /// Null encryption.
        NULL = 11,
        /// AES-CBC (RFC 3602).
        AES_CBC = 12,
        /// AES-CTR (RFC 3686).
        AES_CTR = 13,
        /// AES-CCM with an 8-byte ICV.
        AES_CCM_8 = 14,
        /// AES-CCM with a 12-byte ICV.
        AES_CCM_12 = 15,
        /// AES-CCM with a 16-byte ICV.
        AES_CCM_16 = 16,
        /// AES-GCM with an 8-byte ICV (RFC 4106).
        AES_GCM_8 = 18,
        /// AES-GCM with a 12-byte ICV (RFC 4106).
        AES_GCM_12 = 19,
        /// AES-GCM with a 16-byte ICV (RFC 4106).
        AES_GCM_16 = 20,
        /// AES-GMAC, authentication only (RFC 4543).
        NULL_AUTH_AES_GMAC = 23,
    }
}

open_number! {
    /// Transform ID of an AH transform (RFC 2407 §4.4.3, IANA "IPsec AH Transform Identifiers").
    pub struct AhTransformId(u8) {
        /// HMAC-MD5.
        MD5 = 2,
        /// HMAC-SHA-1.
        SHA = 3,
        /// DES-MAC.
        DES = 4,
        /// HMAC-SHA-256.
        SHA2_256 = 5,
        /// HMAC-SHA-384.
        SHA2_384 = 6,
        /// HMAC-SHA-512.
        SHA2_512 = 7,
    }
}

open_number! {
    /// Phase 1 (IKE) attribute type (RFC 2409 Appendix A, RFC 4754).
    pub struct IkeAttributeType(u16) {
        /// Encryption algorithm, values in [`IkeEncryption`]. Basic.
        ENCRYPTION_ALGORITHM = 1,
        /// Hash algorithm, values in [`IkeHash`]. Basic.
        HASH_ALGORITHM = 2,
        /// Authentication method, values in [`AuthMethod`]. Basic.
        AUTHENTICATION_METHOD = 3,
        /// Group description, values in [`GroupDescription`]. Basic.
        GROUP_DESCRIPTION = 4,
        /// Group type. Basic.
        GROUP_TYPE = 5,
        /// Group prime / irreducible polynomial. Variable.
        GROUP_PRIME = 6,
        /// Group generator one. Variable.
        GROUP_GENERATOR_ONE = 7,
        /// Group generator two. Variable.
        GROUP_GENERATOR_TWO = 8,
        /// Group curve A. Variable.
        GROUP_CURVE_A = 9,
        /// Group curve B. Variable.
        GROUP_CURVE_B = 10,
        /// Life type, values in [`LifeType`]. Basic.
        LIFE_TYPE = 11,
        /// Life duration. Variable (basic when it fits 16 bits).
        LIFE_DURATION = 12,
        /// Pseudo-random function. Basic.
        PRF = 13,
        /// Key length in bits. Basic.
        KEY_LENGTH = 14,
        /// Field size. Basic.
        FIELD_SIZE = 15,
        /// Group order. Variable.
        GROUP_ORDER = 16,
    }
}

open_number! {
    /// Phase 2 (IPsec DOI) attribute type (RFC 2407 §4.5, RFC 3947, RFC 4304).
    pub struct IpsecAttributeType(u16) {
        /// SA life type, values in [`LifeType`]. Basic.
        SA_LIFE_TYPE = 1,
        /// SA life duration. Variable (basic when it fits 16 bits).
        SA_LIFE_DURATION = 2,
        /// PFS group description, values in [`GroupDescription`]. Basic.
        GROUP_DESCRIPTION = 3,
        /// Encapsulation mode, values in [`EncapsulationMode`]. Basic.
        ENCAPSULATION_MODE = 4,
        /// Authentication algorithm, values in [`IpsecAuthAlgorithm`]. Basic.
        AUTHENTICATION_ALGORITHM = 5,
        /// Key length in bits. Basic.
        KEY_LENGTH = 6,
        /// Key rounds. Basic.
        KEY_ROUNDS = 7,
        /// Compression dictionary size. Basic.
        COMPRESS_DICTIONARY_SIZE = 8,
        /// Compression private algorithm. Variable.
        COMPRESS_PRIVATE_ALGORITHM = 9,
        /// ECN tunnel (RFC 3168). Basic.
        ECN_TUNNEL = 10,
        /// Extended sequence numbers (RFC 4304). Basic.
        EXTENDED_SEQUENCE_NUMBER = 11,
    }
}

open_number! {
    /// IKE encryption algorithm (RFC 2409 Appendix A, RFC 3602).
    pub struct IkeEncryption(u16) {
        /// DES-CBC.
        DES_CBC = 1,
        /// IDEA-CBC.
        IDEA_CBC = 2,
        /// Blowfish-CBC.
        BLOWFISH_CBC = 3,
        /// RC5-R16-B64-CBC.
        RC5_R16_B64_CBC = 4,
        /// 3DES-CBC.
        TRIPLE_DES_CBC = 5,
        /// CAST-CBC.
        CAST_CBC = 6,
        /// AES-CBC.
        AES_CBC = 7,
        /// Camellia-CBC.
        CAMELLIA_CBC = 8,
    }
}

open_number! {
    /// IKE hash algorithm (RFC 2409 Appendix A, RFC 4868).
    pub struct IkeHash(u16) {
        /// MD5.
        MD5 = 1,
        /// SHA-1.
        SHA1 = 2,
        /// Tiger.
        TIGER = 3,
        /// SHA2-256.
        SHA2_256 = 4,
        /// SHA2-384.
        SHA2_384 = 5,
        /// SHA2-512.
        SHA2_512 = 6,
    }
}

open_number! {
    /// IKE authentication method (RFC 2409 Appendix A, RFC 4754).
    pub struct AuthMethod(u16) {
        /// Pre-shared key.
        PRE_SHARED_KEY = 1,
        /// DSS signatures.
        DSS_SIGNATURES = 2,
        /// RSA signatures.
        RSA_SIGNATURES = 3,
        /// Encryption with RSA.
        RSA_ENCRYPTION = 4,
        /// Revised encryption with RSA.
        RSA_REVISED_ENCRYPTION = 5,
        /// ECDSA with SHA-256 on P-256.
        ECDSA_SHA256 = 9,
        /// ECDSA with SHA-384 on P-384.
        ECDSA_SHA384 = 10,
        /// ECDSA with SHA-512 on P-521.
        ECDSA_SHA512 = 11,
    }
}

open_number! {
    /// Diffie-Hellman group (RFC 2409, RFC 3526, RFC 5903, RFC 8031; IANA "Group Description").
    pub struct GroupDescription(u16) {
        /// 768-bit MODP.
        MODP_768 = 1,
        /// 1024-bit MODP.
        MODP_1024 = 2,
        /// 1536-bit MODP.
        MODP_1536 = 5,
        /// 2048-bit MODP.
        MODP_2048 = 14,
        /// 3072-bit MODP.
        MODP_3072 = 15,
        /// 4096-bit MODP.
        MODP_4096 = 16,
        /// 6144-bit MODP.
        MODP_6144 = 17,
        /// 8192-bit MODP.
        MODP_8192 = 18,
        /// 256-bit random ECP (P-256).
        ECP_256 = 19,
        /// 384-bit random ECP (P-384).
        ECP_384 = 20,
        /// 521-bit random ECP (P-521).
        ECP_521 = 21,
        /// Curve25519.
        CURVE25519 = 31,
        /// Curve448.
        CURVE448 = 32,
    }
}

open_number! {
    /// Life type of an SA (RFC 2409 Appendix A, RFC 2407 §4.5).
    pub struct LifeType(u16) {
        /// The duration counts seconds.
        SECONDS = 1,
        /// The duration counts kilobytes.
        KILOBYTES = 2,
    }
}

open_number! {
    /// IPsec encapsulation mode (RFC 2407 §4.5, RFC 3947 §5.1 and the NAT-T drafts).
    pub struct EncapsulationMode(u16) {
        /// Tunnel mode.
        TUNNEL = 1,
        /// Transport mode.
        TRANSPORT = 2,
        /// UDP-encapsulated tunnel mode (RFC 3947).
        UDP_TUNNEL = 3,
        /// UDP-encapsulated transport mode (RFC 3947).
        UDP_TRANSPORT = 4,
        /// UDP-encapsulated tunnel mode, NAT-T draft number.
        UDP_TUNNEL_DRAFT = 61443,
        /// UDP-encapsulated transport mode, NAT-T draft number.
        UDP_TRANSPORT_DRAFT = 61444,
    }
}

open_number! {
    /// IPsec authentication algorithm (RFC 2407 §4.5, IANA).
    pub struct IpsecAuthAlgorithm(u16) {
        /// HMAC-MD5.
        HMAC_MD5 = 1,
        /// HMAC-SHA-1.
        HMAC_SHA1 = 2,
        /// DES-MAC.
        DES_MAC = 3,
        /// KPDK.
        KPDK = 4,
        /// HMAC-SHA2-256 (RFC 4868).
        HMAC_SHA2_256 = 5,
        /// HMAC-SHA2-384 (RFC 4868).
        HMAC_SHA2_384 = 6,
        /// HMAC-SHA2-512 (RFC 4868).
        HMAC_SHA2_512 = 7,
        /// HMAC-RIPEMD.
        HMAC_RIPEMD = 8,
        /// AES-XCBC-MAC.
        AES_XCBC_MAC = 9,
        /// AES-128-GMAC.
        AES_128_GMAC = 11,
        /// AES-192-GMAC.
        AES_192_GMAC = 12,
        /// AES-256-GMAC.
        AES_256_GMAC = 13,
    }
}
