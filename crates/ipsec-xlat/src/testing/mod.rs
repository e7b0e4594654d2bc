//! A simulated network for whole conversations: any number of roles ([`Endpoint`]s) on a
//! virtual clock, joined by an in-memory link with latency and hooks for loss, duplication,
//! reordering, NAT and address changes. In the spirit of quinn-proto's `Pair`: a test (or an
//! embedder's own simulation) says "drop the third packet" or "the client moves" and asserts
//! what recovers, with no sockets, threads or sleeping.
//!
//! What it models, and why each choice:
//! - **Addresses, not sockets.** A node owns addresses, each on a [`Leg`]. A datagram goes to
//!   the node that owns its destination address, whatever the port: the roles check ports
//!   themselves, as they must on a real host where other software shares the address.
//! - **Raw IP as Linux delivers it.** A raw IPv4 receiver always gets the IPv4 header (the
//!   network writes one when the sender let "the kernel" do it); a raw IPv6 receiver gets the
//!   bytes after the IPv6 header, its addresses in the path (RFC 3542). So the roles see here
//!   exactly the socket forms they see in the daemons.
//! - **Unspecified local address.** A transmit from `0.0.0.0` / `::` leaves from the node's
//!   first address of the destination's family on that leg, as the kernel's source selection.
//! - **Virtual time.** [`Network::run_until`] delivers what is due, polls every node, and when
//!   nothing is in flight jumps the clock to the earliest timer or arrival; loops are bounded
//!   by a step count and a virtual deadline, so a test cannot hang.
//! - **Inner packets.** What a role writes to [`Path::Tun`] is collected per node
//!   ([`Network::take_inner`]); [`Network::send_inner`] hands a node an inner packet as its
//!   TUN device would.
//!
//! The IKE-level cores ([`crate::ike::IkeClient`], [`crate::ike::IkeRelay`],
//! [`crate::ike::TestSgw`]) join a network through [`IkeNode`], so their tests use the same
//! network as the roles'.
//!
//! Impairments are one hook, [`Network::set_impairment`]: a function from each datagram put on
//! the wire to its [`Fate`]. NAT is [`Network::add_nat`]: a node's private address rewritten
//! to a public address and port on the way out, and back on the way in, with rebinding
//! ([`Network::rebind_nat`]) to model a NAT that loses its mapping.

mod ike_node;
pub mod lab;
mod network;
mod route;
#[cfg(test)]
mod tests;

pub use ike_node::{add_ike_node, IkeCore, IkeNode};
pub use lab::Lab;
pub use network::{Fate, InFlight, Network, NetworkStats, NodeId, RunLimit, RunOutcome};

#[cfg(doc)]
use crate::net::{Endpoint, Leg, Path};
