//! Per received packet: UDP on a leg's IKE port goes to the IKE relay; on a NAT-T port, IKE
//! after the non-ESP marker goes there too, a NAT-keepalive is absorbed and anything else is
//! the datapath's (RFC 3948 §2); raw ESP/AH is the datapath's. And the role's [`Endpoint`]
//! contract.

use core::net::{IpAddr, SocketAddr};

use crate::net::{Endpoint, NetPath, Path, Received, Transmit, Transport};
use crate::relay::{Action, Arrival, HEADROOM};
use crate::time::Timestamp;
use crate::wire::encap::{classify, Encapsulated};

use super::counters::bump;
use super::paths::framing_path;
use super::{Relay, RelayEvent, TableSpis};

impl Relay {
    fn on_udp(
        &mut self,
        now: Timestamp,
        path: &NetPath,
        local_port: u16,
        remote_port: u16,
        bytes: &[u8],
    ) {
        if self.ports.leg_ports(path.leg).is_natt(local_port) {
            match classify(bytes) {
                Encapsulated::Ike(_) => {}
                Encapsulated::Keepalive => {
                    bump(&mut self.counters.keepalives);
                    return;
                }
                Encapsulated::Esp(_) | Encapsulated::Garbage(_) => {
                    // The datapath classifies again and counts what it refuses.
                    let arrival = Arrival::Udp {
                        src: SocketAddr::new(path.remote, remote_port),
                        dst: SocketAddr::new(path.local, local_port),
                    };
                    self.rewrite(now, arrival, bytes);
                    return;
                }
            }
        }
        let (local, remote) = self.ports.ike_addresses(path, local_port, remote_port);
        bump(&mut self.counters.ike_datagrams);
        let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
        self.ike
            .handle_datagram(now, local, remote, bytes, &mut spis);
        self.drain_ike(now);
    }

    fn rewrite(&mut self, now: Timestamp, arrival: Arrival, bytes: &[u8]) {
        bump(&mut self.counters.ipsec_packets);
        let mut buf = self.tx.buffer();
        buf.resize(bytes.len().saturating_add(HEADROOM), 0);
        let path = match self.datapath.rewrite(now, arrival, bytes, &mut buf) {
            Action::Forward(t) => {
                let len = t.bytes.len();
                Some((framing_path(t.leg, t.framing, t.bytes), len))
            }
            Action::Drop(reason) => {
                self.last_drop = Some(reason);
                None
            }
        };
        match path {
            Some((path, len)) => {
                buf.truncate(len);
                self.tx.push(path, buf);
            }
            None => self.tx.recycle(buf),
        }
    }
}

impl Endpoint for Relay {
    fn handle_datagram(&mut self, now: Timestamp, rx: &Received, datagram: &[u8]) {
        let Path::Net(path) = rx.path else {
            bump(&mut self.counters.ignored);
            return;
        };
        match path.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => self.on_udp(now, &path, local_port, remote_port, datagram),
            Transport::Ip {
                protocol,
                header_included,
            } => {
                let arrival = match (path.remote, path.local) {
                    (IpAddr::V6(src), IpAddr::V6(dst)) if !header_included => {
                        Arrival::Ipv6Payload { src, dst, protocol }
                    }
                    _ => Arrival::Ip,
                };
                self.rewrite(now, arrival, datagram);
            }
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
        self.ike.handle_timeout(now, &mut spis);
        self.drain_ike(now);
        while let Some(expired) = self.datapath.table_mut().pop_expired(now) {
            bump(&mut self.counters.entries_expired);
            self.events.push_back(RelayEvent::IpsecExpired {
                id: expired.id,
                cause: expired.cause,
            });
        }
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        self.tx.pop_into(out)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        let table = self
            .datapath
            .table()
            .next_expiry()
            .filter(|at| *at != Timestamp::NEVER);
        [self.ike.poll_timeout(), table].into_iter().flatten().min()
    }
}
