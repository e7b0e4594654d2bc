//! Key material as it arrives from IKE: opaque bytes wiped when dropped.

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret key (encryption or integrity), zeroized on drop and never printed.
///
/// For AES-GCM (RFC 4106 §8.1) the 4-byte salt is the last four bytes of the key material, as
/// IKE's KEYMAT delivers it and as strongSwan and Linux expect it.
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Wraps a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of key bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key (what NULL encryption takes).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for SecretKey {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = SecretKey::new(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(format!("{k:?}"), "SecretKey(4 bytes)");
    }
}
