//! Plumbing shared by the sans-IO IKE endpoints ([`Client`](super::Client),
//! [`Relay`](super::Relay), [`TestSgw`](super::TestSgw)): datagrams out, the RFC 3948
//! non-ESP marker, retransmission with backoff, cookie rewriting, tail binding.

use crate::time::Timestamp;
use core::net::SocketAddr;
use core::time::Duration;

use crate::wire::isakmp::{Cookie, Header};
use crate::wire::tail::{TailType, MAGIC, VERSION};

/// The NAT-T port (RFC 3948): IKE on it carries the 4-byte non-ESP marker.
pub const NAT_T_PORT: u16 = 4500;

/// A datagram to send: the UDP payload (non-ESP marker included on port 4500) and the
/// addresses. The caller owns the sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeDatagram {
    /// Our address and port to send from.
    pub local: SocketAddr,
    /// Where to.
    pub remote: SocketAddr,
    /// UDP payload.
    pub payload: Vec<u8>,
}

/// Whether a datagram between these ports is NAT-T framed.
pub(crate) fn is_nat_t(local: SocketAddr, remote: SocketAddr) -> bool {
    local.port() == NAT_T_PORT || remote.port() == NAT_T_PORT
}

/// The IKE message in a received UDP payload: after the non-ESP marker on port 4500 (`None`
/// if the marker is absent, i.e. the datagram is ESP-in-UDP or a keepalive), as is otherwise.
pub(crate) fn ike_bytes(local: SocketAddr, remote: SocketAddr, payload: &[u8]) -> Option<&[u8]> {
    if is_nat_t(local, remote) {
        match payload.split_at_checked(4) {
            Some(([0, 0, 0, 0], rest)) => Some(rest),
            _ => None,
        }
    } else {
        Some(payload)
    }
}

/// A datagram carrying `ike` (message plus any tail), framed for the ports.
pub(crate) fn framed(local: SocketAddr, remote: SocketAddr, ike: Vec<u8>) -> IkeDatagram {
    let payload = if is_nat_t(local, remote) {
        let mut p = Vec::with_capacity(ike.len().saturating_add(4));
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&ike);
        p
    } else {
        ike
    };
    IkeDatagram {
        local,
        remote,
        payload,
    }
}

/// Replaces both cookies of an ISAKMP message in place (the relay's header translation, and
/// the client's switch between the c-side and the s-side view). No-op on a short buffer.
pub(crate) fn set_cookies(message: &mut [u8], initiator: [u8; 8], responder: [u8; 8]) {
    if let Ok(mut h) = Header::new_checked(message) {
        h.set_initiator_cookie(Cookie(initiator));
        h.set_responder_cookie(Cookie(responder));
    }
}

/// The bytes a tail is bound to: the ISAKMP message it follows and the 8-byte tail header
/// (type and body length), as `docs/PROTOCOL.md` recommends, so a tail can neither move to
/// another message nor change its type.
pub(crate) fn tail_aad(message: &[u8], tail_type: TailType, body_len: usize) -> Vec<u8> {
    let mut aad = Vec::with_capacity(message.len().saturating_add(8));
    aad.extend_from_slice(message);
    aad.extend_from_slice(&MAGIC);
    aad.push(VERSION);
    aad.push(tail_type.0);
    aad.extend_from_slice(&u16::try_from(body_len).unwrap_or(u16::MAX).to_be_bytes());
    aad
}

/// Retransmission schedule of a request (RFC 2408 leaves it to implementations; strongSwan:
/// 4 s, x1.8, 5 retransmissions). Ours doubles from `initial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// Wait before the first retransmission.
    pub initial: Duration,
    /// Retransmissions before giving up.
    pub max_retransmissions: u32,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max_retransmissions: 5,
        }
    }
}

/// The request we wait on an answer for.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) transmit: IkeDatagram,
    pub(crate) deadline: Timestamp,
    interval: Duration,
    left: u32,
}

impl Pending {
    pub(crate) fn new(transmit: IkeDatagram, now: Timestamp, policy: &RetransmitPolicy) -> Self {
        Self {
            transmit,
            deadline: now.checked_add(policy.initial).unwrap_or(now),
            interval: policy.initial,
            left: policy.max_retransmissions,
        }
    }

    /// On a timeout: the datagram to send again, or `None` when retransmissions are spent.
    pub(crate) fn fire(&mut self, now: Timestamp) -> Option<IkeDatagram> {
        if self.left == 0 {
            return None;
        }
        self.left = self.left.saturating_sub(1);
        self.interval = self.interval.saturating_mul(2);
        self.deadline = now.checked_add(self.interval).unwrap_or(now);
        Some(self.transmit.clone())
    }
}
