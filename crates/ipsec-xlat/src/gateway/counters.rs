//! The gateway's datapath counters: what happened to each packet that was not IKE.

/// Packets by fate; every field saturates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayCounters {
    /// IKE datagrams handed to the IKE responder.
    pub ike_datagrams: u64,
    /// ESP/AH packets received.
    pub ipsec_packets: u64,
    /// ... for no SA of ours.
    pub unknown_spi: u64,
    /// ... refused by their SA.
    pub open_errors: u64,
    /// Inner packets written to the TUN side.
    pub opened: u64,
    /// Inner packets read from the TUN side.
    pub tun_packets: u64,
    /// ... dropped for want of an SA.
    pub no_sa: u64,
    /// ... sealed and sent.
    pub sealed: u64,
    /// ... the SA refused to seal.
    pub seal_errors: u64,
    /// Keepalives and other datagrams not for us.
    pub ignored: u64,
    /// Events dropped because nobody polled them (the queue is bounded).
    pub events_dropped: u64,
}

/// Adds one to a counter without overflowing.
pub(super) fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}
