//! Between the gateway's IKE responder ([`TestSgw`](crate::ike::TestSgw)) and its datapath:
//! the responder's datagrams leave by our real ports, and its events install and remove
//! bundles.

use core::net::SocketAddr;

use super::child::InstalledChild;
use super::event::GatewayEvent;
use super::Gateway;
use crate::ike::phase2::ChildSa;
use crate::ike::SgwEvent;
use crate::net::{Leg, NetPath, Path, Transport};
use crate::time::Timestamp;

impl Gateway {
    /// Moves everything the IKE responder produced: datagrams to the transmit queue, events
    /// to the datapath and the owner.
    pub(super) fn drain_ike(&mut self, now: Timestamp) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = Path::Net(NetPath {
                leg: Leg::SSide,
                local: t.local.ip(),
                remote: t.remote.ip(),
                transport: Transport::Udp {
                    local_port: self.own.to_real(t.local.port()),
                    remote_port: t.remote.port(),
                },
            });
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            let event = match event {
                SgwEvent::Phase1Established { peer, cookies } => {
                    GatewayEvent::Phase1Established { peer, cookies }
                }
                SgwEvent::ChildEstablished { peer, child } => self.install(now, peer, child),
                SgwEvent::Phase1Deleted { peer, .. } => GatewayEvent::Phase1Deleted { peer },
                SgwEvent::DpdAck { peer, sequence } => GatewayEvent::DpdAck { peer, sequence },
                SgwEvent::Refused { peer, error } => GatewayEvent::Refused { peer, error },
                SgwEvent::Deleted { peer, deletes } => {
                    let before = self.children.len();
                    self.children.retain(|c| !c.deleted_by(peer, &deletes));
                    if self.children.len() == before {
                        continue;
                    }
                    self.routes.clear();
                    GatewayEvent::ChildDeleted { peer }
                }
            };
            self.events.push(event, &mut self.counters);
        }
    }

    /// Puts a bundle the responder negotiated into the datapath.
    fn install(&mut self, now: Timestamp, peer: SocketAddr, child: Box<ChildSa>) -> GatewayEvent {
        let local = self.locals.toward(peer.ip());
        match InstalledChild::new(&child, peer, local, now) {
            Ok(installed) => {
                self.children.push(installed);
                GatewayEvent::ChildInstalled { peer, local, child }
            }
            Err(error) => GatewayEvent::InstallFailed { peer, error },
        }
    }
}
