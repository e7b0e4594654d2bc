//! Why the relay dropped a packet, and how often.
//!
//! One flat, field-less reason per distinct cause (boringtun style), so that each has its own
//! counter and a log line says exactly what happened. Nothing the relay cannot place is ever
//! sent anywhere: an unknown SPI is dropped and counted, never reflected.

use core::fmt;

use crate::net::Leg;

/// Why a received packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The packet ends before a header it must contain (outer IP, ESP, AH, a bundle's inner
    /// ESP), or before the length its IP header claims.
    Truncated,
    /// The outer IP header is invalid (version, header length, total length).
    MalformedOuter,
    /// An IP fragment: the relay forwards whole packets only (the kernel reassembles).
    Fragment,
    /// Neither ESP nor AH: another IP protocol, or an IKE message (non-ESP marker) on the UDP
    /// port. IKE goes to the IKE relay, not here.
    NotIpsec,
    /// A NAT-keepalive (RFC 3948 §2.3): absorbed, nothing to forward.
    Keepalive,
    /// The SPI is 0 or in the IANA-reserved range 1–255.
    ReservedSpi,
    /// AH's Payload Length field is too small for an AH header.
    MalformedAh,
    /// No live entry receives on this SPI.
    UnknownSpi,
    /// The SPI is reserved for a negotiation whose entry is not installed yet.
    PendingSpi,
    /// The SPI belongs to an entry, but to the other protocol (ESP SPI in an AH header or
    /// vice versa).
    ProtocolMismatch,
    /// The packet does not have the entry's bundle layout: an AH+ESP entry's ESP SPI arrived
    /// outermost, or AH is not followed by ESP with the entry's ESP SPI.
    BundleMismatch,
    /// Source, destination, transport or ports differ from the entry's path on that leg.
    PathMismatch,
    /// AH from the SGW has a nonzero Reserved field; the client could not verify it, because
    /// the relay uses that field on the client leg.
    AhReservedNonZero,
    /// AH behind IPv4 options or IPv6 extension headers, which the ICV covers and the relay
    /// cannot reproduce on the other leg.
    UnsupportedHeader,
    /// The rewritten packet would exceed the 65535-byte IPv4 Total Length.
    TooLong,
    /// The caller's buffer is too small for the rewritten packet (or, in place, has too
    /// little room in front of it).
    BufferTooSmall,
}

impl DropReason {
    /// Every reason, in counter order.
    pub(crate) const ALL: [Self; 16] = [
        Self::Truncated,
        Self::MalformedOuter,
        Self::Fragment,
        Self::NotIpsec,
        Self::Keepalive,
        Self::ReservedSpi,
        Self::MalformedAh,
        Self::UnknownSpi,
        Self::PendingSpi,
        Self::ProtocolMismatch,
        Self::BundleMismatch,
        Self::PathMismatch,
        Self::AhReservedNonZero,
        Self::UnsupportedHeader,
        Self::TooLong,
        Self::BufferTooSmall,
    ];

    /// A stable snake_case name, for logs and metrics.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::MalformedOuter => "malformed_outer",
            Self::Fragment => "fragment",
            Self::NotIpsec => "not_ipsec",
            Self::Keepalive => "keepalive",
            Self::ReservedSpi => "reserved_spi",
            Self::MalformedAh => "malformed_ah",
            Self::UnknownSpi => "unknown_spi",
            Self::PendingSpi => "pending_spi",
            Self::ProtocolMismatch => "protocol_mismatch",
            Self::BundleMismatch => "bundle_mismatch",
            Self::PathMismatch => "path_mismatch",
            Self::AhReservedNonZero => "ah_reserved_nonzero",
            Self::UnsupportedHeader => "unsupported_header",
            Self::TooLong => "too_long",
            Self::BufferTooSmall => "buffer_too_small",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packets forwarded per direction and dropped per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    to_gateway: u64,
    to_client: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Packets forwarded out of `leg`.
    pub fn forwarded(&self, to: Leg) -> u64 {
        match to {
            Leg::SSide => self.to_gateway,
            Leg::CSide => self.to_client,
        }
    }

    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason as usize).copied().unwrap_or(0)
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Every reason with its count, including zeros.
    pub fn iter_dropped(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|reason| (*reason, self.dropped(*reason)))
    }

    pub(crate) fn count_forwarded(&mut self, to: Leg) {
        let counter = match to {
            Leg::SSide => &mut self.to_gateway,
            Leg::CSide => &mut self.to_client,
        };
        *counter = counter.saturating_add(1);
    }

    pub(crate) fn count_dropped(&mut self, reason: DropReason) {
        if let Some(counter) = self.dropped.get_mut(reason as usize) {
            *counter = counter.saturating_add(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_discriminant_order() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        let mut counters = Counters::default();
        for reason in DropReason::ALL {
            counters.count_dropped(reason);
        }
        assert!(counters.iter_dropped().all(|(_, n)| n == 1));
        assert_eq!(counters.dropped_total(), DropReason::ALL.len() as u64);
    }
}
