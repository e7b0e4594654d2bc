//! NAT-D payload hashes (RFC 3947 section 3.2).

use core::net::{IpAddr, SocketAddr};

use super::cookies::Cookies;
use super::hash::HashAlgorithm;

/// `HASH = HASH(CKY-I | CKY-R | IP | Port)` with the negotiated (plain) hash, IP as 4 or 16
/// bytes and the UDP port as 2 bytes, all in network order (RFC 3947 section 3.2).
///
/// The sender puts the hash of the *remote* address first, then one per local address. For
/// the SGW to see no NAT between itself and the relay, the client computes both with the
/// s-side view: the s-side cookies and the relay's s-side address/port as "local", the SGW's
/// address/port as "remote" (see [`Cookies`]).
pub fn natd_hash(hash: HashAlgorithm, cookies: &Cookies, addr: SocketAddr) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    match addr.ip() {
        IpAddr::V4(v4) => {
            hash.digest(&[&cookies.initiator, &cookies.responder, &v4.octets(), &port])
        }
        IpAddr::V6(v6) => {
            hash.digest(&[&cookies.initiator, &cookies.responder, &v6.octets(), &port])
        }
    }
}
