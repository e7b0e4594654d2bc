//! An in-memory network with the same [`PacketPort`] interface as the OS sockets, and a
//! virtual clock, so the whole driver runs in tests and the quickstart without root.
//!
//! Delivery mimics what Linux sockets deliver, so that a core tested here behaves the same on
//! real sockets: a UDP port gets the payload with the sender's address and port; an IPv4 raw
//! port gets the packet with an IPv4 header (written by the network when the sender did not
//! include one, as the kernel would); an IPv6 raw port gets the payload only.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ipsec_xlat::Timestamp;

use crate::port::{OutDatagram, PacketPort, PortKind, PortTransport, RecvBatch, RxMeta};
use crate::{IpProtocol, Leg};

/// Packets a port may have queued before further ones are dropped (a socket buffer).
pub const DEFAULT_QUEUE_LIMIT: usize = 4096;

/// First port handed out for UDP binds to port 0.
const EPHEMERAL_FIRST: u16 = 49152;

/// Counters of the in-memory network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemStats {
    /// Packets put in a receiver's queue.
    pub delivered: u64,
    /// Packets with no port bound at their destination (or malformed header-included ones).
    pub undeliverable: u64,
    /// Packets dropped because the receiver's queue was full.
    pub overflowed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Udp(IpAddr, u16),
    Ip(IpAddr, IpProtocol),
    /// Packets written by the OS side toward the endpoint's TUN port.
    TunIn(u64),
    /// Packets the endpoint wrote to its TUN port.
    TunOut(u64),
}

#[derive(Debug)]
struct Packet {
    bytes: Vec<u8>,
    remote: Option<IpAddr>,
    remote_port: u16,
    local: Option<IpAddr>,
}

#[derive(Debug)]
struct Inner {
    queues: HashMap<Key, VecDeque<Packet>>,
    elapsed: Duration,
    next_ephemeral: u16,
    next_tun: u64,
    queue_limit: usize,
    stats: MemStats,
}

/// The shared in-memory network: cheap to clone, every clone is the same network.
#[derive(Debug, Clone)]
pub struct MemNetwork {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNetwork {
    /// An empty network whose clock starts at [`Timestamp::ZERO`].
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                queues: HashMap::new(),
                elapsed: Duration::ZERO,
                next_ephemeral: EPHEMERAL_FIRST,
                next_tun: 0,
                queue_limit: DEFAULT_QUEUE_LIMIT,
                stats: MemStats::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the queues inconsistent (every update is
        // a single push or pop), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The virtual time: [`Timestamp::ZERO`] at creation plus every advance.
    pub fn now(&self) -> Timestamp {
        Timestamp::ZERO.saturating_add(self.lock().elapsed)
    }

    /// Move the virtual clock forward to `at` (never backward).
    pub fn advance_to(&self, at: Timestamp) {
        let mut inner = self.lock();
        let target = at.saturating_duration_since(Timestamp::ZERO);
        inner.elapsed = inner.elapsed.max(target);
    }

    /// Set how many packets each port may have queued.
    pub fn set_queue_limit(&self, limit: usize) {
        self.lock().queue_limit = limit;
    }

    /// The network's counters.
    pub fn stats(&self) -> MemStats {
        self.lock().stats
    }

    /// Packets queued anywhere (including TUN output not yet taken).
    pub fn queued(&self) -> usize {
        self.lock().queues.values().map(VecDeque::len).sum()
    }

    /// Bind a UDP port on `leg` at `addr` (port 0 picks a free one).
    pub fn bind_udp(&self, leg: Leg, addr: SocketAddr) -> io::Result<MemPort> {
        let mut inner = self.lock();
        let mut port = addr.port();
        if port == 0 {
            port = inner.free_port(addr.ip())?;
        }
        let key = Key::Udp(addr.ip(), port);
        inner.bind(key)?;
        Ok(MemPort {
            net: self.clone(),
            key,
            kind: PortKind::Net {
                leg,
                local: addr.ip(),
                transport: PortTransport::Udp { port },
            },
        })
    }

    /// Bind a raw IP port of `protocol` on `leg` at `local`.
    pub fn bind_raw(
        &self,
        leg: Leg,
        local: IpAddr,
        protocol: IpProtocol,
        header_included: bool,
    ) -> io::Result<MemPort> {
        let key = Key::Ip(local, protocol);
        self.lock().bind(key)?;
        Ok(MemPort {
            net: self.clone(),
            key,
            kind: PortKind::Net {
                leg,
                local,
                transport: PortTransport::Ip {
                    protocol,
                    header_included,
                },
            },
        })
    }

    /// A TUN port for an endpoint, and the handle that plays the kernel's side of it.
    pub fn tun(&self) -> (MemPort, MemTun) {
        let mut inner = self.lock();
        let id = inner.next_tun;
        inner.next_tun = inner.next_tun.wrapping_add(1);
        inner.queues.insert(Key::TunIn(id), VecDeque::new());
        inner.queues.insert(Key::TunOut(id), VecDeque::new());
        drop(inner);
        (
            MemPort {
                net: self.clone(),
                key: Key::TunIn(id),
                kind: PortKind::Tun,
            },
            MemTun {
                net: self.clone(),
                id,
            },
        )
    }
}

impl Inner {
    fn bind(&mut self, key: Key) -> io::Result<()> {
        if self.queues.contains_key(&key) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        self.queues.insert(key, VecDeque::new());
        Ok(())
    }

    fn free_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        for _ in 0..=u16::MAX {
            let candidate = self.next_ephemeral;
            self.next_ephemeral = match candidate.checked_add(1) {
                Some(next) => next,
                None => EPHEMERAL_FIRST,
            };
            if !self.queues.contains_key(&Key::Udp(ip, candidate)) {
                return Ok(candidate);
            }
        }
        Err(io::ErrorKind::AddrInUse.into())
    }

    /// Queue at `key`, or at the wildcard address of the same family.
    fn receiver(&mut self, key: Key) -> Option<&mut VecDeque<Packet>> {
        let wildcard = match key {
            Key::Udp(ip, port) => Key::Udp(unspecified_like(ip), port),
            Key::Ip(ip, protocol) => Key::Ip(unspecified_like(ip), protocol),
            other => other,
        };
        let chosen = if self.queues.contains_key(&key) {
            key
        } else {
            wildcard
        };
        self.queues.get_mut(&chosen)
    }

    fn deliver(&mut self, key: Key, packet: Packet) {
        let limit = self.queue_limit;
        let outcome = match self.receiver(key) {
            None => Err(()),
            Some(queue) if queue.len() >= limit => Ok(false),
            Some(queue) => {
                queue.push_back(packet);
                Ok(true)
            }
        };
        match outcome {
            Err(()) => self.stats.undeliverable = self.stats.undeliverable.saturating_add(1),
            Ok(false) => self.stats.overflowed = self.stats.overflowed.saturating_add(1),
            Ok(true) => self.stats.delivered = self.stats.delivered.saturating_add(1),
        }
    }
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// One port on a [`MemNetwork`]; unbinds when dropped.
#[derive(Debug)]
pub struct MemPort {
    net: MemNetwork,
    key: Key,
    kind: PortKind,
}

impl MemPort {
    /// The bound address and port (port 0 for raw IP), or `None` for a TUN port.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self.key {
            Key::Udp(ip, port) => Some(SocketAddr::new(ip, port)),
            Key::Ip(ip, _) => Some(SocketAddr::new(ip, 0)),
            Key::TunIn(_) | Key::TunOut(_) => None,
        }
    }

    /// What one datagram from this port becomes at its receiver.
    fn route(&self, datagram: &OutDatagram<'_>) -> Option<(Key, Packet)> {
        match (self.key, self.kind) {
            (Key::TunIn(id), _) => Some((
                Key::TunOut(id),
                Packet {
                    bytes: datagram.bytes.to_vec(),
                    remote: None,
                    remote_port: 0,
                    local: None,
                },
            )),
            (Key::Udp(local, local_port), _) => Some((
                Key::Udp(datagram.remote, datagram.remote_port),
                Packet {
                    bytes: datagram.bytes.to_vec(),
                    remote: Some(local),
                    remote_port: local_port,
                    local: Some(datagram.remote),
                },
            )),
            (
                Key::Ip(local, protocol),
                PortKind::Net {
                    transport:
                        PortTransport::Ip {
                            header_included, ..
                        },
                    ..
                },
            ) => raw_delivery(local, protocol, header_included, datagram),
            _ => None,
        }
    }
}

/// What a raw IP receiver gets, as Linux delivers it.
fn raw_delivery(
    local: IpAddr,
    protocol: IpProtocol,
    header_included: bool,
    datagram: &OutDatagram<'_>,
) -> Option<(Key, Packet)> {
    let bytes = datagram.bytes;
    let (source, protocol, delivered) = match (local, header_included) {
        (IpAddr::V4(src), false) => {
            let IpAddr::V4(dst) = datagram.remote else {
                return None;
            };
            (
                IpAddr::V4(src),
                protocol,
                ipv4_with_header(src, dst, protocol, bytes)?,
            )
        }
        (IpAddr::V4(_), true) => {
            let src: [u8; 4] = bytes.get(12..16)?.try_into().ok()?;
            let proto = *bytes.get(9)?;
            (IpAddr::from(src), IpProtocol(proto), bytes.to_vec())
        }
        (IpAddr::V6(_), false) => (local, protocol, bytes.to_vec()),
        (IpAddr::V6(_), true) => {
            let src: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            let proto = *bytes.get(6)?;
            (
                IpAddr::from(src),
                IpProtocol(proto),
                bytes.get(40..)?.to_vec(),
            )
        }
    };
    Some((
        Key::Ip(datagram.remote, protocol),
        Packet {
            bytes: delivered,
            remote: Some(source),
            remote_port: 0,
            local: Some(datagram.remote),
        },
    ))
}

/// A 20-byte IPv4 header (DF set, TTL 64) in front of `payload`, as the kernel writes it.
fn ipv4_with_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let total = u16::try_from(payload.len().checked_add(20)?).ok()?;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol.0, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = internet_checksum(&packet);
    if let Some(field) = packet.get_mut(10..12) {
        field.copy_from_slice(&checksum.to_be_bytes());
    }
    packet.extend_from_slice(payload);
    Some(packet)
}

/// RFC 1071 checksum.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = match pair {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            [hi] => u16::from_be_bytes([*hi, 0]),
            _ => 0,
        };
        sum = sum.wrapping_add(u32::from(word));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff).wrapping_add(sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

impl PacketPort for MemPort {
    fn kind(&self) -> PortKind {
        self.kind
    }

    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let mut inner = self.net.lock();
        let queue = inner
            .queues
            .get_mut(&self.key)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let (slots, metas) = batch.slots_mut();
        let mut count = 0usize;
        for (slot, meta) in slots.zip(metas.iter_mut()) {
            let Some(packet) = queue.pop_front() else {
                break;
            };
            let copied = packet.bytes.len().min(slot.len());
            if let (Some(dst), Some(src)) = (slot.get_mut(..copied), packet.bytes.get(..copied)) {
                dst.copy_from_slice(src);
            }
            *meta = RxMeta {
                len: copied,
                remote: packet.remote,
                remote_port: packet.remote_port,
                local: packet.local,
                truncated: copied < packet.bytes.len(),
            };
            count = count.saturating_add(1);
        }
        if count == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(count)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        let mut inner = self.net.lock();
        for datagram in datagrams {
            match self.route(datagram) {
                Some((key, packet)) => inner.deliver(key, packet),
                None => inner.stats.undeliverable = inner.stats.undeliverable.saturating_add(1),
            }
        }
        Ok(datagrams.len())
    }

    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    fn is_readable_now(&self) -> bool {
        self.net
            .lock()
            .queues
            .get(&self.key)
            .is_some_and(|queue| !queue.is_empty())
    }
}

impl Drop for MemPort {
    fn drop(&mut self) {
        let mut inner = self.net.lock();
        inner.queues.remove(&self.key);
        if let Key::TunIn(id) = self.key {
            inner.queues.remove(&Key::TunOut(id));
        }
    }
}

/// The kernel's side of an in-memory TUN port: inject packets toward the endpoint and take
/// the packets the endpoint wrote.
#[derive(Debug)]
pub struct MemTun {
    net: MemNetwork,
    id: u64,
}

impl MemTun {
    /// Queue an inner packet for the endpoint to read from its TUN port.
    pub fn inject(&self, packet: &[u8]) {
        self.net.lock().deliver(
            Key::TunIn(self.id),
            Packet {
                bytes: packet.to_vec(),
                remote: None,
                remote_port: 0,
                local: None,
            },
        );
    }

    /// The oldest packet the endpoint wrote to its TUN port.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.net
            .lock()
            .queues
            .get_mut(&Key::TunOut(self.id))?
            .pop_front()
            .map(|packet| packet.bytes)
    }
}
