//! Handing the caller's randomness to `snow`.
//!
//! snow draws ephemeral keys from a `Random` its resolver supplies, by default the OS
//! generator. The core is sans-IO and deterministic under test, so instead we draw a 32-byte
//! seed from the caller's `RngCore + CryptoRng` per handshake and give snow a ChaCha20 stream
//! from that seed. Everything else (X25519, ChaChaPoly, SHA-256) comes from snow's default
//! resolver.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

/// A ChaCha20 stream seeded from the caller's generator.
struct SeededRandom(ChaCha20Rng);

impl RngCore for SeededRandom {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for SeededRandom {}
impl Random for SeededRandom {}

/// snow resolver: our seeded RNG, snow's default primitives.
pub(crate) struct InjectedResolver {
    seed: Zeroizing<[u8; 32]>,
    default: DefaultResolver,
}

impl InjectedResolver {
    /// Draws the seed for one handshake from `rng`.
    pub(crate) fn new<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *seed);
        Self {
            seed,
            default: DefaultResolver,
        }
    }
}

impl CryptoResolver for InjectedResolver {
    /// snow asks once per `build_*`; a resolver is made for one build only.
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(*self.seed))))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        self.default.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        self.default.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        self.default.resolve_cipher(choice)
    }
}
