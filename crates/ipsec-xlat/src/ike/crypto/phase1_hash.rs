//! HASH_I and HASH_R: the phase-1 authentication hashes (RFC 2409 section 5).
//!
//! For pre-shared keys they travel in the HASH payload of main mode messages 5 and 6; for
//! signatures the same value is what SIG_I/SIG_R sign (RFC 2409 section 5.1). Only SKEYID
//! differs between the two methods ([`Skeyid::for_pre_shared_key`] versus
//! [`Skeyid::for_signatures`]).
//!
//! [`Skeyid::for_pre_shared_key`]: super::Skeyid::for_pre_shared_key
//! [`Skeyid::for_signatures`]: super::Skeyid::for_signatures

use super::cookies::Cookies;
use super::secret::ct_eq;
use super::skeyid::Skeyid;

/// The public inputs of HASH_I and HASH_R, all as the SGW sees them.
#[derive(Clone, Copy, Debug)]
pub struct Phase1Transcript<'a> {
    /// g^xi: the initiator's KE payload body.
    pub g_xi: &'a [u8],
    /// g^xr: the responder's KE payload body.
    pub g_xr: &'a [u8],
    /// The s-side cookie pair (see [`Cookies`]).
    pub cookies: Cookies,
    /// SAi_b: the *entire body* of the initiator's SA payload of main mode message 1 (DOI,
    /// situation, proposals and transforms: everything after the 4-byte generic payload
    /// header), byte for byte as the SGW received it.
    pub sai_b: &'a [u8],
}

/// `HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)` (RFC 2409 section 5).
///
/// `idii_b` is the body of the initiator's ID payload (ID type, protocol, port, data: the
/// generic payload header excluded).
pub fn hash_i(skeyid: &Skeyid, transcript: &Phase1Transcript<'_>, idii_b: &[u8]) -> Vec<u8> {
    let c = &transcript.cookies;
    skeyid
        .hash()
        .prf(
            skeyid.expose(),
            &[
                transcript.g_xi,
                transcript.g_xr,
                &c.initiator,
                &c.responder,
                transcript.sai_b,
                idii_b,
            ],
        )
        .expose()
        .to_vec()
}

/// `HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)` (RFC 2409 section 5).
///
/// Note the swapped order of both the KE values and the cookies; SAi_b is still the
/// *initiator's* SA body. `idir_b` is the body of the responder's ID payload.
pub fn hash_r(skeyid: &Skeyid, transcript: &Phase1Transcript<'_>, idir_b: &[u8]) -> Vec<u8> {
    let c = &transcript.cookies;
    skeyid
        .hash()
        .prf(
            skeyid.expose(),
            &[
                transcript.g_xr,
                transcript.g_xi,
                &c.responder,
                &c.initiator,
                transcript.sai_b,
                idir_b,
            ],
        )
        .expose()
        .to_vec()
}

/// Checks a received HASH_I in constant time.
pub fn verify_hash_i(
    skeyid: &Skeyid,
    transcript: &Phase1Transcript<'_>,
    idii_b: &[u8],
    received: &[u8],
) -> bool {
    ct_eq(&hash_i(skeyid, transcript, idii_b), received)
}

/// Checks a received HASH_R in constant time.
pub fn verify_hash_r(
    skeyid: &Skeyid,
    transcript: &Phase1Transcript<'_>,
    idir_b: &[u8],
    received: &[u8],
) -> bool {
    ct_eq(&hash_r(skeyid, transcript, idir_b), received)
}
