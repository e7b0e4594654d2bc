//! Bytes in and out: which datagram from the relay is IKE and which is ESP/AH (RFC 3948 §2
//! on the NAT-T port), sealing inner packets from the TUN side and opening IPsec packets
//! from the relay, and the c-side port view (the IKE client thinks in 500/4500).

use core::net::{IpAddr, SocketAddr};

use super::Client;
use crate::ike::IkeDatagram;
use crate::net::{Leg, NetPath, Path, Received, Transport};
use crate::wire::encap::{classify, Encapsulated};
use crate::wire::ipsec_packet::{ipsec_part, outer_spi, wrap};
use crate::wire::IpProtocol;
use crate::Timestamp;

/// The outbound sequence number from which the newest bundle is rekeyed whatever its
/// lifetime: three quarters of the 32-bit space (RFC 4303 §3.3.3: a sender without ESN must
/// not let the counter cycle, it must rekey first). A time-only rekey at 90 % of an hour runs
/// out above about 1.2 million packets a second; this leaves a quarter of the space, 2^30
/// packets, for the quick mode to finish.
pub(crate) const REKEY_AT_SEQUENCE: u64 = 0xC000_0000;

/// Once past [`REKEY_AT_SEQUENCE`], a refused rekey (a quick mode already running) is
/// retried every this many packets, not on every packet.
const REKEY_RETRY_EVERY: u64 = 4096;

/// Room for what sealing adds to an inner packet (outer IPv6 header, ESP header, IV, padding,
/// trailer, ICV, AH).
const SEAL_OVERHEAD: usize = 256;

impl Client {
    /// A datagram from the TUN side (an inner packet to seal) or from the network (IKE or
    /// IPsec from the relay; anything else is counted and ignored).
    pub(super) fn receive(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let path = match rx.path {
            Path::Tun => {
                self.seal(now, datagram);
                return;
            }
            Path::Net(path) => path,
        };
        if path.remote.to_canonical() != self.settings.relay.to_canonical() {
            self.counters.ignored = self.counters.ignored.saturating_add(1);
            return;
        }
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => self.receive_udp(now, path, local_port, remote_port, datagram),
            Transport::Ip {
                protocol,
                header_included,
            } => self.open(
                now,
                datagram,
                header_included,
                protocol,
                path.remote,
                path.local,
            ),
        }
    }

    /// A UDP datagram from the relay. On the NAT-T port, `wire::encap::classify` (RFC 3948
    /// §2) tells IKE after the non-ESP marker from ESP, a keepalive and garbage (the last two
    /// counted as ignored); on the IKE port it is IKE.
    fn receive_udp(
        &mut self,
        now: Timestamp,
        path: NetPath,
        local_port: u16,
        remote_port: u16,
        datagram: &[u8],
    ) {
        let ike_part = if self.settings.own_ports.is_natt(local_port) {
            match classify(datagram) {
                Encapsulated::Ike(ike) => ike,
                Encapsulated::Esp(_) => {
                    self.open(
                        now,
                        datagram,
                        false,
                        IpProtocol::ESP,
                        path.remote,
                        path.local,
                    );
                    return;
                }
                Encapsulated::Keepalive | Encapsulated::Garbage(_) => {
                    self.counters.ignored = self.counters.ignored.saturating_add(1);
                    return;
                }
            }
        } else {
            datagram
        };
        self.counters.ike_datagrams = self.counters.ike_datagrams.saturating_add(1);
        let local = SocketAddr::new(
            self.settings.local,
            self.settings.own_ports.to_core(local_port),
        );
        let remote = SocketAddr::new(
            self.settings.relay,
            self.settings.relay_ports.to_core(remote_port),
        );
        // During a reauthentication two IKE clients run: the initiator cookie says whose
        // exchange a message belongs to.
        let cookie = ike_part.get(..8);
        let for_next = self
            .next
            .as_ref()
            .is_some_and(|n| cookie == Some(&n.relay_cookies().initiator[..]));
        let target = if for_next {
            self.next.as_mut()
        } else {
            self.ike.as_mut()
        };
        match target {
            Some(ike) => ike.handle_datagram(now, local, remote, datagram),
            None => {
                self.counters.ignored = self.counters.ignored.saturating_add(1);
                return;
            }
        }
        self.drain_ike(now);
    }

    /// Starts a quick mode because the newest bundle's sequence numbers near their end; marks
    /// the bundle so it is asked once (a refused attempt is retried a few thousand packets
    /// later).
    fn rekey_for_sequence(&mut self, now: Timestamp) {
        let Some(ike) = self.ike.as_mut() else {
            return;
        };
        if ike.rekey(now).is_ok() {
            if let Some(child) = self.children.last_mut() {
                child.sequence_rekey = true;
            }
            self.counters.sequence_rekeys = self.counters.sequence_rekeys.saturating_add(1);
            self.drain_ike(now);
        }
    }

    /// The path to the relay over `transport`.
    fn relay_path(&self, transport: Transport) -> Path {
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: self.settings.local,
            remote: self.settings.relay,
            transport,
        })
    }

    /// Queues an IKE message, from the IKE client's 500/4500 view to the real ports.
    pub(super) fn send_ike(&mut self, t: IkeDatagram) {
        let path = self.relay_path(Transport::Udp {
            local_port: self.settings.own_ports.to_real(t.local.port()),
            remote_port: self.settings.relay_ports.to_real(t.remote.port()),
        });
        self.tx.push(path, t.payload);
    }

    /// TUN → relay: the newest bundle seals; the IPsec part goes in UDP, or by raw IP with
    /// or without the IPv4 header we wrote.
    fn seal(&mut self, now: Timestamp, inner: &[u8]) {
        self.counters.tun_packets = self.counters.tun_packets.saturating_add(1);
        let Some(child) = self.children.last_mut() else {
            self.counters.no_sa = self.counters.no_sa.saturating_add(1);
            return;
        };
        let mut buf = self.tx.buffer();
        buf.resize(inner.len().saturating_add(SEAL_OVERHEAD), 0);
        let mut rekey_due = false;
        let part = match child.seal(inner, now, &mut self.rng, &mut buf) {
            Ok(sealed) => {
                buf.truncate(sealed.len);
                let seq = sealed.esp_seq.or(sealed.ah_seq).unwrap_or(0);
                rekey_due = !child.sequence_rekey
                    && seq >= REKEY_AT_SEQUENCE
                    && seq % REKEY_RETRY_EVERY == REKEY_AT_SEQUENCE % REKEY_RETRY_EVERY;
                ipsec_part(&buf)
            }
            Err(_) => None,
        };
        if rekey_due {
            self.rekey_for_sequence(now);
        }
        let Some((start, protocol, len)) = part else {
            self.counters.seal_errors = self.counters.seal_errors.saturating_add(1);
            self.tx.recycle(buf);
            return;
        };
        buf.truncate(len);
        let transport = if self.settings.c_udp_encap {
            buf.drain(..start);
            Transport::Udp {
                local_port: self.settings.own_ports.natt,
                remote_port: self.settings.relay_ports.natt,
            }
        } else if self.settings.raw_header_included && self.settings.relay.is_ipv4() {
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
        self.counters.sealed = self.counters.sealed.saturating_add(1);
        let path = self.relay_path(transport);
        self.tx.push(path, buf);
    }

    /// relay → TUN: opens an IPsec packet. `whole` says whether `bytes` start with the IP
    /// header (IPv4 raw sockets) or must have one put in front (`protocol` from `src`).
    fn open(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        whole: bool,
        protocol: IpProtocol,
        src: IpAddr,
        dst: IpAddr,
    ) {
        self.counters.ipsec_packets = self.counters.ipsec_packets.saturating_add(1);
        let mut packet = core::mem::take(&mut self.scratch);
        let built = if whole {
            packet.clear();
            packet.extend_from_slice(bytes);
            Some(())
        } else {
            wrap(src, dst, protocol, bytes, &mut packet)
        };
        let spi = built.and_then(|()| outer_spi(&packet));
        // Room to rebuild a longer SGW-side header in place (IPv4 client leg, IPv6 SGW leg);
        // the SA code reads the packet's length from its IP header, not from the slice.
        packet.resize(packet.len().saturating_add(crate::sa::INBOUND_ROOM), 0);
        let child = spi.and_then(|spi| {
            self.children
                .iter_mut()
                .chain(self.draining.iter_mut().map(|(_, c)| c))
                .find(|c| c.c_lookup() == spi)
        });
        match child {
            None => self.counters.unknown_spi = self.counters.unknown_spi.saturating_add(1),
            Some(child) => match child.open(&mut packet, now) {
                Ok(opened) => {
                    if !opened.is_dummy() {
                        self.counters.opened = self.counters.opened.saturating_add(1);
                        self.tx.push_copy(Path::Tun, opened.packet);
                    }
                }
                Err(_) => {
                    self.counters.open_errors = self.counters.open_errors.saturating_add(1);
                }
            },
        }
        self.scratch = packet;
    }
}
