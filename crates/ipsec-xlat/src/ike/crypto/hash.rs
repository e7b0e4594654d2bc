//! The negotiated hash algorithm of an IKEv1 SA and the PRF built from it.
//!
//! IKEv1 phase 1 negotiates a *hash* algorithm (RFC 2409 App. A, attribute class 2). Unless a
//! PRF attribute is negotiated (nobody does; strongSwan falls back the same way), the PRF is the
//! HMAC version of that hash (RFC 2409 section 4: "the HMAC version of the negotiated hash
//! algorithm is used as a pseudo-random function"). The plain hash is used on its own for the
//! phase-1 and phase-2 IVs and for NAT-D.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::secret::SecretBytes;

/// IKEv1 hash algorithm (RFC 2409 App. A, "Hash Algorithm" attribute; SHA2 values from
/// RFC 4868 section 2.4 / the IANA IPsec registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1, attribute value 2. PRF = HMAC-SHA-1, 20-byte output.
    Sha1,
    /// SHA2-256, attribute value 4. PRF = HMAC-SHA-256, 32-byte output.
    Sha256,
    /// SHA2-384, attribute value 5. PRF = HMAC-SHA-384, 48-byte output.
    Sha384,
    /// SHA2-512, attribute value 6. PRF = HMAC-SHA-512, 64-byte output.
    Sha512,
}

impl HashAlgorithm {
    /// Maps the phase-1 "Hash Algorithm" attribute value; `None` for MD5, Tiger and unknown
    /// values, which we never negotiate.
    pub(crate) fn from_ikev1_attribute(value: u16) -> Option<Self> {
        match value {
            2 => Some(Self::Sha1),
            4 => Some(Self::Sha256),
            5 => Some(Self::Sha384),
            6 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The attribute value to put in a phase-1 proposal.
    pub(crate) fn ikev1_attribute(self) -> u16 {
        match self {
            Self::Sha1 => 2,
            Self::Sha256 => 4,
            Self::Sha384 => 5,
            Self::Sha512 => 6,
        }
    }

    /// Output length of both the hash and the PRF, in bytes. This is also the length of
    /// SKEYID, SKEYID_d/a/e and of each HASH payload.
    pub(crate) fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// `hash(parts[0] | parts[1] | ...)` with the plain hash function (IVs, NAT-D).
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// `prf(key, parts[0] | parts[1] | ...)` = HMAC with this hash (RFC 2104), returned as a
    /// secret because most PRF outputs in IKEv1 are keys.
    pub fn prf(self, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> SecretBytes {
            // HMAC takes keys of any length (RFC 2104 section 2: longer keys are hashed,
            // shorter ones zero-padded), so `new_from_slice` cannot fail for `Hmac<_>`.
            #[allow(clippy::expect_used)]
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC accepts keys of every length");
            for p in parts {
                mac.update(p);
            }
            SecretBytes::new(mac.finalize().into_bytes().to_vec())
        }
        match self {
            Self::Sha1 => run::<Hmac<Sha1>>(key, parts),
            Self::Sha256 => run::<Hmac<Sha256>>(key, parts),
            Self::Sha384 => run::<Hmac<Sha384>>(key, parts),
            Self::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
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

    /// RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe") and RFC 2202 test case 2 (HMAC-SHA-1):
    /// proves the dispatch and the multi-part concatenation, not the hmac crate.
    #[test]
    fn prf_matches_rfc_vectors_with_split_input() {
        let out = HashAlgorithm::Sha256.prf(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(out.expose()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let out = HashAlgorithm::Sha1.prf(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(
            hex::encode(out.expose()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn attribute_values_round_trip() {
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            assert_eq!(
                HashAlgorithm::from_ikev1_attribute(alg.ikev1_attribute()),
                Some(alg)
            );
            assert_eq!(alg.digest(&[b"x"]).len(), alg.output_len());
            assert_eq!(alg.prf(b"k", &[b"x"]).len(), alg.output_len());
        }
        assert_eq!(
            HashAlgorithm::from_ikev1_attribute(1),
            None,
            "MD5 is not offered"
        );
    }
}
