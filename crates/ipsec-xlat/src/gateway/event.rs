//! What a gateway tells its owner: IKE SAs and child SAs coming and going, and why an
//! exchange, an installation or a packet was refused. A daemon logs these; a test waits on
//! them.

use core::net::{IpAddr, SocketAddr};
use std::collections::VecDeque;

use thiserror::Error;

use super::counters::{bump, GatewayCounters};
use crate::ike::crypto::Cookies;
use crate::ike::phase2::{ChildSa, IncompleteChild};
use crate::ike::SgwError;
use crate::sa::{ConfigError, SaError};

/// Events kept before further ones are dropped (counted), so that an owner that never polls
/// cannot be made to hold unbounded memory by a flood of refused packets.
const MAX_EVENTS: usize = 4096;

/// One thing worth telling.
#[derive(Debug)]
pub enum GatewayEvent {
    /// Main mode completed with `peer`.
    Phase1Established {
        /// The initiator (the relay's s-side address, as a gateway sees it).
        peer: SocketAddr,
        /// The IKE SA's cookies, which [`Gateway::start_quick_mode`](super::Gateway) and
        /// [`Gateway::send_dpd`](super::Gateway) name.
        cookies: Cookies,
    },
    /// A child SA (bundle) is installed in the datapath.
    ChildInstalled {
        /// The initiator.
        peer: SocketAddr,
        /// Our address the bundle's outer headers carry.
        local: IpAddr,
        /// The negotiated bundle, keys included: a test gateway's key log
        /// (`xlat-test-sgw --key-log`) writes them for an independent verifier.
        child: Box<ChildSa>,
    },
    /// A negotiated child SA could not be installed.
    InstallFailed {
        /// The initiator.
        peer: SocketAddr,
        /// Why.
        error: GatewayInstallError,
    },
    /// The peer deleted child SAs of ours; their bundles left the datapath.
    ChildDeleted {
        /// The peer.
        peer: SocketAddr,
    },
    /// A bundle reached its hard lifetime in both directions and left the datapath.
    ChildExpired {
        /// The peer it was with.
        peer: SocketAddr,
    },
    /// The peer deleted the IKE SA.
    Phase1Deleted {
        /// The peer.
        peer: SocketAddr,
    },
    /// We deleted an IKE SA and its bundles ([`Gateway::terminate_all`](super::Gateway)).
    Terminated {
        /// The peer.
        peer: SocketAddr,
    },
    /// A DELETE we meant to send while terminating could not be built.
    TerminateFailed {
        /// The peer.
        peer: SocketAddr,
        /// Which DELETE.
        what: TerminateStep,
        /// Why.
        error: SgwError,
    },
    /// The peer answered our DPD R-U-THERE (RFC 3706).
    DpdAck {
        /// The peer.
        peer: SocketAddr,
        /// The sequence number it acknowledged.
        sequence: u32,
    },
    /// An IKE exchange was refused.
    Refused {
        /// Who sent it.
        peer: SocketAddr,
        /// Why.
        error: SgwError,
    },
    /// An ESP/AH packet for one of our SAs was refused by it (also counted in
    /// [`GatewayCounters::open_errors`]).
    PacketRefused {
        /// Why.
        error: SaError,
    },
}

/// The DELETEs of a termination, as `swanctl --terminate --ike` sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminateStep {
    /// The DELETE naming the bundles' inbound SPIs.
    Children,
    /// The ISAKMP-SA DELETE.
    IkeSa,
}

/// Why a negotiated child SA was not installed (a bug in the exchange or the SA layer, never
/// the peer's input alone).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayInstallError {
    /// The negotiated child lacks keys or an SPI its proposal promises.
    #[error(transparent)]
    Incomplete(#[from] IncompleteChild),
    /// No outer header between our address and the peer's (different address families).
    #[error(transparent)]
    Header(#[from] SaError),
    /// The SA layer refused the derived configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The bounded event queue.
#[derive(Debug, Default)]
pub(super) struct Events {
    queue: VecDeque<GatewayEvent>,
}

impl Events {
    /// Queues `event`, or drops it (counted) when the queue is full.
    pub(super) fn push(&mut self, event: GatewayEvent, counters: &mut GatewayCounters) {
        if self.queue.len() < MAX_EVENTS {
            self.queue.push_back(event);
        } else {
            bump(&mut counters.events_dropped);
        }
    }

    /// The oldest event.
    pub(super) fn pop(&mut self) -> Option<GatewayEvent> {
        self.queue.pop_front()
    }
}
