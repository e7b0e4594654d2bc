//! Sealing and opening tails after the handshake.

use snow::{HandshakeState, StatelessTransportState};

use super::keys::StaticPublicKey;
use super::replay::{Check, ReplayWindow};
use super::{
    bound_plaintext, check_binding, TailCryptoError, COUNTER_LEN, NOISE_MAX_MESSAGE, TAG_LEN,
    TRANSPORT_OVERHEAD,
};

/// An established client<->relay tail channel: Noise transport keys, our send counter and the
/// receive replay window.
///
/// Wire form of a sealed tail body: `counter (8 bytes, big-endian) | ChaChaPoly ciphertext`,
/// the plaintext being `binding (16) | payload`. The counter is the Noise nonce; it is sent
/// because IKE datagrams may be lost, repeated or reordered.
pub struct TailSession {
    transport: StatelessTransportState,
    peer: StaticPublicKey,
    next_send: u64,
    window: ReplayWindow,
}

impl core::fmt::Debug for TailSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TailSession")
            .field("peer", &self.peer)
            .field("next_send", &self.next_send)
            .finish_non_exhaustive()
    }
}

impl TailSession {
    pub(crate) fn from_handshake(
        state: HandshakeState,
        peer: StaticPublicKey,
    ) -> Result<Self, TailCryptoError> {
        let transport = state
            .into_stateless_transport_mode()
            .map_err(|_| TailCryptoError::Internal("handshake not finished"))?;
        Ok(Self {
            transport,
            peer,
            next_send: 0,
            window: ReplayWindow::default(),
        })
    }

    /// The other side's static key: the client's on the relay, the relay's on the client.
    pub fn peer(&self) -> &StaticPublicKey {
        &self.peer
    }

    /// Seals `payload` into a tail body bound to `bound`: the ISAKMP message (as it travels
    /// on the client<->relay link) that the tail will follow, then the tail header. Uses the next send counter.
    pub fn seal(&mut self, bound: &[u8], payload: &[u8]) -> Result<Vec<u8>, TailCryptoError> {
        let max = NOISE_MAX_MESSAGE.saturating_sub(TRANSPORT_OVERHEAD - COUNTER_LEN);
        if payload.len() > max {
            return Err(TailCryptoError::TooLong {
                len: payload.len(),
                max,
            });
        }
        // u64::MAX is never used: receivers refuse it, and the window arithmetic needs top+1.
        if self.next_send == u64::MAX {
            return Err(TailCryptoError::CounterExhausted);
        }
        let counter = self.next_send;
        let plaintext = bound_plaintext(bound, payload);
        let mut out = vec![0u8; plaintext.len().saturating_add(COUNTER_LEN + TAG_LEN)];
        let (head, ciphertext) = out.split_at_mut(COUNTER_LEN);
        head.copy_from_slice(&counter.to_be_bytes());
        let n = self
            .transport
            .write_message(counter, &plaintext, ciphertext)
            .map_err(|_| TailCryptoError::Internal("transport write"))?;
        out.truncate(n.saturating_add(COUNTER_LEN));
        // counter < u64::MAX was checked above.
        self.next_send = counter.saturating_add(1);
        Ok(out)
    }

    /// Opens a tail body that arrived bound to `bound` (message, then tail header). Checks, in
    /// order: length, replay window (before spending any crypto), authenticity, binding. Only
    /// an authentic, correctly bound tail moves the replay window.
    pub fn open(&mut self, bound: &[u8], sealed: &[u8]) -> Result<Vec<u8>, TailCryptoError> {
        let (head, ciphertext) = sealed
            .split_at_checked(COUNTER_LEN)
            .filter(|(_, c)| c.len() >= super::BINDING_LEN + TAG_LEN)
            .ok_or(TailCryptoError::Truncated {
                len: sealed.len(),
                min: TRANSPORT_OVERHEAD,
            })?;
        let mut counter_bytes = [0u8; COUNTER_LEN];
        counter_bytes.copy_from_slice(head);
        let counter = u64::from_be_bytes(counter_bytes);
        if counter == u64::MAX {
            return Err(TailCryptoError::Authentication);
        }
        match self.window.check(counter) {
            Check::Fresh => {}
            Check::Duplicate => return Err(TailCryptoError::Replayed { counter }),
            Check::TooOld => return Err(TailCryptoError::TooOld { counter }),
        }
        let mut plaintext = zeroize::Zeroizing::new(vec![0u8; ciphertext.len()]);
        let n = self
            .transport
            .read_message(counter, ciphertext, &mut plaintext)
            .map_err(|_| TailCryptoError::Authentication)?;
        plaintext.truncate(n);
        let payload = check_binding(&plaintext, bound)?;
        self.window.accept(counter);
        Ok(payload)
    }
}
