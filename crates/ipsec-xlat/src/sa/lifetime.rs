//! SA lifetimes in bytes and seconds with soft and hard limits (RFC 4301 §4.4.2.1).
//!
//! A soft limit tells the owner to rekey while the SA still works; a hard limit ends the SA.
//! The core has no clock: every call takes `now`, and [`LifetimeTracker::next_deadline`] tells
//! the caller when to call back (quinn-proto's `poll_timeout` pattern).
//!
//! Bytes are counted as plaintext (inner) packet bytes, as Linux XFRM and strongSwan do.

use crate::time::Timestamp;
use core::time::Duration;

use super::error::SaError;

/// Lifetime limits of an SA; `None` means "no limit of this kind".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Rekey once this many bytes were processed.
    pub soft_bytes: Option<u64>,
    /// Refuse packets once this many bytes were processed.
    pub hard_bytes: Option<u64>,
    /// Rekey once the SA is this old.
    pub soft_time: Option<Duration>,
    /// Refuse packets once the SA is this old.
    pub hard_time: Option<Duration>,
}

impl Lifetime {
    /// No limits at all.
    pub const UNLIMITED: Self = Self {
        soft_bytes: None,
        hard_bytes: None,
        soft_time: None,
        hard_time: None,
    };
}

/// What crossed a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifetimeEvent {
    /// The soft byte limit was reached: rekey soon.
    SoftBytes,
    /// The soft time limit was reached: rekey soon.
    SoftTime,
    /// The hard byte limit was reached: the SA is dead.
    HardBytes,
    /// The hard time limit was reached: the SA is dead.
    HardTime,
}

/// Usage of one SA against its [`Lifetime`].
#[derive(Debug, Clone)]
pub struct LifetimeTracker {
    limits: Lifetime,
    created: Timestamp,
    bytes: u64,
    /// Bit per event: already reported by `poll_event` or still pending.
    fired: u8,
    pending: u8,
}

fn flag(e: LifetimeEvent) -> u8 {
    match e {
        LifetimeEvent::SoftBytes => 1,
        LifetimeEvent::SoftTime => 2,
        LifetimeEvent::HardBytes => 4,
        LifetimeEvent::HardTime => 8,
    }
}

const ORDER: [LifetimeEvent; 4] = [
    LifetimeEvent::HardTime,
    LifetimeEvent::HardBytes,
    LifetimeEvent::SoftTime,
    LifetimeEvent::SoftBytes,
];

impl LifetimeTracker {
    /// Starts tracking at `now`, the SA's creation time.
    pub fn new(limits: Lifetime, now: Timestamp) -> Self {
        Self {
            limits,
            created: now,
            bytes: 0,
            fired: 0,
            pending: 0,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> Lifetime {
        self.limits
    }

    /// Bytes processed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn raise(&mut self, e: LifetimeEvent) {
        let f = flag(e);
        if self.fired & f == 0 {
            self.fired |= f;
            self.pending |= f;
        }
    }

    /// Fires any time limit reached by `now` (a timer callback may call only this).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let age = now.saturating_duration_since(self.created);
        if self.limits.soft_time.is_some_and(|t| age >= t) {
            self.raise(LifetimeEvent::SoftTime);
        }
        if self.limits.hard_time.is_some_and(|t| age >= t) {
            self.raise(LifetimeEvent::HardTime);
        }
    }

    /// Whether a hard limit was reached.
    pub fn is_expired(&self) -> bool {
        self.fired & (flag(LifetimeEvent::HardBytes) | flag(LifetimeEvent::HardTime)) != 0
    }

    /// Before processing a packet: refuses once a hard limit is reached.
    pub(crate) fn check(&mut self, now: Timestamp) -> Result<(), SaError> {
        self.handle_timeout(now);
        if self.is_expired() {
            Err(SaError::LifetimeExpired)
        } else {
            Ok(())
        }
    }

    /// After a packet was processed: counts its bytes and fires byte limits.
    pub(crate) fn record(&mut self, bytes: usize) {
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        if self.limits.soft_bytes.is_some_and(|b| self.bytes >= b) {
            self.raise(LifetimeEvent::SoftBytes);
        }
        if self.limits.hard_bytes.is_some_and(|b| self.bytes >= b) {
            self.raise(LifetimeEvent::HardBytes);
        }
    }

    /// The next event not yet handed out, hard events first.
    pub fn poll_event(&mut self) -> Option<LifetimeEvent> {
        let e = ORDER.into_iter().find(|e| self.pending & flag(*e) != 0)?;
        self.pending &= !flag(e);
        Some(e)
    }

    /// When the next time limit fires, if any is still ahead.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            (LifetimeEvent::SoftTime, self.limits.soft_time),
            (LifetimeEvent::HardTime, self.limits.hard_time),
        ]
        .into_iter()
        .filter(|(e, _)| self.fired & flag(*e) == 0)
        .filter_map(|(_, t)| t.and_then(|t| self.created.checked_add(t)))
        .min()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn byte_limits_fire_once_and_hard_refuses() {
        let t0 = Timestamp::ZERO;
        let mut l = LifetimeTracker::new(
            Lifetime {
                soft_bytes: Some(1000),
                hard_bytes: Some(1500),
                ..Lifetime::UNLIMITED
            },
            t0,
        );
        l.check(t0).unwrap();
        l.record(999);
        assert_eq!(l.poll_event(), None);
        l.record(1);
        assert_eq!(l.poll_event(), Some(LifetimeEvent::SoftBytes));
        l.record(100);
        assert_eq!(l.poll_event(), None, "soft fires once");
        l.check(t0).unwrap();
        l.record(400);
        assert_eq!(l.poll_event(), Some(LifetimeEvent::HardBytes));
        assert_eq!(l.check(t0), Err(SaError::LifetimeExpired));
    }

    #[test]
    fn time_limits_and_deadline() {
        let t0 = Timestamp::ZERO;
        let mut l = LifetimeTracker::new(
            Lifetime {
                soft_time: Some(Duration::from_secs(50)),
                hard_time: Some(Duration::from_secs(60)),
                ..Lifetime::UNLIMITED
            },
            t0,
        );
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(50)));
        l.check(t0 + Duration::from_secs(49)).unwrap();
        assert_eq!(l.poll_event(), None);
        l.handle_timeout(t0 + Duration::from_secs(50));
        assert_eq!(l.poll_event(), Some(LifetimeEvent::SoftTime));
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(
            l.check(t0 + Duration::from_secs(61)),
            Err(SaError::LifetimeExpired)
        );
        assert_eq!(l.poll_event(), Some(LifetimeEvent::HardTime));
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn unlimited_never_fires() {
        let t0 = Timestamp::ZERO;
        let mut l = LifetimeTracker::new(Lifetime::UNLIMITED, t0);
        l.record(usize::MAX);
        l.check(t0 + Duration::from_secs(1 << 30)).unwrap();
        assert_eq!(l.poll_event(), None);
        assert_eq!(l.next_deadline(), None);
    }
}
