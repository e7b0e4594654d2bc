//! CBC initialisation vectors of ISAKMP messages (RFC 2409 section 5.3 and Appendix B).
//!
//! IKEv1 never sends an IV. Both peers derive it:
//!
//! - phase 1 (main mode messages 5 and 6): the first IV is `hash(g^xi | g^xr)` truncated to the
//!   cipher block; every later message uses the last ciphertext block of the previous message;
//! - each phase-2 or informational exchange (its own M-ID) starts from
//!   `hash(last phase-1 CBC output block | M-ID)` and then chains the same way within the
//!   exchange.
//!
//! A receiver must only move the chain on after the message has decrypted *and* its HASH has
//! verified (strongSwan's `confirm_iv`): a forged or corrupted message must not desynchronise
//! the exchange. The functions here therefore return the next IV and leave committing it to
//! the caller.

use super::hash::HashAlgorithm;

/// Cipher block length of every cipher we negotiate (AES).
pub const BLOCK_LEN: usize = 16;

/// One CBC IV (AES block). IVs are public in IKEv1: they are derived from public values and
/// ciphertext, so this type is plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Iv(pub [u8; BLOCK_LEN]);

impl Iv {
    /// Phase-1 initial IV: `IV = hash(g^xi | g^xr)`, truncated to the block length
    /// (RFC 2409 Appendix B).
    ///
    /// `g_xi`/`g_xr` are the KE payload bodies exactly as sent (initiator's first).
    pub fn phase1_initial(hash: HashAlgorithm, g_xi: &[u8], g_xr: &[u8]) -> Self {
        Self::truncated(&hash.digest(&[g_xi, g_xr]))
    }

    /// First IV of a phase-2 (quick mode) or informational exchange:
    /// `IV = hash(last phase-1 CBC output block | M-ID)`, truncated to the block length
    /// (RFC 2409 Appendix B). `M-ID` is the 4-byte message ID in network order.
    ///
    /// `last_phase1_block` is the last ciphertext block of the last phase-1 message (main mode
    /// message 6 for an initiator and a responder alike), i.e. the phase-1 chain's current IV.
    pub fn phase2_initial(hash: HashAlgorithm, last_phase1_block: &Iv, message_id: u32) -> Self {
        Self::truncated(&hash.digest(&[&last_phase1_block.0, &message_id.to_be_bytes()]))
    }

    /// The IV that follows a message: its last ciphertext block. `None` if `ciphertext` is
    /// shorter than one block (no valid encrypted ISAKMP body is).
    pub(crate) fn after(ciphertext: &[u8]) -> Option<Self> {
        let start = ciphertext.len().checked_sub(BLOCK_LEN)?;
        let block: [u8; BLOCK_LEN] = ciphertext.get(start..)?.try_into().ok()?;
        Some(Self(block))
    }

    fn truncated(digest: &[u8]) -> Self {
        // Every hash we negotiate yields at least 20 bytes, more than one AES block.
        let mut block = [0u8; BLOCK_LEN];
        for (dst, src) in block.iter_mut().zip(digest) {
            *dst = *src;
        }
        Self(block)
    }
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
    fn after_takes_last_block_and_rejects_short_input() {
        let mut ct = vec![0u8; 32];
        ct[16..].copy_from_slice(&[9u8; 16]);
        assert_eq!(Iv::after(&ct), Some(Iv([9u8; 16])));
        assert_eq!(Iv::after(&[1u8; 15]), None);
    }

    #[test]
    fn phase2_iv_depends_on_message_id() {
        let last = Iv([3u8; 16]);
        let a = Iv::phase2_initial(HashAlgorithm::Sha256, &last, 1);
        let b = Iv::phase2_initial(HashAlgorithm::Sha256, &last, 2);
        assert_ne!(a, b);
        let expected = HashAlgorithm::Sha256.digest(&[&[3u8; 16], &[0, 0, 0, 1]]);
        assert_eq!(&a.0[..], &expected[..16]);
    }
}
