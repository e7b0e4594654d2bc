//! Rewriting a batch of packets at once, as they come from `recvmmsg`.
//!
//! With a million entries, every packet's lookup misses the CPU caches: the index's control
//! bytes, its bucket, then the entry, each a dependent trip to memory of ~100 ns or more. One
//! packet at a time, those trips add up. A batch does each step for all its packets before the
//! next step, in short loops whose iterations do not depend on each other, so the CPU keeps
//! many of those trips in flight at once (memory-level parallelism) and the cost per packet
//! falls toward the cost of the arithmetic. The outcome is the same as
//! [`Relay::rewrite_in_place`] on each packet in turn.

use core::array;
use core::ops::Range;

use super::action::Framing;
use super::arrival::{self, Arrival, Parsed};
use super::counters::DropReason;
use super::decide::{decide, Route};
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
        // 2. Look every SPI up, then copy out what the packet path needs of each entry: two
        //    short loops of independent cache misses, which the CPU keeps in flight together.
        let mut roles: [Result<Role, DropReason>; CHUNK] =
            array::from_fn(|_| Err(DropReason::Truncated));
        for (out, parsed) in roles.iter_mut().zip(parsed.iter()) {
            *out = match parsed {
                Ok(parsed) => self.lookup(parsed.spi),
                Err(reason) => Err(*reason),
            };
        }
        let mut found: [Result<(Role, Route), DropReason>; CHUNK] =
            array::from_fn(|_| Err(DropReason::Truncated));
        for (out, role) in found.iter_mut().zip(roles.iter()) {
            *out = role.and_then(|role| Ok((role, self.route(role)?)));
        }
        // 3. Decide and write each packet; its entry is in cache by now.
        for ((packet, parsed), found) in chunk.iter_mut().zip(parsed.iter()).zip(found.iter()) {
            let received = packet.buf.get(packet.start..).unwrap_or_default();
            let plan = match (parsed, found) {
                (Ok(parsed), Ok((role, route))) => decide(parsed, *role, route.as_ref(), received),
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
