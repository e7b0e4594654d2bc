//! Keeping the tunnel up, on the in-memory network with the mem clock:
//!
//! - reauthentication: with a 120 s IKE lifetime the client replaces its IKE SA by a new main
//!   mode and quick mode through the relay before the lifetime ends, moves traffic to the new
//!   bundle, and deletes the old bundle and IKE SA at the test-SGW and the relay — three
//!   times in a row, with a packet each way every second and none lost;
//! - restart: with the SGW unreachable the first attempts fail (no answer), the client
//!   starts over with a doubling backoff, and once the SGW is up it connects and carries
//!   traffic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Repr};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat_io::adapters::{
    relay_listen, ClientEndpoint, PortPair, RelayEndpoint, TestSgwEndpoint,
};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::setup::open_mem_leg;
use ipsec_xlat_io::{
    Driver, DriverConfig, Endpoint, Leg, MemReactor, OutDatagram, PacketPort, PortKind, RecvBatch,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CLIENT_INNER: &str = "10.8.0.1";
const LAN_HOST: &str = "10.9.0.7";
/// The IKE and IPsec lifetime both sides use.
const LIFETIME: Duration = Duration::from_secs(120);
/// ISAKMP exchange types as the SGW receives them.
const MAIN_MODE: u8 = 2;
const INFORMATIONAL: u8 = 5;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// IPv4 documentation addresses, standard ports, no NAT between relay and SGW, 120 s
/// lifetimes; the client reauthenticates 30 s (plus jitter) before the IKE SA expires.
fn configs(dir: &Path, reauth: bool) -> (ClientConfig, RelayConfig, TestSgwConfig) {
    write(dir, "relay.key", &hex::encode([7u8; 32]));
    write(dir, "client.key", &hex::encode([9u8; 32]));
    write(dir, "psk", "in-memory-psk");
    let relay_pub = hex::encode(StaticKeypair::from_private_bytes([7; 32]).public().0);
    let client_pub = hex::encode(StaticKeypair::from_private_bytes([9; 32]).public().0);
    let life = LIFETIME.as_secs();
    let sgw = write(
        dir,
        "sgw.toml",
        &format!(
            "lan = [\"10.9.0.0/24\"]\n[listen]\naddresses = [\"203.0.113.1\"]\nraw_esp = true\n\
             raw_header_included = true\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
             ike = [\"aes128-sha256-modp2048\"]\nesp = [\"aes128gcm16\"]\n[tun]\nname = \"s\"\n\
             routes = [\"10.8.0.1/32\"]\n[lifetimes]\nike_seconds = {life}\n\
             ipsec_seconds = {life}\n"
        ),
    );
    let relay = write(
        dir,
        "relay.toml",
        &format!(
            "noise_private_key_file = \"relay.key\"\n[c_side]\naddresses = [\"198.51.100.1\"]\n\
             [s_side]\naddress = \"203.0.113.254\"\nraw_esp = true\n\
             [[authorized_clients]]\nname = \"c\"\npublic_key = \"{client_pub}\"\n\
             [[identification]]\nid_type = \"user_fqdn\"\nid = \"*@example.com\"\n\
             sgw = \"203.0.113.1\"\n"
        ),
    );
    let client = write(
        dir,
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.key\"\n[identity]\ntype = \"user_fqdn\"\n\
             value = \"bob@example.com\"\n[relay]\naddress = \"198.51.100.1\"\n\
             noise_public_key = \"{relay_pub}\"\n[local]\naddresses = [\"198.51.100.10\"]\n\
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"aes128-sha256-modp2048\"]\n\
             esp = [\"aes128gcm16\"]\n[traffic_selectors]\nlocal = [\"10.8.0.1/32\"]\n\
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"c\"\n[lifetimes]\n\
             ike_seconds = {life}\nipsec_seconds = {life}\n[session]\nreauth = {reauth}\n\
             reauth_margin_secs = 30\nrestart = true\nrestart_max_backoff_secs = 8\n"
        ),
    );
    (
        ClientConfig::load(&client).unwrap(),
        RelayConfig::load(&relay).unwrap(),
        TestSgwConfig::load(&sgw).unwrap(),
    )
}

/// A port that records the exchange type of every IKE message it receives (the SGW's view
/// of what came through the relay).
struct Recording {
    inner: Box<dyn PacketPort>,
    exchanges: Arc<Mutex<Vec<u8>>>,
}

impl PacketPort for Recording {
    fn kind(&self) -> PortKind {
        self.inner.kind()
    }

    fn recv_batch(&mut self, batch: &mut RecvBatch) -> io::Result<usize> {
        let n = self.inner.recv_batch(batch)?;
        let udp = matches!(
            self.inner.kind(),
            PortKind::Net {
                transport: ipsec_xlat_io::PortTransport::Udp { .. },
                ..
            }
        );
        for i in 0..n {
            let (_, bytes) = batch.get(i).unwrap();
            // On 4500, IKE follows a zero non-ESP marker; ESP-in-UDP does not.
            let ike = match bytes {
                [0, 0, 0, 0, rest @ ..] => Some(rest),
                _ if udp && bytes.len() >= 28 => Some(bytes),
                _ => None,
            };
            if let Some(ike) = ike.filter(|m| m.len() >= 28) {
                self.exchanges.lock().unwrap().push(ike[18]);
            }
        }
        Ok(n)
    }

    fn send_batch(&mut self, datagrams: &[OutDatagram<'_>]) -> io::Result<usize> {
        self.inner.send_batch(datagrams)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    fn is_readable_now(&self) -> bool {
        self.inner.is_readable_now()
    }
}

struct Lab {
    net: MemNetwork,
    client: (Driver<MemReactor>, ClientEndpoint, MemTun),
    relay: (Driver<MemReactor>, RelayEndpoint),
    sgw: Option<(Driver<MemReactor>, TestSgwEndpoint, MemTun)>,
    sgw_config: TestSgwConfig,
    sgw_exchanges: Arc<Mutex<Vec<u8>>>,
    rng: StdRng,
    _dir: tempfile::TempDir,
}

fn driver(net: &MemNetwork, ports: Vec<Box<dyn PacketPort>>) -> Driver<MemReactor> {
    Driver::new(MemReactor::new(net.clone()), ports, DriverConfig::default()).unwrap()
}

/// Client (initiating at start, no control socket), relay and, if `with_sgw`, the test-SGW.
fn build(with_sgw: bool, reauth: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (client_config, relay_config, sgw_config) = configs(dir.path(), reauth);
    assert_eq!(client_config.session.reauth, reauth);
    assert!(client_config.session.restart);
    let net = MemNetwork::new();
    let mut rng = StdRng::seed_from_u64(21);

    let c_listen = relay_listen(&relay_config.c_side, "c_side").unwrap();
    let s_listen = relay_listen(&relay_config.s_side.listen, "s_side").unwrap();
    let mut relay_ports = open_mem_leg(&net, Leg::CSide, &c_listen).unwrap();
    relay_ports.extend(open_mem_leg(&net, Leg::SSide, &s_listen).unwrap());
    let (relay, _) = RelayEndpoint::new(
        &relay_config,
        PortPair::of_leg(&relay_ports, Leg::CSide).unwrap(),
        PortPair::of_leg(&relay_ports, Leg::SSide).unwrap(),
        &mut rng,
    )
    .unwrap();

    let mut client_ports = open_mem_leg(&net, Leg::CSide, &client_config.local).unwrap();
    let own = PortPair::of_leg(&client_ports, Leg::CSide).unwrap();
    let (client_tun_port, client_tun) = net.tun();
    client_ports.push(Box::new(client_tun_port));
    let (client, _) = ClientEndpoint::new(&client_config, own, net.now(), &mut rng).unwrap();

    let mut lab = Lab {
        client: (driver(&net, client_ports), client, client_tun),
        relay: (driver(&net, relay_ports), relay),
        sgw: None,
        sgw_config,
        sgw_exchanges: Arc::new(Mutex::new(Vec::new())),
        rng,
        net,
        _dir: dir,
    };
    if with_sgw {
        lab.start_sgw();
    }
    lab
}

impl Lab {
    fn start_sgw(&mut self) {
        let mut ports: Vec<Box<dyn PacketPort>> =
            open_mem_leg(&self.net, Leg::SSide, &self.sgw_config.listen)
                .unwrap()
                .into_iter()
                .map(|inner| {
                    Box::new(Recording {
                        inner,
                        exchanges: Arc::clone(&self.sgw_exchanges),
                    }) as Box<dyn PacketPort>
                })
                .collect();
        let own = PortPair::of_leg(&ports, Leg::SSide).unwrap();
        let (tun_port, tun) = self.net.tun();
        ports.push(Box::new(tun_port));
        let (sgw, _) = TestSgwEndpoint::new(&self.sgw_config, own, &mut self.rng).unwrap();
        self.sgw = Some((driver(&self.net, ports), sgw, tun));
    }

    fn settle(&mut self) {
        for _ in 0..1000 {
            self.client.0.turn(&mut self.client.1);
            self.relay.0.turn(&mut self.relay.1);
            if let Some(sgw) = self.sgw.as_mut() {
                sgw.0.turn(&mut sgw.1);
            }
            if self.net.queued() == 0 {
                return;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.net.advance_to(self.net.now() + by);
        self.settle();
    }

    fn sgw(&self) -> &TestSgwEndpoint {
        &self.sgw.as_ref().unwrap().1
    }

    /// One packet each way through the tunnel; both must arrive intact.
    fn traffic(&mut self, seq: u16) {
        let up = inner_v4(CLIENT_INNER, LAN_HOST, seq);
        self.client.2.inject(&up);
        self.settle();
        let sgw_tun = &self.sgw.as_ref().unwrap().2;
        assert_eq!(
            sgw_tun.take().as_deref(),
            Some(&up[..]),
            "client -> LAN #{seq}"
        );
        let down = inner_v4(LAN_HOST, CLIENT_INNER, seq);
        sgw_tun.inject(&down);
        self.settle();
        assert_eq!(
            self.client.2.take().as_deref(),
            Some(&down[..]),
            "LAN -> client #{seq}"
        );
    }

    fn exchanges_at_sgw(&self, ty: u8) -> usize {
        let seen = self.sgw_exchanges.lock().unwrap();
        seen.iter().filter(|&&t| t == ty).count()
    }

    /// The s-side cookies of the client's current IKE SA (from its status).
    fn cookies(&self) -> String {
        let status = self.client.1.status();
        status
            .line("ike")
            .and_then(|l| l.get("s_cookies"))
            .unwrap_or_else(|| panic!("no IKE SA: {}", status.to_text()))
            .to_string()
    }
}

fn inner_v4(src: &str, dst: &str, seq: u16) -> Vec<u8> {
    let body: Vec<u8> = (0..64).map(|i| (i as u8) ^ (seq as u8)).collect();
    let repr = Ipv4Repr {
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        protocol: IpProtocol(253),
        payload_len: body.len(),
        ttl: 64,
        tos: 0,
        ident: seq,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
    };
    let mut p = vec![0; 20];
    repr.emit(&mut p).unwrap();
    p.extend_from_slice(&body);
    p
}

#[test]
fn the_client_reauthenticates_before_the_ike_sa_expires_without_losing_traffic() {
    let mut lab = build(true, true);
    lab.settle();
    assert!(lab.client.1.is_established());
    assert_eq!(lab.relay.1.ike_entries().len(), 1);
    let mut established_at = lab.net.now();
    let mut cookies = lab.cookies();
    let mut seen_cookies = vec![cookies.clone()];
    let mut seq: u16 = 0;

    for round in 1..=3u64 {
        let main_modes = lab.exchanges_at_sgw(MAIN_MODE);
        let informationals = lab.exchanges_at_sgw(INFORMATIONAL);
        // One packet each way every second until the reauthentication completed.
        while lab.client.1.counters().reauths < round {
            assert!(
                lab.net.now() < established_at + LIFETIME,
                "round {round}: no reauthentication within the IKE SA's lifetime"
            );
            lab.advance(Duration::from_secs(1));
            seq += 1;
            lab.traffic(seq);
        }
        let switched_at = lab.net.now();
        let lead = established_at + LIFETIME - switched_at;
        // Margin 30 s plus up to 15 s of jitter (a second of slack for the 1 s steps).
        assert!(
            lead >= Duration::from_secs(29) && lead <= Duration::from_secs(46),
            "round {round}: reauthenticated {lead:?} before the end of the lifetime"
        );
        let new_cookies = lab.cookies();
        assert!(
            !seen_cookies.contains(&new_cookies),
            "round {round}: a new IKE SA"
        );
        assert_ne!(new_cookies, cookies);
        // Six main-mode messages reached the SGW for the new IKE SA, and the DELETEs for
        // the old bundle and the old ISAKMP SA went through the relay.
        assert_eq!(
            lab.exchanges_at_sgw(MAIN_MODE) - main_modes,
            3,
            "mm1, mm3, mm5"
        );
        // Traffic goes on while the old inbound SA drains.
        for _ in 0..8 {
            lab.advance(Duration::from_secs(1));
            seq += 1;
            lab.traffic(seq);
        }
        assert_eq!(
            lab.exchanges_at_sgw(INFORMATIONAL) - informationals,
            2,
            "round {round}: a child DELETE and an ISAKMP-SA DELETE"
        );
        // Only the new SAs are left: at the SGW, in the relay's tables, at the client.
        assert_eq!(lab.sgw().sa_counters().len(), 1, "round {round}: SGW");
        assert_eq!(
            lab.relay.1.ike_entries().len(),
            1,
            "round {round}: relay IKE"
        );
        assert_eq!(
            lab.relay.1.datapath().table().len(),
            1,
            "round {round}: relay IPsec"
        );
        assert_eq!(lab.client.1.sa_counters().len(), 1, "round {round}: client");
        let status = lab.client.1.status();
        let child = status.line("child").unwrap();
        assert!(
            child.get("packets_out").unwrap().parse::<u64>().unwrap() >= 8,
            "{}",
            status.to_text()
        );
        assert!(status.line("reauth").is_none(), "{}", status.to_text());
        established_at = switched_at;
        cookies = new_cookies;
        seen_cookies.push(cookies.clone());
    }

    // Every packet arrived, both ways: `traffic` checked each one; the counters agree.
    let c = lab.client.1.counters();
    assert_eq!(c.tun_packets, u64::from(seq));
    assert_eq!(c.sealed, u64::from(seq));
    assert_eq!(c.opened, u64::from(seq));
    assert_eq!((c.no_sa, c.unknown_spi, c.open_errors), (0, 0, 0), "{c:?}");
    assert_eq!(c.reauths, 3);
    assert_eq!(c.restarts, 0);
    assert!(lab.client.1.failure().is_none());
    let r = lab.relay.1.ike_counters();
    assert_eq!((r.tail_rejected, r.unknown_cookies), (0, 0), "{r:?}");
}

#[test]
fn with_the_sgw_unreachable_the_client_restarts_with_backoff_until_it_connects() {
    let mut lab = build(false, true);
    lab.settle();
    let start = lab.net.now();
    // The relay forwards mm1 toward an SGW that is not there: each attempt retransmits,
    // gives up, and the client starts over later, each time waiting longer.
    let mut restarts_at: Vec<Instant> = Vec::new();
    while restarts_at.len() < 4 {
        let next = lab
            .client
            .1
            .poll_timeout()
            .expect("the client keeps a timer");
        assert!(next - start < Duration::from_secs(3600), "no restart");
        lab.net.advance_to(next);
        lab.settle();
        let restarts = lab.client.1.counters().restarts;
        if restarts > restarts_at.len() as u64 {
            restarts_at.push(lab.net.now());
        }
        assert!(
            !lab.client.1.is_drained(),
            "a retryable failure does not end the client"
        );
        assert!(lab.client.1.failure().is_none());
    }
    let status = lab.client.1.status();
    let lost = status.line("lost").expect("status says why");
    assert!(
        lost.get("reason").unwrap().contains("no_answer"),
        "{}",
        status.to_text()
    );
    assert_eq!(status.line("state").unwrap().get("attempt"), Some("4"));
    // The SGW comes up: the next restart connects and traffic flows.
    lab.start_sgw();
    while !lab.client.1.is_established() {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(3600), "never connected");
        lab.net.advance_to(next);
        lab.settle();
    }
    lab.traffic(1);
    lab.traffic(2);
    assert_eq!(lab.sgw().sa_counters().len(), 1);
    assert_eq!(lab.relay.1.datapath().table().len(), 1);
    assert!(lab.client.1.failure().is_none());
    // Each wait was longer than the one before (1 s, 2 s, 4 s, 8 s plus jitter, after the
    // same retransmission schedule).
    let gaps: Vec<Duration> = restarts_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "backoff grows: {gaps:?}"
    );
}

#[test]
fn a_tunnel_the_sgw_forgot_is_restarted_when_its_rekey_goes_unanswered() {
    // Without reauthentication, so that the loss shows at the child SA's rekey.
    let mut lab = build(true, false);
    lab.settle();
    assert!(lab.client.1.is_established());
    lab.traffic(1);
    let first = lab.cookies();
    // The SGW restarts and forgets every SA (its old sockets go with it).
    lab.sgw = None;
    lab.settle();
    lab.start_sgw();
    // The client notices at its rekey (90 % of the 120 s lifetime): the quick mode under an
    // IKE SA the SGW no longer knows goes unanswered, the attempt fails, and the client
    // starts over with a new main mode.
    let start = lab.net.now();
    while lab.client.1.counters().restarts == 0 {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(600), "no restart");
        lab.net.advance_to(next);
        lab.settle();
        assert!(!lab.client.1.is_drained());
    }
    let status = lab.client.1.status();
    assert!(status.line("lost").is_some(), "{}", status.to_text());
    while lab.client.1.status().line("ike").is_none() || lab.sgw().sa_counters().is_empty() {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(600), "never came back");
        lab.net.advance_to(next);
        lab.settle();
    }
    assert_ne!(lab.cookies(), first, "a new IKE SA");
    assert!(lab.client.1.is_established());
    lab.traffic(2);
    lab.traffic(3);
    assert_eq!(lab.sgw().sa_counters().len(), 1);
    assert_eq!(lab.client.1.counters().restarts, 1);
    assert!(lab.client.1.failure().is_none());
}

#[test]
fn a_tunnel_the_sgw_terminates_is_restarted() {
    // The SGW terminates the IKE SA and its bundles (as `swanctl --terminate --ike` does): the
    // client hears the DELETEs through the relay and, with no control socket, starts over.
    let mut lab = build(true, false);
    lab.settle();
    assert!(lab.client.1.is_established());
    lab.traffic(1);
    let first = lab.cookies();
    let informational_before = lab.exchanges_at_sgw(5);
    let now = lab.net.now();
    assert_eq!(lab.sgw.as_mut().unwrap().1.terminate_all(now), 1);
    lab.settle();
    assert!(
        lab.sgw().sa_counters().is_empty(),
        "the SGW dropped its bundles"
    );
    let start = lab.net.now();
    while lab.client.1.counters().restarts == 0 {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(120), "no restart");
        lab.net.advance_to(next);
        lab.settle();
    }
    while lab.client.1.status().line("ike").is_none() || lab.sgw().sa_counters().is_empty() {
        let next = lab.client.1.poll_timeout().unwrap();
        assert!(next - start < Duration::from_secs(120), "never came back");
        lab.net.advance_to(next);
        lab.settle();
    }
    assert_ne!(lab.cookies(), first, "a new IKE SA");
    assert!(lab.client.1.is_established());
    lab.traffic(2);
    lab.traffic(3);
    assert_eq!(lab.sgw().sa_counters().len(), 1);
    assert_eq!(lab.client.1.counters().restarts, 1);
    // The new tunnel came from a new main mode, not from informational exchanges under the
    // terminated IKE SA (at most the client's answer to the child DELETE reached the SGW).
    assert!(lab.exchanges_at_sgw(5) <= informational_before + 1);
}
