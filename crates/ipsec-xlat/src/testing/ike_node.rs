//! The IKE-level cores ([`IkeClient`], [`IkeRelay`], [`TestSgw`]) as nodes of a [`Network`].
//!
//! Those cores speak UDP socket addresses (`handle_datagram(now, local, remote, bytes)`,
//! [`ike::IkeDatagram`]) rather than the roles' [`Path`]s, and the relay's also wants an SPI
//! allocator on every call. [`IkeNode`] is the one adapter between the two, so that the tests
//! of the IKE machinery run on the same simulated network (clock, latency, loss, NAT) as the
//! roles instead of on pumps of their own; their events stay in the core, reached through
//! [`IkeNode::inner_mut`].

use core::any::Any;
use core::net::{IpAddr, SocketAddr};

use super::{Network, NodeId};
use crate::ike::{self, IkeClient, IkeRelay, TestSgw};
use crate::net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
use crate::relay::StandaloneSpis;
use crate::time::Timestamp;

/// An IKE-level core as [`IkeNode`] drives it: the calls the three cores share.
pub trait IkeCore {
    /// What every receive and timer call needs besides the core: the SPI allocator for a
    /// relay, nothing (`()`) for the others.
    type Context;

    /// A UDP datagram arrived at `local` from `remote`.
    fn handle_datagram(
        &mut self,
        cx: &mut Self::Context,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    );

    /// The deadline of [`IkeCore::poll_timeout`] has passed.
    fn handle_timeout(&mut self, cx: &mut Self::Context, now: Timestamp);

    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<ike::IkeDatagram>;

    /// When [`IkeCore::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Timestamp>;
}

/// `IkeCore` for a core that needs nothing beside its own state (the client and the test-SGW
/// have the same four calls with the same arguments).
macro_rules! ike_core_without_context {
    ($ty:ty) => {
        impl IkeCore for $ty {
            type Context = ();

            fn handle_datagram(
                &mut self,
                _: &mut (),
                now: Timestamp,
                local: SocketAddr,
                remote: SocketAddr,
                bytes: &[u8],
            ) {
                <$ty>::handle_datagram(self, now, local, remote, bytes);
            }

            fn handle_timeout(&mut self, _: &mut (), now: Timestamp) {
                <$ty>::handle_timeout(self, now);
            }

            fn poll_transmit(&mut self) -> Option<ike::IkeDatagram> {
                <$ty>::poll_transmit(self)
            }

            fn poll_timeout(&self) -> Option<Timestamp> {
                <$ty>::poll_timeout(self)
            }
        }
    };
}

ike_core_without_context!(IkeClient);
ike_core_without_context!(TestSgw);

impl IkeCore for IkeRelay {
    /// The relay's SPI grants come from a table of its own, as in a relay without datapath.
    type Context = StandaloneSpis;

    fn handle_datagram(
        &mut self,
        spis: &mut StandaloneSpis,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        IkeRelay::handle_datagram(self, now, local, remote, bytes, spis);
    }

    fn handle_timeout(&mut self, spis: &mut StandaloneSpis, now: Timestamp) {
        IkeRelay::handle_timeout(self, now, spis);
    }

    fn poll_transmit(&mut self) -> Option<ike::IkeDatagram> {
        IkeRelay::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        IkeRelay::poll_timeout(self)
    }
}

/// Several cores behind one address and socket, as on a host where a client's successor
/// session (reauthentication) shares the old one's port: every datagram goes to each of them,
/// and each keeps what carries its own cookies.
impl<T: IkeCore> IkeCore for Vec<T> {
    type Context = T::Context;

    fn handle_datagram(
        &mut self,
        cx: &mut T::Context,
        now: Timestamp,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        for core in self.iter_mut() {
            core.handle_datagram(cx, now, local, remote, bytes);
        }
    }

    fn handle_timeout(&mut self, cx: &mut T::Context, now: Timestamp) {
        for core in self
            .iter_mut()
            .filter(|c| c.poll_timeout().is_some_and(|at| at <= now))
        {
            core.handle_timeout(cx, now);
        }
    }

    fn poll_transmit(&mut self) -> Option<ike::IkeDatagram> {
        self.iter_mut().find_map(IkeCore::poll_transmit)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.iter().filter_map(IkeCore::poll_timeout).min()
    }
}

/// An [`IkeCore`] as an [`Endpoint`]: UDP on [`Path::Net`] in, [`ike::IkeDatagram`]s out on the
/// leg of the address they leave from.
#[derive(Debug)]
pub struct IkeNode<T: IkeCore> {
    core: T,
    context: T::Context,
    /// The node's addresses, to put each transmit on the leg of its source address.
    legs: Vec<(Leg, IpAddr)>,
    /// Datagrams that were not UDP on the network (raw IP, TUN): an IKE core has no use for
    /// them.
    ignored: u64,
    /// Transmits larger than the network's buffer, dropped (an endpoint bug, per
    /// [`Endpoint::poll_transmit`]).
    oversized: u64,
}

impl<T: IkeCore> IkeNode<T> {
    /// `core` with `context`, owning `addresses` (the same the node is added with).
    pub fn new(core: T, context: T::Context, addresses: &[(Leg, IpAddr)]) -> Self {
        Self {
            core,
            context,
            legs: addresses.to_vec(),
            ignored: 0,
            oversized: 0,
        }
    }

    /// The core, to read its state.
    pub fn inner(&self) -> &T {
        &self.core
    }

    /// The core, to call its commands and take its events.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.core
    }

    /// The core and its context, for direct calls that need both (a relay's timer with its
    /// SPI table).
    pub fn parts_mut(&mut self) -> (&mut T, &mut T::Context) {
        (&mut self.core, &mut self.context)
    }

    /// The context (a relay's SPI table).
    pub fn context(&self) -> &T::Context {
        &self.context
    }

    /// Datagrams ignored because they were not UDP.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Transmits dropped for not fitting the network's buffer.
    pub fn oversized(&self) -> u64 {
        self.oversized
    }

    fn leg_of(&self, local: IpAddr) -> Leg {
        self.legs
            .iter()
            .find(|(_, a)| *a == local)
            .or_else(|| self.legs.first())
            .map_or(Leg::CSide, |(leg, _)| *leg)
    }
}

impl<T: IkeCore> Endpoint for IkeNode<T> {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let Path::Net(NetPath {
            local,
            remote,
            transport:
                Transport::Udp {
                    local_port,
                    remote_port,
                },
            ..
        }) = rx.path
        else {
            self.ignored = self.ignored.saturating_add(1);
            return;
        };
        self.core.handle_datagram(
            &mut self.context,
            now,
            SocketAddr::new(local, local_port),
            SocketAddr::new(remote, remote_port),
            datagram,
        );
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        self.core.handle_timeout(&mut self.context, now);
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        loop {
            let t = self.core.poll_transmit()?;
            let len = t.payload.len();
            let Some(slot) = out.get_mut(..len) else {
                self.oversized = self.oversized.saturating_add(1);
                continue;
            };
            slot.copy_from_slice(&t.payload);
            let path = Path::Net(NetPath {
                leg: self.leg_of(t.local.ip()),
                local: t.local.ip(),
                remote: t.remote.ip(),
                transport: Transport::Udp {
                    local_port: t.local.port(),
                    remote_port: t.remote.port(),
                },
            });
            return Some(Transmit { path, len });
        }
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.core.poll_timeout()
    }
}

/// Adds `core` (with `context`) to `net` as a node owning `addresses`.
pub fn add_ike_node<T>(
    net: &mut Network,
    name: impl Into<String>,
    core: T,
    context: T::Context,
    addresses: &[(Leg, IpAddr)],
) -> NodeId
where
    T: IkeCore + Any,
    T::Context: Any,
{
    net.add_node(name, IkeNode::new(core, context, addresses), addresses)
}
