//! What a gateway is told at construction: its IKE responder's configuration and the facts
//! about its own sockets the core cannot learn from packets.

use core::net::IpAddr;

use crate::ike::TestSgwConfig;
use crate::net::PortPair;

/// Settings of a [`Gateway`](super::Gateway).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The IKEv1 responder: suites, credentials, ID, child proposals and selectors.
    pub ike: TestSgwConfig,
    /// The real ports of our IKE and NAT-T sockets (the core thinks in 500/4500; see
    /// [`PortPair`]).
    pub own: PortPair,
    /// Our address toward a peer before any IKE datagram told us which one it talks to (the
    /// first listening address).
    pub default_local: IpAddr,
    /// Whether raw IPv4 ESP/AH leaves with the header the SA wrote (`IP_HDRINCL`): AH's ICV
    /// covers the Identification and Total Length, which the kernel would otherwise choose
    /// (RFC 4302 §3.3.3.1).
    pub header_included: bool,
}
