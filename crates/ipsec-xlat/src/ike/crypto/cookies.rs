//! The ISAKMP cookie pair that enters every phase-1 derivation.

/// CKY-I and CKY-R (RFC 2408 section 3.1) of one IKE SA.
///
/// **These must be the s-side cookies: the pair the SGW sees.** The relay replaces the client's
/// initiator cookie with one of its own toward the SGW and gives the client a c-side responder
/// cookie of its own choosing, so the pair on the client's access link differs from the pair
/// on the SGW link. SKEYID_d/a/e, HASH_I/HASH_R and NAT-D are all computed by the SGW over *its*
/// pair; a client that used the c-side pair would derive keys the SGW does not have. The client
/// learns the s-side pair from the relay's mm2 tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cookies {
    /// CKY-I, chosen by the initiator (on the s-side: by the relay).
    pub initiator: [u8; 8],
    /// CKY-R, chosen by the responder (the SGW).
    pub responder: [u8; 8],
}

impl Cookies {
    /// Builds the pair from the two cookies in header order.
    pub fn new(initiator: [u8; 8], responder: [u8; 8]) -> Self {
        Self {
            initiator,
            responder,
        }
    }
}
