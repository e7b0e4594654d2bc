//! The ISAKMP encryption key Ka from SKEYID_e (RFC 2409 section 5.3 and Appendix B).

use super::hash::HashAlgorithm;
use super::secret::SecretBytes;

/// Derives the phase-1 encryption key of `key_len` bytes from SKEYID_e.
///
/// RFC 2409 Appendix B: when the PRF output is at least as long as the cipher key, Ka is the
/// first `key_len` bytes of SKEYID_e. Otherwise
///
/// ```text
/// Ka = K1 | K2 | K3 | ...   (truncated to key_len)
/// K1 = prf(SKEYID_e, 0)     (0 is a single zero octet)
/// K2 = prf(SKEYID_e, K1)
/// K3 = prf(SKEYID_e, K2)
/// ```
///
/// This matters for AES-256 with SHA-1 (20-byte PRF output for a 32-byte key): a
/// "truncate-or-zero-pad" shortcut would interoperate with nobody. strongSwan's
/// `expand_skeyid_e` (keymat_v1.c) implements the same rule.
pub fn expand_encryption_key(
    hash: HashAlgorithm,
    skeyid_e: &SecretBytes,
    key_len: usize,
) -> SecretBytes {
    if skeyid_e.len() >= key_len {
        let mut ka = skeyid_e.clone();
        ka.truncate(key_len);
        return ka;
    }
    // `material` holds key bytes: wrap it at once so it is wiped on every path.
    let mut material = SecretBytes::new(Vec::with_capacity(
        key_len.saturating_add(hash.output_len()),
    ));
    let mut previous = SecretBytes::new(vec![0u8]);
    while material.len() < key_len {
        let block = hash.prf(skeyid_e.expose(), &[previous.expose()]);
        material.extend_from_slice(block.expose());
        previous = block;
    }
    material.truncate(key_len);
    material
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn no_expansion_when_prf_output_suffices() {
        let e = SecretBytes::from_slice(&[7u8; 32]);
        let ka = expand_encryption_key(HashAlgorithm::Sha256, &e, 16);
        assert_eq!(ka.expose(), &[7u8; 16]);
        let ka = expand_encryption_key(HashAlgorithm::Sha256, &e, 32);
        assert_eq!(ka.expose(), &[7u8; 32]);
    }

    /// AES-256 with SHA-1: Ka = K1 | first 12 bytes of K2, each K computed independently here.
    #[test]
    fn expansion_chains_prf_outputs() {
        let e = SecretBytes::from_slice(&[0x42u8; 20]);
        let k1 = HashAlgorithm::Sha1.prf(e.expose(), &[&[0u8]]);
        let k2 = HashAlgorithm::Sha1.prf(e.expose(), &[k1.expose()]);
        let ka = expand_encryption_key(HashAlgorithm::Sha1, &e, 32);
        assert_eq!(ka.len(), 32);
        assert_eq!(&ka.expose()[..20], k1.expose());
        assert_eq!(&ka.expose()[20..], &k2.expose()[..12]);
    }
}
