//! Rewriting a batch of packets at once, as they come from `recvmmsg`.
//!
//! With a million entries, every packet's lookup misses the CPU caches (and, with 4 KiB pages,
//! the TLB): its index bucket, then its leg's line, each a dependent trip to memory of
//! 100-300 ns. One packet at a time, those trips add up. A batch does each step for all its
//! packets before the next step (group prefetching): it peeks at every packet and prefetches
//! its index bucket, then looks every SPI up and prefetches the line, then forwards each packet
//! from its line. The prefetches (`prefetch-index`, a safe wrapper of the CPU's prefetch
//! instruction; the core forbids `unsafe`) do not wait for memory, so a whole chunk's reads
//! are in flight at once and the cost per packet falls toward the cost of the arithmetic.
//! Packets the fast path does not take (see `fast`) go through the general path one by one.
//! The outcome is the same as [`Datapath::rewrite_in_place`] on each packet in turn.

use core::ops::Range;

use super::action::Framing;
use super::arrival::Arrival;
use super::counters::DropReason;
use super::fast::{self, Peek};
use super::index::Role;
use super::rewrite::Datapath;
use crate::net::Leg;
use crate::time::Timestamp;

/// Packets handled together; enough to cover memory latency, small enough for the stack.
const CHUNK: usize = 32;

/// One packet of a batch: received at `buf[start..]` as `arrival` says (with up to
/// [`HEADROOM`](super::HEADROOM) bytes free before `start`); [`Datapath::rewrite_batch`] fills in
/// `verdict`.
#[derive(Debug)]
pub struct BatchPacket<'b> {
    /// How it arrived.
    pub arrival: Arrival,
    /// The caller's buffer.
    pub buf: &'b mut [u8],
    /// Where the received bytes start in `buf`.
    pub start: usize,
    /// What to do with it.
    pub verdict: Verdict,
}

/// What became of a packet of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not processed yet.
    Pending,
    /// Send `buf[range]` out of `leg`, framed as `framing` says.
    Forward {
        /// The leg it leaves by.
        leg: Leg,
        /// How to send it.
        framing: Framing,
        /// Where the outgoing bytes are in the packet's buffer.
        range: Range<usize>,
    },
    /// Dropped (and counted) for this reason.
    Drop(DropReason),
}

impl<'b> BatchPacket<'b> {
    /// A packet received at `buf[start..]`, not yet processed.
    pub fn new(arrival: Arrival, buf: &'b mut [u8], start: usize) -> Self {
        Self {
            arrival,
            buf,
            start,
            verdict: Verdict::Pending,
        }
    }
}

impl Datapath {
    /// Rewrites every packet of `batch` in place and sets its verdict; the same outcome as
    /// [`Datapath::rewrite_in_place`] on each in turn, at a lower cost per packet.
    pub fn rewrite_batch(&mut self, now: Timestamp, batch: &mut [BatchPacket<'_>]) {
        for chunk in batch.chunks_mut(CHUNK) {
            self.rewrite_chunk(now, chunk);
        }
    }

    fn rewrite_chunk(&mut self, now: Timestamp, chunk: &mut [BatchPacket<'_>]) {
        // 1. Peek at every packet (in cache: arithmetic) and prefetch the index bucket of each
        //    the fast path may take.
        let mut peeks: [Option<Peek>; CHUNK] = [None; CHUNK];
        for (peek, packet) in peeks.iter_mut().zip(chunk.iter()) {
            let received = packet.buf.get(packet.start..).unwrap_or_default();
            *peek = fast::peek(&packet.arrival, received);
            if let Some(peek) = peek {
                self.table().prefetch_index(peek.spi);
            }
        }
        // 2. Look every SPI up (its bucket is in cache or on its way) and prefetch the line
        //    of the leg it arrived on.
        let mut roles: [Option<Role>; CHUNK] = [None; CHUNK];
        for (role, peek) in roles.iter_mut().zip(peeks.iter()) {
            *role = peek.and_then(|peek| self.table().find_live(peek.spi));
            if let Some(role) = role {
                self.table().prefetch_line(role.slot, role.leg);
            }
        }
        // 3. Decide and write each packet: by the fast path, its line in cache by now, or by
        //    the general path.
        for ((packet, peek), role) in chunk.iter_mut().zip(peeks.iter()).zip(roles.iter()) {
            if let (Some(peek), Some(role)) = (peek, role) {
                if let Some((range, leg, framing)) =
                    self.fast_forward(now, peek, *role, packet.buf, packet.start)
                {
                    packet.verdict = Verdict::Forward {
                        leg,
                        framing,
                        range,
                    };
                    continue;
                }
            }
            packet.verdict = self.general_verdict(now, packet);
        }
    }

    /// The general path's verdict on one packet of a batch (out of line: the fast loop stays
    /// small).
    #[inline(never)]
    fn general_verdict(&mut self, now: Timestamp, packet: &mut BatchPacket<'_>) -> Verdict {
        let received = packet.buf.get(packet.start..).unwrap_or_default();
        match self
            .general_plan(&packet.arrival, received)
            .and_then(|plan| {
                let range = plan
                    .region_in_place(packet.start)
                    .ok_or(DropReason::BufferTooSmall)?;
                let region = packet
                    .buf
                    .get_mut(range.clone())
                    .ok_or(DropReason::BufferTooSmall)?;
                let (leg, framing) = self.finish(now, plan, region)?;
                Ok(Verdict::Forward {
                    leg,
                    framing,
                    range,
                })
            }) {
            Ok(verdict) => verdict,
            Err(reason) => {
                self.count_drop(reason);
                Verdict::Drop(reason)
            }
        }
    }
}
