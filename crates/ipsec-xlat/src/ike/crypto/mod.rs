//! IKEv1 phase-1 and phase-2 cryptography (RFC 2409, RFC 3947), as pure functions.
//!
//! One concept per module; each function's docs quote the RFC formula it implements. Inputs
//! are the bytes as they travel between the relay and the SGW ("s-side"), because that is what
//! the SGW computes over:
//!
//! | what | s-side value the client must use |
//! | --- | --- |
//! | CKY-I, CKY-R | the relay's s-side initiator cookie and the SGW's responder cookie |
//! | SAi_b | the SA payload body of mm1 as forwarded (tail and our vendor ID stripped) |
//! | KEYMAT SPI | the SPI each receiver put in its SA payload, as the SGW saw it |
//! | NAT-D | s-side cookies, relay s-side address/port, SGW address/port |
//!
//! Typical use by an initiator: [`Skeyid`] → [`Phase1Keys`] → [`expand_encryption_key`] →
//! [`IkeCipher`] with [`Iv::phase1_initial`]; [`hash_i`]/[`verify_hash_r`] in mm5/mm6; then
//! [`Iv::phase2_initial`], [`quick_mode_hash1`]..[`quick_mode_hash3`] and [`SaKeys::derive`].

mod cbc;
mod certificate;
mod cookies;
mod enc_key;
mod hash;
mod iv;
mod keymat;
mod natd;
mod phase1_hash;
mod phase2_hash;
mod secret;
mod skeyid;

pub use cbc::{CbcOutput, IkeCipher, IkeCipherAlgorithm};
pub use certificate::{CertError, Certificate, RsaSigningKey};
pub use cookies::Cookies;
pub use enc_key::expand_encryption_key;
pub use hash::HashAlgorithm;
pub use iv::{Iv, BLOCK_LEN};
pub use keymat::{keymat, IpsecProtocolId, KeymatInput, SaKeys};
pub use natd::natd_hash;
pub use phase1_hash::{hash_i, hash_r, verify_hash_i, verify_hash_r, Phase1Transcript};
pub use phase2_hash::{
    informational_hash, quick_mode_hash1, quick_mode_hash2, quick_mode_hash3, verify_hash,
};
pub use secret::{ct_eq, SecretBytes};
pub use skeyid::{Phase1Keys, Skeyid};

/// What can go wrong in the phase-1/phase-2 crypto helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IkeCryptoError {
    /// An encrypted ISAKMP body must be a non-empty multiple of the cipher block.
    #[error("encrypted ISAKMP body of {len} bytes is not a non-empty multiple of 16")]
    CiphertextLength {
        /// Length of the body received.
        len: usize,
    },
    /// A key of the wrong length for the negotiated cipher.
    #[error("cipher key is {actual} bytes, the algorithm needs {expected}")]
    KeyLength {
        /// Bytes the algorithm needs.
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },
}
