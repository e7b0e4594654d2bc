//! HASH payloads of phase-2 exchanges (RFC 2409 sections 5.5 and 5.7).
//!
//! All are keyed with SKEYID_a. `M-ID` is the ISAKMP header's message ID in network order.
//! "Message after HASH" means the payloads that follow the HASH payload, generic headers
//! included, exactly as they are sent (the HASH payload is always first), and without the CBC
//! padding: for quick mode message 1 that is `SA | Ni [| KE] [| IDci | IDcr]`.

use super::secret::{ct_eq, SecretBytes};
use super::skeyid::Phase1Keys;

/// Quick mode message 1: `HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])`.
pub fn quick_mode_hash1(keys: &Phase1Keys, message_id: u32, after_hash: &[u8]) -> Vec<u8> {
    prf_a(keys, &[&message_id.to_be_bytes(), after_hash])
}

/// Quick mode message 2:
/// `HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])`.
///
/// `ni_b` is the body of the initiator's NONCE payload from message 1.
pub fn quick_mode_hash2(
    keys: &Phase1Keys,
    message_id: u32,
    ni_b: &[u8],
    after_hash: &[u8],
) -> Vec<u8> {
    prf_a(keys, &[&message_id.to_be_bytes(), ni_b, after_hash])
}

/// Quick mode message 3: `HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)`, where `0` is one
/// zero octet.
pub fn quick_mode_hash3(keys: &Phase1Keys, message_id: u32, ni_b: &[u8], nr_b: &[u8]) -> Vec<u8> {
    prf_a(keys, &[&[0u8], &message_id.to_be_bytes(), ni_b, nr_b])
}

/// Informational exchange (notify, delete, DPD):
/// `HASH(1) = prf(SKEYID_a, M-ID | N/D)`, with N/D the payloads after the HASH payload.
pub fn informational_hash(keys: &Phase1Keys, message_id: u32, after_hash: &[u8]) -> Vec<u8> {
    prf_a(keys, &[&message_id.to_be_bytes(), after_hash])
}

/// Constant-time comparison of a computed and a received HASH payload body.
pub fn verify_hash(computed: &[u8], received: &[u8]) -> bool {
    ct_eq(computed, received)
}

fn prf_a(keys: &Phase1Keys, parts: &[&[u8]]) -> Vec<u8> {
    let out: SecretBytes = keys.hash().prf(keys.skeyid_a().expose(), parts);
    out.expose().to_vec()
}
