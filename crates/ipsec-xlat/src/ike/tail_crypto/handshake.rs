//! The two-message Noise IK handshake carried in the mm1 and mm2 tails.

use rand_core::{CryptoRng, RngCore};
use snow::{Builder, HandshakeState};

use super::keys::{StaticKeypair, StaticPublicKey};
use super::rng::InjectedResolver;
use super::session::TailSession;
use super::{
    bound_plaintext, check_binding, TailCryptoError, MM1_OVERHEAD, MM2_OVERHEAD, NOISE_MAX_MESSAGE,
    NOISE_PARAMS, PROLOGUE,
};

fn builder<'a, R: RngCore + CryptoRng>(rng: &mut R) -> Result<Builder<'a>, TailCryptoError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|_| TailCryptoError::Internal("Noise parameters"))?;
    Ok(Builder::with_resolver(params, Box::new(InjectedResolver::new(rng))).prologue(PROLOGUE))
}

fn check_len(payload: &[u8], overhead: usize) -> Result<(), TailCryptoError> {
    let max = NOISE_MAX_MESSAGE.saturating_sub(overhead);
    if payload.len() > max {
        return Err(TailCryptoError::TooLong {
            len: payload.len(),
            max,
        });
    }
    Ok(())
}

/// Maps snow's read errors: anything on an incoming message is a failed authentication
/// (decryption failure, bad DH, truncated tokens).
fn read_error(e: snow::Error) -> TailCryptoError {
    match e {
        snow::Error::Decrypt | snow::Error::Dh | snow::Error::Input => {
            TailCryptoError::Authentication
        }
        _ => TailCryptoError::Internal("handshake read"),
    }
}

/// The client's side of the tail handshake, from building mm1 to reading mm2.
pub struct TailInitiator {
    /// `None` once the handshake finished.
    state: Option<HandshakeState>,
    relay: StaticPublicKey,
}

impl core::fmt::Debug for TailInitiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TailInitiator")
            .field("relay", &self.relay)
            .field("finished", &self.state.is_none())
            .finish()
    }
}

impl TailInitiator {
    /// Starts a handshake toward the relay whose static key is `relay`. The ephemeral key is
    /// drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng>(
        local: &StaticKeypair,
        relay: &StaticPublicKey,
        rng: &mut R,
    ) -> Result<Self, TailCryptoError> {
        let state = builder(rng)?
            .local_private_key(local.private_bytes())
            .remote_public_key(&relay.0)
            .build_initiator()
            .map_err(|_| TailCryptoError::Internal("build initiator"))?;
        Ok(Self {
            state: Some(state),
            relay: *relay,
        })
    }

    /// Produces the mm1 tail body: `-> e, es, s, ss` with `payload` (the user identification
    /// and whatever else mm1 carries) encrypted, bound to `bound` (the mm1 ISAKMP message as
    /// sent to the relay, then the tail header). Call once; resend the same bytes on retransmission.
    pub fn write_mm1(&mut self, bound: &[u8], payload: &[u8]) -> Result<Vec<u8>, TailCryptoError> {
        check_len(payload, MM1_OVERHEAD)?;
        let state = self
            .state
            .as_mut()
            .ok_or(TailCryptoError::HandshakeFinished)?;
        let plaintext = bound_plaintext(bound, payload);
        let mut out = vec![0u8; plaintext.len().saturating_add(MM1_OVERHEAD)];
        let n = state
            .write_message(&plaintext, &mut out)
            .map_err(|_| TailCryptoError::Internal("write mm1"))?;
        out.truncate(n);
        Ok(out)
    }

    /// Reads the relay's mm2 tail body (`<- e, ee, se`), bound to `bound` (the mm2 ISAKMP
    /// message as received, then the tail header). On success the handshake is complete: returns the transport
    /// session and mm2's payload. A failed read leaves the initiator usable (snow restores its
    /// state), so a forged mm2 cannot kill a genuine exchange.
    pub fn read_mm2(
        &mut self,
        bound: &[u8],
        body: &[u8],
    ) -> Result<(TailSession, Vec<u8>), TailCryptoError> {
        if body.len() < MM2_OVERHEAD {
            return Err(TailCryptoError::Truncated {
                len: body.len(),
                min: MM2_OVERHEAD,
            });
        }
        let state = self
            .state
            .as_mut()
            .ok_or(TailCryptoError::HandshakeFinished)?;
        let mut plaintext = zeroize::Zeroizing::new(vec![0u8; body.len()]);
        let n = state
            .read_message(body, &mut plaintext)
            .map_err(read_error)?;
        plaintext.truncate(n);
        let payload = check_binding(&plaintext, bound)?;
        let state = self
            .state
            .take()
            .ok_or(TailCryptoError::HandshakeFinished)?;
        let session = TailSession::from_handshake(state, self.relay)?;
        Ok((session, payload))
    }
}

/// The relay's side of the tail handshake: accepts mm1's tail and answers in mm2's.
pub struct TailResponder {
    state: HandshakeState,
    client: StaticPublicKey,
}

impl core::fmt::Debug for TailResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TailResponder")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl TailResponder {
    /// Reads a client's mm1 tail body, bound to `bound` (the mm1 ISAKMP message as received, then
    /// the tail header),
    /// and checks the client's static key with `is_authorised` before anything else happens.
    /// Returns the responder (to answer in mm2) and the mm1 payload.
    ///
    /// The relay's own ephemeral key for mm2 is drawn from `rng` here.
    pub fn accept_mm1<R, F>(
        local: &StaticKeypair,
        bound: &[u8],
        body: &[u8],
        is_authorised: F,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), TailCryptoError>
    where
        R: RngCore + CryptoRng,
        F: FnOnce(&StaticPublicKey) -> bool,
    {
        if body.len() < MM1_OVERHEAD {
            return Err(TailCryptoError::Truncated {
                len: body.len(),
                min: MM1_OVERHEAD,
            });
        }
        let mut state = builder(rng)?
            .local_private_key(local.private_bytes())
            .build_responder()
            .map_err(|_| TailCryptoError::Internal("build responder"))?;
        let mut plaintext = zeroize::Zeroizing::new(vec![0u8; body.len()]);
        let n = state
            .read_message(body, &mut plaintext)
            .map_err(read_error)?;
        plaintext.truncate(n);
        let client: [u8; 32] = state
            .get_remote_static()
            .and_then(|s| s.try_into().ok())
            .ok_or(TailCryptoError::Internal("IK without remote static"))?;
        let client = StaticPublicKey(client);
        if !is_authorised(&client) {
            return Err(TailCryptoError::UnauthorisedClient);
        }
        let payload = check_binding(&plaintext, bound)?;
        Ok((Self { state, client }, payload))
    }

    /// The authenticated client's static key (to look up its user table entry).
    pub fn client(&self) -> &StaticPublicKey {
        &self.client
    }

    /// Produces the mm2 tail body bound to `bound` (the mm2 ISAKMP message as it will be
    /// sent to the client, then the tail header) and completes the handshake. The relay keeps the returned bytes to
    /// answer retransmitted mm1s with the same mm2.
    pub fn write_mm2(
        mut self,
        bound: &[u8],
        payload: &[u8],
    ) -> Result<(TailSession, Vec<u8>), TailCryptoError> {
        check_len(payload, MM2_OVERHEAD)?;
        let plaintext = bound_plaintext(bound, payload);
        let mut out = vec![0u8; plaintext.len().saturating_add(MM2_OVERHEAD)];
        let n = self
            .state
            .write_message(&plaintext, &mut out)
            .map_err(|_| TailCryptoError::Internal("write mm2"))?;
        out.truncate(n);
        let session = TailSession::from_handshake(self.state, self.client)?;
        Ok((session, out))
    }
}
