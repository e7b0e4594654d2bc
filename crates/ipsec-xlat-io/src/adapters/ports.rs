//! Our own sockets' real ports, read from the opened ports (the port view itself,
//! [`PortPair`], is the core's: `ipsec_xlat::net::PortPair`).

use crate::port::{PacketPort, PortKind, PortTransport};
use crate::Leg;
use ipsec_xlat::net::PortPair;

/// The real ports of our own sockets on `leg`, read from the opened ports (so that port 0
/// in the configuration, "any free port", resolves to what the kernel chose). The first two
/// UDP ports of the leg are its first address's IKE and NAT-T sockets, in the order
/// [`crate::setup::plan`] opens them; `None` if the leg has fewer.
pub fn leg_port_pair(ports: &[Box<dyn PacketPort>], leg: Leg) -> Option<PortPair> {
    let mut udp = ports.iter().filter_map(|port| match port.kind() {
        PortKind::Net {
            leg: l,
            transport: PortTransport::Udp { port },
            ..
        } if l == leg => Some(port),
        _ => None,
    });
    Some(PortPair {
        ike: udp.next()?,
        natt: udp.next()?,
    })
}
