//! Time in the core: milliseconds on a clock the caller chooses.
//!
//! The core reads no clock: every call that depends on time takes `now` as a [`Timestamp`], and
//! every deadline it reports (`poll_timeout`, SA lifetimes, the relay's entry expiry) is one.
//! One type for all of it, rather than `std::time::Instant`, because a `u64` of milliseconds
//! can be stored and compared across processes: a single relay passes milliseconds since it
//! started (monotonic), a fleet sharing entries through a store passes Unix milliseconds so an
//! entry's deadlines mean the same on every node and survive a restart, and a test or an
//! embedder's simulation passes a virtual clock. The io crate's driver converts its monotonic
//! clock to this once, in one place.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in milliseconds on the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);

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

    /// `self + duration` (whole milliseconds), or `None` past the end of the clock (as
    /// `Instant::checked_add`).
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        let millis = u64::try_from(duration.as_millis()).ok()?;
        self.0.checked_add(millis).map(Self)
    }

    /// `self + duration`, saturating at [`Timestamp::NEVER`].
    pub fn saturating_add(self, duration: Duration) -> Self {
        self.checked_add(duration).unwrap_or(Self::NEVER)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Saturating, as [`Timestamp::saturating_add`]: a deadline past the end of the clock is
/// "never", not a panic.
impl Add<Duration> for Timestamp {
    type Output = Self;

    fn add(self, duration: Duration) -> Self {
        self.saturating_add(duration)
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, duration: Duration) {
        *self = self.saturating_add(duration);
    }
}

/// Saturating at the clock's origin.
impl Sub<Duration> for Timestamp {
    type Output = Self;

    fn sub(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_sub(millis))
    }
}

/// Saturating, as [`Timestamp::saturating_duration_since`] (and as `Instant`'s `-` is since
/// Rust 1.60): zero when `earlier` is later.
impl Sub for Timestamp {
    type Output = Duration;

    fn sub(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::NEVER {
            f.write_str("never")
        } else {
            write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
        }
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
        assert_eq!(t + Duration::MAX, Timestamp::NEVER);
        assert_eq!(t - Duration::from_secs(5), Timestamp::ZERO);
        assert_eq!(t - Timestamp::from_millis(400), Duration::from_millis(600));
        let mut u = t;
        u += Duration::from_millis(5);
        assert_eq!(u.as_millis(), 1_005);
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(
            t.checked_add(Duration::from_millis(1)),
            Some(Timestamp::from_millis(1_001))
        );
        assert_eq!(
            Timestamp::from_millis(10).saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_millis(250)),
            Duration::from_millis(750)
        );
    }

    #[test]
    fn displays_seconds() {
        assert_eq!(Timestamp::from_millis(12_345).to_string(), "12.345s");
        assert_eq!(Timestamp::NEVER.to_string(), "never");
    }
}
