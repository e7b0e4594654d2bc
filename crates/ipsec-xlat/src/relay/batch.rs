//! Rewriting a batch of packets at once, as they come from `recvmmsg`.
//!
//! With a million entries, every packet's lookup misses the CPU caches: its index bucket, then
//! its slot, each a dependent trip to memory of 100-250 ns. One packet at a time, those trips
//! add up. A batch does each step for all its packets before the next step (group
//! prefetching): it loads every packet's index bucket, then looks every SPI up and loads every
//! slot, then decides and writes. The loading loops never branch on what they load (the
//! values only go into `black_box`, so the reads are kept), so the CPU keeps a whole chunk's
//! reads in flight at once (memory-level parallelism) and the cost per packet falls toward
//! the cost of the arithmetic. Stable Rust offers no safe prefetch instruction
//! (`_mm_prefetch` needs `unsafe` outside `#[target_feature]` code), hence plain loads. The
//! outcome is the same as [`Relay::rewrite_in_place`] on each packet in turn.

use core::array;
use core::ops::Range;

use super::action::Framing;
use super::arrival::{self, Arrival, Parsed};
use super::counters::DropReason;
use super::entry::Leg;
use super::index::Role;
use super::rewrite::Relay;
use super::time::Timestamp;

/// Packets handled together; enough to cover memory latency, small enough for the stack.
const CHUNK: usize = 32;

/// One packet of a batch: received at `buf[start..]` as `arrival` says (with up to
/// [`HEADROOM`](super::HEADROOM) bytes free before `start`); [`Relay::rewrite_batch`] fills in
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

impl Relay {
    /// Rewrites every packet of `batch` in place and sets its verdict; the same outcome as
    /// [`Relay::rewrite_in_place`] on each in turn, at a lower cost per packet.
    pub fn rewrite_batch(&mut self, now: Timestamp, batch: &mut [BatchPacket<'_>]) {
        for chunk in batch.chunks_mut(CHUNK) {
            self.rewrite_chunk(now, chunk);
        }
    }

    fn rewrite_chunk(&mut self, now: Timestamp, chunk: &mut [BatchPacket<'_>]) {
        // 1. Parse: the packets are in cache, this is arithmetic.
        let mut parsed: [Result<Parsed, DropReason>; CHUNK] =
            array::from_fn(|_| Err(DropReason::Truncated));
        for (out, packet) in parsed.iter_mut().zip(chunk.iter()) {
            let received = packet.buf.get(packet.start..).unwrap_or_default();
            *out = arrival::parse(&packet.arrival, received);
        }
        // 2. Load every packet's index bucket, in a loop short enough that the whole chunk's
        //    reads fit in the CPU's out-of-order window: nothing here branches on what is
        //    loaded, so they are all in flight together.
        let mut spis = [0u32; CHUNK];
        for (spi, parsed) in spis.iter_mut().zip(parsed.iter()) {
            *spi = parsed.as_ref().map_or(0, |parsed| parsed.spi);
        }
        let table = self.table();
        for spi in spis.iter() {
            table.prefetch_index(*spi);
        }
        // 3. Look every SPI up (its bucket is in cache or on its way), then load every slot
        //    the same way as the buckets.
        let mut roles: [Result<Role, DropReason>; CHUNK] =
            array::from_fn(|_| Err(DropReason::Truncated));
        for (out, parsed) in roles.iter_mut().zip(parsed.iter()) {
            *out = match parsed {
                Ok(parsed) => self.lookup(parsed.spi),
                Err(reason) => Err(*reason),
            };
        }
        let table = self.table();
        for role in roles.iter().flatten() {
            table.prefetch_line(role.slot, role.leg);
        }
        // 4. Decide and write each packet; its slot is in cache by now.
        for ((packet, parsed), role) in chunk.iter_mut().zip(parsed.iter()).zip(roles.iter()) {
            let received = packet.buf.get(packet.start..).unwrap_or_default();
            let plan = match (parsed, role) {
                (Ok(parsed), Ok(role)) => self.decide(parsed, *role, received),
                (Err(reason), _) | (_, Err(reason)) => Err(*reason),
            };
            packet.verdict = match plan.and_then(|plan| {
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
            };
        }
    }
}
