//! Protection of the tails: client<->relay data riding after IKE messages.
//!
//! # Pattern: `Noise_IK_25519_ChaChaPoly_SHA256`
//!
//! The client knows the relay's static public key in advance and the relay authorises clients
//! by their static keys. Two messages fit exactly into the two tails the flow has before the
//! relay must act: mm1 (client → relay, `-> e, es, s, ss`) and mm2 (relay → client,
//! `<- e, ee, se`). We chose IK over XK because:
//!
//! - **The relay must authorise before it acts.** On mm1 the relay picks an SGW, allocates an
//!   s-side address and cookie, and sends to the SGW. With IK, mm1's tail already proves the
//!   client's static key (`ss`), so an unauthorised sender is dropped before any of that. With
//!   XK the client's static key only arrives in a third message (mm3), after the relay has
//!   already contacted the SGW on a stranger's behalf.
//! - **The user identification is hidden.** It rides in mm1's payload, encrypted to the relay's
//!   static key (`es`, `ss`), so an eavesdropper on the access network learns neither it nor
//!   the client's static key (sent encrypted after `es`).
//! - **One round trip**, which is all main mode gives us before the first relay decision.
//!
//! What IK gives up, and why it is acceptable here: the mm1 payload has no forward secrecy
//! against a later compromise of the relay's static key (everything after mm2 does), and a
//! recorded mm1 can be replayed to the relay. A replay makes the relay start an s-side exchange
//! that dies at mm3 (the replayer cannot read mm2's tail nor compute HASH_I); the relay's
//! duplicate detection on cookies bounds the cost. The relay may additionally reject mm1
//! payloads whose timestamp is not newer than the last one seen from that static key
//! (WireGuard's TAI64N defence); that check belongs in the relay state machine.
//!
//! # Binding and replay
//!
//! Every sealed body starts, inside the encryption, with a 16-byte digest of what it is bound
//! to, `SHA-256(bound)[..16]`, where `bound` is the ISAKMP message the tail rides on followed
//! by the 8-byte tail header (type and body length), as `docs/PROTOCOL.md` recommends: a tail
//! can neither move onto another message nor change its type. (snow's transport API has no
//! associated data, hence the digest inside the plaintext; the AEAD tag covers it.) Callers
//! build `bound` with the body length they will send: payload length plus [`MM1_OVERHEAD`],
//! [`MM2_OVERHEAD`] or [`TRANSPORT_OVERHEAD`]. After the handshake, [`TailSession`] uses Noise's stateless transport with an
//! explicit 8-byte counter in clear before the ciphertext, because IKE datagrams are lost,
//! retransmitted and reordered; a 64-entry sliding window rejects replays. Retransmissions of
//! *our own* messages resend the same bytes, so the receiver reports them as
//! [`TailCryptoError::Replayed`] and the state machine treats them as duplicates.
//!
//! # What the relay holds
//!
//! Its static key and, per client, a [`TailSession`]: keys that protect tail contents only.
//! No IKE or IPsec key ever passes through this module.

mod handshake;
mod keys;
mod replay;
mod rng;
mod session;

pub use handshake::{TailInitiator, TailResponder};
pub use keys::{StaticKeypair, StaticPublicKey};
pub use session::TailSession;

/// The Noise protocol name used for every tail handshake.
pub(crate) const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_SHA256";

/// Noise prologue: binds both sides to this protocol and version of tail use.
pub(crate) const PROLOGUE: &[u8] = b"ipsec-xlat tail v1";

/// Length of the message binding at the start of every sealed plaintext.
pub(crate) const BINDING_LEN: usize = 16;

/// Length of the explicit counter in front of a transport ciphertext.
pub(crate) const COUNTER_LEN: usize = 8;

/// Length of a ChaChaPoly tag.
pub(crate) const TAG_LEN: usize = 16;

/// Bytes the mm1 handshake message adds to its payload: `e` (32), encrypted `s` (32 + 16),
/// binding and tag.
pub const MM1_OVERHEAD: usize = 32 + 32 + TAG_LEN + BINDING_LEN + TAG_LEN;

/// Bytes the mm2 handshake message adds to its payload: `e` (32), binding and tag.
pub const MM2_OVERHEAD: usize = 32 + BINDING_LEN + TAG_LEN;

/// Bytes a transport tail adds to its payload: counter, binding and tag.
pub const TRANSPORT_OVERHEAD: usize = COUNTER_LEN + BINDING_LEN + TAG_LEN;

/// Largest Noise message (Noise spec section 3).
pub(crate) const NOISE_MAX_MESSAGE: usize = 65535;

/// Why a tail could not be produced or accepted. The relay drops the datagram and counts the
/// variant; the client reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TailCryptoError {
    /// Shorter than the smallest possible sealed body of this kind.
    #[error("sealed tail of {len} bytes is shorter than the {min}-byte minimum")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Smallest valid length.
        min: usize,
    },
    /// Decryption or handshake authentication failed: forged, corrupted or for another key.
    #[error("tail failed authentication")]
    Authentication,
    /// Authentic, but sealed for a different ISAKMP message (or tail header) than the one it
    /// arrived with.
    #[error("tail is bound to a different ISAKMP message")]
    WrongMessage,
    /// The handshake authenticated a client static key the relay does not authorise.
    #[error("client static key is not authorised")]
    UnauthorisedClient,
    /// This counter was already accepted (a duplicate or a replay).
    #[error("tail counter {counter} was already accepted")]
    Replayed {
        /// The repeated counter.
        counter: u64,
    },
    /// The counter is behind the replay window.
    #[error("tail counter {counter} is too old for the replay window")]
    TooOld {
        /// The stale counter.
        counter: u64,
    },
    /// The payload would make a Noise message longer than 65535 bytes.
    #[error("tail payload of {len} bytes exceeds the {max}-byte maximum")]
    TooLong {
        /// Payload length.
        len: usize,
        /// Largest payload allowed here.
        max: usize,
    },
    /// The send counter reached its end; a new handshake is needed.
    #[error("tail send counter exhausted")]
    CounterExhausted,
    /// The handshake object was already used to completion.
    #[error("tail handshake already completed")]
    HandshakeFinished,
    /// The Noise library refused an operation our state machine considers impossible.
    #[error("Noise state error: {0}")]
    Internal(&'static str),
}

/// `SHA-256(bound)[..16]`: the binding digest (see the module docs).
pub(crate) fn binding(message: &[u8]) -> [u8; BINDING_LEN] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(message);
    let mut out = [0u8; BINDING_LEN];
    for (o, d) in out.iter_mut().zip(digest.iter()) {
        *o = *d;
    }
    out
}

/// Splits a decrypted plaintext into binding and payload and checks the binding against the
/// message the tail came with (constant time).
pub(crate) fn check_binding(plaintext: &[u8], message: &[u8]) -> Result<Vec<u8>, TailCryptoError> {
    let (bound, payload) = plaintext
        .split_at_checked(BINDING_LEN)
        .ok_or(TailCryptoError::Authentication)?;
    if !crate::ike::crypto::ct_eq(bound, &binding(message)) {
        return Err(TailCryptoError::WrongMessage);
    }
    Ok(payload.to_vec())
}

/// `binding(message) | payload`, the plaintext every tail encrypts.
pub(crate) fn bound_plaintext(message: &[u8], payload: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut p = zeroize::Zeroizing::new(Vec::with_capacity(
        BINDING_LEN.saturating_add(payload.len()),
    ));
    p.extend_from_slice(&binding(message));
    p.extend_from_slice(payload);
    p
}
