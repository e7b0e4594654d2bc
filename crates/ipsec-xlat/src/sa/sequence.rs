//! Outbound sequence counter (RFC 4303 §3.3.3, RFC 4302 §3.3.2).
//!
//! The counter starts at 1 and must never cycle: after 2^32 - 1 packets (2^64 - 1 with extended
//! sequence numbers) the SA is spent and refuses to send, so a peer's anti-replay window is
//! never asked to accept a number twice under the same key.

use super::error::SaError;

/// The next sequence number to send on an SA.
#[derive(Debug, Clone)]
pub struct SequenceCounter {
    next: u64,
    esn: bool,
    exhausted: bool,
}

impl SequenceCounter {
    /// A fresh counter; `esn` selects 64-bit extended sequence numbers (RFC 4304).
    pub fn new(esn: bool) -> Self {
        Self {
            next: 1,
            esn,
            exhausted: false,
        }
    }

    /// A counter whose next packet carries `next` (for vectors and SAs resumed mid-stream).
    /// `0` is treated as `1`; a value beyond the sequence space leaves the counter exhausted.
    pub(crate) fn starting_at(esn: bool, next: u64) -> Self {
        let mut c = Self::new(esn);
        c.next = next.max(1);
        c.exhausted = c.next > c.max();
        c
    }

    /// Largest sequence number this SA may send.
    pub(crate) fn max(&self) -> u64 {
        if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Whether extended sequence numbers are in use.
    pub(crate) fn esn(&self) -> bool {
        self.esn
    }

    /// The number the next packet would carry, without using it.
    pub(crate) fn peek(&self) -> Result<u64, SaError> {
        if self.exhausted {
            Err(SaError::SequenceOverflow)
        } else {
            Ok(self.next)
        }
    }

    /// Takes the next sequence number, or [`SaError::SequenceOverflow`] once the space is spent.
    pub(crate) fn take(&mut self) -> Result<u64, SaError> {
        let seq = self.peek()?;
        match seq.checked_add(1) {
            Some(n) if n <= self.max() => self.next = n,
            _ => self.exhausted = true,
        }
        Ok(seq)
    }

    /// Packets this counter can still number.
    pub fn remaining(&self) -> u64 {
        if self.exhausted {
            0
        } else {
            self.max().saturating_sub(self.next).saturating_add(1)
        }
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
    fn starts_at_one_and_counts() {
        let mut c = SequenceCounter::new(false);
        assert_eq!(c.take(), Ok(1));
        assert_eq!(c.take(), Ok(2));
    }

    #[test]
    fn overflow_without_esn_stops_after_u32_max() {
        let mut c = SequenceCounter::starting_at(false, u64::from(u32::MAX) - 1);
        assert_eq!(c.take(), Ok(u64::from(u32::MAX) - 1));
        assert_eq!(c.take(), Ok(u64::from(u32::MAX)));
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.take(), Err(SaError::SequenceOverflow));
        assert_eq!(c.take(), Err(SaError::SequenceOverflow));
    }

    #[test]
    fn esn_crosses_the_32_bit_boundary_and_stops_at_u64_max() {
        let mut c = SequenceCounter::starting_at(true, u64::from(u32::MAX));
        assert_eq!(c.take(), Ok(u64::from(u32::MAX)));
        assert_eq!(c.take(), Ok(1 << 32));
        let mut c = SequenceCounter::starting_at(true, u64::MAX);
        assert_eq!(c.take(), Ok(u64::MAX));
        assert_eq!(c.take(), Err(SaError::SequenceOverflow));
    }

    #[test]
    fn start_beyond_space_is_exhausted() {
        let c = SequenceCounter::starting_at(false, 1 << 32);
        assert_eq!(c.peek(), Err(SaError::SequenceOverflow));
    }
}
