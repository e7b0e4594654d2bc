//! Batched and single-packet receive/send on a datagram (UDP or raw IP) socket.
//!
//! Receive goes through nix (`recvmmsg`, `recvmsg`), which also hands back `IP_PKTINFO`, so a
//! socket bound to a wildcard still reports each packet's destination address. Send goes
//! through rustix (`sendmmsg`, `sendto`), whose `sendmmsg` reports the count sent without
//! reading uninitialised headers.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, RawFd};

use nix::sys::socket::{
    recvmmsg, recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders,
    SockaddrLike, SockaddrStorage,
};
use rustix::net::addr::SocketAddrArg;
use rustix::net::{SendAncillaryBuffer, SendFlags};

use crate::port::{OutDatagram, RecvBatch, RxMeta};

/// Ask the kernel for each packet's destination address (`IP_PKTINFO`/`IPV6_RECVPKTINFO`).
pub(super) fn enable_pktinfo(fd: &impl AsFd, local: IpAddr) -> io::Result<()> {
    match local {
        IpAddr::V4(_) => setsockopt(fd, sockopt::Ipv4PacketInfo, &true)?,
        IpAddr::V6(_) => setsockopt(fd, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    Ok(())
}

/// Room for one packet-info control message of either family.
fn cmsg_buffer() -> Vec<u8> {
    nix::cmsg_space!(nix::libc::in6_pktinfo)
}

/// Receive up to `batch.capacity()` packets with one `recvmmsg`.
pub(super) fn recv_many(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    let mut headers =
        MultiHeaders::<SockaddrStorage>::preallocate(batch.capacity(), Some(cmsg_buffer()));
    let (slots, metas) = batch.slots_mut();
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = slots.map(|slot| [IoSliceMut::new(slot)]).collect();
    let results = recvmmsg(
        fd,
        &mut headers,
        iovs.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    let mut count = 0usize;
    for (msg, meta) in results.zip(metas.iter_mut()) {
        let (remote, remote_port) = split_address(msg.address.as_ref());
        *meta = RxMeta {
            len: msg.bytes,
            remote,
            remote_port,
            local: msg.cmsgs().ok().and_then(packet_destination),
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
        };
        count = count.saturating_add(1);
    }
    if count == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(count)
}

/// Receive one packet with `recvmsg` into slot 0.
pub(super) fn recv_one(fd: RawFd, batch: &mut RecvBatch) -> io::Result<usize> {
    let (mut slots, metas) = batch.slots_mut();
    let (Some(slot), Some(meta)) = (slots.next(), metas.first_mut()) else {
        return Err(io::Error::other("receive batch without slots"));
    };
    let mut iov = [IoSliceMut::new(slot)];
    let mut cmsg = cmsg_buffer();
    let msg = recvmsg::<SockaddrStorage>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
    )?;
    let (remote, remote_port) = split_address(msg.address.as_ref());
    let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
    *meta = RxMeta {
        // With MSG_TRUNC the kernel returns the real length; the slot holds at most its size.
        len: msg.bytes,
        remote,
        remote_port,
        local: msg.cmsgs().ok().and_then(packet_destination),
        truncated,
    };
    Ok(1)
}

/// Send packets with one `sendmmsg`.
pub(super) fn send_many(fd: &impl AsFd, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
    let addrs: Vec<_> = datagrams
        .iter()
        .map(|d| SocketAddr::new(d.remote, d.remote_port).as_any())
        .collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = datagrams.iter().map(|d| [IoSlice::new(d.bytes)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = datagrams
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<rustix::net::MMsgHdr<'_>> = addrs
        .iter()
        .zip(iovs.iter())
        .zip(controls.iter_mut())
        .map(|((addr, iov), control)| rustix::net::MMsgHdr::new_with_addr(addr, iov, control))
        .collect();
    let sent = rustix::net::sendmmsg(fd, &mut msgs, SendFlags::DONTWAIT)?;
    if sent == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(sent)
}

/// Send the first packet with `sendto`.
pub(super) fn send_one(fd: &impl AsFd, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
    let Some(first) = datagrams.first() else {
        return Ok(0);
    };
    let addr = SocketAddr::new(first.remote, first.remote_port);
    rustix::net::sendto(fd, first.bytes, SendFlags::DONTWAIT, &addr)?;
    Ok(1)
}

/// Sender address and port from the kernel's socket address (port 0 for raw IP).
fn split_address(addr: Option<&SockaddrStorage>) -> (Option<IpAddr>, u16) {
    let Some(addr) = addr else {
        return (None, 0);
    };
    if let Some(v4) = addr.as_sockaddr_in() {
        return (Some(IpAddr::V4(v4.ip())), v4.port());
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return (Some(IpAddr::V6(v6.ip())), v6.port());
    }
    let _ = addr.family();
    (None, 0)
}

/// The destination address carried by an `IP_PKTINFO`/`IPV6_PKTINFO` control message.
fn packet_destination<'a>(
    mut cmsgs: impl Iterator<Item = ControlMessageOwned> + 'a,
) -> Option<IpAddr> {
    cmsgs.find_map(|cmsg| match cmsg {
        ControlMessageOwned::Ipv4PacketInfo(info) => {
            Some(IpAddr::V4(u32::from_be(info.ipi_addr.s_addr).into()))
        }
        ControlMessageOwned::Ipv6PacketInfo(info) => {
            Some(IpAddr::V6(info.ipi6_addr.s6_addr.into()))
        }
        _ => None,
    })
}
