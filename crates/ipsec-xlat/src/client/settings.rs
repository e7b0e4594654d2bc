//! What a [`Client`](super::Client) is built from: everything the daemon derives from its
//! configuration, already in the core's types.

use core::net::IpAddr;
use core::time::Duration;

use crate::ike::IkeClientConfig;
use crate::net::PortPair;

/// A client's settings: the IKE client every attempt starts from, how the tunnel is kept up,
/// and the c-side addressing toward the relay (`docs/PROTOCOL.md` §3 and §4).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// What every new IKE client (attempt or reauthentication) starts from.
    pub ike: IkeClientConfig,
    /// Reauthentication and restart.
    pub session: SessionSettings,
    /// Our c-side address (possibly unspecified: the caller's sockets choose).
    pub local: IpAddr,
    /// The relay's c-side address: datagrams from elsewhere are ignored.
    pub relay: IpAddr,
    /// Our real ports; the core thinks in 500/4500 ([`PortPair`]).
    pub own_ports: PortPair,
    /// The relay's real ports.
    pub relay_ports: PortPair,
    /// ESP goes to the relay in UDP (RFC 3948) rather than by raw IP.
    pub c_udp_encap: bool,
    /// Raw IPv4 packets carry the header we write (AH's ICV covers its Identification and
    /// Total Length, so they must leave exactly as sealed).
    pub raw_header_included: bool,
    /// Start the first attempt at construction; otherwise wait for
    /// [`Client::initiate`](super::Client::initiate).
    pub initiate: bool,
    /// Steered from outside (a control socket): a failure leaves the client idle, waiting
    /// for the next `initiate`, instead of drained, and nothing restarts by itself.
    pub controlled: bool,
}

/// How the tunnel is kept up. IKEv1 has no IKE SA rekey, so a tunnel outlives its IKE SA only
/// by reauthenticating (a new main mode next to the old one); a tunnel lost anyway starts
/// over after a backoff, as strongSwan's `close_action=restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Reauthenticate before the IKE SA's lifetime ends.
    pub reauth: bool,
    /// How long before that end (`None`: the IKE client's default).
    pub reauth_margin: Option<Duration>,
    /// Start over after a retryable loss (only when not controlled).
    pub restart: bool,
    /// The longest wait between restarts (the wait doubles from one second up to this).
    pub restart_max_backoff: Duration,
}
