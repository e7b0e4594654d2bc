//! MODP groups 14 and 15 (RFC 3526) with constant-time modular exponentiation
//! (`crypto-bigint`'s fixed-window Montgomery exponentiation over a fixed exponent width).
//!
//! Private exponents we generate are 256 bits long, not as long as p: the exponentiation
//! costs time in proportion to the exponent's width, and a full-width one made the client's
//! main mode take several times longer than strongSwan's. 256 bits is twice the security
//! strength of either group (112 bits for MODP-2048, 128 for MODP-3072), which is what NIST
//! SP 800-56A Rev. 3 §5.6.1.1.4 and RFC 7919 §5.2 ask of private keys in safe-prime groups
//! (discrete logarithms of short exponents cost about 2^(bits/2) by Pollard's lambda).
//! Exponents given from outside (known-answer tests) keep their full width.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, U2048, U3072};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::DhError;
use crate::ike::crypto::SecretBytes;

/// The fixed parameters of one MODP group.
pub(super) trait ModpGroup {
    /// Group number (for errors).
    const GROUP: u16;
    /// Byte length of p, of public values and of the shared secret.
    const LEN: usize;
    /// Bit length of the private exponents we generate (see the module documentation).
    const EXPONENT_BITS: usize;
}

/// RFC 3526 section 3: the 2048-bit MODP group, generator 2.
pub(super) struct Modp2048;
/// RFC 3526 section 4: the 3072-bit MODP group, generator 2.
pub(super) struct Modp3072;

impl ModpGroup for Modp2048 {
    const GROUP: u16 = 14;
    const LEN: usize = 256;
    const EXPONENT_BITS: usize = 256;
}

impl ModpGroup for Modp3072 {
    const GROUP: u16 = 15;
    const LEN: usize = 384;
    const EXPONENT_BITS: usize = 256;
}

/// p of group 14: 2^2048 - 2^1984 - 1 + 2^64 * ( [2^1918 pi] + 124476 ).
const P_2048: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
));

/// p of group 15: 2^3072 - 2^3008 - 1 + 2^64 * ( [2^2942 pi] + 1690314 ).
const P_3072: U3072 = U3072::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6B",
    "F12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB31",
    "43DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
));

/// A MODP private exponent x, wiped on drop.
pub(super) struct ModpPrivate<G: ModpGroup> {
    /// x as big-endian bytes of p's width.
    x: Zeroizing<Vec<u8>>,
    /// How many low bits of x the exponentiation walks: [`ModpGroup::EXPONENT_BITS`] for
    /// exponents we generate, p's width for exponents given from outside. It depends on how
    /// x was made, never on its value, so the exponentiation stays constant-time.
    bits: usize,
    _group: core::marker::PhantomData<G>,
}

/// How many draws from the RNG we try before declaring it broken. A uniform 256-bit draw is
/// rejected (below 2) with probability 2^-255, so this only trips on a faulty generator.
const MAX_DRAWS: usize = 16;

impl<G: ModpGroup> ModpPrivate<G> {
    /// Draws an exponent uniformly from `2..2^EXPONENT_BITS` by rejection sampling.
    pub(super) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, DhError>
    where
        G: ModpOps,
    {
        let short = G::EXPONENT_BITS / 8;
        let pad = G::LEN.saturating_sub(short);
        for _ in 0..MAX_DRAWS {
            let mut candidate = Zeroizing::new(vec![0u8; G::LEN]);
            if let Some(low) = candidate.get_mut(pad..) {
                rng.fill_bytes(low);
            }
            if G::exponent_in_range(&candidate) {
                return Ok(Self {
                    x: candidate,
                    bits: G::EXPONENT_BITS,
                    _group: core::marker::PhantomData,
                });
            }
        }
        Err(DhError::RandomFailure)
    }

    /// Takes an exponent as big-endian bytes (at most p's length), requiring `2..=p-2`.
    pub(super) fn from_be_bytes(bytes: &[u8]) -> Result<Self, DhError>
    where
        G: ModpOps,
    {
        let pad = G::LEN
            .checked_sub(bytes.len())
            .ok_or(DhError::InvalidPrivateValue(G::GROUP))?;
        let mut x = Zeroizing::new(vec![0u8; G::LEN]);
        if let Some(dst) = x.get_mut(pad..) {
            dst.copy_from_slice(bytes);
        }
        if !G::exponent_in_range(&x) {
            return Err(DhError::InvalidPrivateValue(G::GROUP));
        }
        Ok(Self {
            x,
            bits: G::LEN.saturating_mul(8),
            _group: core::marker::PhantomData,
        })
    }

    /// g^x mod p as a fixed-length big-endian KE payload body.
    pub(super) fn public_value(&self) -> Vec<u8>
    where
        G: ModpOps,
    {
        G::pow_generator(&self.x, self.bits)
    }

    /// y^x mod p after checking `1 < y < p-1`; fixed-length big-endian, leading zeros kept.
    pub(super) fn agree(&self, peer: &[u8]) -> Result<SecretBytes, DhError>
    where
        G: ModpOps,
    {
        G::shared(&self.x, self.bits, peer)
    }
}

/// The arithmetic, implemented once per limb count.
pub(super) trait ModpOps: ModpGroup {
    fn exponent_in_range(x_be: &[u8]) -> bool;
    fn pow_generator(x_be: &[u8], bits: usize) -> Vec<u8>;
    fn shared(x_be: &[u8], bits: usize, peer_be: &[u8]) -> Result<SecretBytes, DhError>;
}

impl ModpOps for Modp2048 {
    fn exponent_in_range(x_be: &[u8]) -> bool {
        exponent_in_range(&P_2048, x_be)
    }
    fn pow_generator(x_be: &[u8], bits: usize) -> Vec<u8> {
        pow_generator(&P_2048, x_be, bits)
    }
    fn shared(x_be: &[u8], bits: usize, peer_be: &[u8]) -> Result<SecretBytes, DhError> {
        shared::<{ U2048::LIMBS }, Self>(&P_2048, x_be, bits, peer_be)
    }
}

impl ModpOps for Modp3072 {
    fn exponent_in_range(x_be: &[u8]) -> bool {
        exponent_in_range(&P_3072, x_be)
    }
    fn pow_generator(x_be: &[u8], bits: usize) -> Vec<u8> {
        pow_generator(&P_3072, x_be, bits)
    }
    fn shared(x_be: &[u8], bits: usize, peer_be: &[u8]) -> Result<SecretBytes, DhError> {
        shared::<{ U3072::LIMBS }, Self>(&P_3072, x_be, bits, peer_be)
    }
}

/// `1 < x < p-1` for a private exponent given as full-width big-endian bytes.
fn exponent_in_range<const L: usize>(p: &Uint<L>, x_be: &[u8]) -> bool {
    let Some(x) = uint_from_be::<L>(x_be) else {
        return false;
    };
    let x = Zeroizing::new(x);
    let p_minus_1 = p.wrapping_sub(&Uint::ONE);
    *x > Uint::ONE && *x < p_minus_1
}

/// `g^x mod p` with g = 2, as full-width big-endian bytes, walking the low `bits` bits of x.
fn pow_generator<const L: usize>(p: &Uint<L>, x_be: &[u8], bits: usize) -> Vec<u8> {
    // The exponent was validated when the private value was built; a width mismatch cannot
    // happen, and exponent 1 would only reveal g.
    let x = Zeroizing::new(uint_from_be::<L>(x_be).unwrap_or(Uint::ONE));
    let params = DynResidueParams::new(p);
    let g = DynResidue::new(&Uint::from_u8(2), params);
    uint_to_be(&g.pow_bounded_exp(&*x, bits.min(Uint::<L>::BITS)).retrieve())
}

/// `y^x mod p` after checking `1 < y < p-1`.
fn shared<const L: usize, G: ModpGroup>(
    p: &Uint<L>,
    x_be: &[u8],
    bits: usize,
    peer_be: &[u8],
) -> Result<SecretBytes, DhError> {
    let y = uint_from_be::<L>(peer_be).ok_or(DhError::PublicValueLength {
        group: G::GROUP,
        expected: G::LEN,
        actual: peer_be.len(),
    })?;
    let p_minus_1 = p.wrapping_sub(&Uint::ONE);
    if y <= Uint::ONE || y >= p_minus_1 {
        return Err(DhError::PublicValueOutOfRange);
    }
    let x = Zeroizing::new(uint_from_be::<L>(x_be).ok_or(DhError::InvalidPrivateValue(G::GROUP))?);
    let params = DynResidueParams::new(p);
    let z = Zeroizing::new(
        DynResidue::new(&y, params)
            .pow_bounded_exp(&*x, bits.min(Uint::<L>::BITS))
            .retrieve(),
    );
    if *z == Uint::ONE {
        return Err(DhError::DegenerateSharedSecret);
    }
    Ok(SecretBytes::new(uint_to_be(&z)))
}

/// Big-endian bytes of exactly the integer's width into a `Uint`; `None` on any other length.
fn uint_from_be<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    if bytes.len() != L.checked_mul(crypto_bigint::Limb::BYTES)? {
        return None;
    }
    Some(Uint::from_be_slice(bytes))
}

/// A `Uint` as big-endian bytes of its full width (leading zeros kept).
fn uint_to_be<const L: usize>(value: &Uint<L>) -> Vec<u8> {
    value
        .as_words()
        .iter()
        .rev()
        .flat_map(|w| w.to_be_bytes())
        .collect()
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
    fn primes_are_the_rfc_3526_values() {
        // Spot checks independent of the hex above: both primes are 2^n - 2^(n-64) - 1 + ...,
        // so they start and end with 64 one bits; and p mod 2^64 - 1 arithmetic is not needed.
        let p = uint_to_be(&P_2048);
        assert_eq!(p.len(), 256);
        assert_eq!(&p[..8], &[0xff; 8]);
        assert_eq!(&p[248..], &[0xff; 8]);
        let p = uint_to_be(&P_3072);
        assert_eq!(p.len(), 384);
        assert_eq!(&p[..8], &[0xff; 8]);
        assert_eq!(&p[376..], &[0xff; 8]);
    }

    /// Small exponents checked against plain arithmetic: 2^2 = 4 and 2^10 = 1024.
    #[test]
    fn generator_power_small_exponents() {
        let mut x = vec![0u8; 256];
        x[255] = 2;
        let out = <Modp2048 as ModpOps>::pow_generator(&x, 2048);
        assert_eq!(out[255], 4);
        assert!(out[..255].iter().all(|b| *b == 0));
        x[255] = 10;
        let out = <Modp2048 as ModpOps>::pow_generator(&x, 2048);
        assert_eq!(&out[254..], &[4, 0]);
        // The bounded walk over the short width gives the same powers.
        let out = <Modp2048 as ModpOps>::pow_generator(&x, 256);
        assert_eq!(&out[254..], &[4, 0]);
    }

    /// Generated exponents are at most 256 bits wide, differ from draw to draw, and walking
    /// only their low 256 bits gives the same public value as walking all of p's width.
    #[test]
    fn generated_exponents_are_short_and_exact() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let a = ModpPrivate::<Modp2048>::generate(&mut rng).unwrap();
        let b = ModpPrivate::<Modp2048>::generate(&mut rng).unwrap();
        assert_ne!(*a.x, *b.x);
        for key in [&a, &b] {
            assert_eq!(key.bits, 256);
            assert!(key.x[..256 - 32].iter().all(|byte| *byte == 0));
            assert_eq!(
                key.public_value(),
                <Modp2048 as ModpOps>::pow_generator(&key.x, 2048)
            );
        }
        let c = ModpPrivate::<Modp3072>::generate(&mut rng).unwrap();
        assert!(c.x[..384 - 32].iter().all(|byte| *byte == 0));
        assert_eq!(
            c.public_value(),
            <Modp3072 as ModpOps>::pow_generator(&c.x, 3072)
        );
    }

    /// A short exponent agrees with a full-width one given from outside (as a peer's would be).
    #[test]
    fn short_and_full_width_exponents_agree() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let short = ModpPrivate::<Modp2048>::generate(&mut rng).unwrap();
        let mut full_bytes = vec![0u8; 256];
        rng.fill_bytes(&mut full_bytes);
        full_bytes[0] &= 0x7f;
        let full = ModpPrivate::<Modp2048>::from_be_bytes(&full_bytes).unwrap();
        assert_eq!(full.bits, 2048);
        let one = short.agree(&full.public_value()).unwrap();
        let other = full.agree(&short.public_value()).unwrap();
        assert_eq!(one.expose(), other.expose());
    }
}
