//! What a relay is built from: the IKE relay's configuration, the legs' real ports, the SGWs'
//! ports and the table limit. The I/O shell converts its configuration file into this.

use core::net::IpAddr;

use crate::ike::IkeRelayConfig;
use crate::net::{PeerPorts, PortPair};

/// Everything [`super::Relay::new`] needs, already validated by whoever read it.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The IKE relay's configuration. Its `c_side` is the address every c-side datagram
    /// reaches the IKE relay as (with the standard IKE port); it may be unspecified (a
    /// wildcard c-side), and the relay then remembers which local address each client talks
    /// to. Its `s_side` must differ from every c-side address: the IKE relay tells the legs
    /// apart by address.
    pub ike: IkeRelayConfig,
    /// Surrogate s-side addresses, one held per user while it has IKE sessions
    /// ([`crate::ike::IkeRelay::with_s_side_pool`]); `None` for one s-side address.
    pub s_side_pool: Option<Vec<IpAddr>>,
    /// The real IKE and NAT-T ports of the c-side sockets (the IKE relay sees 500/4500).
    pub c_ports: PortPair,
    /// The real IKE and NAT-T ports of the s-side sockets.
    pub s_ports: PortPair,
    /// Each SGW's real IKE and NAT-T ports, from the identification rules.
    pub sgw_ports: PeerPorts,
    /// At most this many IPsec translation entries; an entry beyond it is refused.
    pub max_ipsec_entries: usize,
}
