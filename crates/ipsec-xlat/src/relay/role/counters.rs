//! What the relay role saw and did, beyond the IKE relay's and the datapath's own counters.

/// Packets the role demultiplexed, and what became of the entries the IKE relay reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// UDP datagrams handed to the IKE relay.
    pub ike_datagrams: u64,
    /// Packets handed to the datapath.
    pub ipsec_packets: u64,
    /// NAT-keepalives absorbed (RFC 3948 §2.3).
    pub keepalives: u64,
    /// Packets from the TUN side (a relay has none).
    pub ignored: u64,
    /// IPsec translation entries installed.
    pub entries_installed: u64,
    /// Entries refused ([`super::Refusal`]).
    pub entries_refused: u64,
    /// Entries removed at the end of their lifetime.
    pub entries_expired: u64,
}

/// Adds one to a counter; counters saturate rather than wrap.
pub(super) fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}
