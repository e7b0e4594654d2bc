//! Group 31: Curve25519 / X25519 (RFC 7748, RFC 8031), via `x25519-dalek`.

use rand_core::{CryptoRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};

use super::DhError;
use crate::ike::crypto::SecretBytes;

/// KE payload body and shared secret length (RFC 8031 section 2).
pub(super) const LEN: usize = 32;

/// An X25519 private key; `StaticSecret` zeroizes itself on drop. (A "static" secret only
/// because it must be usable for `agree` after `public_value`; it is still one per exchange.)
pub(super) struct X25519Private(StaticSecret);

impl X25519Private {
    pub(super) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(StaticSecret::random_from_rng(rng))
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self, DhError> {
        let raw: [u8; LEN] = bytes
            .try_into()
            .map_err(|_| DhError::InvalidPrivateValue(31))?;
        Ok(Self(StaticSecret::from(raw)))
    }

    pub(super) fn public_value(&self) -> Vec<u8> {
        PublicKey::from(&self.0).as_bytes().to_vec()
    }

    /// X25519 with the peer's u coordinate; an all-zero result (low-order peer point) is
    /// refused, as RFC 8031 section 2 requires.
    pub(super) fn agree(&self, peer: &[u8]) -> Result<SecretBytes, DhError> {
        let raw: [u8; LEN] = peer.try_into().map_err(|_| DhError::PublicValueLength {
            group: 31,
            expected: LEN,
            actual: peer.len(),
        })?;
        let shared = self.0.diffie_hellman(&PublicKey::from(raw));
        if !shared.was_contributory() {
            return Err(DhError::DegenerateSharedSecret);
        }
        Ok(SecretBytes::from_slice(shared.as_bytes()))
    }
}
