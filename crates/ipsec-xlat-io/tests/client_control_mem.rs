//! The client's control interface on the in-memory network: a client started idle
//! (`[control] initiate = false`) is steered through its real control socket — `initiate`,
//! `rekey`, `terminate`, `initiate` again — and the relay and the test-SGW show each outcome:
//! SAs installed, a second bundle under the same IKE SA, the DELETEs arriving at the SGW and
//! the relay forgetting its entries, and a fresh IKE SA afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io;
use std::os::fd::RawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::wire::ipv4::{Ipv4Options, Ipv4Repr};
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat_io::adapters::{
    relay_listen, ClientEndpoint, ClientTicket, PortPair, RelayEndpoint, TestSgwEndpoint,
};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::setup::open_mem_leg;
use ipsec_xlat_io::sys::control::{ControlReply, ControlSocket};
use ipsec_xlat_io::{
    Driver, DriverConfig, Leg, MemReactor, OutDatagram, PacketPort, PortKind, RecvBatch,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CLIENT_INNER: &str = "10.8.0.1";
const LAN_HOST: &str = "10.9.0.7";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// IPv4 documentation addresses, standard ports, no NAT between relay and SGW; the relay
/// authorises the client's key only if `authorised`.
fn configs(dir: &Path, authorised: bool) -> (ClientConfig, RelayConfig, TestSgwConfig) {
    write(dir, "relay.key", &hex::encode([7u8; 32]));
    write(dir, "client.key", &hex::encode([9u8; 32]));
    write(dir, "psk", "in-memory-psk");
    let relay_pub = hex::encode(StaticKeypair::from_private_bytes([7; 32]).public().0);
    let client_key = if authorised { 9 } else { 3 };
    let client_pub = hex::encode(
        StaticKeypair::from_private_bytes([client_key; 32])
            .public()
            .0,
    );
    let sgw = write(
        dir,
        "sgw.toml",
        "lan = [\"10.9.0.0/24\"]\n[listen]\naddresses = [\"203.0.113.1\"]\nraw_esp = true\n\
         raw_header_included = true\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
         ike = [\"aes128-sha256-modp2048\"]\nesp = [\"aes128gcm16\"]\n[tun]\nname = \"s\"\n\
         routes = [\"10.8.0.1/32\"]\n",
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
             remote = [\"10.9.0.0/24\"]\n[tun]\nname = \"c\"\n\
             [control]\nsocket = \"client.ctl\"\ninitiate = false\n"
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

/// ISAKMP exchange type of an informational exchange (DELETEs travel in one).
const INFORMATIONAL: u8 = 5;

struct Lab {
    net: MemNetwork,
    client: (Driver<MemReactor>, ClientEndpoint, MemTun),
    relay: (Driver<MemReactor>, RelayEndpoint),
    sgw: (Driver<MemReactor>, TestSgwEndpoint, MemTun),
    sgw_exchanges: Arc<Mutex<Vec<u8>>>,
    control: ControlSocket<ClientTicket>,
    asker: UnixDatagram,
    _dir: tempfile::TempDir,
}

fn driver(net: &MemNetwork, ports: Vec<Box<dyn PacketPort>>) -> Driver<MemReactor> {
    Driver::new(MemReactor::new(net.clone()), ports, DriverConfig::default()).unwrap()
}

fn build(authorised: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (client_config, relay_config, sgw_config) = configs(dir.path(), authorised);
    let net = MemNetwork::new();
    let mut rng = StdRng::seed_from_u64(11);

    let sgw_exchanges = Arc::new(Mutex::new(Vec::new()));
    let mut sgw_ports: Vec<Box<dyn PacketPort>> =
        open_mem_leg(&net, Leg::SSide, &sgw_config.listen)
            .unwrap()
            .into_iter()
            .map(|inner| {
                Box::new(Recording {
                    inner,
                    exchanges: Arc::clone(&sgw_exchanges),
                }) as Box<dyn PacketPort>
            })
            .collect();
    let sgw_own = PortPair::of_leg(&sgw_ports, Leg::SSide).unwrap();
    let (sgw_tun_port, sgw_tun) = net.tun();
    sgw_ports.push(Box::new(sgw_tun_port));
    let (sgw, _) = TestSgwEndpoint::new(&sgw_config, sgw_own, &mut rng).unwrap();

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

    // The control socket where the configuration put it (relative to the file).
    let socket_path = client_config.control.socket.clone().unwrap();
    assert_eq!(socket_path, dir.path().join("client.ctl"));
    let control = ControlSocket::bind(&socket_path).unwrap();
    let asker = UnixDatagram::bind(dir.path().join("asker")).unwrap();
    asker.connect(&socket_path).unwrap();
    asker.set_nonblocking(true).unwrap();

    Lab {
        client: (driver(&net, client_ports), client.controlled(), client_tun),
        relay: (driver(&net, relay_ports), relay),
        sgw: (driver(&net, sgw_ports), sgw, sgw_tun),
        sgw_exchanges,
        control,
        asker,
        net,
        _dir: dir,
    }
}

impl Lab {
    /// Turns every driver (and the control socket, as the daemon's loop does after each
    /// turn) until the network is quiet (TUN output waiting for the test counts as in flight:
    /// then at most 100 rounds).
    fn settle(&mut self) {
        for _ in 0..100 {
            let now = self.net.now();
            self.control.service(now, &mut self.client.1);
            self.client.0.turn(&mut self.client.1);
            self.relay.0.turn(&mut self.relay.1);
            self.sgw.0.turn(&mut self.sgw.1);
            if self.net.queued() == 0 {
                let now = self.net.now();
                self.control.service(now, &mut self.client.1);
                return;
            }
        }
    }

    /// Sends `command` to the control socket, runs the network until the reply came.
    fn ctl(&mut self, command: &str) -> ControlReply {
        self.asker.send(command.as_bytes()).unwrap();
        let mut buf = vec![0u8; 65_536];
        for _ in 0..50 {
            self.settle();
            match self.asker.recv(&mut buf) {
                Ok(n) => {
                    return ControlReply::parse(std::str::from_utf8(&buf[..n]).unwrap()).unwrap()
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no reply to {command}");
    }

    fn informationals_at_sgw(&self) -> usize {
        let seen = self.sgw_exchanges.lock().unwrap();
        seen.iter().filter(|&&t| t == INFORMATIONAL).count()
    }

    /// One packet each way through the tunnel.
    fn traffic(&mut self, seq: u16) {
        let up = inner_v4(CLIENT_INNER, LAN_HOST, seq);
        self.client.2.inject(&up);
        self.settle();
        assert_eq!(self.sgw.2.take().as_deref(), Some(&up[..]), "client -> LAN");
        let down = inner_v4(LAN_HOST, CLIENT_INNER, seq);
        self.sgw.2.inject(&down);
        self.settle();
        assert_eq!(
            self.client.2.take().as_deref(),
            Some(&down[..]),
            "LAN -> client"
        );
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

fn field<'a>(reply: &'a ControlReply, word: &str, key: &str) -> &'a str {
    reply
        .line(word)
        .and_then(|l| l.get(key))
        .unwrap_or_else(|| panic!("no {word} {key} in {}", reply.to_text()))
}

fn children(reply: &ControlReply) -> Vec<(String, String)> {
    reply
        .all("child")
        .map(|l| {
            (
                l.get("s_in").unwrap().into(),
                l.get("s_out").unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn initiate_rekey_terminate_and_initiate_again_through_the_control_socket() {
    let mut lab = build(true);

    // Started idle: nothing goes out until `initiate`.
    lab.settle();
    let status = lab.ctl("status");
    assert!(status.is_ok(), "{}", status.to_text());
    assert_eq!(field(&status, "state", "ike"), "idle");
    assert_eq!(field(&status, "state", "children"), "0");
    assert!(lab.relay.1.ike_entries().is_empty());
    assert_eq!(lab.net.stats().delivered, 0, "{:?}", lab.net.stats());
    // Nothing to rekey or terminate yet.
    assert!(lab.ctl("rekey").error.is_some());
    assert!(lab.ctl("terminate").error.is_some());

    // initiate: the reply comes once the child SA is installed.
    let up = lab.ctl("initiate");
    assert!(up.is_ok(), "{}", up.to_text());
    assert_eq!(field(&up, "done", "command"), "initiate");
    assert_eq!(field(&up, "state", "ike"), "established");
    let first = children(&up);
    assert_eq!(first.len(), 1, "{}", up.to_text());
    let cookies = field(&up, "ike", "s_cookies").to_string();
    assert_eq!(lab.sgw.1.sa_counters().len(), 1);
    assert_eq!(lab.relay.1.datapath().table().len(), 1);
    // The c-side SPIs the client reports are the relay's, not the SGW's.
    let child = up.line("child").unwrap();
    assert_ne!(child.get("c_in"), child.get("s_in"));
    lab.traffic(1);
    // initiate again while established: nothing new, answered at once.
    let again = lab.ctl("initiate");
    assert!(again.is_ok());
    assert_eq!(children(&again), first);

    // rekey: a new bundle under the same IKE SA; traffic uses it.
    let rekeyed = lab.ctl("rekey");
    assert!(rekeyed.is_ok(), "{}", rekeyed.to_text());
    assert_eq!(field(&rekeyed, "done", "command"), "rekey");
    let both = children(&rekeyed);
    assert_eq!(both.len(), 2, "{}", rekeyed.to_text());
    assert_eq!(both[0], first[0]);
    assert_ne!(both[1].0, first[0].0, "new SPIs");
    assert_ne!(both[1].1, first[0].1, "new SPIs");
    assert_eq!(field(&rekeyed, "ike", "s_cookies"), cookies, "same IKE SA");
    assert_eq!(lab.sgw.1.sa_counters().len(), 2);
    assert_eq!(lab.relay.1.datapath().table().len(), 2);
    lab.traffic(2);
    let status = lab.ctl("status");
    let newest = status.all("child").last().unwrap();
    assert_eq!(newest.get("packets_out"), Some("1"), "{}", status.to_text());
    assert_eq!(newest.get("packets_in"), Some("1"), "{}", status.to_text());

    // terminate: DELETEs for both bundles and for the IKE SA reach the SGW through the
    // relay; the SGW drops the SAs, the relay forgets every entry.
    let before = lab.informationals_at_sgw();
    let down = lab.ctl("terminate");
    assert!(down.is_ok(), "{}", down.to_text());
    assert_eq!(field(&down, "done", "children"), "2");
    lab.settle();
    assert_eq!(
        lab.informationals_at_sgw() - before,
        3,
        "2 child DELETEs + 1 IKE DELETE"
    );
    assert_eq!(
        lab.sgw.1.sa_counters().len(),
        0,
        "the SGW deleted both bundles"
    );
    assert!(
        lab.relay.1.ike_entries().is_empty(),
        "relay forgot the IKE entry"
    );
    assert_eq!(lab.relay.1.datapath().table().len(), 0);
    let status = lab.ctl("status");
    assert_eq!(field(&status, "state", "ike"), "deleted");
    assert_eq!(field(&status, "state", "children"), "0");
    assert!(status.line("failure").is_none(), "{}", status.to_text());
    // The daemon stays: no drain after a terminate.
    assert!(lab.client.1.failure().is_none());

    // initiate again: a new IKE SA (new cookies) and traffic flows.
    let up = lab.ctl("initiate");
    assert!(up.is_ok(), "{}", up.to_text());
    assert_eq!(field(&up, "state", "attempt"), "2");
    assert_ne!(field(&up, "ike", "s_cookies"), cookies);
    assert_eq!(lab.sgw.1.sa_counters().len(), 1);
    lab.traffic(3);
    assert_eq!(lab.control.counters().reply_errors, 0);
}

#[test]
fn a_failed_initiate_is_reported_and_the_client_waits_for_the_next() {
    // A relay that does not authorise this client drops its mm1 (counted, unanswered).
    let mut lab = build(false);
    lab.asker.send(b"initiate").unwrap();
    // Retransmissions back off over about a minute of virtual time, then the attempt fails.
    let mut reply = None;
    let mut buf = vec![0u8; 65_536];
    for _ in 0..200 {
        lab.settle();
        if let Ok(n) = lab.asker.recv(&mut buf) {
            reply = ControlReply::parse(std::str::from_utf8(&buf[..n]).unwrap());
            break;
        }
        let next = ipsec_xlat_io::Endpoint::poll_timeout(&lab.client.1).unwrap();
        lab.net.advance_to(next);
    }
    let reply = reply.expect("a reply once the attempt failed");
    let reason = reply.error.clone().expect("an error reply");
    assert!(reason.contains("initiate failed"), "{reason}");
    assert!(reason.contains("no answer"), "{reason}");
    // Controlled: the endpoint does not drain, and says what happened.
    assert!(!ipsec_xlat_io::Endpoint::is_drained(&lab.client.1));
    let status = lab.ctl("status");
    assert_eq!(field(&status, "state", "ike"), "failed");
    assert!(status.line("failure").is_some(), "{}", status.to_text());
    assert!(lab.relay.1.ike_counters().unauthorised > 0);
}

#[test]
fn the_control_table_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _, _) = configs(dir.path(), true);
    assert!(!config.control.initiate);
    let text = std::fs::read_to_string(dir.path().join("client.toml")).unwrap();
    let load = |text: &str| ClientConfig::from_toml(text, Path::new("client.toml"), dir.path());
    // Idle without a socket could never be started.
    let error = load(&text.replace("socket = \"client.ctl\"\n", "")).unwrap_err();
    match &error {
        ipsec_xlat_io::config::ConfigError::Invalid { key, .. } => {
            assert_eq!(key, "control.initiate")
        }
        other => panic!("{other:?}"),
    }
    // Without the table: no socket, initiate at start.
    let i = text.find("[control]").unwrap();
    let plain = load(&text[..i]).unwrap();
    assert_eq!(
        plain.control,
        ipsec_xlat_io::config::ControlConfig::default()
    );
    assert!(plain.control.initiate && plain.control.socket.is_none());
    // Unknown keys are refused, as everywhere.
    assert!(load(&text.replace("initiate = false", "start = false")).is_err());
}
