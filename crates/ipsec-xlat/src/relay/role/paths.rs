//! Between the wire and the IKE relay: it sees one c-side address and the standard ports
//! (500, 4500), the wire has the configured ports, each SGW's own ports and, on a wildcard
//! c-side, whichever local address a client wrote to. These views translate both ways.

use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;

use crate::ike::{IkeDatagram, IkeTranslation, IpsecTranslation};
use crate::net::{Leg, NetPath, Path, PeerPorts, PortPair, Transport};
use crate::relay::Framing;
use crate::wire::IpProtocol;

/// Clients whose c-side local address is remembered at most (one per client address,
/// forgotten with its last IKE session).
const C_LOCAL_LIMIT: usize = 1 << 16;

/// The relay's addresses and ports as the wire and the IKE relay see them.
#[derive(Debug)]
pub(super) struct PortViews {
    /// The c-side address the IKE relay knows; every c-side datagram reaches it as this.
    pub core_c_side: IpAddr,
    pub c_ports: PortPair,
    pub s_ports: PortPair,
    pub sgws: PeerPorts,
    /// With a wildcard c-side: the address each client actually talks to.
    pub c_local: HashMap<SocketAddr, IpAddr>,
}

impl PortViews {
    /// The real ports of a leg's sockets.
    pub(crate) fn leg_ports(&self, leg: Leg) -> PortPair {
        match leg {
            Leg::CSide => self.c_ports,
            Leg::SSide => self.s_ports,
        }
    }

    /// The (local, remote) pair the IKE relay is given for a UDP datagram on `path`; on a
    /// wildcard c-side, remembers the local address the client wrote to.
    pub(crate) fn ike_addresses(
        &mut self,
        path: &NetPath,
        local_port: u16,
        remote_port: u16,
    ) -> (SocketAddr, SocketAddr) {
        let ports = self.leg_ports(path.leg);
        let remote = SocketAddr::new(path.remote, remote_port);
        match path.leg {
            Leg::CSide => {
                if self.core_c_side.is_unspecified() {
                    self.remember_c_local(remote, path.local);
                }
                (
                    SocketAddr::new(self.core_c_side, ports.to_core(local_port)),
                    remote,
                )
            }
            Leg::SSide => (
                SocketAddr::new(path.local, ports.to_core(local_port)),
                self.sgws.to_core(remote),
            ),
        }
    }

    fn remember_c_local(&mut self, client: SocketAddr, local: IpAddr) {
        if self.c_local.len() < C_LOCAL_LIMIT || self.c_local.contains_key(&client) {
            self.c_local.insert(client, local);
        }
    }

    /// The c-side address `client` talks to: the remembered one on a wildcard c-side.
    pub(crate) fn relay_c(&self, client: SocketAddr, reported: IpAddr) -> Option<IpAddr> {
        if self.core_c_side.is_unspecified() {
            self.c_local.get(&client).copied()
        } else {
            Some(reported)
        }
    }

    /// How an IKE datagram the IKE relay sends goes on the wire.
    pub(crate) fn ike_path(&self, t: &IkeDatagram) -> Path {
        if t.local.ip() == self.core_c_side {
            let local = self
                .c_local
                .get(&t.remote)
                .copied()
                .unwrap_or(self.core_c_side);
            Path::Net(NetPath {
                leg: Leg::CSide,
                local,
                remote: t.remote.ip(),
                transport: Transport::Udp {
                    local_port: self.c_ports.to_real(t.local.port()),
                    remote_port: t.remote.port(),
                },
            })
        } else {
            let remote = self.sgws.to_real(t.remote);
            Path::Net(NetPath {
                leg: Leg::SSide,
                local: t.local.ip(),
                remote: remote.ip(),
                transport: Transport::Udp {
                    local_port: self.s_ports.to_real(t.local.port()),
                    remote_port: remote.port(),
                },
            })
        }
    }

    /// An IKE entry with the ports as they are on the wire (the IKE relay reports standard
    /// ones).
    pub(crate) fn real_ike(&self, mut e: IkeTranslation) -> IkeTranslation {
        e.relay_c.set_port(self.c_ports.to_real(e.relay_c.port()));
        e.relay_s.set_port(self.s_ports.to_real(e.relay_s.port()));
        e.sgw = self.sgws.to_real(e.sgw);
        e
    }

    /// An IPsec entry with the ports as they are on the wire.
    pub(crate) fn real_ipsec(&self, mut t: IpsecTranslation) -> IpsecTranslation {
        t.relay_c.set_port(self.c_ports.to_real(t.relay_c.port()));
        t.relay_s.set_port(self.s_ports.to_real(t.relay_s.port()));
        t.sgw = self.sgws.to_real(t.sgw);
        t
    }
}

/// How the I/O shell sends what the datapath produced.
pub(super) fn framing_path(leg: Leg, framing: Framing, bytes: &[u8]) -> Path {
    let (local, remote, transport) = match framing {
        Framing::Ipv4 { src, dst } => (
            IpAddr::V4(src),
            IpAddr::V4(dst),
            Transport::Ip {
                protocol: IpProtocol(bytes.get(9).copied().unwrap_or(0)),
                header_included: true,
            },
        ),
        Framing::Ipv6 {
            src,
            dst,
            next_header,
        } => (
            IpAddr::V6(src),
            IpAddr::V6(dst),
            Transport::Ip {
                protocol: next_header,
                header_included: false,
            },
        ),
        Framing::Udp { src, dst } => (
            src.ip(),
            dst.ip(),
            Transport::Udp {
                local_port: src.port(),
                remote_port: dst.port(),
            },
        ),
    };
    Path::Net(NetPath {
        leg,
        local,
        remote,
        transport,
    })
}
