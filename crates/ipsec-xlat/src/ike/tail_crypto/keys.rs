//! Static X25519 keys of clients and relays for the tail handshake.

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// A static X25519 public key: the relay's (configured in every client) or a client's (listed
/// in the relay's authorisation table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaticPublicKey(pub [u8; 32]);

/// A static X25519 key pair. The private half is wiped on drop and never printed.
#[derive(Clone)]
pub struct StaticKeypair {
    private: Zeroizing<[u8; 32]>,
    public: StaticPublicKey,
}

impl core::fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl StaticKeypair {
    /// Generates a key pair from the caller's randomness.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut private = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *private);
        Self::from_private_bytes(*private)
    }

    /// Rebuilds a key pair from its 32-byte private key (e.g. loaded from configuration).
    pub fn from_private_bytes(private: [u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(private);
        let public = StaticPublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        Self {
            private: Zeroizing::new(private),
            public,
        }
    }

    /// The public half.
    pub fn public(&self) -> StaticPublicKey {
        self.public
    }

    pub(crate) fn private_bytes(&self) -> &[u8; 32] {
        &self.private
    }
}
