//! SKEYID and the keys derived from it (RFC 2409 section 5).

use super::cookies::Cookies;
use super::hash::HashAlgorithm;
use super::secret::SecretBytes;
use crate::ike::dh::SharedSecret;

/// SKEYID: the phase-1 root secret, whose derivation depends on the authentication method.
///
/// Kept as its own type because HASH_I and HASH_R are keyed with SKEYID itself, while
/// everything else uses SKEYID_d/a/e ([`Phase1Keys`]).
#[derive(Clone, Debug)]
pub struct Skeyid {
    hash: HashAlgorithm,
    value: SecretBytes,
}

impl Skeyid {
    /// Pre-shared key authentication (RFC 2409 section 5.4):
    /// `SKEYID = prf(pre-shared-key, Ni_b | Nr_b)`.
    ///
    /// `ni_b`/`nr_b` are the bodies of the initiator's and responder's NONCE payloads (without
    /// the generic payload header).
    pub fn for_pre_shared_key(hash: HashAlgorithm, psk: &[u8], ni_b: &[u8], nr_b: &[u8]) -> Self {
        Self {
            hash,
            value: hash.prf(psk, &[ni_b, nr_b]),
        }
    }

    /// Signature authentication, RSA or DSS/ECDSA (RFC 2409 section 5.1):
    /// `SKEYID = prf(Ni_b | Nr_b, g^xy)`.
    ///
    /// The nonces are the HMAC *key* here, so long nonces are hashed first as RFC 2104 says.
    pub fn for_signatures(
        hash: HashAlgorithm,
        ni_b: &[u8],
        nr_b: &[u8],
        g_xy: &SharedSecret,
    ) -> Self {
        let mut key = Vec::with_capacity(ni_b.len().saturating_add(nr_b.len()));
        key.extend_from_slice(ni_b);
        key.extend_from_slice(nr_b);
        let key = SecretBytes::new(key);
        Self {
            hash,
            value: hash.prf(key.expose(), &[g_xy.expose()]),
        }
    }

    /// The negotiated hash whose HMAC produced this SKEYID.
    pub(crate) fn hash(&self) -> HashAlgorithm {
        self.hash
    }

    /// The SKEYID bytes.
    pub fn expose(&self) -> &[u8] {
        self.value.expose()
    }
}

/// SKEYID_d, SKEYID_a and SKEYID_e of one IKE SA (RFC 2409 section 5):
///
/// ```text
/// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
/// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
/// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
/// ```
///
/// `0`, `1`, `2` are single octets. The cookies must be the pair the SGW sees (see
/// [`Cookies`]). SKEYID is kept too because HASH_I/HASH_R are keyed with it.
#[derive(Clone, Debug)]
pub struct Phase1Keys {
    skeyid: Skeyid,
    skeyid_d: SecretBytes,
    skeyid_a: SecretBytes,
    skeyid_e: SecretBytes,
}

impl Phase1Keys {
    /// Derives SKEYID_d/a/e from SKEYID, the shared DH value and the s-side cookies.
    pub fn derive(skeyid: Skeyid, g_xy: &SharedSecret, cookies: &Cookies) -> Self {
        let hash = skeyid.hash;
        let key = skeyid.value.expose();
        let (cky_i, cky_r) = (&cookies.initiator[..], &cookies.responder[..]);
        let skeyid_d = hash.prf(key, &[g_xy.expose(), cky_i, cky_r, &[0]]);
        let skeyid_a = hash.prf(key, &[skeyid_d.expose(), g_xy.expose(), cky_i, cky_r, &[1]]);
        let skeyid_e = hash.prf(key, &[skeyid_a.expose(), g_xy.expose(), cky_i, cky_r, &[2]]);
        Self {
            skeyid,
            skeyid_d,
            skeyid_a,
            skeyid_e,
        }
    }

    /// The negotiated hash algorithm.
    pub(crate) fn hash(&self) -> HashAlgorithm {
        self.skeyid.hash
    }

    /// SKEYID, the key of HASH_I and HASH_R.
    pub fn skeyid(&self) -> &Skeyid {
        &self.skeyid
    }

    /// SKEYID_d: keys phase-2 KEYMAT.
    pub fn skeyid_d(&self) -> &SecretBytes {
        &self.skeyid_d
    }

    /// SKEYID_a: keys the phase-2 and informational HASH payloads.
    pub fn skeyid_a(&self) -> &SecretBytes {
        &self.skeyid_a
    }

    /// SKEYID_e: source of the ISAKMP encryption key, see
    /// [`expand_encryption_key`](super::enc_key::expand_encryption_key).
    pub fn skeyid_e(&self) -> &SecretBytes {
        &self.skeyid_e
    }
}
