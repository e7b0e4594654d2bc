//! Inbound anti-replay window (RFC 4303 §3.4.3) with the bitmap layout of RFC 6479, and the
//! inference of the high 32 bits of an extended sequence number (RFC 4303 Appendix A2).
//!
//! Why RFC 6479: the textbook window shifts a W-bit bitmap on every advance, which costs
//! O(W) for large windows. RFC 6479 keeps a ring of 64-bit blocks indexed by `seq / 64`; an
//! advance only clears the blocks it skips, and a check is one bit test. The ring has one block
//! more than the window needs, so the block being recycled never holds a bit still inside the
//! window.
//!
//! Use: [`ReplayWindow::check`] before the ICV is verified (cheap rejection of replays without
//! spending crypto), [`ReplayWindow::accept`] only after the ICV verified (so a forged packet
//! cannot move the window).

use super::error::{ConfigError, SaError};

/// Smallest window this implementation accepts (RFC 4303 §3.4.3 default is 32; 64 is common).
pub const MIN_WINDOW: u32 = 32;
/// Largest window this implementation accepts.
pub const MAX_WINDOW: u32 = 4096;

const BLOCK_BITS: u64 = 64;

/// The receive-side sliding window of one SA.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Window size W in packets.
    size: u64,
    /// Highest sequence number accepted so far (0 = none yet).
    top: u64,
    /// Ring of bitmap blocks; its length is a power of two so the index is a mask.
    blocks: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets (32..=4096). Allocates its bitmap once, here.
    pub fn new(size: u32) -> Result<Self, ConfigError> {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&size) {
            return Err(ConfigError::BadReplayWindow(size));
        }
        // ceil(W / 64) + 1 blocks (RFC 6479 §2), rounded up to a power of two.
        let needed = (size as usize)
            .div_ceil(BLOCK_BITS as usize)
            .saturating_add(1);
        Ok(Self {
            size: u64::from(size),
            top: 0,
            blocks: vec![0u64; needed.next_power_of_two()].into_boxed_slice(),
        })
    }

    /// Window size in packets.
    pub fn size(&self) -> u32 {
        u32::try_from(self.size).unwrap_or(MAX_WINDOW)
    }

    /// Highest sequence number accepted so far (0 before the first packet).
    pub fn highest(&self) -> u64 {
        self.top
    }

    /// Resumes the window as if `seq` had been the highest number received, with nothing inside
    /// the window marked. For SAs taken over mid-stream (tests from captures, vectors with a
    /// starting sequence number); never needed in normal operation.
    pub(crate) fn resume_at(&mut self, seq: u64) {
        self.blocks.iter_mut().for_each(|b| *b = 0);
        self.top = seq;
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let mask = (self.blocks.len() as u64).wrapping_sub(1);
        let index = ((seq / BLOCK_BITS) & mask) as usize;
        (index, 1u64 << (seq % BLOCK_BITS))
    }

    /// Would `seq` be accepted? Does not change the window.
    pub(crate) fn check(&self, seq: u64) -> Result<(), SaError> {
        if seq == 0 {
            return Err(SaError::ZeroSequence);
        }
        if seq > self.top {
            return Ok(());
        }
        // seq <= top here, so the difference cannot wrap.
        if self.top.wrapping_sub(seq) >= self.size {
            return Err(SaError::TooOld { seq });
        }
        let (index, bit) = self.bit(seq);
        match self.blocks.get(index) {
            Some(block) if block & bit != 0 => Err(SaError::Replayed { seq }),
            _ => Ok(()),
        }
    }

    /// Marks `seq` as received, sliding the window if it is new. Call only after the packet's
    /// ICV verified; re-checks so that accepting twice is still refused.
    pub(crate) fn accept(&mut self, seq: u64) -> Result<(), SaError> {
        self.check(seq)?;
        if seq > self.top {
            let old_block = self.top / BLOCK_BITS;
            let new_block = seq / BLOCK_BITS;
            let ring = self.blocks.len() as u64;
            // seq > top, so new_block >= old_block; clearing a whole ring is enough.
            let to_clear = new_block.wrapping_sub(old_block).min(ring);
            for i in 1..=to_clear {
                let block = old_block.wrapping_add(i);
                let (index, _) = self.bit(block.wrapping_mul(BLOCK_BITS));
                if let Some(b) = self.blocks.get_mut(index) {
                    *b = 0;
                }
            }
            self.top = seq;
        }
        let (index, bit) = self.bit(seq);
        if let Some(b) = self.blocks.get_mut(index) {
            *b |= bit;
        }
        Ok(())
    }

    /// RFC 4303 Appendix A2.2: the full 64-bit sequence number most likely meant by the low
    /// 32 bits `seq_low` seen on the wire, given the window. The ICV (which covers the high
    /// bits) then confirms or refutes the guess.
    pub(crate) fn infer_esn(&self, seq_low: u32) -> u64 {
        let w = self.size;
        let top_low = self.top & 0xffff_ffff;
        let top_high = self.top >> 32;
        let seq_low = u64::from(seq_low);
        // Bottom of the window, in the low 32-bit space (wraps in case B).
        let span = w.saturating_sub(1);
        let bottom = top_low.wrapping_sub(span) & 0xffff_ffff;
        let high = if top_low >= span {
            // Case A: the window lies within one 2^32 subspace.
            if seq_low >= bottom {
                top_high
            } else {
                // top_high < 2^32, cannot overflow.
                top_high.wrapping_add(1)
            }
        } else if seq_low >= bottom {
            // Case B: the window spans two subspaces and seq_low is in the older one.
            top_high.wrapping_sub(1)
        } else {
            top_high
        };
        // Before anything has been received (or with high = 0 and an old-subspace guess) the
        // subtraction would wrap; sequence numbers start at 1 in subspace 0.
        if high > 0xffff_ffff {
            seq_low
        } else {
            (high << 32) | seq_low
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
    fn size_bounds() {
        assert!(ReplayWindow::new(31).is_err());
        assert!(ReplayWindow::new(32).is_ok());
        assert!(ReplayWindow::new(4096).is_ok());
        assert!(ReplayWindow::new(4097).is_err());
    }

    #[test]
    fn fresh_in_order_and_duplicates() {
        let mut w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.check(0), Err(SaError::ZeroSequence));
        for s in 1..=200 {
            w.check(s).unwrap();
            w.accept(s).unwrap();
            assert_eq!(w.check(s), Err(SaError::Replayed { seq: s }));
        }
        assert_eq!(w.highest(), 200);
        // 200 - 137 = 63 < 64: inside; 136 is 64 behind: too old.
        assert_eq!(w.check(137), Err(SaError::Replayed { seq: 137 }));
        assert_eq!(w.check(136), Err(SaError::TooOld { seq: 136 }));
    }

    #[test]
    fn out_of_order_inside_window_is_accepted_once() {
        let mut w = ReplayWindow::new(32).unwrap();
        w.accept(100).unwrap();
        w.accept(90).unwrap();
        assert_eq!(w.check(90), Err(SaError::Replayed { seq: 90 }));
        w.accept(69).unwrap(); // 100 - 69 = 31 < 32
        assert_eq!(w.check(68), Err(SaError::TooOld { seq: 68 }));
        assert_eq!(w.accept(69), Err(SaError::Replayed { seq: 69 }));
    }

    #[test]
    fn large_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new(128).unwrap();
        for s in 1..=128 {
            w.accept(s).unwrap();
        }
        // Jump far ahead: everything in the new window must be unmarked except the new top.
        let top = 1_000_000;
        w.accept(top).unwrap();
        for s in (top - 127)..top {
            w.check(s).unwrap();
        }
        // Jump by exactly one ring of blocks plus a bit.
        let top2 = top + 64 * 4 + 3;
        w.accept(top2).unwrap();
        for s in (top2 - 127)..top2 {
            w.check(s).unwrap();
        }
    }

    /// Compare against a naive model (a set of seen numbers) on a pseudo-random walk.
    #[test]
    fn matches_naive_model() {
        for size in [32u32, 64, 100, 1000, 4096] {
            let mut w = ReplayWindow::new(size).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            let mut x: u64 = 0x1234_5678;
            for _ in 0..20_000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let delta = (x >> 33) % (2 * u64::from(size) + 10);
                let seq = (top + 20).saturating_sub(delta).max(1);
                let expect = if seq > top {
                    Ok(())
                } else if top - seq >= u64::from(size) {
                    Err(SaError::TooOld { seq })
                } else if seen.contains(&seq) {
                    Err(SaError::Replayed { seq })
                } else {
                    Ok(())
                };
                assert_eq!(w.check(seq), expect, "size {size} seq {seq} top {top}");
                if expect.is_ok() {
                    w.accept(seq).unwrap();
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
        }
    }

    #[test]
    fn esn_inference_rfc4303_a2() {
        let mut w = ReplayWindow::new(64).unwrap();
        // Nothing received: low numbers are in subspace 0.
        assert_eq!(w.infer_esn(1), 1);
        // Case A: top well inside subspace 1.
        w.resume_at((1 << 32) + 1000);
        assert_eq!(w.infer_esn(990), (1 << 32) + 990);
        assert_eq!(w.infer_esn(2000), (1 << 32) + 2000);
        // Below the window: must be the next subspace having wrapped.
        assert_eq!(w.infer_esn(5), (2 << 32) + 5);
        // Case B: top just after a wrap; a number near 2^32 belongs to the previous subspace.
        w.resume_at((2 << 32) + 10);
        assert_eq!(w.infer_esn(0xffff_fff0), (1 << 32) + 0xffff_fff0);
        assert_eq!(w.infer_esn(11), (2 << 32) + 11);
        assert_eq!(w.infer_esn(0), 2 << 32);
    }
}
