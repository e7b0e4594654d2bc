//! Sliding-window replay check for transport tail counters (the RFC 4303 section 3.4.3
//! scheme, 64 entries).

/// Accepted counters: the highest one and a bitmap of the 64 below and including it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplayWindow {
    /// Highest accepted counter plus one; 0 means nothing accepted yet.
    top: u64,
    /// Bit i set: counter `top - 1 - i` was accepted.
    bitmap: u64,
}

/// Window size in counters.
const WINDOW: u64 = 64;

/// Outcome of a pre-decryption check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Fresh,
    Duplicate,
    TooOld,
}

impl ReplayWindow {
    /// Would `counter` be acceptable? Does not change state: call [`Self::accept`] only
    /// after the tail authenticated, so forgeries cannot move the window.
    pub(crate) fn check(&self, counter: u64) -> Check {
        // Here counter < top, so top >= 1 and the subtraction cannot wrap.
        let Some(behind) = self.top.checked_sub(1).and_then(|t| t.checked_sub(counter)) else {
            return Check::Fresh;
        };
        if behind >= WINDOW {
            Check::TooOld
        } else if self.bitmap & (1u64 << behind) != 0 {
            Check::Duplicate
        } else {
            Check::Fresh
        }
    }

    /// Records an authenticated counter.
    pub(crate) fn accept(&mut self, counter: u64) {
        if counter >= self.top {
            let shift = counter.saturating_sub(self.top).saturating_add(1);
            self.bitmap = if shift >= WINDOW {
                0
            } else {
                self.bitmap << shift
            };
            self.bitmap |= 1;
            self.top = counter.saturating_add(1);
        } else if let Some(behind) = self.top.checked_sub(1).and_then(|t| t.checked_sub(counter)) {
            if behind < WINDOW {
                self.bitmap |= 1u64 << behind;
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn window_accepts_reordering_and_rejects_duplicates() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(0), Check::Fresh);
        w.accept(0);
        assert_eq!(w.check(0), Check::Duplicate);
        w.accept(5);
        assert_eq!(w.check(3), Check::Fresh, "late but inside the window");
        w.accept(3);
        assert_eq!(w.check(3), Check::Duplicate);
        assert_eq!(w.check(5), Check::Duplicate);
        w.accept(100);
        assert_eq!(w.check(5), Check::TooOld);
        assert_eq!(w.check(37), Check::Fresh, "100 - 37 = 63 is still inside");
        assert_eq!(w.check(36), Check::TooOld);
        w.accept(u64::MAX - 1);
        assert_eq!(w.check(u64::MAX - 1), Check::Duplicate);
    }
}
