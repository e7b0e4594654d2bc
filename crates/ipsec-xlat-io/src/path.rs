//! How a packet travels between the OS and the core: which leg, which local and remote address,
//! and which transport (UDP ports, or raw IP with or without the IP header).
//!
//! The same [`Path`] type describes a received packet (how it came in) and a transmit (how it
//! must go out). It is written from the local side's point of view — `local`/`remote` rather
//! than source/destination — so a reply simply reuses the path it was asked on.

use core::fmt;
use std::net::IpAddr;

/// An IP protocol number (IPv4 Protocol, IPv6 Next Header). Open newtype: any value is
/// representable, the named constants are the ones the shell opens sockets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// UDP (17).
    pub const UDP: Self = Self(17);
    /// Encapsulating Security Payload (50).
    pub const ESP: Self = Self(50);
    /// Authentication Header (51).
    pub const AH: Self = Self(51);
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UDP => f.write_str("udp"),
            Self::ESP => f.write_str("esp"),
            Self::AH => f.write_str("ah"),
            Self(other) => write!(f, "ip-proto-{other}"),
        }
    }
}

/// Which network side a socket belongs to, in the seed's names.
///
/// The relay has both legs. The client speaks only on the c-side (toward the relay) and the
/// test-SGW only on the s-side (toward the relay); each has one set of sockets, so one
/// [`crate::Driver`] can drive any of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// Between client and relay.
    CSide,
    /// Between relay and SGW.
    SSide,
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
    /// relay does, so that every field AH's ICV covers is reproduced exactly) and the shell must
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

/// Metadata of one received packet, handed to [`crate::Endpoint::handle_datagram`] together
/// with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Received {
    /// How the packet arrived.
    pub path: Path,
}

/// One packet the core wants sent, returned by [`crate::Endpoint::poll_transmit`]; its bytes
/// are the first `len` bytes of the buffer the shell passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// How to send it.
    pub path: Path,
    /// How many bytes of the caller's buffer to send.
    pub len: usize,
}
