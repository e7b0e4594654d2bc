//! A child SA in a few words, for events, logs and status: what was negotiated and with which
//! SPIs.

use super::BundleSpis;

/// A child SA in a few words: what was negotiated and with which SPIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSummary {
    /// e.g. `ESP aes128gcm16, UDP-encapsulated` ([`describe_child`](super::describe_child)).
    pub suite: String,
    /// SPIs we receive on, as the SGW knows them (s-side).
    pub inbound: BundleSpis,
    /// SPIs we send with, as the SGW knows them (s-side).
    pub outbound: BundleSpis,
    /// Client only: the c-side SPIs on the wire to and from the relay (in, out), which the
    /// relay chose (`docs/PROTOCOL.md` §3.2).
    pub c_side: Option<(BundleSpis, BundleSpis)>,
}
