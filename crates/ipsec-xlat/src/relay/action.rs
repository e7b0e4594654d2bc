//! What the relay tells its caller to do with a packet.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::wire::IpProtocol;

use super::counters::DropReason;
use crate::net::Leg;

/// How to put [`Outgoing::bytes`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The bytes are a complete IPv4 packet whose header the relay wrote (AH's ICV covers
    /// Identification and Total Length, so the kernel must not choose them): send with a raw
    /// socket with `IP_HDRINCL` to `dst`. The relay never leaves Identification 0 with DF
    /// clear, which Linux would replace with a random value.
    Ipv4 {
        /// Source address written in the header.
        src: Ipv4Addr,
        /// Destination address written in the header.
        dst: Ipv4Addr,
    },
    /// The bytes are an IPv6 payload, ESP or AH header first: send with a raw IPv6 socket of
    /// protocol `next_header`, bound to `src`, to `dst`. Every field AH's ICV covers in the
    /// kernel's IPv6 header (payload length, next header, addresses) follows from these.
    Ipv6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
        /// 50 (ESP) or 51 (AH).
        next_header: IpProtocol,
    },
    /// The bytes are a UDP payload: send from `src` to `dst`.
    Udp {
        /// The relay's address and port.
        src: SocketAddr,
        /// The peer's address and port.
        dst: SocketAddr,
    },
}

/// A packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The leg it leaves by.
    pub leg: Leg,
    /// How to send it.
    pub framing: Framing,
    /// What to send, in the caller's buffer.
    pub bytes: &'a [u8],
}

/// The outcome of [`Datapath::rewrite`](super::Datapath::rewrite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send this.
    Forward(Outgoing<'a>),
    /// Nothing to send; the reason has been counted.
    Drop(DropReason),
}
