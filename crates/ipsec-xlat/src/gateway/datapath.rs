//! The gateway's packets that are not IKE: ESP/AH from the peer opened onto the TUN side, and
//! inner packets from the TUN side sealed toward the peer.
//!
//! - leg → TUN: ESP-in-UDP on the NAT-T port (RFC 3948) or ESP/AH by raw IP is opened by the
//!   bundle its SPI names; the inner source address is remembered as reachable through it.
//! - TUN → leg: the inner destination picks the bundle (learnt as above; until then the
//!   newest one), which seals; the result leaves by UDP to the peer's NAT-T address or by raw
//!   IP.

use core::net::IpAddr;

use super::counters::bump;
use super::event::GatewayEvent;
use super::Gateway;
use crate::net::{Leg, NetPath, Path, Transport};
use crate::time::Timestamp;
use crate::wire::ipsec_packet::{inner_addresses, ipsec_part, outer_spi, wrap};
use crate::wire::IpProtocol;

/// Room a sealed packet may need beyond its inner packet: outer header, UDP, ESP/AH
/// headers, IV, padding and ICVs.
const SEAL_OVERHEAD: usize = 256;

/// How an ESP/AH packet reached us: its bytes and what the socket told about them.
pub(super) struct Arrival<'a> {
    /// The bytes as the socket delivered them.
    pub(super) bytes: &'a [u8],
    /// Whether they start with the IP header (IPv4 raw sockets).
    pub(super) whole: bool,
    /// ESP or AH (ESP for the NAT-T port).
    pub(super) protocol: IpProtocol,
    /// The outer source (the peer).
    pub(super) src: IpAddr,
    /// The outer destination (us).
    pub(super) dst: IpAddr,
}

impl Gateway {
    /// Opens an ESP/AH packet from the peer and queues its inner packet for the TUN side.
    pub(super) fn open(&mut self, now: Timestamp, arrival: &Arrival<'_>) {
        bump(&mut self.counters.ipsec_packets);
        let mut packet = core::mem::take(&mut self.scratch);
        let built = if arrival.whole {
            packet.clear();
            packet.extend_from_slice(arrival.bytes);
            Some(())
        } else {
            wrap(
                arrival.src,
                arrival.dst,
                arrival.protocol,
                arrival.bytes,
                &mut packet,
            )
        };
        let spi = built.and_then(|()| outer_spi(&packet));
        let found = spi.and_then(|spi| self.children.iter().position(|c| c.lookup == spi));
        match found.and_then(|i| self.children.get_mut(i).map(|c| (i, c))) {
            None => bump(&mut self.counters.unknown_spi),
            Some((index, child)) => match child.sa.open(&mut packet, now) {
                Ok(opened) if opened.is_dummy() => {}
                Ok(opened) => {
                    if let Some((inner_src, _)) = inner_addresses(opened.packet) {
                        self.routes.learn(inner_src, index);
                    }
                    bump(&mut self.counters.opened);
                    self.tx.push_copy(Path::Tun, opened.packet);
                }
                Err(error) => {
                    bump(&mut self.counters.open_errors);
                    self.events
                        .push(GatewayEvent::PacketRefused { error }, &mut self.counters);
                }
            },
        }
        self.scratch = packet;
    }

    /// Seals an inner packet from the TUN side and queues it toward its peer.
    pub(super) fn seal(&mut self, now: Timestamp, inner: &[u8]) {
        bump(&mut self.counters.tun_packets);
        let installed = self.children.len();
        let index = inner_addresses(inner)
            .and_then(|(_, dst)| self.routes.bundle_for(dst, installed))
            .or_else(|| installed.checked_sub(1));
        let Some(child) = index.and_then(|i| self.children.get_mut(i)) else {
            bump(&mut self.counters.no_sa);
            return;
        };
        let mut buf = self.tx.buffer();
        buf.resize(inner.len().saturating_add(SEAL_OVERHEAD), 0);
        let sealed = child.sa.seal(&mut self.rng, inner, now, &mut buf);
        let part = sealed.ok().and_then(|s| {
            buf.truncate(s.len);
            ipsec_part(&buf)
        });
        let Some((start, protocol, len)) = part else {
            bump(&mut self.counters.seal_errors);
            self.tx.recycle(buf);
            return;
        };
        buf.truncate(len);
        let transport = if child.udp {
            buf.drain(..start);
            Transport::Udp {
                local_port: self.own.natt,
                remote_port: child.peer.port(),
            }
        } else if self.header_included && child.peer.is_ipv4() {
            Transport::Ip {
                protocol,
                header_included: true,
            }
        } else {
            buf.drain(..start);
            Transport::Ip {
                protocol,
                header_included: false,
            }
        };
        let path = Path::Net(NetPath {
            leg: Leg::SSide,
            local: child.local,
            remote: child.peer.ip(),
            transport,
        });
        bump(&mut self.counters.sealed);
        self.tx.push(path, buf);
    }
}
