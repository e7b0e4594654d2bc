//! The driver over real UDP sockets on 127.0.0.1 ephemeral ports (no root): packets in on one
//! leg come out on the other, both ways, with the sender's addresses and ports reported
//! exactly; timers fire on the real clock; shutdown from another thread stops the loop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Forwarder, Ticker};
use ipsec_xlat_io::sys::{OsSocket, SocketOptions};
use ipsec_xlat_io::{
    Driver, DriverConfig, Exit, Leg, NetPath, OsReactor, PacketPort, Path, Reactor, Transport,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PACKETS: usize = 200;

fn peer() -> UdpSocket {
    let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

#[test]
fn packets_cross_between_legs_both_ways_over_loopback() {
    let c_port =
        OsSocket::udp(Leg::CSide, (LOCALHOST, 0).into(), SocketOptions::default()).unwrap();
    let s_port =
        OsSocket::udp(Leg::SSide, (LOCALHOST, 0).into(), SocketOptions::default()).unwrap();
    let c_local = c_port.local_addr().unwrap();
    let s_local = s_port.local_addr().unwrap();
    let client = peer();
    let sgw = peer();
    let client_addr = client.local_addr().unwrap();
    let sgw_addr = sgw.local_addr().unwrap();

    // The rule: c-side packets go to the "SGW", s-side packets back to the last c-side sender.
    let last_client = Arc::new(Mutex::new(None::<SocketAddr>));
    let last = Arc::clone(&last_client);
    let (s_port_no, c_port_no) = (s_local.port(), c_local.port());
    let rule = Box::new(move |rx: &ipsec_xlat_io::Received, _: &[u8]| {
        let Path::Net(path) = rx.path else {
            return None;
        };
        let Transport::Udp { remote_port, .. } = path.transport else {
            return None;
        };
        match path.leg {
            Leg::CSide => {
                *last.lock().unwrap() = Some(SocketAddr::new(path.remote, remote_port));
                Some(Path::Net(NetPath {
                    leg: Leg::SSide,
                    local: LOCALHOST,
                    remote: sgw_addr.ip(),
                    transport: Transport::Udp {
                        local_port: s_port_no,
                        remote_port: sgw_addr.port(),
                    },
                }))
            }
            Leg::SSide => {
                let to = (*last.lock().unwrap())?;
                Some(Path::Net(NetPath {
                    leg: Leg::CSide,
                    local: LOCALHOST,
                    remote: to.ip(),
                    transport: Transport::Udp {
                        local_port: c_port_no,
                        remote_port: to.port(),
                    },
                }))
            }
        }
    });
    let mut endpoint = Forwarder::new(rule);
    let ports: Vec<Box<dyn PacketPort>> = vec![Box::new(c_port), Box::new(s_port)];
    let mut driver =
        Driver::new(OsReactor::new().unwrap(), ports, DriverConfig::default()).unwrap();
    let stop = driver.shutdown_handle();
    let runner = thread::spawn(move || {
        let exit = driver.run(&mut endpoint, |_| {}).unwrap();
        (exit, endpoint, *driver.stats())
    });

    let mut buf = [0u8; 2048];
    for i in 0..PACKETS {
        let up = format!("up {i}");
        client.send_to(up.as_bytes(), c_local).unwrap();
        let (n, from) = sgw.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], up.as_bytes());
        assert_eq!(from, s_local, "leaves by the s-side socket");

        let down = format!("down {i} {}", "x".repeat(i * 7));
        sgw.send_to(down.as_bytes(), s_local).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], down.as_bytes());
        assert_eq!(from, c_local, "leaves by the c-side socket");
    }

    stop.shutdown();
    let (exit, endpoint, stats) = runner.join().unwrap();
    assert_eq!(exit, Exit::Shutdown);
    assert_eq!(endpoint.seen.len(), 2 * PACKETS);
    assert_eq!(stats.rx_packets, 2 * PACKETS as u64);
    assert_eq!(stats.tx_packets, 2 * PACKETS as u64);
    assert_eq!(
        stats.tx_unroutable + stats.tx_errors + stats.rx_truncated,
        0
    );
    // What the endpoint was told about the first packet: exact addresses and ports.
    let (rx, bytes) = &endpoint.seen[0];
    assert_eq!(bytes, b"up 0");
    assert_eq!(
        rx.path,
        Path::Net(NetPath {
            leg: Leg::CSide,
            local: LOCALHOST,
            remote: client_addr.ip(),
            transport: Transport::Udp {
                local_port: c_local.port(),
                remote_port: client_addr.port(),
            },
        })
    );
}

#[test]
fn a_burst_is_received_and_forwarded_in_batches() {
    let c_port =
        OsSocket::udp(Leg::CSide, (LOCALHOST, 0).into(), SocketOptions::default()).unwrap();
    let s_port =
        OsSocket::udp(Leg::SSide, (LOCALHOST, 0).into(), SocketOptions::default()).unwrap();
    let c_local = c_port.local_addr().unwrap();
    let s_local_port = s_port.local_addr().unwrap().port();
    let sender = peer();
    let sink = peer();
    let sink_addr = sink.local_addr().unwrap();
    const BURST: usize = 256;
    // Queue the whole burst before the driver starts, so receive batches fill up.
    for i in 0..BURST {
        sender.send_to(&(i as u32).to_be_bytes(), c_local).unwrap();
    }
    let rule = Box::new(move |_: &ipsec_xlat_io::Received, _: &[u8]| {
        Some(Path::Net(NetPath {
            leg: Leg::SSide,
            local: LOCALHOST,
            remote: sink_addr.ip(),
            transport: Transport::Udp {
                local_port: s_local_port,
                remote_port: sink_addr.port(),
            },
        }))
    });
    let mut endpoint = Forwarder::new(rule);
    endpoint.limit = Some(BURST);
    let ports: Vec<Box<dyn PacketPort>> = vec![Box::new(c_port), Box::new(s_port)];
    // Small batches and two per turn: the burst needs many turns, so the loop must come back
    // to a port it left with data (edge-triggered readiness will not report it again).
    let config = DriverConfig {
        batch_size: 16,
        max_batches_per_port: 2,
        ..DriverConfig::default()
    };
    let mut driver = Driver::new(OsReactor::new().unwrap(), ports, config).unwrap();
    let stop = driver.shutdown_handle();
    // Stops the loop if the burst never completes; cancelled as soon as the test is done.
    let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if cancelled.recv_timeout(Duration::from_secs(10)).is_err() {
            stop.shutdown();
        }
    });
    let exit = driver.run(&mut endpoint, |_| {}).unwrap();
    assert_eq!(
        exit,
        Exit::Drained,
        "all {BURST} forwarded before the watchdog"
    );
    let stats = *driver.stats();
    assert_eq!(stats.rx_packets, BURST as u64);
    assert_eq!(stats.tx_packets, BURST as u64);
    assert!(
        stats.rx_batches < BURST as u64 / 4,
        "recvmmsg took several packets per call: {stats:?}"
    );
    assert!(
        stats.tx_batches < BURST as u64,
        "sendmmsg sent several per call: {stats:?}"
    );
    // Order is kept end to end.
    let mut buf = [0u8; 16];
    for i in 0..BURST {
        let n = sink.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &(i as u32).to_be_bytes());
    }
    cancel.send(()).unwrap();
    watchdog.join().unwrap();
}

#[test]
fn timers_fire_in_order_on_the_real_clock() {
    let wall = Instant::now();
    let mut driver = Driver::new(
        OsReactor::new().unwrap(),
        Vec::new(),
        DriverConfig::default(),
    )
    .unwrap();
    let start = driver.reactor().now();
    let mut ticker = Ticker::new(start, Duration::from_millis(20), 5);
    let exit = driver.run(&mut ticker, |_| {}).unwrap();
    assert_eq!(exit, Exit::Drained);
    assert_eq!(ticker.fired.len(), 5);
    for (i, (deadline, now)) in ticker.fired.iter().enumerate() {
        assert_eq!(
            *deadline,
            start + Duration::from_millis(20 * (i as u64 + 1))
        );
        assert!(now >= deadline, "handle_timeout is never early");
    }
    assert_eq!(driver.stats().timeouts, 5);
    assert!(wall.elapsed() >= Duration::from_millis(100));
}

#[test]
fn unroutable_transmits_are_counted_not_sent() {
    let c_port =
        OsSocket::udp(Leg::CSide, (LOCALHOST, 0).into(), SocketOptions::default()).unwrap();
    let c_local = c_port.local_addr().unwrap();
    let sender = peer();
    sender.send_to(b"hello", c_local).unwrap();
    // Asks for an s-side socket that does not exist, then one on a port nobody bound.
    let mut count = 0;
    let rule = Box::new(move |_: &ipsec_xlat_io::Received, _: &[u8]| {
        count += 1;
        Some(Path::Net(NetPath {
            leg: if count == 1 { Leg::SSide } else { Leg::CSide },
            local: LOCALHOST,
            remote: LOCALHOST,
            transport: Transport::Udp {
                local_port: 1,
                remote_port: 9,
            },
        }))
    });
    let mut endpoint = Forwarder::new(rule);
    let ports: Vec<Box<dyn PacketPort>> = vec![Box::new(c_port)];
    let mut driver =
        Driver::new(OsReactor::new().unwrap(), ports, DriverConfig::default()).unwrap();
    sender.send_to(b"again", c_local).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while driver.stats().rx_packets < 2 && Instant::now() < deadline {
        driver.turn(&mut endpoint);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(driver.stats().rx_packets, 2);
    assert_eq!(driver.stats().tx_unroutable, 2);
    assert_eq!(driver.stats().tx_packets, 0);
}
