//! Admission of new IKE sessions at the relay: how many may exist, how many may be half-open
//! (the SGW's mm2 not yet seen), and how fast new ones may start, in total and per client
//! address. Checked when a new mm1 arrives, before the tail handshake's Diffie-Hellman, so a
//! flood costs the relay no public-key work and the SGW nothing. Counting half-open sessions
//! walks the sessions (at most `max_sessions`), and only when `max_half_open` is set; a counter
//! kept beside the sessions would make it constant.

use core::net::IpAddr;
use core::time::Duration;

use hashbrown::HashMap;

use crate::time::Timestamp;

/// Source addresses whose rate is tracked at once; past it, the idle ones are forgotten (a
/// forgotten address starts again with a full bucket, which only ever admits the configured
/// rate's burst).
const MAX_TRACKED_SOURCES: usize = 65_536;

/// The limits on new IKE sessions; `None` for "no limit of this kind".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmissionLimits {
    /// Most IKE sessions at once (half-open ones included).
    pub max_sessions: Option<usize>,
    /// Most sessions whose main mode has not reached the SGW's mm2.
    pub max_half_open: Option<usize>,
    /// New sessions per second, all clients together (bursts of as many).
    pub new_per_second: Option<u32>,
    /// New sessions per second from one client address (bursts of as many).
    pub new_per_second_per_client: Option<u32>,
}

/// Why a new session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Sessions,
    HalfOpen,
    Rate,
    ClientRate,
}

/// A token bucket holding up to `rate` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens, in thousandths (so the refill is exact in milliseconds).
    milli_tokens: u64,
    at: Timestamp,
}

impl Bucket {
    fn full(rate: u32, now: Timestamp) -> Self {
        Self {
            milli_tokens: u64::from(rate).saturating_mul(1000),
            at: now,
        }
    }

    /// Adds the tokens earned since the last refill.
    fn refill(&mut self, rate: u32, now: Timestamp) {
        let cap = u64::from(rate).saturating_mul(1000);
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.at).as_millis()).unwrap_or(u64::MAX);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(u64::from(rate)))
            .min(cap);
        self.at = self.at.max(now);
    }

    fn has_token(&self) -> bool {
        self.milli_tokens >= 1000
    }

    fn take_token(&mut self) {
        self.milli_tokens = self.milli_tokens.saturating_sub(1000);
    }

    /// Whether the bucket would be full by `now` (nothing to remember about its source).
    fn is_full_by(&self, rate: u32, now: Timestamp) -> bool {
        let missing = u64::from(rate)
            .saturating_mul(1000)
            .saturating_sub(self.milli_tokens);
        let secs = missing.div_ceil(u64::from(rate).max(1).saturating_mul(1000));
        self.at.saturating_add(Duration::from_secs(secs)) <= now
    }
}

/// The state the limits need: the buckets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Admission {
    pub(crate) limits: AdmissionLimits,
    total: Option<Bucket>,
    per_source: HashMap<IpAddr, Bucket>,
}

impl Admission {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Whether a new session from `source` may start now, given the number of sessions and a
    /// way to count the half-open ones (called only when that limit is set). Takes a
    /// token from each rate only when every check passes.
    pub(crate) fn admit(
        &mut self,
        now: Timestamp,
        source: IpAddr,
        sessions: usize,
        half_open: impl FnOnce() -> usize,
    ) -> Result<(), Refused> {
        if self.limits.max_sessions.is_some_and(|max| sessions >= max) {
            return Err(Refused::Sessions);
        }
        if self
            .limits
            .max_half_open
            .is_some_and(|max| half_open() >= max)
        {
            return Err(Refused::HalfOpen);
        }
        // Both rates are checked before either is charged: a datagram refused by one limit
        // must not use up the other.
        let client = match self.limits.new_per_second_per_client {
            Some(rate) => {
                if self.per_source.len() >= MAX_TRACKED_SOURCES
                    && !self.per_source.contains_key(&source)
                {
                    self.per_source.retain(|_, b| !b.is_full_by(rate, now));
                }
                let bucket = self
                    .per_source
                    .entry(source)
                    .or_insert_with(|| Bucket::full(rate, now));
                bucket.refill(rate, now);
                if !bucket.has_token() {
                    return Err(Refused::ClientRate);
                }
                Some(source)
            }
            None => None,
        };
        if let Some(rate) = self.limits.new_per_second {
            let bucket = self.total.get_or_insert_with(|| Bucket::full(rate, now));
            bucket.refill(rate, now);
            if !bucket.has_token() {
                return Err(Refused::Rate);
            }
            bucket.take_token();
        }
        if let Some(bucket) = client.and_then(|source| self.per_source.get_mut(&source)) {
            bucket.take_token();
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 10));
    const B: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 11));

    fn ms(m: u64) -> Timestamp {
        Timestamp::from_millis(m)
    }

    #[test]
    fn counts_refuse_past_their_maximum() {
        let mut a = Admission::new(AdmissionLimits {
            max_sessions: Some(10),
            max_half_open: Some(3),
            ..AdmissionLimits::default()
        });
        assert_eq!(a.admit(ms(0), A, 9, || 2), Ok(()));
        assert_eq!(a.admit(ms(0), A, 10, || 0), Err(Refused::Sessions));
        assert_eq!(a.admit(ms(0), A, 5, || 3), Err(Refused::HalfOpen));
        assert_eq!(
            Admission::default().admit(ms(0), A, usize::MAX, || usize::MAX),
            Ok(())
        );
    }

    #[test]
    fn rates_allow_a_burst_then_refill_per_second() {
        let mut a = Admission::new(AdmissionLimits {
            new_per_second: Some(2),
            new_per_second_per_client: Some(2),
            ..AdmissionLimits::default()
        });
        assert_eq!(a.admit(ms(0), A, 0, || 0), Ok(()));
        assert_eq!(a.admit(ms(0), A, 0, || 0), Ok(()));
        assert_eq!(
            a.admit(ms(0), A, 0, || 0),
            Err(Refused::ClientRate),
            "A's burst is 2"
        );
        // The total burst (2) is spent too; B's own bucket is full and stays so.
        assert_eq!(a.admit(ms(0), B, 0, || 0), Err(Refused::Rate));
        // Half a second refills one total token.
        assert_eq!(a.admit(ms(500), B, 0, || 0), Ok(()));
        assert_eq!(a.admit(ms(500), B, 0, || 0), Err(Refused::Rate));
        assert_eq!(
            a.admit(ms(1_000), B, 0, || 0),
            Ok(()),
            "B still had a token of its own"
        );
        assert_eq!(a.admit(ms(1_000), A, 0, || 0), Err(Refused::Rate));
    }
}
