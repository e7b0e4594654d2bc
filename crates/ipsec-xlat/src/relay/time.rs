//! The relay's notion of time: milliseconds on a clock the caller chooses.
//!
//! The core reads no clock. A single relay passes milliseconds since it started (monotonic);
//! a fleet sharing entries through a store passes Unix milliseconds, so that an entry's
//! deadlines mean the same on every node and survive a restart. A plain `u64` (rather than
//! `std::time::Instant`) is what makes both possible, and it costs 8 bytes per stored time.

use core::time::Duration;

/// A point in time, in milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Later than every real time: "no deadline".
    pub const NEVER: Self = Self(u64::MAX);

    /// A timestamp `millis` milliseconds after the clock's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating at [`Timestamp::NEVER`].
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.saturating_add(Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(t.saturating_add(Duration::MAX), Timestamp::NEVER);
        assert_eq!(
            Timestamp::from_millis(10).saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_millis(250)),
            Duration::from_millis(750)
        );
    }
}
