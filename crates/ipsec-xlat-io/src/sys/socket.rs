//! UDP and raw IP sockets, non-blocking, with batched receive and send.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::mmsg;
use crate::port::{OutDatagram, PacketPort, PortKind, PortTransport, RecvBatch};
use crate::{IpProtocol, Leg};

/// Options applied to every socket the shell opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// Use `recvmmsg`/`sendmmsg`; `false` forces one system call per packet (also the automatic
    /// fallback where the kernel lacks them).
    pub batching: bool,
    /// `SO_RCVBUF` in bytes, if set.
    pub recv_buffer: Option<usize>,
    /// `SO_SNDBUF` in bytes, if set.
    pub send_buffer: Option<usize>,
    /// `IP_FREEBIND`: bind to an address not (yet) configured on the host, e.g. a relay's pool
    /// of surrogate s-side addresses routed to it.
    pub freebind: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            batching: true,
            recv_buffer: None,
            send_buffer: None,
            freebind: false,
        }
    }
}

/// A UDP or raw IP socket on one leg.
#[derive(Debug)]
pub struct OsSocket {
    socket: Socket,
    kind: PortKind,
    batching: bool,
}

impl OsSocket {
    /// A UDP socket bound to `addr` (port 0 picks a free port; [`PacketPort::kind`] reports
    /// the real one).
    pub fn udp(leg: Leg, addr: SocketAddr, options: SocketOptions) -> io::Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        prepare(&socket, addr.ip(), options, true)?;
        socket.bind(&SockAddr::from(addr))?;
        let port = socket
            .local_addr()?
            .as_socket()
            .map(|bound| bound.port())
            .ok_or_else(|| io::Error::other("bound UDP socket has no IP address"))?;
        Ok(Self {
            socket,
            kind: PortKind::Net {
                leg,
                local: addr.ip(),
                transport: PortTransport::Udp { port },
            },
            batching: options.batching,
        })
    }

    /// A raw IP socket of `protocol` bound to `local`, with `IP_HDRINCL` (IPv4) or
    /// `IPV6_HDRINCL` (IPv6) when `header_included`. Needs root or `CAP_NET_RAW`.
    pub fn raw(
        leg: Leg,
        local: IpAddr,
        protocol: IpProtocol,
        header_included: bool,
        options: SocketOptions,
    ) -> io::Result<Self> {
        let domain = match local {
            IpAddr::V4(_) => Domain::IPV4,
            IpAddr::V6(_) => Domain::IPV6,
        };
        let socket = Socket::new(
            domain,
            Type::RAW,
            Some(Protocol::from(i32::from(protocol.0))),
        )?;
        prepare(&socket, local, options, false)?;
        if header_included {
            match local {
                IpAddr::V4(_) => socket.set_header_included_v4(true)?,
                IpAddr::V6(_) => socket.set_header_included_v6(true)?,
            }
        }
        socket.bind(&SockAddr::from(SocketAddr::new(local, 0)))?;
        Ok(Self {
            socket,
            kind: PortKind::Net {
                leg,
                local,
                transport: PortTransport::Ip {
                    protocol,
                    header_included,
                },
            },
            batching: options.batching,
        })
    }

    /// The bound socket address (for UDP, with the real port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("socket has no IP address"))
    }

    /// Switch batched system calls on or off (tests exercise both paths).
    pub fn set_batching(&mut self, batching: bool) {
        self.batching = batching;
    }
}

/// Options common to UDP and raw sockets, set before `bind`.
fn prepare(socket: &Socket, local: IpAddr, options: SocketOptions, udp: bool) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = options.send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    match local {
        IpAddr::V4(_) => {
            if options.freebind {
                socket.set_freebind_v4(true)?;
            }
        }
        IpAddr::V6(_) => {
            // No IPv4-mapped addresses: an IPv4 peer is served by the leg's IPv4 socket. (Raw
            // IPv6 sockets never see IPv4, and Linux refuses the option on them.)
            if udp {
                socket.set_only_v6(true)?;
            }
            if options.freebind {
                socket.set_freebind_v6(true)?;
            }
        }
    }
    mmsg::enable_pktinfo(socket, local)
}

impl PacketPort for OsSocket {
    fn kind(&self) -> PortKind {
        self.kind
    }

    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let fd = self.socket.as_raw_fd();
        if self.batching {
            match mmsg::recv_many(fd, batch) {
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSYS) => self.batching = false,
                other => return other,
            }
        }
        mmsg::recv_one(fd, batch)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        if self.batching && datagrams.len() > 1 {
            match mmsg::send_many(&self.socket, datagrams) {
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSYS) => self.batching = false,
                other => return other,
            }
        }
        mmsg::send_one(&self.socket, datagrams)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.socket.as_raw_fd())
    }
}
