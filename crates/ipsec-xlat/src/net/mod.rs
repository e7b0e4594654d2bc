//! How a packet travels between the network and a role: which leg, which local and remote
//! address, and which transport (UDP ports, or raw IP with or without the IP header); and the
//! [`Endpoint`] contract every role (client, relay, gateway) keeps with whoever moves its bytes.
//!
//! The same [`Path`] type describes a received packet (how it came in) and a transmit (how it
//! must go out). It is written from the local side's point of view — `local`/`remote` rather
//! than source/destination — so a reply simply reuses the path it was asked on.

use core::fmt;
use core::net::IpAddr;

use crate::time::Timestamp;

mod ports;
mod queue;

use crate::wire::IpProtocol;
pub use ports::{PeerPorts, PortPair, IKE_PORT};
pub(crate) use queue::TxQueue;

/// Which network side a packet travels on, in `docs/PROTOCOL.md`'s words.
///
/// The relay has both legs. The client speaks only on the c-side (toward the relay) and the
/// gateway only on the s-side (toward the relay), so one driver can run any of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// Between client and relay.
    CSide,
    /// Between relay and SGW.
    SSide,
}

impl Leg {
    /// The leg a packet arriving on `self` leaves by (the relay forwards c-side to s-side
    /// and back).
    pub const fn other(self) -> Self {
        match self {
            Self::CSide => Self::SSide,
            Self::SSide => Self::CSide,
        }
    }
}

impl fmt::Display for Leg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CSide => "c-side",
            Self::SSide => "s-side",
        })
    }
}

/// The transport below the packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The bytes are a UDP payload (IKE on 500, IKE/ESP-in-UDP on 4500, or whatever ports the
    /// configuration chose). On transmit, `local_port` selects the socket bound to that port.
    Udp {
        /// Our port.
        local_port: u16,
        /// The peer's port.
        remote_port: u16,
    },
    /// Raw IP of `protocol` (ESP 50, AH 51).
    ///
    /// On receive, `header_included` says whether the bytes start with the IP header: Linux
    /// always includes it for IPv4 raw sockets and never for IPv6 ones (RFC 3542), where the
    /// addresses come from the receive call instead.
    ///
    /// On transmit, `header_included: true` means the core wrote the whole IPv4 header (the
    /// relay does, so that every field AH's ICV covers is reproduced exactly) and the caller must
    /// use a socket with `IP_HDRINCL`; `false` lets the kernel write the header with
    /// `protocol`, `local` and `remote`.
    Ip {
        /// The IP protocol of the socket.
        protocol: IpProtocol,
        /// Whether the bytes start with the IP header (see above).
        header_included: bool,
    },
}

/// A network path: leg, both addresses and the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetPath {
    /// The leg the packet arrived on or leaves by.
    pub leg: Leg,
    /// Our address. On receive: the packet's destination address (from `IP_PKTINFO` when the
    /// socket is bound to a wildcard, else the bound address). On transmit: the source address,
    /// which selects the socket bound to it; an unspecified address (`0.0.0.0`, `::`) means
    /// "any socket of the leg with the remote's address family".
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// UDP ports, or raw IP protocol.
    pub transport: Transport,
}

/// Where a packet comes from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// A socket on one of the legs.
    Net(NetPath),
    /// The TUN device: the bytes are a whole inner IP packet (no packet-information prefix).
    Tun,
}

/// Metadata of one received packet, handed to [`Endpoint::handle_datagram`] together
/// with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Received {
    /// How the packet arrived.
    pub path: Path,
}

/// One packet the core wants sent, returned by [`Endpoint::poll_transmit`]; its bytes
/// are the first `len` bytes of the buffer the caller passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// How to send it.
    pub path: Path,
    /// How many bytes of the caller's buffer to send.
    pub len: usize,
}

/// A sans-IO role (client, relay or gateway) as its driver sees it, in quinn-proto's shape:
/// bytes and time go in through `handle_*`, packets and the next deadline come out through
/// `poll_*`. The driver never interprets bytes.
///
/// In each turn of its loop a driver calls:
/// 1. [`handle_datagram`](Self::handle_datagram) for every packet received from a socket or
///    the TUN device;
/// 2. [`handle_timeout`](Self::handle_timeout) once, when `now` has reached
///    [`poll_timeout`](Self::poll_timeout);
/// 3. [`poll_transmit`](Self::poll_transmit) until it returns `None`, sending each result;
/// 4. then sleeps until a socket is readable or the next [`poll_timeout`](Self::poll_timeout).
///
/// Buffers are the caller's (boringtun's style): `poll_transmit` writes into a slice the
/// caller owns, sized for the largest IP packet (64 KiB), and says how much it wrote. Time is
/// the caller's clock as a [`Timestamp`]; it must not go backwards.
pub trait Endpoint {
    /// A packet arrived. `datagram` is only valid during the call: copy what must be kept.
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]);

    /// The deadline returned by [`poll_timeout`](Self::poll_timeout) has passed (`now` is at or
    /// after it).
    fn handle_timeout(&mut self, now: Timestamp);

    /// The next packet to send, written to the start of `out`; `None` when nothing is queued.
    ///
    /// A transmit whose `len` exceeds `out.len()` is a bug in the endpoint; a driver drops it
    /// and counts it rather than panicking.
    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<Transmit>;

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` for never.
    fn poll_timeout(&self) -> Option<Timestamp>;

    /// True once the endpoint has nothing more to do, so that a driver may return (the
    /// quickstart's client and test harnesses use it). Daemons keep the default, `false`.
    fn is_drained(&self) -> bool {
        false
    }
}
