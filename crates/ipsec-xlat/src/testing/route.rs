//! How a datagram put on the simulated wire reaches its receiver: which node owns the
//! destination, what NAT does to it on the way, and what socket form the receiver gets.

use core::net::IpAddr;
use core::time::Duration;

use hashbrown::HashMap;

use crate::net::{Leg, NetPath, Path, Received, Transport};
use crate::time::Timestamp;
use crate::wire::ipsec_packet::wrap;
use crate::wire::IpProtocol;

/// The IPv6 fixed header, which a raw IPv6 receiver never sees (RFC 3542).
const IPV6_HEADER_LEN: usize = 40;

/// First public port a simulated NAT hands out; each new mapping takes the next.
const FIRST_NAT_PORT: u16 = 40_000;

/// One NAT between a private address and a public one: address and port translation for UDP,
/// address translation for raw IP (as Linux's masquerade does for ESP).
#[derive(Debug, Clone)]
pub(crate) struct Nat {
    pub(crate) private: IpAddr,
    pub(crate) public: IpAddr,
    /// UDP mappings: private port -> (public port, last use).
    out: HashMap<u16, (u16, Timestamp)>,
    next_port: u16,
    /// Mappings unused for this long are forgotten (a home router's UDP timeout).
    pub(crate) timeout: Option<Duration>,
}

impl Nat {
    pub(crate) fn new(private: IpAddr, public: IpAddr) -> Self {
        Self {
            private,
            public,
            out: HashMap::new(),
            next_port: FIRST_NAT_PORT,
            timeout: None,
        }
    }

    /// Forgets every mapping and moves on to new public ports: what a NAT that rebooted or
    /// timed out does, as the peer sees it.
    pub(crate) fn rebind(&mut self) {
        self.out.clear();
        self.next_port = self.next_port.wrapping_add(1000).max(FIRST_NAT_PORT);
    }

    fn expire(&mut self, now: Timestamp) {
        if let Some(timeout) = self.timeout {
            self.out
                .retain(|_, (_, used)| now.saturating_duration_since(*used) < timeout);
        }
    }

    /// The public port for a datagram from the private `port`, making a mapping if needed.
    pub(crate) fn outbound(&mut self, now: Timestamp, port: u16) -> u16 {
        self.expire(now);
        if let Some((public, used)) = self.out.get_mut(&port) {
            *used = now;
            return *public;
        }
        let public = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(FIRST_NAT_PORT);
        self.out.insert(port, (public, now));
        public
    }

    /// The private port a datagram to the public `port` goes to, if a mapping holds it.
    pub(crate) fn inbound(&mut self, now: Timestamp, port: u16) -> Option<u16> {
        self.expire(now);
        let (private, (_, used)) = self
            .out
            .iter_mut()
            .find(|(_, (public, _))| *public == port)?;
        *used = now;
        Some(*private)
    }
}

/// What a receiver on `leg` at `dst` gets for a datagram of `transport` (as the sender named
/// it) from `src`: the receive path and the bytes in the receiver's socket form. `None` when
/// the bytes cannot be put in that form (mixed address families, oversized).
pub(crate) fn delivery(
    leg: Leg,
    src: IpAddr,
    dst: IpAddr,
    transport: Transport,
    bytes: &[u8],
) -> Option<(Received, Vec<u8>)> {
    let (transport, bytes) = match transport {
        Transport::Udp {
            local_port,
            remote_port,
        } => (
            Transport::Udp {
                local_port: remote_port,
                remote_port: local_port,
            },
            bytes.to_vec(),
        ),
        Transport::Ip {
            protocol,
            header_included,
        } => raw(src, dst, protocol, header_included, bytes)?,
    };
    let path = Path::Net(NetPath {
        leg,
        local: dst,
        remote: src,
        transport,
    });
    Some((Received { path }, bytes))
}

/// Raw IP as Linux delivers it: IPv4 with the header, IPv6 without.
fn raw(
    src: IpAddr,
    dst: IpAddr,
    protocol: IpProtocol,
    header_included: bool,
    bytes: &[u8],
) -> Option<(Transport, Vec<u8>)> {
    let received = match (dst, header_included) {
        (IpAddr::V4(_), true) => bytes.to_vec(),
        (IpAddr::V4(_), false) => {
            let mut packet = Vec::new();
            wrap(src, dst, protocol, bytes, &mut packet)?;
            packet
        }
        (IpAddr::V6(_), true) => bytes.get(IPV6_HEADER_LEN..)?.to_vec(),
        (IpAddr::V6(_), false) => bytes.to_vec(),
    };
    let transport = Transport::Ip {
        protocol,
        header_included: dst.is_ipv4(),
    };
    Some((transport, received))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn nat_maps_ports_and_forgets_them_on_rebind_and_timeout() {
        let mut nat = Nat::new("10.0.0.2".parse().unwrap(), "203.0.113.9".parse().unwrap());
        let t0 = Timestamp::ZERO;
        let first = nat.outbound(t0, 4500);
        assert_eq!(
            nat.outbound(t0, 4500),
            first,
            "one mapping per private port"
        );
        assert_eq!(nat.inbound(t0, first), Some(4500));
        assert_eq!(nat.inbound(t0, first.wrapping_add(7)), None);
        nat.rebind();
        assert_eq!(nat.inbound(t0, first), None, "rebinding drops the mapping");
        let second = nat.outbound(t0, 4500);
        assert_ne!(second, first, "and the next one has a new public port");
        nat.timeout = Some(Duration::from_secs(30));
        let later = t0 + Duration::from_secs(31);
        assert_eq!(
            nat.inbound(later, second),
            None,
            "an idle mapping times out"
        );
    }

    #[test]
    fn raw_ipv4_arrives_with_a_header_and_ipv6_without() {
        let esp = [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1];
        let (rx, bytes) = delivery(
            Leg::SSide,
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
            Transport::Ip {
                protocol: IpProtocol::ESP,
                header_included: false,
            },
            &esp,
        )
        .unwrap();
        assert_eq!(bytes.len(), 20 + esp.len());
        assert_eq!(&bytes[20..], &esp);
        assert!(matches!(
            rx.path,
            Path::Net(NetPath {
                transport: Transport::Ip {
                    header_included: true,
                    ..
                },
                ..
            })
        ));
        let (_, bytes) = delivery(
            Leg::SSide,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            Transport::Ip {
                protocol: IpProtocol::ESP,
                header_included: false,
            },
            &esp,
        )
        .unwrap();
        assert_eq!(bytes, esp);
    }
}
