//! The client's control interface on the in-memory network: a client started idle
//! (`[control] initiate = false`) is steered through its real control socket — `initiate`,
//! `rekey`, `terminate`, `initiate` again — and the relay and the test-SGW show each outcome:
//! SAs installed, a second bundle under the same IKE SA, the DELETEs arriving at the SGW and
//! the relay forgetting its entries, and a fresh IKE SA afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mem_lab;

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ipsec_xlat_io::adapters::{ClientEndpoint, ClientTicket, RelayEndpoint, TestSgwEndpoint};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::sys::control::{ControlReply, ControlSocket};
use ipsec_xlat_io::{Driver, MemReactor};
use mem_lab::{
    client_parts, driver, inner_v4, ipv4_configs, relay_parts, test_sgw_parts, INFORMATIONAL,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CLIENT_INNER: &str = "10.8.0.1";
const LAN_HOST: &str = "10.9.0.7";

/// IPv4 documentation addresses, standard ports, no NAT between relay and SGW; the relay
/// authorises the client's key only if `authorised`.
fn configs(dir: &Path, authorised: bool) -> (ClientConfig, RelayConfig, TestSgwConfig) {
    let client_key = if authorised { 9 } else { 3 };
    ipv4_configs(
        dir,
        client_key,
        "",
        "[control]\nsocket = \"client.ctl\"\ninitiate = false\n",
    )
}

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

fn build(authorised: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (client_config, relay_config, sgw_config) = configs(dir.path(), authorised);
    let net = MemNetwork::new();
    let mut rng = StdRng::seed_from_u64(11);

    let sgw_exchanges = Arc::new(Mutex::new(Vec::new()));
    let (sgw_ports, sgw, sgw_tun) =
        test_sgw_parts(&net, &sgw_config, &mut rng, Some(&sgw_exchanges));
    let (relay_ports, relay) = relay_parts(&net, &relay_config, &mut rng);
    let (client_ports, client, client_tun) = client_parts(&net, &client_config, &mut rng);

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
    // The IPsec entries drain for 5 s (what the SGW sent before the DELETEs still reaches
    // the client), then leave the table when the relay's timer fires.
    assert_eq!(lab.relay.1.datapath().table().len(), 2, "draining");
    lab.net
        .advance_to(lab.net.now() + std::time::Duration::from_secs(6));
    lab.settle();
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
