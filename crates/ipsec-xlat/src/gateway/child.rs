//! One installed bundle of the gateway: the SA pair and what the datapath needs around it
//! (where its packets go, and the SPIs a DELETE names).

use core::net::{IpAddr, SocketAddr};

use super::event::GatewayInstallError;
use crate::ike::phase2::{sa_config, BundleSpis, ChildSa, Direction, Encapsulation};
use crate::sa::{InboundSa, OutboundSa, SaPair, TunnelHeader};
use crate::time::Timestamp;
use crate::wire::isakmp::ProtocolId;

/// A bundle in the gateway's datapath.
pub(super) struct InstalledChild {
    /// The initiator's IKE address; ESP-in-UDP goes to it when encapsulated.
    pub(super) peer: SocketAddr,
    /// Our address in the outer headers.
    pub(super) local: IpAddr,
    /// RFC 3948 UDP encapsulation (NAT-T) rather than raw ESP/AH.
    pub(super) udp: bool,
    /// The SPI inbound packets carry first (AH's for a bundle), which finds this child.
    pub(super) lookup: u32,
    /// Our inbound SPIs, which our DELETE names when we terminate.
    pub(super) in_spis: BundleSpis,
    /// Our outbound SPIs, which the peer's DELETE names.
    pub(super) out_spis: BundleSpis,
    /// The SAs.
    pub(super) sa: SaPair<OutboundSa, InboundSa>,
}

impl InstalledChild {
    /// The datapath of `child`, negotiated with `peer` over our `local` address, with
    /// lifetimes starting at `now`.
    pub(super) fn new(
        child: &ChildSa,
        peer: SocketAddr,
        local: IpAddr,
        now: Timestamp,
    ) -> Result<Self, GatewayInstallError> {
        let out_header = TunnelHeader::between(local, peer.ip())?;
        let in_header = TunnelHeader::between(peer.ip(), local)?;
        let outbound = OutboundSa::new(&sa_config(child, Direction::Outbound, out_header)?, now)?;
        let inbound = InboundSa::new(&sa_config(child, Direction::Inbound, in_header)?, now)?;
        let aead = child.proposal.esp.is_some_and(|(c, _)| c.is_aead());
        Ok(Self {
            peer,
            local,
            udp: child.proposal.mode == Encapsulation::UdpTunnel,
            lookup: inbound.lookup_spi(),
            in_spis: child.inbound_spis,
            out_spis: child.outbound_spis,
            sa: SaPair::new(outbound, inbound, aead),
        })
    }

    /// Whether the peer's DELETE of `deletes` (the SPIs it received with: our outbound ones)
    /// names this bundle.
    pub(super) fn deleted_by(&self, peer: SocketAddr, deletes: &[(ProtocolId, Vec<u32>)]) -> bool {
        let gone = |spi: Option<u32>| {
            spi.is_some_and(|spi| deletes.iter().any(|(_, spis)| spis.contains(&spi)))
        };
        self.peer.ip() == peer.ip() && (gone(self.out_spis.esp) || gone(self.out_spis.ah))
    }
}
