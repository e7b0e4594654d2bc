//! The in-memory network and reactor: delivery as Linux sockets deliver (UDP payload with
//! ports; IPv4 raw with a header; IPv6 raw without), TUN in and out, the virtual clock, and
//! the whole driver running a relay-shaped forwarder with no root and no real time passing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipsec_xlat_io::Timestamp;

use common::{Forwarder, Ticker};
use ipsec_xlat_io::config::ListenConfig;
use ipsec_xlat_io::mem::MemNetwork;
use ipsec_xlat_io::setup::open_mem_leg;
use ipsec_xlat_io::{
    Driver, DriverConfig, Exit, IpProtocol, Leg, MemReactor, NetPath, OutDatagram, PacketPort,
    Path, Received, RecvBatch, Transport,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn recv_all(port: &mut dyn PacketPort) -> Vec<(ipsec_xlat_io::RxMeta, Vec<u8>)> {
    let mut batch = RecvBatch::new(8, 2048);
    let mut out = Vec::new();
    while let Ok(n) = port.recv_batch(&mut batch) {
        for i in 0..n {
            let (meta, bytes) = batch.get(i).unwrap();
            out.push((*meta, bytes.to_vec()));
        }
    }
    out
}

#[test]
fn udp_delivers_payload_with_addresses_and_ports() {
    let net = MemNetwork::new();
    let mut a = net
        .bind_udp(Leg::CSide, "192.0.2.1:500".parse().unwrap())
        .unwrap();
    let mut b = net
        .bind_udp(Leg::CSide, "192.0.2.2:0".parse().unwrap())
        .unwrap();
    let b_addr = b.local_addr().unwrap();
    assert_ne!(b_addr.port(), 0, "port 0 binds a free port");
    assert!(net
        .bind_udp(Leg::CSide, "192.0.2.1:500".parse().unwrap())
        .is_err());

    let sent = a
        .send_batch(&[
            OutDatagram {
                bytes: b"one",
                remote: b_addr.ip(),
                remote_port: b_addr.port(),
            },
            OutDatagram {
                bytes: b"two",
                remote: b_addr.ip(),
                remote_port: b_addr.port(),
            },
            OutDatagram {
                bytes: b"lost",
                remote: ip("192.0.2.99"),
                remote_port: 1,
            },
        ])
        .unwrap();
    assert_eq!(sent, 3);
    let got = recv_all(&mut b);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, b"one");
    assert_eq!(got[1].1, b"two");
    assert_eq!(got[0].0.remote, Some(ip("192.0.2.1")));
    assert_eq!(got[0].0.remote_port, 500);
    assert_eq!(got[0].0.local, Some(b_addr.ip()));
    assert_eq!(net.stats().delivered, 2);
    assert_eq!(net.stats().undeliverable, 1);
    assert!(recv_all(&mut a).is_empty());
}

#[test]
fn raw_ipv4_gets_a_kernel_style_header_and_header_included_passes_through() {
    let net = MemNetwork::new();
    let mut sender = net
        .bind_raw(Leg::SSide, ip("198.51.100.1"), IpProtocol::ESP, false)
        .unwrap();
    let mut hdrincl = net
        .bind_raw(Leg::SSide, ip("198.51.100.2"), IpProtocol::AH, true)
        .unwrap();
    let mut esp_rx = net
        .bind_raw(Leg::SSide, ip("203.0.113.10"), IpProtocol::ESP, false)
        .unwrap();
    let mut ah_rx = net
        .bind_raw(Leg::SSide, ip("203.0.113.10"), IpProtocol::AH, false)
        .unwrap();

    let payload = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];
    sender
        .send_batch(&[OutDatagram {
            bytes: &payload,
            remote: ip("203.0.113.10"),
            remote_port: 0,
        }])
        .unwrap();
    let got = recv_all(&mut esp_rx);
    assert_eq!(got.len(), 1);
    let packet = &got[0].1;
    assert_eq!(packet.len(), 20 + payload.len());
    assert_eq!(packet[0], 0x45);
    assert_eq!(
        u16::from_be_bytes([packet[2], packet[3]]) as usize,
        packet.len()
    );
    assert_eq!(packet[9], 50);
    assert_eq!(&packet[12..16], &[198, 51, 100, 1]);
    assert_eq!(&packet[16..20], &[203, 0, 113, 10]);
    assert_eq!(&packet[20..], &payload);
    // The header checksum verifies: the ones'-complement sum over the header is 0xffff.
    let sum: u32 = packet[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
    assert_eq!(got[0].0.remote, Some(ip("198.51.100.1")));

    // Header included: the bytes arrive untouched (Identification 0x1234 kept), and the
    // receiver is chosen by the header's protocol.
    let mut packet = vec![0x45, 0, 0, 28, 0x12, 0x34, 0, 0, 64, 51, 0, 0];
    packet.extend_from_slice(&[198, 51, 100, 2, 203, 0, 113, 10]);
    packet.extend_from_slice(&[50, 1, 0, 0, 0, 0, 0, 7]);
    hdrincl
        .send_batch(&[OutDatagram {
            bytes: &packet,
            remote: ip("203.0.113.10"),
            remote_port: 0,
        }])
        .unwrap();
    let got = recv_all(&mut ah_rx);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, packet);
    assert_eq!(got[0].0.remote, Some(ip("198.51.100.2")));
    assert!(recv_all(&mut esp_rx).is_empty());
}

#[test]
fn raw_ipv6_delivers_the_payload_only() {
    let net = MemNetwork::new();
    let mut a = net
        .bind_raw(Leg::SSide, ip("2001:db8::1"), IpProtocol::ESP, false)
        .unwrap();
    let mut b = net
        .bind_raw(Leg::SSide, ip("2001:db8::2"), IpProtocol::ESP, false)
        .unwrap();
    a.send_batch(&[OutDatagram {
        bytes: b"esp!",
        remote: ip("2001:db8::2"),
        remote_port: 0,
    }])
    .unwrap();
    let got = recv_all(&mut b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"esp!");
    assert_eq!(got[0].0.remote, Some(ip("2001:db8::1")));
    assert_eq!(got[0].0.local, Some(ip("2001:db8::2")));
}

#[test]
fn a_full_queue_drops_and_counts() {
    let net = MemNetwork::new();
    net.set_queue_limit(3);
    let mut a = net
        .bind_udp(Leg::CSide, "192.0.2.1:1000".parse().unwrap())
        .unwrap();
    let _b = net
        .bind_udp(Leg::CSide, "192.0.2.2:1000".parse().unwrap())
        .unwrap();
    let one = OutDatagram {
        bytes: b"x",
        remote: ip("192.0.2.2"),
        remote_port: 1000,
    };
    a.send_batch(&[one; 5]).unwrap();
    assert_eq!(net.stats().delivered, 3);
    assert_eq!(net.stats().overflowed, 2);
}

fn listen(address: &str, ike: u16, natt: u16) -> ListenConfig {
    ListenConfig {
        addresses: vec![ip(address)],
        ike_port: ike,
        natt_port: natt,
        raw_esp: true,
        raw_ah: true,
        raw_header_included: false,
        freebind: false,
    }
}

/// A relay-shaped forwarder on one in-memory network: client ⇄ relay (c-side) and relay ⇄
/// SGW (s-side), on UDP and raw ESP. The driver runs until the network is idle.
#[test]
fn driver_forwards_between_legs_on_the_memory_network() {
    let net = MemNetwork::new();
    let mut ports = open_mem_leg(&net, Leg::CSide, &listen("192.0.2.1", 500, 4500)).unwrap();
    ports.extend(open_mem_leg(&net, Leg::SSide, &listen("198.51.100.1", 500, 4500)).unwrap());
    assert_eq!(
        ports.len(),
        8,
        "UDP 500, UDP 4500, raw ESP, raw AH on each leg"
    );

    let mut client = net
        .bind_udp(Leg::CSide, "192.0.2.10:4500".parse().unwrap())
        .unwrap();
    let mut client_esp = net
        .bind_raw(Leg::CSide, ip("192.0.2.10"), IpProtocol::ESP, false)
        .unwrap();
    let mut sgw = net
        .bind_udp(Leg::SSide, "203.0.113.10:4500".parse().unwrap())
        .unwrap();
    let mut sgw_esp = net
        .bind_raw(Leg::SSide, ip("203.0.113.10"), IpProtocol::ESP, false)
        .unwrap();

    let rule = Box::new(|rx: &Received, _: &[u8]| {
        let Path::Net(p) = rx.path else { return None };
        let (leg, local, remote) = match p.leg {
            Leg::CSide => (Leg::SSide, ip("198.51.100.1"), ip("203.0.113.10")),
            Leg::SSide => (Leg::CSide, ip("192.0.2.1"), ip("192.0.2.10")),
        };
        let transport = match p.transport {
            Transport::Udp {
                local_port,
                remote_port,
            } => Transport::Udp {
                local_port,
                remote_port,
            },
            // IPv4 raw receive includes the header; send the ESP part on, kernel-style.
            Transport::Ip { protocol, .. } => Transport::Ip {
                protocol,
                header_included: false,
            },
        };
        Some(Path::Net(NetPath {
            leg,
            local,
            remote,
            transport,
        }))
    });
    // The raw path strips the received IPv4 header before forwarding.
    struct Strip(Forwarder);
    impl ipsec_xlat_io::Endpoint for Strip {
        fn handle_datagram(&mut self, now: Timestamp, rx: &Received, d: &[u8]) {
            let d = match rx.path {
                Path::Net(NetPath {
                    transport:
                        Transport::Ip {
                            header_included: true,
                            ..
                        },
                    ..
                }) => &d[20..],
                _ => d,
            };
            self.0.handle_datagram(now, rx, d);
        }
        fn handle_timeout(&mut self, now: Timestamp) {
            self.0.handle_timeout(now);
        }
        fn poll_transmit(
            &mut self,
            now: Timestamp,
            out: &mut [u8],
        ) -> Option<ipsec_xlat_io::Transmit> {
            self.0.poll_transmit(now, out)
        }
        fn poll_timeout(&self) -> Option<Timestamp> {
            self.0.poll_timeout()
        }
    }
    let mut endpoint = Strip(Forwarder::new(rule));

    let relay_natt = ip("192.0.2.1");
    client
        .send_batch(&[OutDatagram {
            bytes: b"ike up",
            remote: relay_natt,
            remote_port: 4500,
        }])
        .unwrap();
    client_esp
        .send_batch(&[OutDatagram {
            bytes: b"esp up",
            remote: relay_natt,
            remote_port: 0,
        }])
        .unwrap();
    sgw.send_batch(&[OutDatagram {
        bytes: b"ike down",
        remote: ip("198.51.100.1"),
        remote_port: 4500,
    }])
    .unwrap();
    sgw_esp
        .send_batch(&[OutDatagram {
            bytes: b"esp down",
            remote: ip("198.51.100.1"),
            remote_port: 0,
        }])
        .unwrap();

    let mut driver =
        Driver::new(MemReactor::new(net.clone()), ports, DriverConfig::default()).unwrap();
    let exit = driver.run(&mut endpoint, |_| {}).unwrap();
    assert_eq!(exit, Exit::Idle);
    assert_eq!(driver.stats().rx_packets, 4);
    assert_eq!(driver.stats().tx_packets, 4);

    let up = recv_all(&mut sgw);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, b"ike up");
    assert_eq!(
        (up[0].0.remote, up[0].0.remote_port),
        (Some(ip("198.51.100.1")), 4500)
    );
    let up = recv_all(&mut sgw_esp);
    assert_eq!(&up[0].1[20..], b"esp up");
    assert_eq!(&up[0].1[12..16], &[198, 51, 100, 1]);
    let down = recv_all(&mut client);
    assert_eq!(down[0].1, b"ike down");
    let down = recv_all(&mut client_esp);
    assert_eq!(&down[0].1[20..], b"esp down");

    // What the endpoint was told for the ESP packet from the client.
    let (rx, _) = endpoint
        .0
        .seen
        .iter()
        .find(|(rx, _)| {
            matches!(
                rx.path,
                Path::Net(NetPath {
                    transport: Transport::Ip { .. },
                    leg: Leg::CSide,
                    ..
                })
            )
        })
        .unwrap();
    assert_eq!(
        rx.path,
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: ip("192.0.2.1"),
            remote: ip("192.0.2.10"),
            transport: Transport::Ip {
                protocol: IpProtocol::ESP,
                header_included: true
            },
        })
    );
}

#[test]
fn tun_packets_go_in_and_out() {
    let net = MemNetwork::new();
    let (tun_port, tun) = net.tun();
    let c = net
        .bind_udp(Leg::CSide, "192.0.2.10:4500".parse().unwrap())
        .unwrap();
    let mut relay = net
        .bind_udp(Leg::CSide, "192.0.2.1:4500".parse().unwrap())
        .unwrap();
    // A client-shaped forwarder: TUN → relay, relay → TUN.
    let rule = Box::new(|rx: &Received, _: &[u8]| match rx.path {
        Path::Tun => Some(Path::Net(NetPath {
            leg: Leg::CSide,
            local: ip("192.0.2.10"),
            remote: ip("192.0.2.1"),
            transport: Transport::Udp {
                local_port: 4500,
                remote_port: 4500,
            },
        })),
        Path::Net(_) => Some(Path::Tun),
    });
    let mut endpoint = Forwarder::new(rule);
    tun.inject(b"inner packet out");
    relay
        .send_batch(&[OutDatagram {
            bytes: b"inner packet in",
            remote: ip("192.0.2.10"),
            remote_port: 4500,
        }])
        .unwrap();
    let ports: Vec<Box<dyn PacketPort>> = vec![Box::new(tun_port), Box::new(c)];
    let mut driver =
        Driver::new(MemReactor::new(net.clone()), ports, DriverConfig::default()).unwrap();
    assert_eq!(driver.run(&mut endpoint, |_| {}).unwrap(), Exit::Idle);
    assert_eq!(tun.take().as_deref(), Some(&b"inner packet in"[..]));
    assert_eq!(tun.take(), None);
    let got = recv_all(&mut relay);
    assert_eq!(got[0].1, b"inner packet out");
    assert_eq!(endpoint.seen[0].0.path, Path::Tun);
}

#[test]
fn virtual_clock_jumps_to_deadlines_without_sleeping() {
    let net = MemNetwork::new();
    let start = net.now();
    let wall = Instant::now();
    let mut ticker = Ticker::new(start, Duration::from_secs(3600), 3);
    let mut driver = Driver::new(
        MemReactor::new(net.clone()),
        Vec::new(),
        DriverConfig::default(),
    )
    .unwrap();
    assert_eq!(driver.run(&mut ticker, |_| {}).unwrap(), Exit::Drained);
    assert_eq!(ticker.fired.len(), 3);
    for (i, (deadline, now)) in ticker.fired.iter().enumerate() {
        assert_eq!(
            *deadline,
            start + Duration::from_secs(3600 * (i as u64 + 1))
        );
        assert_eq!(
            now, deadline,
            "the virtual clock lands exactly on the deadline"
        );
    }
    assert_eq!(net.now(), start + Duration::from_secs(3 * 3600));
    assert!(
        wall.elapsed() < Duration::from_secs(60),
        "three hours passed virtually"
    );
}

#[test]
fn mem_shutdown_handle_stops_the_loop() {
    let net = MemNetwork::new();
    let mut ticker = Ticker::new(net.now(), Duration::from_secs(1), usize::MAX);
    let mut driver = Driver::new(
        MemReactor::new(net.clone()),
        Vec::new(),
        DriverConfig::default(),
    )
    .unwrap();
    driver.shutdown_handle().shutdown();
    assert_eq!(driver.run(&mut ticker, |_| {}).unwrap(), Exit::Shutdown);
}
