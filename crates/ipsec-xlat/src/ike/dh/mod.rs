//! Diffie-Hellman for IKEv1 phase 1 and quick-mode PFS.
//!
//! Groups (IANA "Group Description", RFC 2409 App. A attribute class 4):
//!
//! | group | what | KE payload body | g^xy as used in SKEYID/KEYMAT |
//! | --- | --- | --- | --- |
//! | 14 | MODP 2048 (RFC 3526) | 256-byte big-endian g^x mod p | 256-byte big-endian, leading zeros kept |
//! | 15 | MODP 3072 (RFC 3526) | 384-byte big-endian | 384-byte big-endian |
//! | 19 | ECP 256 (RFC 5903) | x \| y, 32 bytes each (no 0x04 prefix) | x coordinate, 32 bytes (RFC 5903 section 7) |
//! | 31 | Curve25519 (RFC 8031) | 32-byte u coordinate | 32-byte X25519 output |
//!
//! Private values come from the caller's `RngCore + CryptoRng` (sans-IO: deterministic tests
//! inject a seeded generator) and are zeroized on drop. Peer values are validated as
//! strongSwan does before use: exact length, MODP `1 < y < p-1`, ECP point on the curve,
//! Curve25519 result not all-zero.

mod curve25519;
mod ecp;
mod modp;

use rand_core::{CryptoRng, RngCore};

use crate::ike::crypto::SecretBytes;

/// IKEv1 Diffie-Hellman group number, an open newtype so an unknown value from a peer can be
/// carried and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DhGroup(pub u16);

impl DhGroup {
    /// 2048-bit MODP group (RFC 3526 section 3).
    pub const MODP_2048: Self = Self(14);
    /// 3072-bit MODP group (RFC 3526 section 4).
    pub const MODP_3072: Self = Self(15);
    /// 256-bit random ECP group (RFC 5903 section 3.1).
    pub const ECP_256: Self = Self(19);
    /// Curve25519 (RFC 8031).
    pub const CURVE25519: Self = Self(31);

    /// The groups this implementation supports, strongest-cost last.
    pub const SUPPORTED: [Self; 4] = [
        Self::CURVE25519,
        Self::ECP_256,
        Self::MODP_2048,
        Self::MODP_3072,
    ];

    /// Length of the KE payload body for this group, `None` if unsupported.
    pub fn public_value_len(self) -> Option<usize> {
        match self {
            Self::MODP_2048 => Some(<modp::Modp2048 as modp::ModpGroup>::LEN),
            Self::MODP_3072 => Some(<modp::Modp3072 as modp::ModpGroup>::LEN),
            Self::ECP_256 => Some(ecp::PUBLIC_LEN),
            Self::CURVE25519 => Some(curve25519::LEN),
            _ => None,
        }
    }

    /// True for the groups [`DhPrivate`] implements.
    pub fn is_supported(self) -> bool {
        self.public_value_len().is_some()
    }
}

/// Why a Diffie-Hellman operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    /// The group is not one we implement.
    #[error("Diffie-Hellman group {0} is not supported")]
    UnsupportedGroup(u16),
    /// A KE payload body of the wrong size for its group.
    #[error("group {group} public value is {actual} bytes, expected {expected}")]
    PublicValueLength {
        /// Group number.
        group: u16,
        /// Required length.
        expected: usize,
        /// Received length.
        actual: usize,
    },
    /// MODP public value outside `2..=p-2` (0, 1 and p-1 give away the shared secret).
    #[error("MODP public value is outside 1 < y < p-1")]
    PublicValueOutOfRange,
    /// ECP public value that is not a point on the curve.
    #[error("ECP public value is not a point on the curve")]
    NotOnCurve,
    /// The shared value came out degenerate (all-zero X25519 output from a low-order point,
    /// or 1 for MODP).
    #[error("Diffie-Hellman result is degenerate (low-order peer value)")]
    DegenerateSharedSecret,
    /// A private value of the wrong length or out of range was supplied.
    #[error("invalid private value for group {0}")]
    InvalidPrivateValue(u16),
    /// The random generator kept producing unusable values (broken RNG).
    #[error("random generator produced no usable private value")]
    RandomFailure,
}

/// g^xy: the shared Diffie-Hellman value in the encoding that enters SKEYID and KEYMAT (see
/// the module table). Zeroized on drop.
#[derive(Clone, Debug)]
pub struct SharedSecret(SecretBytes);

impl SharedSecret {
    /// Wraps known shared-value bytes. For known-answer tests against captured exchanges and
    /// for interop tooling; normal code gets this from [`DhPrivate::agree`].
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBytes::new(bytes))
    }

    /// The shared value.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

/// Our half of a Diffie-Hellman exchange: the private value of one group. Zeroized on drop.
pub struct DhPrivate {
    inner: Inner,
}

enum Inner {
    Modp2048(modp::ModpPrivate<modp::Modp2048>),
    Modp3072(modp::ModpPrivate<modp::Modp3072>),
    Ecp256(ecp::EcpPrivate),
    Curve25519(curve25519::X25519Private),
}

impl core::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group())
            .finish_non_exhaustive()
    }
}

impl DhPrivate {
    /// Draws a fresh private value for `group` from `rng`.
    ///
    /// MODP exponents are full-length (uniform in `2..=p-2`), as strongSwan does by default
    /// (`dh_exponent_ansi_x9_42`); ECP scalars are uniform non-zero; X25519 uses 32 random
    /// bytes clamped per RFC 7748.
    pub fn generate<R: RngCore + CryptoRng>(group: DhGroup, rng: &mut R) -> Result<Self, DhError> {
        let inner = match group {
            DhGroup::MODP_2048 => Inner::Modp2048(modp::ModpPrivate::generate(rng)?),
            DhGroup::MODP_3072 => Inner::Modp3072(modp::ModpPrivate::generate(rng)?),
            DhGroup::ECP_256 => Inner::Ecp256(ecp::EcpPrivate::generate(rng)),
            DhGroup::CURVE25519 => Inner::Curve25519(curve25519::X25519Private::generate(rng)),
            DhGroup(other) => return Err(DhError::UnsupportedGroup(other)),
        };
        Ok(Self { inner })
    }

    /// Rebuilds a private value from its big-endian bytes (MODP exponent, ECP scalar) or its
    /// 32 raw bytes (X25519). For known-answer tests (RFC 5903, RFC 7748 vectors) and for
    /// deterministic simulations.
    pub fn from_private_bytes(group: DhGroup, bytes: &[u8]) -> Result<Self, DhError> {
        let inner = match group {
            DhGroup::MODP_2048 => Inner::Modp2048(modp::ModpPrivate::from_be_bytes(bytes)?),
            DhGroup::MODP_3072 => Inner::Modp3072(modp::ModpPrivate::from_be_bytes(bytes)?),
            DhGroup::ECP_256 => Inner::Ecp256(ecp::EcpPrivate::from_be_bytes(bytes)?),
            DhGroup::CURVE25519 => Inner::Curve25519(curve25519::X25519Private::from_bytes(bytes)?),
            DhGroup(other) => return Err(DhError::UnsupportedGroup(other)),
        };
        Ok(Self { inner })
    }

    /// The group of this private value.
    pub fn group(&self) -> DhGroup {
        match &self.inner {
            Inner::Modp2048(_) => DhGroup::MODP_2048,
            Inner::Modp3072(_) => DhGroup::MODP_3072,
            Inner::Ecp256(_) => DhGroup::ECP_256,
            Inner::Curve25519(_) => DhGroup::CURVE25519,
        }
    }

    /// Our public value, encoded as the KE payload body (see the module table).
    pub fn public_value(&self) -> Vec<u8> {
        match &self.inner {
            Inner::Modp2048(p) => p.public_value(),
            Inner::Modp3072(p) => p.public_value(),
            Inner::Ecp256(p) => p.public_value(),
            Inner::Curve25519(p) => p.public_value(),
        }
    }

    /// Computes g^xy from the peer's KE payload body, validating it first.
    pub fn agree(&self, peer_public: &[u8]) -> Result<SharedSecret, DhError> {
        let group = self.group();
        let expected = group
            .public_value_len()
            .ok_or(DhError::UnsupportedGroup(group.0))?;
        if peer_public.len() != expected {
            return Err(DhError::PublicValueLength {
                group: group.0,
                expected,
                actual: peer_public.len(),
            });
        }
        let bytes = match &self.inner {
            Inner::Modp2048(p) => p.agree(peer_public)?,
            Inner::Modp3072(p) => p.agree(peer_public)?,
            Inner::Ecp256(p) => p.agree(peer_public)?,
            Inner::Curve25519(p) => p.agree(peer_public)?,
        };
        Ok(SharedSecret(bytes))
    }
}
