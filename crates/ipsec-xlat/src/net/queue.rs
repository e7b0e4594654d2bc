//! A role's transmit queue: packets produced while handling input, waiting for the
//! driver's next [`poll_transmit`](crate::Endpoint::poll_transmit).
//!
//! Buffers are recycled, so after warm-up the per-packet path allocates nothing; the queue is
//! bounded (a full queue drops and counts, like a full socket buffer), because a flood of
//! input must not grow memory without limit.

use std::collections::VecDeque;

use super::{Path, Transmit};

/// Packets queued before further ones are dropped.
pub(crate) const DEFAULT_LIMIT: usize = 4096;

/// Spare buffers kept for reuse.
const SPARE_LIMIT: usize = 256;

/// A bounded FIFO of packets with their paths.
#[derive(Debug)]
pub(crate) struct TxQueue {
    queue: VecDeque<(Path, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    limit: usize,
    dropped: u64,
}

impl Default for TxQueue {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl TxQueue {
    /// A queue holding at most `limit` packets.
    pub fn new(limit: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            spare: Vec::new(),
            limit: limit.max(1),
            dropped: 0,
        }
    }

    /// An empty buffer to build a packet in (a recycled one when available).
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    /// Gives back a buffer that was not queued.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < SPARE_LIMIT {
            self.spare.push(buf);
        }
    }

    /// Queues `bytes` for `path`; drops them (counted) when the queue is full.
    pub fn push(&mut self, path: Path, bytes: Vec<u8>) {
        if self.queue.len() >= self.limit {
            self.dropped = self.dropped.saturating_add(1);
            self.recycle(bytes);
            return;
        }
        self.queue.push_back((path, bytes));
    }

    /// Copies `bytes` into a queued packet for `path`.
    pub(crate) fn push_copy(&mut self, path: Path, bytes: &[u8]) {
        let mut buf = self.buffer();
        buf.extend_from_slice(bytes);
        self.push(path, buf);
    }

    /// Moves the oldest packet into `out`. A packet longer than `out` is reported with its
    /// length and not copied (the driver counts it as oversize).
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> Option<Transmit> {
        let (path, bytes) = self.queue.pop_front()?;
        let len = bytes.len();
        if let Some(dst) = out.get_mut(..len) {
            dst.copy_from_slice(&bytes);
        }
        self.recycle(bytes);
        Some(Transmit { path, len })
    }

    /// Packets waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fifo_bounded_and_recycling() {
        let mut q = TxQueue::new(2);
        q.push_copy(Path::Tun, &[1, 2, 3]);
        q.push_copy(Path::Tun, &[4]);
        q.push_copy(Path::Tun, &[5]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 1);
        let mut out = [0u8; 8];
        let t = q.pop_into(&mut out).unwrap();
        assert_eq!((t.path, t.len, &out[..3]), (Path::Tun, 3, &[1u8, 2, 3][..]));
        let mut small = [0u8; 0];
        assert_eq!(q.pop_into(&mut small).unwrap().len, 1);
        assert!(q.pop_into(&mut out).is_none());
        assert!(q.buffer().capacity() >= 1, "buffers are reused");
    }
}
