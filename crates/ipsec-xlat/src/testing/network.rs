//! The simulated network itself: nodes, the clock, datagrams in flight, and the run loop.

use core::any::Any;
use core::cmp::Reverse;
use core::net::IpAddr;
use core::time::Duration;
use std::collections::BinaryHeap;

use super::route::{delivery, Nat};
use crate::net::{Endpoint, Leg, NetPath, Path, Received, Transport};
use crate::time::Timestamp;

/// The largest datagram a node may write in one [`Endpoint::poll_transmit`]: an IP packet.
const MAX_DATAGRAM: usize = 65_535;

/// The hook deciding each datagram's [`Fate`].
type Impairment = Box<dyn FnMut(&InFlight) -> Fate>;

/// A node of the network, as [`Network::add_node`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

/// What becomes of a datagram put on the wire (see [`Network::set_impairment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Arrives after the link's latency.
    Deliver,
    /// Lost.
    Drop,
    /// Arrives twice, the copy right after the original.
    Duplicate,
    /// Arrives this much later than it otherwise would (reordering, a slow path).
    Delay(Duration),
    /// Arrives on time with the byte at `at` (modulo the length) XORed with `mask`: damage
    /// in transit that no checksum caught, which the receiver's own integrity checks must
    /// refuse. An empty datagram arrives unchanged.
    Corrupt {
        /// Which byte, modulo the datagram's length (so any number names a byte).
        at: usize,
        /// The bits flipped.
        mask: u8,
    },
}

/// A datagram on the simulated wire, as the impairment hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its number in the order datagrams were sent, from 0: "drop the third one" is `seq == 2`.
    pub seq: u64,
    /// The sender.
    pub from: NodeId,
    /// The node owning the destination address.
    pub to: NodeId,
    /// Source address on the wire (after any NAT).
    pub src: IpAddr,
    /// Destination address on the wire.
    pub dst: IpAddr,
    /// UDP ports from the sender's side (after any NAT), or raw IP.
    pub transport: Transport,
    /// The bytes: a UDP payload, or an IP payload / packet for raw IP.
    pub bytes: Vec<u8>,
    /// When it arrives.
    pub deliver_at: Timestamp,
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.deliver_at, self.seq).cmp(&(other.deliver_at, other.seq))
    }
}

/// How long [`Network::run_until`] may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimit {
    /// Loop turns at most (each delivers what is due, fires due timers and polls every node).
    pub steps: usize,
    /// Virtual time not to pass.
    pub until: Timestamp,
}

impl RunLimit {
    /// At most `duration` of virtual time from `now`, and a generous step bound.
    pub fn for_duration(now: Timestamp, duration: Duration) -> Self {
        Self {
            steps: 1_000_000,
            until: now.saturating_add(duration),
        }
    }
}

/// Why [`Network::run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The condition held.
    Done,
    /// Nothing in flight and no node has a timer: nothing will ever happen again.
    Idle,
    /// [`RunLimit::steps`] turns were taken.
    StepLimit,
    /// The clock reached [`RunLimit::until`].
    TimeLimit,
}

/// What the network did, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Datagrams put on the wire.
    pub sent: u64,
    /// Datagrams handed to a receiver.
    pub delivered: u64,
    /// Dropped by the impairment hook.
    pub dropped: u64,
    /// Extra copies made by the impairment hook.
    pub duplicated: u64,
    /// Damaged by the impairment hook ([`Fate::Corrupt`]).
    pub corrupted: u64,
    /// No node owned the destination (including an address a node gave up), or the bytes
    /// could not take the receiver's socket form.
    pub undeliverable: u64,
    /// Dropped at a NAT: no mapping for an inbound datagram, or raw IP with a header the
    /// sender wrote (the NAT would have to rewrite it).
    pub nat_dropped: u64,
    /// Inner packets nodes wrote to their TUN side.
    pub inner_out: u64,
}

/// An endpoint the network can hand back by its concrete type.
trait Node: Endpoint {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Endpoint + Any> Node for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

struct Slot {
    name: String,
    endpoint: Box<dyn Node>,
    addresses: Vec<(Leg, IpAddr)>,
    inner: Vec<Vec<u8>>,
    /// The NAT in front of this node, if any (index into `Network::nats`).
    nat: Option<usize>,
}

/// A simulated network (see the [module docs](super)).
pub struct Network {
    now: Timestamp,
    latency: Duration,
    nodes: Vec<Slot>,
    nats: Vec<Nat>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_seq: u64,
    impairment: Option<Impairment>,
    stats: NetworkStats,
    buf: Vec<u8>,
}

impl core::fmt::Debug for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Network")
            .field("now", &self.now)
            .field(
                "nodes",
                &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            )
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// An empty network at [`Timestamp::ZERO`] whose every datagram takes `latency` one way.
    pub fn new(latency: Duration) -> Self {
        Self {
            now: Timestamp::ZERO,
            latency,
            nodes: Vec::new(),
            nats: Vec::new(),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            impairment: None,
            stats: NetworkStats::default(),
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// Adds a node owning `addresses` (each on a leg).
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        endpoint: impl Endpoint + Any,
        addresses: &[(Leg, IpAddr)],
    ) -> NodeId {
        self.nodes.push(Slot {
            name: name.into(),
            endpoint: Box::new(endpoint),
            addresses: addresses.to_vec(),
            inner: Vec::new(),
            nat: None,
        });
        NodeId(self.nodes.len().saturating_sub(1))
    }

    /// The node's endpoint, if it is a `T`.
    pub fn node<T: Any>(&self, id: NodeId) -> Option<&T> {
        self.nodes.get(id.0)?.endpoint.as_any().downcast_ref()
    }

    /// The node's endpoint, if it is a `T`, to call its commands.
    pub fn node_mut<T: Any>(&mut self, id: NodeId) -> Option<&mut T> {
        self.nodes
            .get_mut(id.0)?
            .endpoint
            .as_any_mut()
            .downcast_mut()
    }

    /// The node's name.
    pub fn name(&self, id: NodeId) -> &str {
        self.nodes.get(id.0).map_or("?", |n| n.name.as_str())
    }

    /// Replaces `old` by `new` among the node's addresses (a device that moved to another
    /// network). Datagrams still in flight to `old` are lost when they arrive.
    pub fn move_address(&mut self, id: NodeId, old: IpAddr, new: IpAddr) {
        if let Some(slot) = self.nodes.get_mut(id.0) {
            for (_, address) in slot.addresses.iter_mut().filter(|(_, a)| *a == old) {
                *address = new;
            }
        }
    }

    /// Puts a NAT in front of the node: what it sends from `private` leaves from `public` (UDP
    /// ports mapped, raw IP address-translated), and only answers to live mappings come back.
    /// The node must own `private`; `public` must be owned by no node.
    pub fn add_nat(&mut self, id: NodeId, private: IpAddr, public: IpAddr) {
        self.nats.push(Nat::new(private, public));
        let index = self.nats.len().saturating_sub(1);
        if let Some(slot) = self.nodes.get_mut(id.0) {
            slot.nat = Some(index);
        }
    }

    /// The NAT in front of the node forgets its mappings: the node's next datagram leaves from
    /// a new public port, and answers to the old one are dropped.
    pub fn rebind_nat(&mut self, id: NodeId) {
        if let Some(nat) = self.nat_of(id) {
            nat.rebind();
        }
    }

    /// Mappings of the NAT in front of the node unused for `timeout` are forgotten.
    pub fn set_nat_timeout(&mut self, id: NodeId, timeout: Option<Duration>) {
        if let Some(nat) = self.nat_of(id) {
            nat.timeout = timeout;
        }
    }

    fn nat_of(&mut self, id: NodeId) -> Option<&mut Nat> {
        let index = self.nodes.get(id.0)?.nat?;
        self.nats.get_mut(index)
    }

    /// Decides the fate of every datagram put on the wire from now on.
    pub fn set_impairment(&mut self, hook: impl FnMut(&InFlight) -> Fate + 'static) {
        self.impairment = Some(Box::new(hook));
    }

    /// Removes the impairment hook: every datagram is delivered.
    pub fn clear_impairment(&mut self) {
        self.impairment = None;
    }

    /// Datagrams on the wire, not yet arrived: zero when a conversation has settled (tests
    /// that run "until quiet" wait for this, not for timers far in the future).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The earliest timer of any node: with [`Network::in_flight`], tells a test whether
    /// anything will happen before a horizon of its choosing.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        self.nodes
            .iter()
            .filter_map(|n| n.endpoint.poll_timeout())
            .min()
    }

    /// Puts `bytes` on the wire as if the node had sent them on `path`: a replayed or forged
    /// datagram, which the receivers must handle as they would any other. It goes through
    /// source selection, NAT, routing and the impairment hook like the node's own.
    pub fn inject(&mut self, from: NodeId, path: NetPath, bytes: &[u8]) {
        self.send(from, path, bytes.to_vec());
    }

    /// Hands the node an inner packet, as its TUN device would, and collects what it sends.
    pub fn send_inner(&mut self, id: NodeId, packet: &[u8]) {
        let now = self.now;
        if let Some(slot) = self.nodes.get_mut(id.0) {
            let rx = Received { path: Path::Tun };
            slot.endpoint.handle_datagram(now, &rx, packet);
        }
        self.collect(id);
    }

    /// The inner packets the node wrote to its TUN side since the last call.
    pub fn take_inner(&mut self, id: NodeId) -> Vec<Vec<u8>> {
        self.nodes
            .get_mut(id.0)
            .map(|slot| core::mem::take(&mut slot.inner))
            .unwrap_or_default()
    }

    /// Runs until `done` holds (checked after every turn), nothing can happen any more, or
    /// the limit is reached.
    pub fn run_until(
        &mut self,
        limit: RunLimit,
        mut done: impl FnMut(&mut Network) -> bool,
    ) -> RunOutcome {
        for _ in 0..limit.steps {
            self.collect_all();
            if done(self) {
                return RunOutcome::Done;
            }
            let delivered = self.deliver_due();
            let fired = self.fire_due();
            if delivered || fired {
                continue;
            }
            let next_arrival = self.in_flight.peek().map(|Reverse(d)| d.deliver_at);
            let next_timer = self.next_timeout();
            let Some(next) = next_arrival.into_iter().chain(next_timer).min() else {
                return RunOutcome::Idle;
            };
            if next > limit.until {
                self.now = self.now.max(limit.until);
                return RunOutcome::TimeLimit;
            }
            self.now = self.now.max(next);
        }
        RunOutcome::StepLimit
    }

    /// Runs for `duration` of virtual time (or until nothing can happen).
    pub fn run_for(&mut self, duration: Duration) -> RunOutcome {
        let limit = RunLimit::for_duration(self.now, duration);
        self.run_until(limit, |_| false)
    }

    fn collect_all(&mut self) {
        for index in 0..self.nodes.len() {
            self.collect(NodeId(index));
        }
    }

    /// Takes every transmit the node has queued and puts it on the wire or its TUN side.
    fn collect(&mut self, id: NodeId) {
        let now = self.now;
        loop {
            let Some(slot) = self.nodes.get_mut(id.0) else {
                return;
            };
            let Some(transmit) = slot.endpoint.poll_transmit(now, &mut self.buf) else {
                return;
            };
            let Some(bytes) = self.buf.get(..transmit.len) else {
                self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
                continue;
            };
            match transmit.path {
                Path::Tun => {
                    slot.inner.push(bytes.to_vec());
                    self.stats.inner_out = self.stats.inner_out.saturating_add(1);
                }
                Path::Net(path) => {
                    let bytes = bytes.to_vec();
                    self.send(id, path, bytes);
                }
            }
        }
    }

    /// Source selection, outbound NAT, routing and the impairment hook for one datagram.
    fn send(&mut self, from: NodeId, path: NetPath, bytes: Vec<u8>) {
        self.stats.sent = self.stats.sent.saturating_add(1);
        let Some(mut src) = self.source(from, &path) else {
            self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
            return;
        };
        let mut transport = path.transport;
        let now = self.now;
        if let Some(nat) = self.nat_of(from).filter(|nat| nat.private == src) {
            match &mut transport {
                Transport::Udp { local_port, .. } => *local_port = nat.outbound(now, *local_port),
                Transport::Ip {
                    header_included: true,
                    ..
                } => {
                    self.stats.nat_dropped = self.stats.nat_dropped.saturating_add(1);
                    return;
                }
                Transport::Ip { .. } => {}
            }
            src = nat.public;
        }
        let Some((to, dst, transport)) = self.destination(path.remote, transport) else {
            self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
            return;
        };
        let mut datagram = InFlight {
            seq: self.next_seq,
            from,
            to,
            src,
            dst,
            transport,
            bytes,
            deliver_at: now.saturating_add(self.latency),
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        let fate = match self.impairment.as_mut() {
            Some(hook) => hook(&datagram),
            None => Fate::Deliver,
        };
        match fate {
            Fate::Deliver => self.in_flight.push(Reverse(datagram)),
            Fate::Drop => self.stats.dropped = self.stats.dropped.saturating_add(1),
            Fate::Duplicate => {
                self.stats.duplicated = self.stats.duplicated.saturating_add(1);
                self.in_flight.push(Reverse(datagram.clone()));
                datagram.seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                self.in_flight.push(Reverse(datagram));
            }
            Fate::Delay(extra) => {
                datagram.deliver_at = datagram.deliver_at.saturating_add(extra);
                self.in_flight.push(Reverse(datagram));
            }
            Fate::Corrupt { at, mask } => {
                let len = datagram.bytes.len();
                if let Some(byte) = at.checked_rem(len).and_then(|i| datagram.bytes.get_mut(i)) {
                    *byte ^= mask;
                }
                self.stats.corrupted = self.stats.corrupted.saturating_add(1);
                self.in_flight.push(Reverse(datagram));
            }
        }
    }

    /// The address a datagram leaves from: the path's own, or the node's first address of the
    /// destination's family on the leg when the path leaves it unspecified.
    fn source(&self, from: NodeId, path: &NetPath) -> Option<IpAddr> {
        if !path.local.is_unspecified() {
            return Some(path.local);
        }
        let slot = self.nodes.get(from.0)?;
        slot.addresses
            .iter()
            .find(|(leg, a)| *leg == path.leg && a.is_ipv4() == path.remote.is_ipv4())
            .map(|(_, a)| *a)
    }

    /// The node a datagram to `dst` reaches, after inbound NAT (which may change the address
    /// and port), with its final destination and transport.
    fn destination(
        &mut self,
        dst: IpAddr,
        mut transport: Transport,
    ) -> Option<(NodeId, IpAddr, Transport)> {
        let now = self.now;
        let mut dst = dst;
        if let Some(nat) = self.nats.iter_mut().find(|nat| nat.public == dst) {
            if let Transport::Udp { remote_port, .. } = &mut transport {
                let Some(private) = nat.inbound(now, *remote_port) else {
                    self.stats.nat_dropped = self.stats.nat_dropped.saturating_add(1);
                    return None;
                };
                *remote_port = private;
            }
            dst = nat.private;
        }
        let index = self
            .nodes
            .iter()
            .position(|n| n.addresses.iter().any(|(_, a)| *a == dst))?;
        Some((NodeId(index), dst, transport))
    }

    /// Hands every datagram that is due to its receiver. True if any arrived.
    fn deliver_due(&mut self) -> bool {
        let mut any = false;
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(d)| d.deliver_at <= self.now)
        {
            let Some(Reverse(datagram)) = self.in_flight.pop() else {
                break;
            };
            any = true;
            self.deliver(datagram);
        }
        any
    }

    fn deliver(&mut self, datagram: InFlight) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(datagram.to.0) else {
            self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
            return;
        };
        // The receiver may have given the address up while the datagram flew.
        let Some(leg) = slot
            .addresses
            .iter()
            .find(|(_, a)| *a == datagram.dst)
            .map(|(leg, _)| *leg)
        else {
            self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
            return;
        };
        let Some((rx, bytes)) = delivery(
            leg,
            datagram.src,
            datagram.dst,
            datagram.transport,
            &datagram.bytes,
        ) else {
            self.stats.undeliverable = self.stats.undeliverable.saturating_add(1);
            return;
        };
        slot.endpoint.handle_datagram(now, &rx, &bytes);
        self.stats.delivered = self.stats.delivered.saturating_add(1);
    }

    /// Calls `handle_timeout` on every node whose deadline has come. True if any had.
    fn fire_due(&mut self) -> bool {
        let now = self.now;
        let mut any = false;
        for slot in &mut self.nodes {
            if slot.endpoint.poll_timeout().is_some_and(|at| at <= now) {
                slot.endpoint.handle_timeout(now);
                any = true;
            }
        }
        any
    }
}
