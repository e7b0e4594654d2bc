//! [`IkeClientConfig`]: what a client starts with: its c-side transport to the relay, the tail
//! keys and user ID the relay identifies it by (`docs/PROTOCOL.md` §4.2, §4.4), and the
//! phase-1 and phase-2 settings it negotiates with the SGW over the s-side view (§4.1).

use core::net::SocketAddr;

use crate::ike::endpoint::RetransmitPolicy;
use crate::ike::phase1::Phase1Config;
use crate::ike::phase2::ChildConfig;
use crate::ike::tail_content::UserId;
use crate::ike::tail_crypto::{StaticKeypair, StaticPublicKey};

#[cfg(doc)]
use super::IkeClient;

/// Client configuration.
#[derive(Clone, Debug)]
pub struct IkeClientConfig {
    /// Our IKE address and port on the access network (c-side).
    pub local: SocketAddr,
    /// The relay's c-side IKE address and port.
    pub relay: SocketAddr,
    /// Our static key for the tail handshake.
    pub static_key: StaticKeypair,
    /// The relay's static public key.
    pub relay_key: StaticPublicKey,
    /// Who we are, for the relay's identification table.
    pub user_id: UserId,
    /// Phase-1 suites, credentials and the ID the SGW sees. `local_addr` is ignored: NAT-D
    /// uses the relay's s-side address from mm2's tail.
    pub phase1: Phase1Config,
    /// Quick mode alternatives and selectors. The encapsulation mode is set from NAT
    /// detection toward the SGW.
    pub child: ChildConfig,
    /// Whether our ESP/AH to the relay goes in UDP (our own access-network need).
    pub c_udp_encap: bool,
    /// Request retransmission.
    pub retransmit: RetransmitPolicy,
    /// Rekey each bundle at 90 % of its lifetime and delete it when the lifetime ends (as
    /// strongSwan's default rekey_time/life_time ratio does). Off: the caller drives
    /// [`IkeClient::rekey`] and [`IkeClient::delete_child`].
    pub auto_rekey: bool,
}
