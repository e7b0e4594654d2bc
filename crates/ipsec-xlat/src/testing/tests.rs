//! The harness on two toy endpoints: a pinger that sends one datagram per second and counts
//! answers, and an echo that answers everything from where it came.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use core::net::IpAddr;
use core::time::Duration;

use super::*;
use crate::net::{Endpoint, Leg, NetPath, Path, Received, Transmit, Transport};
use crate::time::Timestamp;

struct Pinger {
    to: IpAddr,
    next: Option<Timestamp>,
    left: u32,
    queued: Vec<Vec<u8>>,
    answers: Vec<(Vec<u8>, NetPath)>,
    sent: u32,
}

impl Pinger {
    fn new(to: IpAddr, count: u32) -> Self {
        Self {
            to,
            next: Some(Timestamp::ZERO),
            left: count,
            queued: Vec::new(),
            answers: Vec::new(),
            sent: 0,
        }
    }
}

impl Endpoint for Pinger {
    fn handle_datagram(&mut self, _now: Timestamp, rx: &Received, datagram: &[u8]) {
        if let Path::Net(path) = rx.path {
            self.answers.push((datagram.to_vec(), path));
        }
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        if self.left == 0 {
            self.next = None;
            return;
        }
        self.left -= 1;
        self.queued.push(self.sent.to_be_bytes().to_vec());
        self.sent += 1;
        self.next = Some(now + Duration::from_secs(1));
    }

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        let bytes = self.queued.pop()?;
        out[..bytes.len()].copy_from_slice(&bytes);
        Some(Transmit {
            path: Path::Net(NetPath {
                leg: Leg::CSide,
                local: "0.0.0.0".parse().unwrap(),
                remote: self.to,
                transport: Transport::Udp {
                    local_port: 4500,
                    remote_port: 4500,
                },
            }),
            len: bytes.len(),
        })
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        self.next
    }
}

#[derive(Default)]
struct Echo {
    queued: Vec<(Path, Vec<u8>)>,
    seen_from: Vec<NetPath>,
}

impl Endpoint for Echo {
    fn handle_datagram(&mut self, _now: Timestamp, rx: &Received, datagram: &[u8]) {
        if let Path::Net(path) = rx.path {
            self.seen_from.push(path);
        }
        self.queued.push((rx.path, datagram.to_vec()));
    }

    fn handle_timeout(&mut self, _now: Timestamp) {}

    fn poll_transmit(&mut self, _now: Timestamp, out: &mut [u8]) -> Option<Transmit> {
        let (path, bytes) = self.queued.pop()?;
        out[..bytes.len()].copy_from_slice(&bytes);
        Some(Transmit {
            path,
            len: bytes.len(),
        })
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        None
    }
}

const CLIENT: &str = "198.51.100.10";
const SERVER: &str = "198.51.100.1";

fn pair(count: u32) -> (Network, NodeId, NodeId) {
    let mut net = Network::new(Duration::from_millis(10));
    let client = net.add_node(
        "client",
        Pinger::new(SERVER.parse().unwrap(), count),
        &[(Leg::CSide, CLIENT.parse().unwrap())],
    );
    let server = net.add_node(
        "server",
        Echo::default(),
        &[(Leg::CSide, SERVER.parse().unwrap())],
    );
    (net, client, server)
}

#[test]
fn datagrams_go_both_ways_on_virtual_time() {
    let (mut net, client, server) = pair(5);
    assert_eq!(net.run_for(Duration::from_secs(60)), RunOutcome::Idle);
    let answers = &net.node::<Pinger>(client).unwrap().answers;
    assert_eq!(answers.len(), 5);
    let (_, path) = &answers[0];
    assert_eq!(path.remote, SERVER.parse::<IpAddr>().unwrap());
    assert_eq!(
        path.local,
        CLIENT.parse::<IpAddr>().unwrap(),
        "source selected"
    );
    // Five pings a second apart, then the pinger's last timer at 5 s ends it: the clock
    // jumped from event to event and stopped there, not at the 60 s limit.
    assert_eq!(net.now(), Timestamp::from_millis(5_000));
    assert_eq!(net.node::<Echo>(server).unwrap().seen_from.len(), 5);
    assert_eq!(net.stats().delivered, 10);
}

#[test]
fn the_hook_drops_duplicates_and_delays() {
    let (mut net, client, _) = pair(4);
    net.set_impairment(|d| match d.seq {
        0 => Fate::Drop,
        2 => Fate::Duplicate,
        4 => Fate::Delay(Duration::from_secs(5)),
        _ => Fate::Deliver,
    });
    net.run_for(Duration::from_secs(60));
    let answers: Vec<u32> = net
        .node::<Pinger>(client)
        .unwrap()
        .answers
        .iter()
        .map(|(b, _)| u32::from_be_bytes(b[..4].try_into().unwrap()))
        .collect();
    // seq 0 (ping 0) lost; seq 1 = ping 1; seq 2 = echo of ping 1, duplicated (seq 3 is the
    // copy); seq 4 = ping 2, delayed past ping 3.
    assert_eq!(answers, vec![1, 1, 3, 2]);
    let stats = net.stats();
    assert_eq!((stats.dropped, stats.duplicated), (1, 1));
}

#[test]
fn a_moved_address_loses_what_was_in_flight_and_answers_go_to_the_new_one() {
    let (mut net, client, server) = pair(3);
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(60));
    // Stop with the first ping on the wire and the echo not yet sent.
    net.run_until(limit, |net| net.stats().sent == 1);
    let new: IpAddr = "203.0.113.50".parse().unwrap();
    net.move_address(client, CLIENT.parse().unwrap(), new);
    net.run_for(Duration::from_secs(60));
    let echo = net.node::<Echo>(server).unwrap();
    assert_eq!(echo.seen_from[0].remote, CLIENT.parse::<IpAddr>().unwrap());
    assert_eq!(
        echo.seen_from[1].remote, new,
        "the next ping came from the new address"
    );
    assert_eq!(
        net.stats().undeliverable,
        1,
        "the first echo went to the old address"
    );
    assert_eq!(net.node::<Pinger>(client).unwrap().answers.len(), 2);
}

#[test]
fn a_nat_maps_ports_and_a_rebinding_changes_the_public_port() {
    let (mut net, client, server) = pair(3);
    let public: IpAddr = "203.0.113.9".parse().unwrap();
    net.add_nat(client, CLIENT.parse().unwrap(), public);
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(60));
    net.run_until(limit, |net| net.stats().delivered == 2);
    net.rebind_nat(client);
    net.run_for(Duration::from_secs(60));
    let echo = net.node::<Echo>(server).unwrap();
    let ports: Vec<(IpAddr, u16)> = echo
        .seen_from
        .iter()
        .map(|p| match p.transport {
            Transport::Udp { remote_port, .. } => (p.remote, remote_port),
            Transport::Ip { .. } => (p.remote, 0),
        })
        .collect();
    assert!(ports.iter().all(|(a, _)| *a == public), "{ports:?}");
    assert_ne!(
        ports[1].1, ports[0].1,
        "a new public port after the rebinding"
    );
    assert_eq!(ports[2].1, ports[1].1, "one mapping while it holds");
    let pinger = net.node::<Pinger>(client).unwrap();
    assert_eq!(
        pinger.answers.len(),
        3,
        "answers to live mappings come back"
    );
    assert!(matches!(
        pinger.answers[0].1.transport,
        Transport::Udp {
            local_port: 4500,
            ..
        }
    ));
}

#[test]
fn corrupt_flips_the_named_byte_modulo_the_length() {
    let (mut net, client, server) = pair(2);
    // Ping 0 is four bytes: byte 6 is byte 2; ping 1 is left alone.
    net.set_impairment(|d| match d.seq {
        0 => Fate::Corrupt { at: 6, mask: 0x80 },
        _ => Fate::Deliver,
    });
    net.run_for(Duration::from_secs(60));
    let seen: Vec<Vec<u8>> = net
        .node::<Pinger>(client)
        .unwrap()
        .answers
        .iter()
        .map(|(b, _)| b.clone())
        .collect();
    assert_eq!(seen, vec![vec![0, 0, 0x80, 0], vec![0, 0, 0, 1]]);
    assert_eq!(net.stats().corrupted, 1);
    assert_eq!(net.node::<Echo>(server).unwrap().seen_from.len(), 2);
}

#[test]
fn in_flight_next_timeout_and_inject() {
    let (mut net, client, server) = pair(1);
    assert_eq!(net.in_flight(), 0);
    assert_eq!(
        net.next_timeout(),
        Some(Timestamp::ZERO),
        "the pinger's first"
    );
    let limit = RunLimit::for_duration(net.now(), Duration::from_secs(60));
    net.run_until(limit, |net| net.stats().sent == 1);
    assert_eq!(net.in_flight(), 1, "the ping is on the wire");
    net.run_for(Duration::from_secs(60));
    assert_eq!((net.in_flight(), net.next_timeout()), (0, None));
    // A forged datagram "from the client" reaches the echo, whose answer reaches the pinger.
    let path = NetPath {
        leg: Leg::CSide,
        local: CLIENT.parse().unwrap(),
        remote: SERVER.parse().unwrap(),
        transport: Transport::Udp {
            local_port: 4500,
            remote_port: 4500,
        },
    };
    net.inject(client, path, &[9, 9]);
    assert_eq!(net.in_flight(), 1);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.node::<Echo>(server).unwrap().seen_from.len(), 2);
    let answers = &net.node::<Pinger>(client).unwrap().answers;
    assert_eq!(answers.last().unwrap().0, vec![9, 9]);
}

#[test]
fn an_ike_node_sends_udp_from_its_cores_addresses_and_ignores_raw_ip() {
    use crate::ike::tail_crypto::StaticKeypair;
    use crate::ike::IkeClient;
    use crate::wire::IpProtocol;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    let mut rng = StdRng::seed_from_u64(1);
    let key = StaticKeypair::generate(&mut rng);
    let relay_key = StaticKeypair::generate(&mut rng);
    let ike = lab::client_settings(key, &relay_key).ike;
    let client = IkeClient::new(ike, Timestamp::ZERO, &mut rng).unwrap();
    let mut net = Network::new(Duration::from_millis(1));
    let client = add_ike_node(&mut net, "client", client, (), &[(Leg::CSide, lab::CLIENT)]);
    let echo = net.add_node("echo", Echo::default(), &[(Leg::CSide, lab::RELAY_C)]);
    let limit = RunLimit::for_duration(net.now(), Duration::from_millis(100));
    net.run_until(limit, |net| net.stats().delivered >= 1);
    // Main mode 1, from the client's configured socket to the relay's NAT-T port.
    let seen = net.node::<Echo>(echo).unwrap().seen_from[0];
    assert_eq!(
        (seen.leg, seen.remote, seen.local),
        (Leg::CSide, lab::CLIENT, lab::RELAY_C)
    );
    assert_eq!(
        seen.transport,
        Transport::Udp {
            local_port: 4500,
            remote_port: 4500
        }
    );
    let raw = NetPath {
        leg: Leg::CSide,
        local: lab::RELAY_C,
        remote: lab::CLIENT,
        transport: Transport::Ip {
            protocol: IpProtocol::ESP,
            header_included: false,
        },
    };
    net.inject(echo, raw, &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1]);
    net.run_until(limit, |net| net.in_flight() == 0);
    let node = net.node::<IkeNode<IkeClient>>(client).unwrap();
    assert_eq!(node.ignored(), 1, "raw IP is no IKE");
    assert_eq!(node.oversized(), 0);
    // A datagram that does not fit the caller's buffer is dropped and counted, not cut.
    let ike = lab::client_settings(StaticKeypair::generate(&mut rng), &relay_key).ike;
    let core = IkeClient::new(ike, Timestamp::ZERO, &mut rng).unwrap();
    let mut small = IkeNode::new(core, (), &[(Leg::CSide, lab::CLIENT)]);
    let mut buf = [0u8; 64];
    assert!(small.poll_transmit(Timestamp::ZERO, &mut buf).is_none());
    assert_eq!(small.oversized(), 1, "mm1 is larger than 64 bytes");
}

#[test]
fn an_idle_nat_mapping_times_out_and_the_next_datagram_gets_a_new_port() {
    let (mut net, client, server) = pair(3);
    let public: IpAddr = "203.0.113.9".parse().unwrap();
    net.add_nat(client, CLIENT.parse().unwrap(), public);
    // Pings a second apart, answers within 20 ms: the mapping is idle 980 ms between rounds.
    net.set_nat_timeout(client, Some(Duration::from_millis(500)));
    net.run_for(Duration::from_secs(60));
    let ports: Vec<u16> = net
        .node::<Echo>(server)
        .unwrap()
        .seen_from
        .iter()
        .filter_map(|p| match p.transport {
            Transport::Udp { remote_port, .. } => Some(remote_port),
            Transport::Ip { .. } => None,
        })
        .collect();
    assert_eq!(ports.len(), 3);
    assert!(ports[0] != ports[1] && ports[1] != ports[2], "{ports:?}");
    assert_eq!(
        net.node::<Pinger>(client).unwrap().answers.len(),
        3,
        "answers within the timeout still come back"
    );
}
