//! The port view: the core's IKE state machines think in the standard ports (500 for IKE, 4500
//! for NAT-T, where IKE carries the non-ESP marker), because that is what the RFCs and every
//! SGW use and what NAT-D hashes are computed over. The configuration may put our sockets, or a
//! peer's, on other ports (unprivileged tests, the loopback quickstart). A role translates
//! at its boundary: a datagram that arrived on our NAT-T socket reaches the core as "port
//! 4500", and a datagram the core sends "from 4500 to the SGW's 4500" leaves by our NAT-T
//! socket toward the SGW's configured NAT-T port. With the standard configuration the view is
//! the identity.

use core::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;

use crate::ike::NAT_T_PORT as NATT_PORT;

/// The IKE port (RFC 2409).
pub const IKE_PORT: u16 = 500;

/// The two UDP ports of one party: IKE and NAT-T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// Where IKE starts (500 in production).
    pub ike: u16,
    /// NAT-T: IKE with the non-ESP marker, and ESP-in-UDP (4500 in production).
    pub natt: u16,
}

impl PortPair {
    /// The standard pair, 500 and 4500.
    pub const STANDARD: Self = Self {
        ike: IKE_PORT,
        natt: NATT_PORT,
    };

    /// The standard port the core sees for the real port `real`; other ports pass unchanged.
    pub(crate) fn to_core(self, real: u16) -> u16 {
        if real == self.natt {
            NATT_PORT
        } else if real == self.ike {
            IKE_PORT
        } else {
            real
        }
    }

    /// The real port for the standard port `core`; other ports pass unchanged.
    pub(crate) fn to_real(self, core: u16) -> u16 {
        match core {
            NATT_PORT => self.natt,
            IKE_PORT => self.ike,
            other => other,
        }
    }

    /// Whether `real` is this pair's NAT-T port.
    pub(crate) fn is_natt(self, real: u16) -> bool {
        real == self.natt
    }
}

/// Known peers' real port pairs by address (the relay's SGWs, the client's relay); addresses
/// not listed use the standard ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPorts {
    by_address: HashMap<IpAddr, PortPair>,
}

impl PeerPorts {
    /// An empty map: every peer on the standard ports.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `pair` for `address`; the first record for an address wins (returns false for
    /// a later, different one, so the caller can warn).
    pub fn insert(&mut self, address: IpAddr, pair: PortPair) -> bool {
        *self.by_address.entry(address).or_insert(pair) == pair
    }

    /// The pair of `address`.
    pub fn get(&self, address: IpAddr) -> PortPair {
        self.by_address
            .get(&address)
            .copied()
            .unwrap_or(PortPair::STANDARD)
    }

    /// A peer's real address as the core sees it.
    pub(crate) fn to_core(&self, real: SocketAddr) -> SocketAddr {
        SocketAddr::new(real.ip(), self.get(real.ip()).to_core(real.port()))
    }

    /// A peer's address as the core names it, made real.
    pub(crate) fn to_real(&self, core: SocketAddr) -> SocketAddr {
        SocketAddr::new(core.ip(), self.get(core.ip()).to_real(core.port()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn standard_pair_is_the_identity() {
        for port in [0, 500, 4500, 4501, 40_000] {
            assert_eq!(PortPair::STANDARD.to_core(port), port);
            assert_eq!(PortPair::STANDARD.to_real(port), port);
        }
    }

    #[test]
    fn other_pairs_translate_both_ways() {
        let pair = PortPair {
            ike: 40_500,
            natt: 44_500,
        };
        assert_eq!(pair.to_core(40_500), 500);
        assert_eq!(pair.to_core(44_500), 4500);
        assert_eq!(pair.to_core(1234), 1234);
        assert_eq!(pair.to_real(500), 40_500);
        assert_eq!(pair.to_real(4500), 44_500);
        let mut peers = PeerPorts::new();
        let sgw: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(peers.insert(sgw, pair));
        assert!(!peers.insert(sgw, PortPair::STANDARD));
        assert_eq!(
            peers.to_real(SocketAddr::new(sgw, 4500)),
            SocketAddr::new(sgw, 44_500)
        );
        assert_eq!(
            peers.to_core(SocketAddr::new(sgw, 40_500)),
            SocketAddr::new(sgw, 500)
        );
        let other: SocketAddr = "203.0.113.2:500".parse().unwrap();
        assert_eq!(peers.to_real(other), other);
    }
}
