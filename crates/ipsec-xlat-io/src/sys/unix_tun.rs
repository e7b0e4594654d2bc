//! A TUN stand-in over a Unix datagram socket: each datagram is one inner IP packet, exactly as
//! a TUN device without packet information delivers it. It needs no root and no network
//! configuration, so the quickstart and the binaries' tests carry real inner traffic through
//! the same [`crate::Driver`] and adapters that production runs over `/dev/net/tun`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::path::Path;

use crate::port::{OutDatagram, PacketPort, PortKind, RecvBatch, RxMeta};

/// One end of an inner-packet channel, seen by the driver as a TUN device.
///
/// Made either as a connected pair in one process ([`UnixTunPort::pair`]) or bound to a path
/// ([`UnixTunPort::bind`]) for another process to talk to: then packets go to whoever last
/// sent one (an empty datagram only registers its sender).
#[derive(Debug)]
pub struct UnixTunPort {
    socket: UnixDatagram,
    /// Where packets go when the socket is not connected: the last sender.
    peer: Option<UnixAddr>,
    connected: bool,
}

impl UnixTunPort {
    /// A port and the other end of its channel (the "kernel side": inject packets into the
    /// endpoint by sending on it, read what the endpoint writes by receiving from it). The
    /// other end is left blocking; the port is non-blocking.
    pub fn pair() -> io::Result<(Self, UnixDatagram)> {
        let (ours, theirs) = UnixDatagram::pair()?;
        ours.set_nonblocking(true)?;
        Ok((
            Self {
                socket: ours,
                peer: None,
                connected: true,
            },
            theirs,
        ))
    }

    /// A port bound to `path` (replacing a stale socket file there). Another process sends
    /// inner packets to `path`; the port answers to the last sender.
    pub fn bind(path: &Path) -> io::Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let socket = UnixDatagram::bind(path)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            peer: None,
            connected: false,
        })
    }
}

impl PacketPort for UnixTunPort {
    fn kind(&self) -> PortKind {
        PortKind::Tun
    }

    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let (slots, metas) = batch.slots_mut();
        let mut count = 0usize;
        for (slot, meta) in slots.zip(metas.iter_mut()) {
            loop {
                match self.socket.recv_from(slot) {
                    Ok((len, from)) => {
                        if !self.connected && from.as_pathname().is_some() {
                            self.peer = Some(from);
                        }
                        if len == 0 {
                            // A registration: nothing to hand to the endpoint.
                            continue;
                        }
                        *meta = RxMeta {
                            len,
                            ..RxMeta::default()
                        };
                        count = count.saturating_add(1);
                    }
                    Err(e) if count > 0 && e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(count)
                    }
                    Err(e) => return Err(e),
                }
                break;
            }
        }
        Ok(count)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        let mut sent = 0usize;
        for datagram in datagrams {
            let result = if self.connected {
                self.socket.send(datagram.bytes)
            } else {
                match &self.peer {
                    Some(peer) => self.socket.send_to_addr(datagram.bytes, peer),
                    // Nobody listens yet: the packet is lost, as on a TUN device that is down.
                    None => Ok(datagram.bytes.len()),
                }
            };
            match result {
                Ok(_) => sent = sent.saturating_add(1),
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.socket.as_raw_fd())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn pair_carries_packets_both_ways() {
        let (mut port, other) = UnixTunPort::pair().unwrap();
        let mut batch = RecvBatch::new(4, 2048);
        assert_eq!(
            port.recv_batch(&mut batch).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        other.send(&[0x45, 1, 2]).unwrap();
        other.send(&[0x45, 3]).unwrap();
        assert_eq!(port.recv_batch(&mut batch).unwrap(), 2);
        assert_eq!(batch.get(0).unwrap().1, &[0x45, 1, 2]);
        assert_eq!(batch.get(1).unwrap().1, &[0x45, 3]);
        let out = OutDatagram {
            bytes: &[0x60, 9],
            remote: std::net::Ipv4Addr::UNSPECIFIED.into(),
            remote_port: 0,
        };
        assert_eq!(port.send_batch(&[out]).unwrap(), 1);
        let mut buf = [0u8; 16];
        assert_eq!(other.recv(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[0x60, 9]);
    }

    #[test]
    fn bound_port_answers_the_last_sender() {
        let dir = tempfile::tempdir().unwrap();
        let mut port = UnixTunPort::bind(&dir.path().join("tun")).unwrap();
        let peer = UnixDatagram::bind(dir.path().join("peer")).unwrap();
        peer.connect(dir.path().join("tun")).unwrap();
        let out = OutDatagram {
            bytes: &[0x45, 7],
            remote: std::net::Ipv4Addr::UNSPECIFIED.into(),
            remote_port: 0,
        };
        // Before anyone registered, packets are dropped, not errors.
        assert_eq!(port.send_batch(&[out]).unwrap(), 1);
        peer.send(&[]).unwrap();
        let mut batch = RecvBatch::new(4, 2048);
        assert_eq!(
            port.recv_batch(&mut batch).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(port.send_batch(&[out]).unwrap(), 1);
        let mut buf = [0u8; 16];
        peer.set_nonblocking(true).unwrap();
        assert_eq!(peer.recv(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[0x45, 7]);
        assert!(peer.recv(&mut buf).is_err(), "the early packet was dropped");
    }
}
