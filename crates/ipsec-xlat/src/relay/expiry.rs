//! Deadlines of entries and SPI reservations, as a min-heap with lazy re-checking.
//!
//! The per-packet path only writes an entry's `last_seen`; it never touches this heap. An item
//! therefore holds the earliest time its entry *might* expire; when it comes due the table
//! recomputes the true deadline from the entry and either removes the entry or pushes a new
//! item. Items of removed entries are left behind and skipped when they surface, so removal is
//! O(1); [`ExpiryQueue::needs_compaction`] tells the table when such leftovers dominate.

use core::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Timestamp;

/// What comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Wake {
    /// The entry in this slot may have expired.
    Slot(u32),
    /// The reservation of this SPI may have lapsed.
    Reservation(u32),
}

/// One scheduled check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due {
    /// When.
    pub at: Timestamp,
    /// Of what.
    pub what: Wake,
}

/// Leftover items are tolerated up to this many beyond twice the live count.
const SLACK: usize = 1024;

/// A min-heap of [`Due`] items.
#[derive(Debug, Default)]
pub(crate) struct ExpiryQueue {
    heap: BinaryHeap<Reverse<Due>>,
}

impl ExpiryQueue {
    /// A queue with room for `items` before it reallocates.
    pub fn with_capacity(items: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(items),
        }
    }

    /// Schedules a check of `what` at `at`. [`Timestamp::NEVER`] schedules nothing.
    pub fn push(&mut self, at: Timestamp, what: Wake) {
        if at != Timestamp::NEVER {
            self.heap.push(Reverse(Due { at, what }));
        }
    }

    /// The earliest scheduled check, if any.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(due)| due.at)
    }

    /// Takes the earliest check if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(due)) if due.at <= now => self.heap.pop().map(|Reverse(due)| due),
            _ => None,
        }
    }

    /// Whether leftovers of removed entries make the heap much larger than `live` items.
    pub(crate) fn needs_compaction(&self, live: usize) -> bool {
        self.heap.len() > live.saturating_mul(2).saturating_add(SLACK)
    }

    /// Replaces the contents with `items` (the live ones), in O(n), keeping the allocation.
    pub(crate) fn rebuild(&mut self, items: impl Iterator<Item = Due>) {
        let mut buffer = core::mem::take(&mut self.heap).into_vec();
        buffer.clear();
        buffer.extend(items.filter(|due| due.at != Timestamp::NEVER).map(Reverse));
        self.heap = BinaryHeap::from(buffer);
    }

    /// Number of items, live or leftover.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether `due` is queued (for consistency checks in tests).
    #[cfg(test)]
    pub(crate) fn contains(&self, due: Due) -> bool {
        self.heap.iter().any(|Reverse(item)| *item == due)
    }

    /// Heap bytes held.
    pub(crate) fn allocation_size(&self) -> usize {
        self.heap
            .capacity()
            .saturating_mul(core::mem::size_of::<Reverse<Due>>())
    }
}
