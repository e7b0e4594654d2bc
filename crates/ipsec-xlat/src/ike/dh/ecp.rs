//! ECP group 19: NIST P-256 (RFC 5903), via the RustCrypto `p256` crate.

use p256::elliptic_curve::sec1::{EncodedPoint, FromEncodedPoint, ToEncodedPoint};
use p256::{FieldBytes, NistP256, PublicKey, SecretKey};
use rand_core::{CryptoRng, RngCore};

use super::DhError;
use crate::ike::crypto::SecretBytes;

/// KE payload body length: x | y, 32 bytes each (RFC 5903 section 7).
pub(super) const PUBLIC_LEN: usize = 64;
const COORD_LEN: usize = 32;

/// A P-256 private scalar; `SecretKey` zeroizes itself on drop.
pub(super) struct EcpPrivate(SecretKey);

impl EcpPrivate {
    pub(super) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(SecretKey::random(rng))
    }

    /// 32-byte big-endian scalar in `1..n-1`.
    pub(super) fn from_be_bytes(bytes: &[u8]) -> Result<Self, DhError> {
        if bytes.len() != COORD_LEN {
            return Err(DhError::InvalidPrivateValue(19));
        }
        SecretKey::from_bytes(FieldBytes::from_slice(bytes))
            .map(Self)
            .map_err(|_| DhError::InvalidPrivateValue(19))
    }

    /// `x | y` of our public point, without the SEC1 0x04 prefix (RFC 5903 section 7).
    pub(super) fn public_value(&self) -> Vec<u8> {
        let point = self.0.public_key().to_encoded_point(false);
        let mut out = Vec::with_capacity(PUBLIC_LEN);
        if let (Some(x), Some(y)) = (point.x(), point.y()) {
            out.extend_from_slice(x);
            out.extend_from_slice(y);
        }
        out
    }

    /// The x coordinate of our scalar times the peer's point (RFC 5903 section 7: "the
    /// Diffie-Hellman shared secret value consists of the x value"), after checking that the
    /// peer's x | y is a point on the curve.
    pub(super) fn agree(&self, peer: &[u8]) -> Result<SecretBytes, DhError> {
        let (x, y) = peer
            .split_at_checked(COORD_LEN)
            .ok_or(DhError::PublicValueLength {
                group: 19,
                expected: PUBLIC_LEN,
                actual: peer.len(),
            })?;
        if y.len() != COORD_LEN {
            return Err(DhError::PublicValueLength {
                group: 19,
                expected: PUBLIC_LEN,
                actual: peer.len(),
            });
        }
        let encoded = EncodedPoint::<NistP256>::from_affine_coordinates(
            FieldBytes::from_slice(x),
            FieldBytes::from_slice(y),
            false,
        );
        let public: Option<PublicKey> = PublicKey::from_encoded_point(&encoded).into();
        let public = public.ok_or(DhError::NotOnCurve)?;
        let shared = p256::ecdh::diffie_hellman(self.0.to_nonzero_scalar(), public.as_affine());
        Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
    }
}
