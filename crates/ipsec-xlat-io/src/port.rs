//! The packet-port trait: one socket or TUN device, as the driver sees it.
//!
//! OS sockets ([`crate::sys::OsSocket`]), the TUN device ([`crate::sys::TunPort`]) and the
//! in-memory network ([`crate::mem`]) all implement [`PacketPort`], so the same
//! [`crate::Driver`] runs over real sockets in production and over memory in tests.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

use crate::{IpProtocol, Leg};

/// What a port carries, fixed when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    /// A socket on a leg.
    Net {
        /// Its leg.
        leg: Leg,
        /// The address it is bound to (possibly unspecified).
        local: IpAddr,
        /// Its transport.
        transport: PortTransport,
    },
    /// A TUN device.
    Tun,
}

/// The transport of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortTransport {
    /// A UDP socket bound to `port`.
    Udp {
        /// The bound port (the real one, also when 0 was asked for).
        port: u16,
    },
    /// A raw IP socket of `protocol`.
    Ip {
        /// Its protocol.
        protocol: IpProtocol,
        /// Whether it sends with `IP_HDRINCL`/`IPV6_HDRINCL`.
        header_included: bool,
    },
}

/// Metadata of one received packet in a [`RecvBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// Bytes received into the slot.
    pub len: usize,
    /// Sender address (unspecified for TUN).
    pub remote: Option<IpAddr>,
    /// Sender port (0 for raw IP and TUN).
    pub remote_port: u16,
    /// Destination address from `IP_PKTINFO`/`IPV6_PKTINFO`, when the kernel gave it.
    pub local: Option<IpAddr>,
    /// The packet was longer than the slot and was cut.
    pub truncated: bool,
}

/// Caller-owned receive buffers: `capacity` slots of `slot_size` bytes and their metadata.
/// Allocated once per driver and reused for every batch.
#[derive(Debug)]
pub struct RecvBatch {
    storage: Vec<u8>,
    meta: Vec<RxMeta>,
    slot_size: usize,
}

impl RecvBatch {
    /// `capacity` slots (at least 1) of `slot_size` bytes (at least 1).
    pub fn new(capacity: usize, slot_size: usize) -> Self {
        let capacity = capacity.max(1);
        let slot_size = slot_size.max(1);
        Self {
            storage: vec![0; capacity.saturating_mul(slot_size)],
            meta: vec![RxMeta::default(); capacity],
            slot_size,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Size of each slot.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The slots and their metadata, for a port to fill; slot `i` pairs with `meta[i]`.
    pub fn slots_mut(&mut self) -> (std::slice::ChunksExactMut<'_, u8>, &mut [RxMeta]) {
        (
            self.storage.chunks_exact_mut(self.slot_size),
            &mut self.meta,
        )
    }

    /// Received packet `i` (after a port reported at least `i + 1` packets).
    pub fn get(&self, i: usize) -> Option<(&RxMeta, &[u8])> {
        let meta = self.meta.get(i)?;
        let start = i.checked_mul(self.slot_size)?;
        let len = meta.len.min(self.slot_size);
        let bytes = self.storage.get(start..start.checked_add(len)?)?;
        Some((meta, bytes))
    }
}

/// One packet to send through a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutDatagram<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Destination address (ignored by TUN).
    pub remote: IpAddr,
    /// Destination port (UDP only).
    pub remote_port: u16,
}

/// A socket or TUN device the driver reads from and writes to. Non-blocking: an empty receive
/// or a full send buffer is `Err(WouldBlock)`.
pub trait PacketPort: Send {
    /// What this port carries.
    fn kind(&self) -> PortKind;

    /// Receive up to `batch.capacity()` packets; `Ok(n)` filled slots `0..n` (n ≥ 1).
    /// `Err(WouldBlock)` when nothing is waiting.
    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize>;

    /// Send packets in order, as `sendmmsg` does: `Ok(n)` (n ≥ 1) when the first `n` were
    /// sent; `Err` when the first one failed (the caller skips it or gives up on the rest).
    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize>;

    /// The file descriptor to wait on, or `None` for ports that need no OS readiness (memory).
    fn raw_fd(&self) -> Option<RawFd>;

    /// For ports without a file descriptor: whether a receive would return something now.
    /// The in-memory reactor waits on this; OS ports keep the default.
    fn is_readable_now(&self) -> bool {
        false
    }
}
