//! Steps every exchange under an IKEv1 SA takes alike, whether main mode, quick mode or
//! informational: drawing a nonce or a message ID, and sealing a built message under CBC while
//! keeping the last ciphertext block, which is the IV of the exchange's next message.

use rand_core::{CryptoRng, RngCore};

use super::main_mode::NONCE_LEN;
use crate::ike::crypto::{IkeCipher, Iv};
use crate::wire::isakmp::{IsakmpError, MessageBuilder};

/// A fresh nonce of [`NONCE_LEN`] bytes (the size strongSwan sends).
pub(crate) fn fresh_nonce<R: RngCore + CryptoRng>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

/// A random message ID for a new phase-2 exchange: never zero, which RFC 2408 keeps for
/// phase 1.
pub(crate) fn fresh_message_id<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let m = rng.next_u32();
        if m != 0 {
            break m;
        }
    }
}

/// Encrypts the message `b` has built under `iv` and returns it with the IV of the next
/// message (its last ciphertext block).
pub(crate) fn seal_chained(
    b: MessageBuilder,
    cipher: &IkeCipher,
    iv: &Iv,
) -> Result<(Vec<u8>, Iv), IsakmpError> {
    let mut next = *iv;
    let msg = b.seal(|plain| {
        let out = cipher.encrypt(iv, &plain);
        next = out.next_iv;
        out.bytes
    })?;
    Ok((msg, next))
}
