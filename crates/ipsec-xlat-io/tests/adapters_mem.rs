//! Client, relay and test-SGW adapters on the in-memory network: configuration files as the
//! daemons read them, the drivers they run, and traffic through TUN stand-ins. The network
//! needs no root, so the paths the loopback quickstart cannot take run here: standard ports
//! (no NAT: raw ESP on the s-side, the relay writing the outer IPv4 header), IPv6 on both legs,
//! and a relay on non-standard ports (looks NAT-ed to the SGW: ESP-in-UDP on the s-side).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mem_lab;

use std::net::IpAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::relay::LegTransport as CoreTransport;
use ipsec_xlat::wire::ipv6::Ipv6Repr;
use ipsec_xlat::wire::IpProtocol;
use ipsec_xlat_io::adapters::{
    leg_port_pair, ClientEndpoint, Notice, Notifier, RelayEndpoint, TestSgwEndpoint,
};
use ipsec_xlat_io::config::{ClientConfig, RelayConfig, TestSgwConfig};
use ipsec_xlat_io::mem::{MemNetwork, MemTun};
use ipsec_xlat_io::setup::open_mem_leg;
use ipsec_xlat_io::{Driver, Leg, MemReactor, PacketPort};
use mem_lab::{client_parts, driver, inner_v4, relay_parts, test_sgw_parts, write};
use rand::rngs::StdRng;
use rand::SeedableRng;

struct Plan {
    client: &'static str,
    relay_c: &'static str,
    relay_s: &'static str,
    sgw: &'static str,
    inner_client: &'static str,
    inner_lan: &'static str,
    lan_host: &'static str,
    relay_s_ports: (u16, u16),
    esp: &'static str,
    /// AH proposal ("" for none); with AH the client sends raw AH with its own IPv4 header.
    ah: &'static str,
}

const V4: Plan = Plan {
    client: "198.51.100.10",
    relay_c: "198.51.100.1",
    relay_s: "203.0.113.254",
    sgw: "203.0.113.1",
    inner_client: "10.8.0.1/32",
    inner_lan: "10.9.0.0/24",
    lan_host: "10.9.0.7",
    relay_s_ports: (500, 4500),
    esp: "aes128gcm16",
    ah: "",
};

fn q(a: &str) -> String {
    format!("\"{a}\"")
}

/// A TOML list of zero or one quoted item.
fn list(a: &str) -> String {
    if a.is_empty() {
        String::new()
    } else {
        q(a)
    }
}

struct Configs {
    client: ClientConfig,
    relay: RelayConfig,
    sgw: TestSgwConfig,
    relay_file: std::path::PathBuf,
}

fn configs(dir: &Path, plan: &Plan) -> Configs {
    write(dir, "relay.key", &hex::encode([7u8; 32]));
    write(dir, "client.key", &hex::encode([9u8; 32]));
    write(dir, "psk", "in-memory-psk");
    let relay_pub = hex::encode(StaticKeypair::from_private_bytes([7; 32]).public().0);
    let client_pub = hex::encode(StaticKeypair::from_private_bytes([9; 32]).public().0);
    let sgw_file = write(
        dir,
        "sgw.toml",
        &format!(
            "lan = [{lan}]\n[listen]\naddresses = [{sgw}]\nraw_esp = true\nraw_ah = {raw_ah}\n\
             raw_header_included = {hdr}\n[auth]\npsk_file = \"psk\"\n[proposals]\n\
             ike = [\"aes128-sha256-modp2048\"]\nesp = [{esp}]\nah = [{ah}]\n[tun]\n\
             name = \"s\"\nroutes = [{inner}]\n",
            lan = q(plan.inner_lan),
            sgw = q(plan.sgw),
            raw_ah = !plan.ah.is_empty(),
            hdr = plan.sgw.contains('.'),
            esp = list(plan.esp),
            ah = list(plan.ah),
            inner = q(plan.inner_client),
        ),
    );
    let relay_file = write(
        dir,
        "relay.toml",
        &format!(
            "noise_private_key_file = \"relay.key\"\n[c_side]\naddresses = [{c}]\n\
             raw_ah = {raw_ah}\n\
             [s_side]\naddress = {s}\nike_port = {sp}\nnatt_port = {sn}\nraw_esp = true\n\
             raw_ah = {raw_ah}\n\
             [[authorized_clients]]\nname = \"c\"\npublic_key = \"{client_pub}\"\n\
             [[identification]]\nid_type = \"user_fqdn\"\nid = \"*@example.com\"\nsgw = {sgw}\n",
            c = q(plan.relay_c),
            s = q(plan.relay_s),
            sp = plan.relay_s_ports.0,
            sn = plan.relay_s_ports.1,
            sgw = q(plan.sgw),
            raw_ah = !plan.ah.is_empty(),
        ),
    );
    let client_file = write(
        dir,
        "client.toml",
        &format!(
            "noise_private_key_file = \"client.key\"\n[identity]\ntype = \"user_fqdn\"\n\
             value = \"bob@example.com\"\n[relay]\naddress = {c}\n\
             noise_public_key = \"{relay_pub}\"\n[local]\naddresses = [{client}]\n\
             raw_ah = {raw_ah}\nraw_header_included = {raw_ah}\n\
             [auth]\npsk_file = \"psk\"\n[proposals]\nike = [\"aes128-sha256-modp2048\"]\n\
             esp = [{esp}]\nah = [{ah}]\n[traffic_selectors]\nlocal = [{inner}]\n\
             remote = [{lan}]\n[tun]\nname = \"c\"\n",
            c = q(plan.relay_c),
            client = q(plan.client),
            raw_ah = !plan.ah.is_empty(),
            esp = list(plan.esp),
            ah = list(plan.ah),
            inner = q(plan.inner_client),
            lan = q(plan.inner_lan),
        ),
    );
    Configs {
        client: ClientConfig::load(&client_file).unwrap(),
        relay: RelayConfig::load(&relay_file).unwrap(),
        sgw: TestSgwConfig::load(&sgw_file).unwrap(),
        relay_file,
    }
}

/// A second client's configuration beside the one [`configs`] wrote to `dir`: user
/// carol@example.com on 198.51.100.11 with the key `[3; 32]`.
fn second_client_config(dir: &Path) -> ClientConfig {
    let text = std::fs::read_to_string(dir.join("client.toml"))
        .unwrap()
        .replace("198.51.100.10", "198.51.100.11")
        .replace("client.key", "client2.key")
        .replace("bob@example.com", "carol@example.com");
    write(dir, "client2.key", &hex::encode([3u8; 32]));
    ClientConfig::load(&write(dir, "client2.toml", &text)).unwrap()
}

struct Net {
    net: MemNetwork,
    client: (Driver<MemReactor>, ClientEndpoint, MemTun),
    relay: (Driver<MemReactor>, RelayEndpoint),
    sgw: (Driver<MemReactor>, TestSgwEndpoint, MemTun),
    notices: mpsc::Receiver<Notice>,
}

fn build(c: &Configs) -> Net {
    let net = MemNetwork::new();
    let (tx, notices) = mpsc::channel();
    let mut rng = StdRng::seed_from_u64(5);

    let (sgw_ports, sgw, sgw_tun) = test_sgw_parts(&net, &c.sgw, &mut rng, None);
    let (relay_ports, relay) = relay_parts(&net, &c.relay, &mut rng);
    let (client_ports, client, client_tun) = client_parts(&net, &c.client, &mut rng);

    Net {
        client: (
            driver(&net, client_ports),
            client.with_notifier(Notifier::new(tx.clone())),
            client_tun,
        ),
        relay: (
            driver(&net, relay_ports),
            relay.with_notifier(Notifier::new(tx.clone())),
        ),
        sgw: (
            driver(&net, sgw_ports),
            sgw.with_notifier(Notifier::new(tx)),
            sgw_tun,
        ),
        net,
        notices,
    }
}

impl Net {
    /// Turns every driver until the network is quiet, jumping the virtual clock to the next
    /// timer when nothing is in flight; at most `max_turns` rounds.
    fn settle(&mut self, max_turns: usize) {
        for _ in 0..max_turns {
            self.client.0.turn(&mut self.client.1);
            self.relay.0.turn(&mut self.relay.1);
            self.sgw.0.turn(&mut self.sgw.1);
            if self.in_flight() > 0 {
                continue;
            }
            return;
        }
    }

    fn in_flight(&self) -> usize {
        // TUN output waits for the test to take it; everything else is in flight.
        self.net.queued()
    }

    fn advance(&mut self, by: Duration) {
        self.net.advance_to(self.net.now() + by);
        self.settle(1000);
    }

    fn notices(&self) -> Vec<Notice> {
        self.notices.try_iter().collect()
    }
}

fn inner_v6(src: &str, dst: &str, seq: u16) -> Vec<u8> {
    let body: Vec<u8> = (0..48).map(|i| (i as u8).wrapping_add(seq as u8)).collect();
    let repr = Ipv6Repr {
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        next_header: IpProtocol(253),
        payload_len: body.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: u32::from(seq),
    };
    let mut p = vec![0; 40];
    repr.emit(&mut p).unwrap();
    p.extend_from_slice(&body);
    p
}

/// Establishes, then sends `n` packets each way and checks every one arrived unchanged.
fn run(plan: &Plan, inner: fn(&str, &str, u16) -> Vec<u8>, n: u16) -> (Net, Vec<Notice>) {
    let dir = tempfile::tempdir().unwrap();
    let configs = configs(dir.path(), plan);
    let mut net = build(&configs);
    net.settle(1000);
    let notices = net.notices();
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::RelayIpsec { .. })),
        "no IPsec entry: {notices:?}"
    );
    assert!(net.client.1.is_established(), "{notices:?}");
    let client_addr = plan.inner_client.split('/').next().unwrap();
    for seq in 0..n {
        let up = inner(client_addr, plan.lan_host, seq);
        net.client.2.inject(&up);
        net.settle(100);
        assert_eq!(
            net.sgw.2.take().as_deref(),
            Some(&up[..]),
            "client -> LAN {seq}"
        );
        let down = inner(plan.lan_host, client_addr, seq);
        net.sgw.2.inject(&down);
        net.settle(100);
        assert_eq!(
            net.client.2.take().as_deref(),
            Some(&down[..]),
            "LAN -> client {seq}"
        );
    }
    (net, notices)
}

fn gateway_transport(net: &Net) -> CoreTransport {
    let table = net.relay.1.datapath().table();
    let (_, entry, _) = table.iter().next().unwrap();
    entry.gateway.path.transport
}

#[test]
fn standard_ports_no_nat_raw_esp_on_the_s_side() {
    let (net, notices) = run(&V4, inner_v4, 20);
    // The SGW's view saw no NAT: quick mode chose plain tunnel mode, and the relay forwards
    // ESP to it by raw IPv4 with a header of its own making.
    assert_eq!(gateway_transport(&net), CoreTransport::Ip);
    let client_phase1 = notices
        .iter()
        .find_map(|n| match n {
            Notice::ClientPhase1 { nat_t, .. } => Some(*nat_t),
            _ => None,
        })
        .unwrap();
    assert!(!client_phase1, "no NAT between relay and SGW");
    let dp = net.relay.1.datapath().counters();
    assert_eq!(dp.dropped_total(), 0);
    let relay_report = net.relay.1.report();
    assert!(
        relay_report.contains("s-side: relay 203.0.113.254 <-> peer 203.0.113.1 via raw IP"),
        "{relay_report}"
    );
    assert!(
        relay_report
            .contains("c-side: relay 198.51.100.1 <-> peer 198.51.100.10 via UDP 4500 <-> 4500"),
        "{relay_report}"
    );
    assert!(
        relay_report.contains("client->SGW 20 packets"),
        "{relay_report}"
    );
}

#[test]
fn relay_on_other_ports_looks_natted_and_uses_esp_in_udp() {
    let plan = Plan {
        relay_s_ports: (1500, 14500),
        esp: "aes256-sha1",
        ..V4
    };
    let (net, notices) = run(&plan, inner_v4, 10);
    assert_eq!(
        gateway_transport(&net),
        CoreTransport::Udp {
            relay_port: 14500,
            peer_port: 4500
        }
    );
    assert!(notices
        .iter()
        .any(|n| matches!(n, Notice::ClientPhase1 { nat_t: true, .. })));
}

#[test]
fn ipv6_on_both_legs_and_inside() {
    let plan = Plan {
        client: "2001:db8:c::10",
        relay_c: "2001:db8:c::1",
        relay_s: "2001:db8:5::fe",
        sgw: "2001:db8:5::1",
        inner_client: "2001:db8:8::1/128",
        inner_lan: "2001:db8:9::/64",
        lan_host: "2001:db8:9::7",
        ..V4
    };
    let (net, _) = run(&plan, inner_v6, 10);
    assert_eq!(gateway_transport(&net), CoreTransport::Ip);
    let report = net.relay.1.report();
    assert!(report.contains("peer 2001:db8:5::1 via raw IP"), "{report}");
}

#[test]
fn garbage_at_the_relay_is_counted_and_traffic_still_flows() {
    let (mut net, _) = run(&V4, inner_v4, 2);
    let mut attacker = net
        .net
        .bind_udp(Leg::CSide, "198.51.100.66:4500".parse().unwrap())
        .unwrap();
    let relay_c: IpAddr = "198.51.100.1".parse().unwrap();
    let mut junk = Vec::new();
    for i in 0u32..200 {
        let mut d = (i.wrapping_mul(2_654_435_761)).to_be_bytes().to_vec();
        d.extend_from_slice(&[i as u8; 40]);
        junk.push(d);
    }
    let datagrams: Vec<_> = junk
        .iter()
        .flat_map(|d| {
            [500u16, 4500].map(|port| ipsec_xlat_io::OutDatagram {
                bytes: d,
                remote: relay_c,
                remote_port: port,
            })
        })
        .collect();
    attacker.send_batch(&datagrams).unwrap();
    net.settle(1000);
    let dp = net.relay.1.datapath().counters().dropped_total();
    let ike = net.relay.1.ike_counters();
    assert!(dp > 0, "ESP-looking junk counted by the datapath");
    assert!(
        ike.malformed + ike.unknown_cookies + ike.tail_missing > 0,
        "{ike:?}"
    );
    // Nothing was reflected to the attacker.
    let mut batch = ipsec_xlat_io::RecvBatch::new(8, 2048);
    assert!(attacker.recv_batch(&mut batch).is_err());
    // Established traffic still flows.
    let up = inner_v4("10.8.0.1", "10.9.0.7", 999);
    net.client.2.inject(&up);
    net.settle(100);
    assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]));
}

#[test]
fn reload_adds_clients_and_reports_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let configs = configs(dir.path(), &V4);
    let mut net = build(&configs);
    net.settle(1000);
    let text = std::fs::read_to_string(&configs.relay_file).unwrap();
    let added = hex::encode(StaticKeypair::from_private_bytes([3; 32]).public().0);
    let edited = text.replace(
        "[[identification]]",
        &format!(
            "[[authorized_clients]]\nname = \"second\"\npublic_key = \"{added}\"\n\n[[identification]]"
        ),
    );
    std::fs::write(&configs.relay_file, &edited).unwrap();
    let outcome = net.relay.1.reload().unwrap();
    assert_eq!(outcome.clients_added, 1);
    assert!(outcome.not_applied.is_empty(), "{outcome:?}");
    std::fs::write(
        &configs.relay_file,
        edited.replace("*@example.com", "*@example.org"),
    )
    .unwrap();
    let outcome = net.relay.1.reload().unwrap();
    assert_eq!(outcome.clients_added, 0);
    assert!(outcome.identification_changed);
    assert_eq!(outcome.rules, 1);
    assert!(outcome.not_applied.is_empty(), "{outcome:?}");
    // A section that needs a restart is named, and the rest still applies.
    std::fs::write(
        &configs.relay_file,
        edited
            .replace("*@example.com", "*@example.net")
            .replace("[c_side]\n", "[c_side]\nnatt_port = 4501\n"),
    )
    .unwrap();
    let outcome = net.relay.1.reload().unwrap();
    assert!(outcome.identification_changed);
    assert_eq!(
        outcome.not_applied,
        vec!["`c_side` changed: needs a restart"]
    );
    // A broken file changes nothing and says why.
    std::fs::write(&configs.relay_file, "not toml [").unwrap();
    assert!(net.relay.1.reload().is_err());
    // The established session survived every reload.
    let up = inner_v4("10.8.0.1", "10.9.0.7", 1);
    net.client.2.inject(&up);
    net.settle(100);
    assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]));
}

#[test]
fn client_rekeys_before_the_lifetime_ends_and_traffic_continues() {
    let dir = tempfile::tempdir().unwrap();
    let configs = configs(dir.path(), &V4);
    let mut net = build(&configs);
    net.settle(1000);
    let _ = net.notices();
    // IPsec lifetime 3600 s: the client's IKE core rekeys at 90% (3240 s) and deletes the old
    // bundle when its lifetime ends; the relay retires its entry.
    for _ in 0..60 {
        net.advance(Duration::from_secs(80));
    }
    let notices = net.notices();
    let installed = notices
        .iter()
        .filter(|n| matches!(n, Notice::RelayIpsec { .. }))
        .count();
    let retired = notices
        .iter()
        .filter(|n| matches!(n, Notice::RelayExpired(_)))
        .count();
    assert_eq!((installed, retired), (1, 1), "{notices:?}");
    assert_eq!(net.relay.1.datapath().table().len(), 1);
    let up = inner_v4("10.8.0.1", "10.9.0.7", 2);
    net.client.2.inject(&up);
    net.settle(100);
    assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]));
    let down = inner_v4("10.9.0.7", "10.8.0.1", 2);
    net.sgw.2.inject(&down);
    net.settle(100);
    assert_eq!(net.client.2.take().as_deref(), Some(&down[..]));
}

/// SIGTERM at the client: DELETEs for the bundle and then for the IKE SA go out in one turn;
/// the relay retires the IPsec entry and forgets the IKE entry, so nothing of the session is
/// left (a restarted client starts from scratch, and the SGW was told the same).
#[test]
fn shutdown_deletes_the_bundles_and_the_ike_sa() {
    let dir = tempfile::tempdir().unwrap();
    let configs = configs(dir.path(), &V4);
    let mut net = build(&configs);
    net.settle(1000);
    let _ = net.notices();
    assert_eq!(net.relay.1.ike_entries().len(), 1);
    assert_eq!(net.relay.1.datapath().table().len(), 1);
    let now = net.net.now();
    net.client.1.begin_shutdown(now);
    net.client.0.turn(&mut net.client.1);
    net.settle(100);
    // The IPsec entry drains for 5 s (what the SGW sent before the DELETE still reaches the
    // client), then leaves the table.
    assert_eq!(net.relay.1.datapath().table().len(), 1, "draining");
    net.advance(Duration::from_secs(6));
    let notices = net.notices();
    assert!(
        notices.iter().any(|n| matches!(n, Notice::RelayExpired(_))),
        "{notices:?}"
    );
    assert_eq!(net.relay.1.datapath().table().len(), 0);
    assert!(net.relay.1.ike_entries().is_empty(), "IKE entry forgotten");
    let c = net.relay.1.ike_counters();
    assert_eq!(
        (c.tail_rejected, c.tail_content, c.unknown_cookies),
        (0, 0, 0)
    );
    assert!(net.client.1.failure().is_none());
}

#[test]
fn ah_alone_through_the_relay_by_raw_ip_with_the_sgws_header() {
    let plan = Plan {
        esp: "",
        ah: "sha256",
        ..V4
    };
    let (net, _) = run(&plan, inner_v4, 20);
    // AH cannot be UDP-encapsulated: raw IP on both legs, and the SGW verified every packet
    // (run() checked each arrived), so the client's ICV covered the header the relay wrote.
    assert_eq!(gateway_transport(&net), CoreTransport::Ip);
    let report = net.relay.1.report();
    assert!(
        report.contains("c-side: relay 198.51.100.1 <-> peer 198.51.100.10 via raw IP"),
        "{report}"
    );
    assert_eq!(net.relay.1.datapath().counters().dropped_total(), 0);
    assert_eq!(net.sgw.1.counters().open_errors, 0);
    assert_eq!(net.client.1.counters().open_errors, 0);
}

#[test]
fn esp_and_ah_bundle_through_the_relay() {
    let plan = Plan {
        esp: "aes128-sha256",
        ah: "sha1",
        ..V4
    };
    let (net, notices) = run(&plan, inner_v4, 20);
    let suite = notices
        .iter()
        .find_map(|n| match n {
            Notice::ClientChild(c) => Some(c.suite.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(suite, "AH sha1 + ESP aes128-sha256");
    assert_eq!(gateway_transport(&net), CoreTransport::Ip);
    assert_eq!(net.sgw.1.counters().open_errors, 0);
}

/// The user's rule moves from SGW A to SGW B on SIGHUP. A listens on other ports (1500/14500):
/// the live session must keep reaching those ports, even for a rekey after A left the table,
/// while a new client with a matching user id lands on B. A reload with an invalid file changes
/// nothing.
#[test]
fn reload_sends_new_sessions_to_the_new_sgw_and_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs = configs(dir.path(), &V4);
    let sgw_text = std::fs::read_to_string(dir.path().join("sgw.toml"))
        .unwrap()
        .replace(
            "[listen]\n",
            "[listen]\nike_port = 1500\nnatt_port = 14500\n",
        );
    configs.sgw = TestSgwConfig::load(&write(dir.path(), "sgw.toml", &sgw_text)).unwrap();
    let relay_text = std::fs::read_to_string(&configs.relay_file)
        .unwrap()
        .replace(
            "sgw = \"203.0.113.1\"\n",
            "sgw = \"203.0.113.1\"\nsgw_ike_port = 1500\nsgw_natt_port = 14500\n",
        );
    std::fs::write(&configs.relay_file, &relay_text).unwrap();
    configs.relay = RelayConfig::load(&configs.relay_file).unwrap();
    let mut net = build(&configs);
    net.settle(1000);
    assert!(net.client.1.is_established(), "{:?}", net.notices());

    // SGW B: the same test-SGW on another address and the standard ports.
    let sgw_b_config = TestSgwConfig::load(&write(
        dir.path(),
        "sgw-b.toml",
        &std::fs::read_to_string(dir.path().join("sgw.toml"))
            .unwrap()
            .replace("203.0.113.1", "203.0.113.2")
            .replace("ike_port = 1500\nnatt_port = 14500\n", ""),
    ))
    .unwrap();
    let mut rng = StdRng::seed_from_u64(6);
    let mut b_ports = open_mem_leg(&net.net, Leg::SSide, &sgw_b_config.listen).unwrap();
    let b_own = leg_port_pair(&b_ports, Leg::SSide).unwrap();
    let (b_tun_port, b_tun) = net.net.tun();
    b_ports.push(Box::new(b_tun_port));
    let (sgw_b, _) = TestSgwEndpoint::new(&sgw_b_config, b_own, &mut rng).unwrap();
    let mut sgw_b = (driver(&net.net, b_ports), sgw_b, b_tun);

    // The rule now names B, and a second client is authorised.
    let second_pub = hex::encode(StaticKeypair::from_private_bytes([3; 32]).public().0);
    let moved = relay_text
        .replace(
            "sgw = \"203.0.113.1\"\nsgw_ike_port = 1500\nsgw_natt_port = 14500\n",
            "sgw = \"203.0.113.2\"\n",
        )
        .replace(
            "[[identification]]",
            &format!(
                "[[authorized_clients]]\nname = \"second\"\npublic_key = \"{second_pub}\"\n\n\
                 [[identification]]"
            ),
        );
    std::fs::write(&configs.relay_file, &moved).unwrap();
    let outcome = net.relay.1.reload().unwrap();
    assert_eq!(outcome.clients_added, 1);
    assert_eq!(outcome.rules, 1);
    assert!(outcome.identification_changed);
    assert_eq!(outcome.sgws_added, vec!["203.0.113.2:500".parse().unwrap()]);
    assert_eq!(
        outcome.sgws_removed,
        vec!["203.0.113.1:1500".parse().unwrap()]
    );
    assert!(outcome.not_applied.is_empty(), "{outcome:?}");

    // An invalid file (a user_fqdn without `@`) is refused whole, naming the key.
    std::fs::write(
        &configs.relay_file,
        moved.replace("*@example.com", "example.com"),
    )
    .unwrap();
    let error = net.relay.1.reload().unwrap_err().to_string();
    assert!(error.contains("identification[0].id"), "{error}");
    std::fs::write(&configs.relay_file, &moved).unwrap();

    let settle = |net: &mut Net,
                  b: &mut (Driver<MemReactor>, TestSgwEndpoint, MemTun),
                  c2: &mut Option<(Driver<MemReactor>, ClientEndpoint, MemTun)>| {
        for _ in 0..1000 {
            net.client.0.turn(&mut net.client.1);
            if let Some(c2) = c2.as_mut() {
                c2.0.turn(&mut c2.1);
            }
            net.relay.0.turn(&mut net.relay.1);
            net.sgw.0.turn(&mut net.sgw.1);
            b.0.turn(&mut b.1);
            if net.in_flight() == 0 {
                return;
            }
        }
    };
    let mut client2 = None;

    // The established session still carries traffic to A, both ways.
    let exchange = |net: &mut Net,
                    b: &mut (Driver<MemReactor>, TestSgwEndpoint, MemTun),
                    c2: &mut Option<(Driver<MemReactor>, ClientEndpoint, MemTun)>,
                    seq: u16| {
        let up = inner_v4("10.8.0.1", "10.9.0.7", seq);
        net.client.2.inject(&up);
        settle(net, b, c2);
        assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]), "up {seq}");
        let down = inner_v4("10.9.0.7", "10.8.0.1", seq);
        net.sgw.2.inject(&down);
        settle(net, b, c2);
        assert_eq!(
            net.client.2.take().as_deref(),
            Some(&down[..]),
            "down {seq}"
        );
    };
    exchange(&mut net, &mut sgw_b, &mut client2, 1);

    // A second client with a matching user id lands on B.
    let client2_config = second_client_config(dir.path());
    let (c2_ports, c2, c2_tun) = client_parts(&net.net, &client2_config, &mut rng);
    client2 = Some((driver(&net.net, c2_ports), c2, c2_tun));
    settle(&mut net, &mut sgw_b, &mut client2);
    assert!(client2.as_ref().unwrap().1.is_established());
    let sgw_of = |net: &Net, client: &str| {
        net.relay
            .1
            .ike_entries()
            .iter()
            .filter(|e| e.client.ip().to_string() == client)
            .map(|e| e.sgw)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sgw_of(&net, "198.51.100.11"),
        vec!["203.0.113.2:500".parse().unwrap()]
    );
    assert_eq!(
        sgw_of(&net, "198.51.100.10"),
        vec!["203.0.113.1:1500".parse().unwrap()]
    );
    {
        let c2 = client2.as_mut().unwrap();
        let up = inner_v4("10.8.0.1", "10.9.0.7", 50);
        c2.2.inject(&up);
        settle(&mut net, &mut sgw_b, &mut client2);
        assert_eq!(sgw_b.2.take().as_deref(), Some(&up[..]), "client 2 -> B");
        assert_eq!(net.sgw.2.take(), None, "nothing of client 2 at A");
    }

    // The first client rekeys under its IKE SA with A, which has left the table: its quick
    // mode still reaches A's IKE port 1500 (the standard 500 has nobody listening).
    let _ = net.notices();
    for _ in 0..45 {
        net.net.advance_to(net.net.now() + Duration::from_secs(80));
        settle(&mut net, &mut sgw_b, &mut client2);
    }
    let installed: Vec<_> = net
        .notices()
        .into_iter()
        .filter_map(|n| match n {
            Notice::RelayIpsec { translation, .. } => Some(translation),
            _ => None,
        })
        .collect();
    assert!(
        installed
            .iter()
            .any(|t| t.client.ip().to_string() == "198.51.100.10"
                && t.sgw == "203.0.113.1:1500".parse().unwrap()),
        "{installed:?}"
    );
    exchange(&mut net, &mut sgw_b, &mut client2, 2);
    let c = net.relay.1.ike_counters();
    assert_eq!((c.no_sgw, c.unknown_cookies, c.tail_rejected), (0, 0, 0));
}

/// An s-side pool: each user reaches the SGW from a surrogate address of its own, and the
/// relay's sockets on the pool addresses carry its IKE and ESP.
#[test]
fn pool_gives_each_user_a_surrogate_s_side_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut configs = configs(dir.path(), &V4);
    let second_pub = hex::encode(StaticKeypair::from_private_bytes([3; 32]).public().0);
    let relay_text = std::fs::read_to_string(&configs.relay_file)
        .unwrap()
        .replace(
            "address = \"203.0.113.254\"",
            "pool = [\"203.0.113.250\", \"203.0.113.251\"]",
        )
        .replace(
            "[[identification]]",
            &format!(
                "[[authorized_clients]]\nname = \"second\"\npublic_key = \"{second_pub}\"\n\n\
                 [[identification]]"
            ),
        );
    std::fs::write(&configs.relay_file, &relay_text).unwrap();
    configs.relay = RelayConfig::load(&configs.relay_file).unwrap();
    let mut net = build(&configs);
    net.settle(1000);
    assert!(net.client.1.is_established(), "{:?}", net.notices());
    let up = inner_v4("10.8.0.1", "10.9.0.7", 1);
    net.client.2.inject(&up);
    net.settle(100);
    assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]));
    let down = inner_v4("10.9.0.7", "10.8.0.1", 1);
    net.sgw.2.inject(&down);
    net.settle(100);
    assert_eq!(net.client.2.take().as_deref(), Some(&down[..]));

    // A second user, from another client.
    let client2_config = second_client_config(dir.path());
    let (ports, c2, tun2) = client_parts(&net.net, &client2_config, &mut StdRng::seed_from_u64(8));
    let mut client2 = (driver(&net.net, ports), c2, tun2);
    for _ in 0..1000 {
        client2.0.turn(&mut client2.1);
        net.relay.0.turn(&mut net.relay.1);
        net.sgw.0.turn(&mut net.sgw.1);
        if net.in_flight() == 0 {
            break;
        }
    }
    assert!(client2.1.is_established());
    let relay_s: Vec<_> = net
        .relay
        .1
        .ike_entries()
        .iter()
        .map(|e| (e.client.ip().to_string(), e.relay_s.ip().to_string()))
        .collect();
    assert_eq!(relay_s.len(), 2, "{relay_s:?}");
    assert_ne!(relay_s[0].1, relay_s[1].1, "{relay_s:?}");
    for (_, address) in &relay_s {
        assert!(
            address == "203.0.113.250" || address == "203.0.113.251",
            "{relay_s:?}"
        );
    }
    // Each IPsec entry's s-side partition uses its user's surrogate address.
    for (_, entry, _) in net.relay.1.datapath().table().iter() {
        let client = entry.client.path.peer_addr.to_string();
        let expected = &relay_s.iter().find(|(c, _)| *c == client).unwrap().1;
        assert_eq!(&entry.gateway.path.relay_addr.to_string(), expected);
    }
    let up = inner_v4("10.8.0.1", "10.9.0.7", 2);
    client2.2.inject(&up);
    for _ in 0..100 {
        client2.0.turn(&mut client2.1);
        net.relay.0.turn(&mut net.relay.1);
        net.sgw.0.turn(&mut net.sgw.1);
        if net.in_flight() == 0 {
            break;
        }
    }
    assert_eq!(net.sgw.2.take().as_deref(), Some(&up[..]));
    let report = net.relay.1.report();
    assert!(report.contains("pool exhausted 0"), "{report}");
    assert!(report.contains("surrogate addresses held 2"), "{report}");
}
