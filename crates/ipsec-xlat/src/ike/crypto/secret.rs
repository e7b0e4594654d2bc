//! Owned secret bytes that are wiped when dropped and never printed.

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret byte string: a PRF output used as a key (SKEYID and friends, KEYMAT, Ka) or a
/// Diffie-Hellman shared value.
///
/// Why a type of its own: the memory is zeroized on drop, `Debug` shows only the length so a
/// stray `{:?}` in a log line cannot leak a key, and equality is not offered (compare secrets
/// with [`SecretBytes::ct_eq`], which takes constant time).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Named so that every read of a secret is visible in review.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the secret holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other` (length is not hidden).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }

    /// Appends bytes. Reserve enough capacity first: a reallocation would leave an unwiped
    /// copy behind.
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Keeps the first `len` bytes (no-op when already shorter), wiping the rest.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.0.len() {
            if let Some(tail) = self.0.get_mut(len..) {
                tail.zeroize();
            }
            self.0.truncate(len);
        }
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Constant-time equality of two byte strings (their lengths are not secret).
///
/// Used for every received hash or ICV-like value (HASH_I, HASH_R, HASH(n), tail bindings) so
/// that timing does not tell an attacker how many leading bytes it guessed right.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
