//! The event loop: moves packets between ports and an [`Endpoint`], and time into it.

use ipsec_xlat::Timestamp;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use crate::port::{OutDatagram, PacketPort, PortKind, PortTransport, RecvBatch, RxMeta};
use crate::reactor::{Reactor, ShutdownHandle};
use crate::sys::control::{ControlSocket, Controllable};
use crate::Endpoint;
use crate::{NetPath, Path, Received, Transport};

/// Sizes and fairness bounds of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// Packets per `recvmmsg`/`sendmmsg`.
    pub batch_size: usize,
    /// Bytes per packet buffer; 65 536 holds any IP packet, so nothing is ever truncated.
    pub slot_size: usize,
    /// Receive batches taken from one port per turn before the others get theirs.
    pub max_batches_per_port: usize,
    /// Transmits taken from the endpoint per turn before receiving again.
    pub max_transmits_per_turn: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            slot_size: 65_536,
            max_batches_per_port: 8,
            max_transmits_per_turn: 4096,
        }
    }
}

/// What the loop did and dropped. Every dropped packet is counted under one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// Packets handed to the endpoint.
    pub rx_packets: u64,
    /// Receive calls that returned packets.
    pub rx_batches: u64,
    /// Received packets dropped because they did not fit a buffer.
    pub rx_truncated: u64,
    /// Received packets dropped because the kernel gave no sender address.
    pub rx_unaddressed: u64,
    /// Receive calls that failed (e.g. ICMP errors reported on a UDP socket).
    pub rx_errors: u64,
    /// Packets the kernel accepted.
    pub tx_packets: u64,
    /// Send calls that sent something.
    pub tx_batches: u64,
    /// Transmits with no matching port (leg, family, transport, local address).
    pub tx_unroutable: u64,
    /// Transmits longer than the buffer the endpoint was given.
    pub tx_oversize: u64,
    /// Transmits dropped because the socket buffer was full.
    pub tx_would_block: u64,
    /// Transmits the kernel refused (unreachable, too big, not permitted, ...).
    pub tx_errors: u64,
    /// Calls to `handle_timeout`.
    pub timeouts: u64,
    /// Reloads requested by SIGHUP.
    pub reloads: u64,
}

/// Why [`Driver::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGINT, SIGTERM or a [`ShutdownHandle`].
    Shutdown,
    /// The endpoint reported [`Endpoint::is_drained`].
    Drained,
    /// In-memory only: no packet queued and no deadline, so nothing can happen any more.
    Idle,
}

/// A packet taken from the endpoint, waiting in the transmit buffer.
#[derive(Debug, Clone, Copy)]
struct TxEntry {
    port: usize,
    len: usize,
    remote: IpAddr,
    remote_port: u16,
}

/// Runs one [`Endpoint`] over a set of ports, single-threaded.
pub struct Driver<R: Reactor> {
    reactor: R,
    ports: Vec<Box<dyn PacketPort>>,
    kinds: Vec<PortKind>,
    config: DriverConfig,
    rx: RecvBatch,
    tx_storage: Vec<u8>,
    tx: Vec<TxEntry>,
    /// Ports to read in the next turn: reported readable, or left with data last turn.
    to_read: Vec<bool>,
    /// Scratch list the reactor fills with readable port indices.
    ready: Vec<usize>,
    more_work: bool,
    stats: DriverStats,
}

impl<R: Reactor> core::fmt::Debug for Driver<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("ports", &self.kinds)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: Reactor> Driver<R> {
    /// A driver over `ports`, registered with `reactor`.
    pub fn new(
        mut reactor: R,
        ports: Vec<Box<dyn PacketPort>>,
        config: DriverConfig,
    ) -> io::Result<Self> {
        for (index, port) in ports.iter().enumerate() {
            reactor.register(index, port.as_ref())?;
        }
        let batch = config.batch_size.max(1);
        let slot = config.slot_size.max(1);
        let ports_len = ports.len();
        Ok(Self {
            reactor,
            kinds: ports.iter().map(|port| port.kind()).collect(),
            ports,
            config,
            rx: RecvBatch::new(batch, slot),
            tx_storage: vec![0; batch.saturating_mul(slot)],
            tx: Vec::with_capacity(batch),
            to_read: vec![true; ports_len],
            ready: Vec::new(),
            more_work: false,
            stats: DriverStats::default(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// What each port carries, in port order (for logs and for finding bound ports).
    pub fn port_kinds(&self) -> &[PortKind] {
        &self.kinds
    }

    /// The reactor (its clock, for instance).
    pub fn reactor(&self) -> &R {
        &self.reactor
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.reactor.shutdown_handle()
    }

    /// Run until shutdown, the endpoint drains, or (in memory) nothing can happen any more.
    /// `on_reload` is called with the endpoint on SIGHUP; the relay's daemon re-reads its
    /// identification table there (see [`crate::config::RelayConfig::reload`]).
    pub fn run<E: Endpoint>(
        &mut self,
        endpoint: &mut E,
        on_reload: impl FnMut(&mut E),
    ) -> io::Result<Exit> {
        self.run_loop(endpoint, on_reload, None::<&mut NoControl>)
    }

    /// [`run`](Self::run), also serving a control socket (the client daemon's): the loop
    /// waits on it like on a port, reads its requests when it is readable, and after every
    /// turn answers the requests whose outcome the turn brought. No thread: a command runs
    /// between two turns, like a received packet. Registers the socket with the reactor, so
    /// call it once per driver and socket (an OS reactor refuses a second registration).
    pub fn run_with_control<E: Endpoint + Controllable>(
        &mut self,
        endpoint: &mut E,
        on_reload: impl FnMut(&mut E),
        control: &mut ControlSocket<E::Ticket>,
    ) -> io::Result<Exit> {
        self.reactor
            .register_fd(self.ports.len(), control.raw_fd())?;
        self.run_loop(endpoint, on_reload, Some(control))
    }

    fn run_loop<E: Endpoint, C: ControlSource<E>>(
        &mut self,
        endpoint: &mut E,
        mut on_reload: impl FnMut(&mut E),
        mut control: Option<&mut C>,
    ) -> io::Result<Exit> {
        let control_index = self.ports.len();
        // The first turn reads every port; later ones only those the reactor reported.
        self.to_read.iter_mut().for_each(|flag| *flag = true);
        let mut control_ready = true;
        loop {
            if let Some(control) = control.as_deref_mut() {
                if control_ready {
                    control.receive(self.reactor.now(), endpoint);
                }
            }
            self.turn_marked(endpoint);
            if let Some(control) = control.as_deref_mut() {
                control.resolve(self.reactor.now(), endpoint);
            }
            if endpoint.is_drained() {
                return Ok(Exit::Drained);
            }
            self.ready.clear();
            let wake = self.reactor.wait(
                &self.ports,
                endpoint.poll_timeout(),
                self.more_work,
                &mut self.ready,
            )?;
            control_ready = false;
            for &index in &self.ready {
                if index == control_index {
                    control_ready = true;
                } else if let Some(flag) = self.to_read.get_mut(index) {
                    *flag = true;
                }
            }
            if wake.reload {
                self.stats.reloads = self.stats.reloads.saturating_add(1);
                tracing::info!("reload requested");
                on_reload(endpoint);
            }
            if wake.shutdown {
                tracing::info!("shutdown requested");
                return Ok(Exit::Shutdown);
            }
            if wake.idle {
                return Ok(Exit::Idle);
            }
        }
    }

    /// One turn without waiting: receive what is there, fire a due timer, send everything the
    /// endpoint has. Harnesses that step several endpoints on one in-memory network call this
    /// directly.
    pub fn turn<E: Endpoint>(&mut self, endpoint: &mut E) {
        self.to_read.iter_mut().for_each(|flag| *flag = true);
        self.turn_marked(endpoint);
    }

    /// A turn that reads only the ports marked in `to_read`.
    fn turn_marked<E: Endpoint>(&mut self, endpoint: &mut E) {
        let now = self.reactor.now();
        self.more_work = false;
        for index in 0..self.ports.len() {
            if self.to_read.get(index).copied().unwrap_or(false) {
                self.receive_from(index, now, endpoint);
            }
        }
        if endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.stats.timeouts = self.stats.timeouts.saturating_add(1);
            endpoint.handle_timeout(now);
        }
        self.transmit(now, endpoint);
    }

    fn receive_from<E: Endpoint>(&mut self, index: usize, now: Timestamp, endpoint: &mut E) {
        let Some(kind) = self.kinds.get(index).copied() else {
            return;
        };
        if let Some(flag) = self.to_read.get_mut(index) {
            *flag = false;
        }
        let capacity = self.rx.capacity();
        let max_batches = self.config.max_batches_per_port.max(1);
        for batch_number in 1..=max_batches {
            let Some(port) = self.ports.get_mut(index) else {
                return;
            };
            let count = match port.recv_batch(&mut self.rx) {
                Ok(count) => count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.stats.rx_errors = self.stats.rx_errors.saturating_add(1);
                    tracing::debug!(?kind, error = %e, "receive failed");
                    continue;
                }
            };
            self.stats.rx_batches = self.stats.rx_batches.saturating_add(1);
            for i in 0..count {
                let Some((meta, bytes)) = self.rx.get(i) else {
                    break;
                };
                if meta.truncated {
                    self.stats.rx_truncated = self.stats.rx_truncated.saturating_add(1);
                    continue;
                }
                let Some(rx) = received(kind, meta) else {
                    self.stats.rx_unaddressed = self.stats.rx_unaddressed.saturating_add(1);
                    continue;
                };
                self.stats.rx_packets = self.stats.rx_packets.saturating_add(1);
                endpoint.handle_datagram(now, &rx, bytes);
            }
            // Send what the batch produced before reading more, so the endpoint's queue stays
            // bounded by about one batch.
            self.transmit(now, endpoint);
            if count < capacity {
                return;
            }
            if batch_number == max_batches {
                // The port may hold more; edge-triggered readiness will not say so again.
                self.more_work = true;
                if let Some(flag) = self.to_read.get_mut(index) {
                    *flag = true;
                }
            }
        }
    }

    fn transmit<E: Endpoint>(&mut self, now: Timestamp, endpoint: &mut E) {
        let slot_size = self.rx.slot_size();
        let mut produced = 0usize;
        loop {
            if produced >= self.config.max_transmits_per_turn {
                self.more_work = true;
                break;
            }
            if self.tx.len() >= self.rx.capacity() {
                self.flush();
            }
            let start = self.tx.len().saturating_mul(slot_size);
            let Some(slot) = self
                .tx_storage
                .get_mut(start..start.saturating_add(slot_size))
            else {
                break;
            };
            let Some(transmit) = endpoint.poll_transmit(now, slot) else {
                break;
            };
            produced = produced.saturating_add(1);
            if transmit.len > slot_size {
                self.stats.tx_oversize = self.stats.tx_oversize.saturating_add(1);
                continue;
            }
            match route(&self.kinds, &transmit.path) {
                Some((port, remote, remote_port)) => self.tx.push(TxEntry {
                    port,
                    len: transmit.len,
                    remote,
                    remote_port,
                }),
                None => {
                    self.stats.tx_unroutable = self.stats.tx_unroutable.saturating_add(1);
                    tracing::debug!(path = ?transmit.path, "no port for transmit");
                }
            }
        }
        self.flush();
    }

    /// Send the buffered transmits, one batch per run of consecutive same-port entries.
    fn flush(&mut self) {
        let slot_size = self.rx.slot_size();
        let mut rest: &[TxEntry] = &self.tx;
        let mut slot_base = 0usize;
        while let Some(first) = rest.first() {
            let run = rest
                .iter()
                .take_while(|entry| entry.port == first.port)
                .count();
            let (group, tail) = rest.split_at(run);
            let datagrams: Vec<OutDatagram<'_>> = group
                .iter()
                .enumerate()
                .filter_map(|(offset, entry)| {
                    let start = slot_base.saturating_add(offset).saturating_mul(slot_size);
                    let bytes = self
                        .tx_storage
                        .get(start..start.saturating_add(entry.len))?;
                    Some(OutDatagram {
                        bytes,
                        remote: entry.remote,
                        remote_port: entry.remote_port,
                    })
                })
                .collect();
            if let Some(port) = self.ports.get_mut(first.port) {
                send_all(port.as_mut(), &datagrams, &mut self.stats);
            }
            slot_base = slot_base.saturating_add(run);
            rest = tail;
        }
        self.tx.clear();
    }
}

/// A control channel as the loop drives it: requests read when readable, waiting ones
/// answered after every turn.
trait ControlSource<E> {
    fn receive(&mut self, now: Timestamp, endpoint: &mut E);
    fn resolve(&mut self, now: Timestamp, endpoint: &mut E);
}

impl<E: Controllable> ControlSource<E> for ControlSocket<E::Ticket> {
    fn receive(&mut self, now: Timestamp, endpoint: &mut E) {
        self.receive_requests(now, endpoint);
    }

    fn resolve(&mut self, now: Timestamp, endpoint: &mut E) {
        self.resolve_waiting(now, endpoint);
    }
}

/// No control channel (the plain [`Driver::run`]).
enum NoControl {}

impl<E> ControlSource<E> for NoControl {
    fn receive(&mut self, _: Timestamp, _: &mut E) {
        match *self {}
    }

    fn resolve(&mut self, _: Timestamp, _: &mut E) {
        match *self {}
    }
}

/// Send `datagrams` through `port`, skipping ones the kernel refuses and dropping the rest
/// when the socket buffer is full (datagram semantics: IKE retransmits, IPsec tolerates loss).
fn send_all(port: &mut dyn PacketPort, datagrams: &[OutDatagram<'_>], stats: &mut DriverStats) {
    let mut remaining = datagrams;
    while !remaining.is_empty() {
        match port.send_batch(remaining) {
            Ok(0) => {
                stats.tx_would_block = stats.tx_would_block.saturating_add(len_u64(remaining));
                return;
            }
            Ok(sent) => {
                stats.tx_packets = stats.tx_packets.saturating_add(len_u64_n(sent));
                stats.tx_batches = stats.tx_batches.saturating_add(1);
                remaining = remaining.get(sent..).unwrap_or_default();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stats.tx_would_block = stats.tx_would_block.saturating_add(len_u64(remaining));
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                stats.tx_errors = stats.tx_errors.saturating_add(1);
                tracing::debug!(error = %e, kind = ?port.kind(), "send failed");
                remaining = remaining.get(1..).unwrap_or_default();
            }
        }
    }
}

fn len_u64(items: &[OutDatagram<'_>]) -> u64 {
    len_u64_n(items.len())
}

fn len_u64_n(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The path of a packet received on a port of `kind`, or `None` when a network packet came
/// without a sender address.
fn received(kind: PortKind, meta: &RxMeta) -> Option<Received> {
    let path = match kind {
        PortKind::Tun => Path::Tun,
        PortKind::Net {
            leg,
            local,
            transport,
        } => {
            let remote = meta.remote?;
            let transport = match transport {
                PortTransport::Udp { port } => Transport::Udp {
                    local_port: port,
                    remote_port: meta.remote_port,
                },
                PortTransport::Ip { protocol, .. } => Transport::Ip {
                    protocol,
                    // Linux hands IPv4 raw sockets the header, IPv6 ones never (RFC 3542).
                    header_included: remote.is_ipv4(),
                },
            };
            Path::Net(NetPath {
                leg,
                local: meta.local.unwrap_or(local),
                remote,
                transport,
            })
        }
    };
    Some(Received { path })
}

/// The port a transmit leaves by: same leg, address family and transport; the local address
/// equal, or a wildcard on either side. Exact address and protocol matches win.
fn route(kinds: &[PortKind], path: &Path) -> Option<(usize, IpAddr, u16)> {
    let want = match path {
        Path::Tun => {
            let index = kinds.iter().position(|kind| *kind == PortKind::Tun)?;
            return Some((index, IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        }
        Path::Net(want) => want,
    };
    let mut best: Option<(u8, usize)> = None;
    for (index, kind) in kinds.iter().enumerate() {
        let PortKind::Net {
            leg,
            local,
            transport,
        } = *kind
        else {
            continue;
        };
        if leg != want.leg || local.is_ipv4() != want.remote.is_ipv4() {
            continue;
        }
        let protocol_exact = match (transport, want.transport) {
            (PortTransport::Udp { port }, Transport::Udp { local_port, .. }) => {
                if port != local_port {
                    continue;
                }
                true
            }
            (
                PortTransport::Ip {
                    protocol,
                    header_included,
                },
                Transport::Ip {
                    protocol: wanted,
                    header_included: wanted_header,
                },
            ) => {
                // A header-included socket sends any protocol: the header names it.
                if header_included != wanted_header || (protocol != wanted && !wanted_header) {
                    continue;
                }
                protocol == wanted
            }
            _ => continue,
        };
        let address_exact = local == want.local;
        if !address_exact && !local.is_unspecified() && !want.local.is_unspecified() {
            continue;
        }
        let score = (u8::from(address_exact) << 1) | u8::from(protocol_exact);
        if best.is_none_or(|(best_score, _)| score > best_score) {
            best = Some((score, index));
        }
    }
    let (_, index) = best?;
    let remote_port = match want.transport {
        Transport::Udp { remote_port, .. } => remote_port,
        Transport::Ip { .. } => 0,
    };
    Some((index, want.remote, remote_port))
}
