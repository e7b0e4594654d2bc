//! Client, relay and test-SGW driven through the whole tail-augmented exchange on a
//! deterministic in-memory network (virtual clock, loss and duplication injected by rule).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod ike_lab;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use ipsec_xlat::Timestamp;
use std::cell::{Ref, RefCell};
use std::rc::Rc;

use ipsec_xlat::ike::crypto::Cookies;
use ipsec_xlat::ike::dh::DhGroup;
use ipsec_xlat::ike::phase1::{Phase1Error, Phase1Proposal};
use ipsec_xlat::ike::phase2::{ChildIntegrity, ChildProposal, Encapsulation, EspCipher};
use ipsec_xlat::ike::tail_crypto::StaticKeypair;
use ipsec_xlat::ike::*;
use ipsec_xlat::net::{Leg, NetPath, Transport};
use ipsec_xlat::relay::StandaloneSpis;
use ipsec_xlat::testing::{
    self, add_ike_node, IkeNode, InFlight, Network, NodeId, RunLimit, RunOutcome,
};
use ipsec_xlat::wire::isakmp::NotifyType;
use rand::rngs::StdRng;
use rand::SeedableRng;

use ike_lab::{relay_config, same_keys, LabSuite, CLIENT, LAB_P1, RELAY_C, RELAY_S, SGW};

/// A second client, for tests with two.
const CLIENT2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);

const ESP: ChildProposal = ChildProposal {
    esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
    ah: None,
    pfs: None,
    mode: Encapsulation::Tunnel,
    lifetime_secs: 3960,
};

/// What a scenario varies.
#[derive(Clone)]
struct Scenario {
    p1: Phase1Proposal,
    child: ChildProposal,
    client_psk: &'static str,
    sgw_psk: &'static str,
    rsa: bool,
    user: &'static str,
    authorised: bool,
    auto_rekey: bool,
    seed: u64,
}

impl Scenario {
    /// What client and SGW negotiate in this scenario.
    fn suite(&self) -> LabSuite {
        LabSuite {
            p1: self.p1,
            child: self.child,
            rsa: self.rsa,
        }
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            p1: LAB_P1,
            child: ESP,
            client_psk: "lab-only-psk",
            sgw_psk: "lab-only-psk",
            rsa: false,
            user: "alice@example.com",
            authorised: true,
            auto_rekey: false,
            seed: 1,
        }
    }
}

/// Client(s), relay and SGW as nodes of a simulated network (1 ms one way), with every
/// datagram put on the wire logged and given its fate by the rule of the current run.
struct Net {
    net: Network,
    clients: Vec<(Ipv4Addr, NodeId)>,
    relay: NodeId,
    sgw: NodeId,
    relay_key: StaticKeypair,
    /// The log and the rule, shared with the network's impairment hook.
    wire: Rc<RefCell<Wire>>,
    client_events: Vec<Vec<IkeClientEvent>>,
    relay_events: Vec<IkeRelayEvent>,
    sgw_events: Vec<SgwEvent>,
}

/// What the impairment hook keeps.
struct Wire {
    /// Every datagram that went over the wire (as sent), with its fate.
    log: Vec<(IkeDatagram, Fate)>,
    /// The fate of each datagram of the current run, from its index in the whole log.
    rule: Rule,
}

/// A run's rule: the fate of a datagram from its index in the whole log and the datagram.
type Rule = Box<dyn FnMut(usize, &IkeDatagram) -> Fate>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Delivered,
    Dropped,
    Duplicated,
    /// Delivered with its last byte flipped.
    Corrupted,
    /// Delivered with the byte at this position (modulo the length) XORed with the mask.
    Mutated(usize, u8),
}

impl Fate {
    /// The network's fate for a datagram of `len` bytes given this one.
    fn on_the_wire(self, len: usize) -> testing::Fate {
        match self {
            Fate::Delivered => testing::Fate::Deliver,
            Fate::Dropped => testing::Fate::Drop,
            Fate::Duplicated => testing::Fate::Duplicate,
            Fate::Corrupted => match len.checked_sub(1) {
                Some(at) => testing::Fate::Corrupt { at, mask: 0x01 },
                None => testing::Fate::Deliver,
            },
            Fate::Mutated(at, mask) => testing::Fate::Corrupt { at, mask },
        }
    }
}

/// A datagram on the simulated wire as the IKE cores name it (UDP only here).
fn as_transmit(d: &InFlight) -> IkeDatagram {
    let (local_port, remote_port) = match d.transport {
        Transport::Udp {
            local_port,
            remote_port,
        } => (local_port, remote_port),
        Transport::Ip { .. } => panic!("IKE travels in UDP: {d:?}"),
    };
    IkeDatagram {
        local: SocketAddr::new(d.src, local_port),
        remote: SocketAddr::new(d.dst, remote_port),
        payload: d.bytes.clone(),
    }
}

impl Net {
    fn new(s: &Scenario) -> Self {
        let mut rng = StdRng::seed_from_u64(s.seed);
        let relay_key = StaticKeypair::generate(&mut rng);
        let sgw = TestSgw::new(s.suite().sgw_config(s.sgw_psk), &mut rng);
        let relay = IkeRelay::new(relay_config(relay_key.clone(), Vec::new()), &mut rng);
        let mut net = Network::new(Duration::from_millis(1));
        // Where the relay's SPI grants come from.
        let relay = add_ike_node(
            &mut net,
            "relay",
            relay,
            StandaloneSpis::new(s.seed),
            &[
                (Leg::CSide, IpAddr::V4(RELAY_C)),
                (Leg::SSide, IpAddr::V4(RELAY_S)),
            ],
        );
        let sgw = add_ike_node(&mut net, "sgw", sgw, (), &[(Leg::SSide, IpAddr::V4(SGW))]);
        let wire = Rc::new(RefCell::new(Wire {
            log: Vec::new(),
            rule: Box::new(deliver_all),
        }));
        let hook = Rc::clone(&wire);
        net.set_impairment(move |d| {
            let wire = &mut *hook.borrow_mut();
            let t = as_transmit(d);
            let fate = (wire.rule)(wire.log.len(), &t);
            wire.log.push((t, fate));
            fate.on_the_wire(d.bytes.len())
        });
        Self {
            net,
            clients: Vec::new(),
            relay,
            sgw,
            relay_key,
            wire,
            client_events: Vec::new(),
            relay_events: Vec::new(),
            sgw_events: Vec::new(),
        }
    }

    /// A client at `ip` with its key from `seed`, authorised at the relay if `authorised`.
    fn make_client(&mut self, s: &Scenario, ip: Ipv4Addr, seed: u64) -> IkeClient {
        let mut rng = StdRng::seed_from_u64(seed);
        let key = StaticKeypair::generate(&mut rng);
        if s.authorised {
            // The relay's table is configuration: rebuild the relay with the key added only
            // before any traffic, which is when tests call this.
            self.relay_mut().authorise_client(key.public());
        }
        let config = IkeClientConfig {
            auto_rekey: s.auto_rekey,
            ..s.suite()
                .client_config(s.client_psk, ip, key, self.relay_key.public(), s.user)
        };
        IkeClient::new(config, self.net.now(), &mut rng).unwrap()
    }

    /// Adds a client at `ip` and authorises its key at the relay (if `authorised`).
    fn add_client(&mut self, s: &Scenario, ip: Ipv4Addr, seed: u64) {
        let client = self.make_client(s, ip, seed);
        let id = add_ike_node(
            &mut self.net,
            "client",
            client,
            (),
            &[(Leg::CSide, IpAddr::V4(ip))],
        );
        self.clients.push((ip, id));
        self.client_events.push(Vec::new());
    }

    fn client(&self, i: usize) -> &IkeClient {
        let id = self.clients[i].1;
        self.net.node::<IkeNode<IkeClient>>(id).unwrap().inner()
    }

    fn client_mut(&mut self, i: usize) -> &mut IkeClient {
        let id = self.clients[i].1;
        self.net
            .node_mut::<IkeNode<IkeClient>>(id)
            .unwrap()
            .inner_mut()
    }

    fn relay(&self) -> &IkeRelay {
        self.net
            .node::<IkeNode<IkeRelay>>(self.relay)
            .unwrap()
            .inner()
    }

    fn relay_mut(&mut self) -> &mut IkeRelay {
        self.net
            .node_mut::<IkeNode<IkeRelay>>(self.relay)
            .unwrap()
            .inner_mut()
    }

    /// The relay with its SPI table, for direct timer calls.
    fn relay_parts(&mut self) -> (&mut IkeRelay, &mut StandaloneSpis) {
        self.net
            .node_mut::<IkeNode<IkeRelay>>(self.relay)
            .unwrap()
            .parts_mut()
    }

    fn spis(&self) -> &StandaloneSpis {
        self.net
            .node::<IkeNode<IkeRelay>>(self.relay)
            .unwrap()
            .context()
    }

    fn sgw(&self) -> &TestSgw {
        self.net.node::<IkeNode<TestSgw>>(self.sgw).unwrap().inner()
    }

    fn sgw_mut(&mut self) -> &mut TestSgw {
        self.net
            .node_mut::<IkeNode<TestSgw>>(self.sgw)
            .unwrap()
            .inner_mut()
    }

    fn now(&self) -> Timestamp {
        self.net.now()
    }

    /// Every datagram that went over the wire so far, with its fate.
    fn log(&self) -> Ref<'_, Vec<(IkeDatagram, Fate)>> {
        Ref::map(self.wire.borrow(), |w| &w.log)
    }

    /// Takes every node's events into the lists the assertions read.
    fn take_events(&mut self) {
        for i in 0..self.clients.len() {
            let client = self.client_mut(i);
            let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
            self.client_events[i].extend(events);
        }
        let relay = self.relay_mut();
        let events: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
        self.relay_events.extend(events);
        let sgw = self.sgw_mut();
        let events: Vec<_> = std::iter::from_fn(|| sgw.poll_event()).collect();
        self.sgw_events.extend(events);
    }

    /// Puts `t` on the wire again as its sender would (a replay, or a forgery when its
    /// addresses were changed), and runs until it has arrived and nothing is in flight.
    fn deliver(&mut self, t: IkeDatagram) {
        let IpAddr::V4(from) = t.local.ip() else {
            panic!("IPv4 only: {t:?}")
        };
        let id = if from == RELAY_C || from == RELAY_S {
            self.relay
        } else if from == SGW {
            self.sgw
        } else {
            self.clients.iter().find(|(ip, _)| *ip == from).unwrap().1
        };
        let leg = if from == RELAY_S || from == SGW {
            Leg::SSide
        } else {
            Leg::CSide
        };
        let path = NetPath {
            leg,
            local: t.local.ip(),
            remote: t.remote.ip(),
            transport: Transport::Udp {
                local_port: t.local.port(),
                remote_port: t.remote.port(),
            },
        };
        self.net.inject(id, path, &t.payload);
        let limit = RunLimit::for_duration(self.now(), Duration::from_millis(100));
        let outcome = self.net.run_until(limit, |net| net.in_flight() == 0);
        assert_eq!(outcome, RunOutcome::Done);
        self.take_events();
    }

    /// Runs until nothing is in flight and no timer is armed (or a bound is hit). `fate`
    /// decides each datagram's fate from its index in the whole log and the datagram.
    fn run(&mut self, fate: impl FnMut(usize, &IkeDatagram) -> Fate + 'static) {
        // Timers further out than this (SA lifetimes) are left for `advance`.
        let horizon = self.now() + Duration::from_secs(600);
        self.wire.borrow_mut().rule = Box::new(fate);
        let limit = RunLimit {
            steps: 1_000_000,
            until: horizon,
        };
        let outcome = self.net.run_until(limit, |net| {
            net.in_flight() == 0 && net.next_timeout().is_none_or(|t| t > horizon)
        });
        self.wire.borrow_mut().rule = Box::new(deliver_all);
        assert!(
            matches!(outcome, RunOutcome::Done | RunOutcome::Idle),
            "network did not settle: {outcome:?}"
        );
        self.take_events();
    }

    /// Client `i` rekeys its bundle now, and the network settles.
    fn rekey_client(&mut self, i: usize) {
        let now = self.now();
        self.client_mut(i).rekey(now).unwrap();
        self.run(deliver_all);
    }

    fn client_child(&self, i: usize) -> Option<&ClientChild> {
        self.client_children(i).into_iter().last()
    }

    fn client_children(&self, i: usize) -> Vec<&ClientChild> {
        self.client_events[i]
            .iter()
            .filter_map(|e| match e {
                IkeClientEvent::ChildEstablished(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    fn client_failure(&self, i: usize) -> Option<&IkeClientError> {
        self.client_events[i].iter().find_map(|e| match e {
            IkeClientEvent::Failed(e) => Some(e),
            _ => None,
        })
    }

    fn sgw_children(&self) -> Vec<(&SocketAddr, &ipsec_xlat::ike::phase2::ChildSa)> {
        self.sgw_events
            .iter()
            .filter_map(|e| match e {
                SgwEvent::ChildEstablished { peer, child } => Some((peer, &**child)),
                _ => None,
            })
            .collect()
    }

    fn ipsec_entries(&self) -> Vec<&IpsecTranslation> {
        self.relay_events
            .iter()
            .filter_map(|e| match e {
                IkeRelayEvent::IpsecTranslation(t) => Some(t),
                _ => None,
            })
            .collect()
    }
}

/// Everything agrees end to end: keys, s-side SPIs, the relay's entry.
fn assert_consistent(net: &Net, i: usize) {
    let client = net.client_child(i).expect("client established");
    let entries = net.ipsec_entries();
    let entry = entries
        .iter()
        .rev()
        .find(|e| e.client.ip() == IpAddr::V4(net.clients[i].0))
        .expect("relay entry for this client");
    assert_eq!(entry.c_spi_1, client.c_spis_in);
    let (peer, sgw) = net
        .sgw_children()
        .into_iter()
        .find(|(_, c)| c.inbound_spis == entry.s_spi_3)
        .expect("SGW child for this entry");
    // The SGW talked to the relay's s-side address, never to the client.
    assert_eq!(peer.ip(), IpAddr::V4(RELAY_S));
    // The client knows that path as the SGW sees it (AH seals over it).
    assert_eq!(client.s_path.0.ip(), IpAddr::V4(RELAY_S));
    assert_eq!(client.s_path.1.ip(), IpAddr::V4(SGW));
    // Keys agree (client seals with what the SGW opens and vice versa).
    assert!(
        same_keys(&client.sa.esp_out, &sgw.esp_in) && same_keys(&client.sa.esp_in, &sgw.esp_out)
    );
    assert!(same_keys(&client.sa.ah_out, &sgw.ah_in) && same_keys(&client.sa.ah_in, &sgw.ah_out));
    // The client's keys were derived with the s-side SPIs the SGW used.
    assert_eq!(client.sa.outbound_spis, sgw.inbound_spis);
    assert_eq!(client.sa.inbound_spis, sgw.outbound_spis);
    // The relay's entry maps each side onto the other.
    assert_eq!(entry.s_spi_3, sgw.inbound_spis);
    assert_eq!(entry.s_spi_2, sgw.outbound_spis);
    assert_eq!(entry.c_spi_2, client.c_spis_out);
    assert_eq!(entry.client.ip(), IpAddr::V4(net.clients[i].0));
    assert_eq!(entry.sgw.ip(), IpAddr::V4(SGW));
    assert_eq!(entry.s_udp_encap, client.s_udp_encap);
    // c-side and s-side SPIs are different numbers (translation is real).
    assert_ne!(entry.c_spi_1, entry.s_spi_2);
    assert_ne!(entry.c_spi_2, entry.s_spi_3);
}

fn deliver_all(_: usize, _: &IkeDatagram) -> Fate {
    Fate::Delivered
}

/// A fate that gives the `k`-th datagram of the run (counted over the whole log) `fault`
/// and delivers every other one: how the tests hit each position of the exchange in turn.
fn fault_at(k: usize, fault: Fate) -> impl FnMut(usize, &IkeDatagram) -> Fate {
    move |n, _| if n == k { fault } else { Fate::Delivered }
}

fn single(s: &Scenario) -> Net {
    let mut net = Net::new(s);
    net.add_client(s, CLIENT, s.seed + 100);
    net
}

/// [`single`] after the whole exchange ran with every datagram delivered.
fn established(s: &Scenario) -> Net {
    let mut net = single(s);
    net.run(deliver_all);
    net
}

#[test]
fn psk_exchange_through_the_relay() {
    let s = Scenario::default();
    let net = established(&s);
    assert_consistent(&net, 0);
    // The relay saw no datagram it had to drop, and the SGW nothing it ignored.
    let c = net.relay().counters();
    assert_eq!(
        (
            c.malformed,
            c.unknown_cookies,
            c.tail_rejected,
            c.tail_missing
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(net.sgw().ignored, 0);
    // Nine IKE messages crossed each link: the relay forwarded 9 and nothing else.
    assert_eq!(c.forwarded, 9);
    // Tails exist only on the c-side: nothing the SGW received carries one.
    for (t, _) in net.log().iter() {
        if t.remote.ip() == IpAddr::V4(SGW) {
            let ike = if t.remote.port() == 4500 {
                &t.payload[4..]
            } else {
                &t.payload[..]
            };
            let len = u32::from_be_bytes(ike[24..28].try_into().unwrap()) as usize;
            assert_eq!(len, ike.len(), "no tail toward the SGW");
        }
    }
}

#[test]
fn every_group_esp_ah_and_bundles() {
    let mut seed = 10;
    for group in DhGroup::SUPPORTED {
        for child in [
            ESP,
            ChildProposal {
                esp: None,
                ah: Some(ChildIntegrity::HmacSha256_128),
                ..ESP
            },
            ChildProposal {
                esp: Some((EspCipher::AesGcm16_128, None)),
                ah: Some(ChildIntegrity::HmacSha1_96),
                pfs: Some(group),
                ..ESP
            },
        ] {
            seed += 1;
            let s = Scenario {
                p1: Phase1Proposal { group, ..LAB_P1 },
                child,
                seed,
                ..Scenario::default()
            };
            let net = established(&s);
            assert_consistent(&net, 0);
        }
    }
}

#[test]
fn rsa_exchange_through_the_relay() {
    let s = Scenario {
        rsa: true,
        ..Scenario::default()
    };
    let net = established(&s);
    assert_consistent(&net, 0);
}

/// Runs the default exchange once per datagram position `k` of it (17 datagrams), with the
/// k-th datagram given `fault` and seed `seed_base + k`, and checks that every run still
/// completes consistently. Returns the networks for the caller's own checks.
fn survives_fault_at_each_position(seed_base: u64, fault: Fate) -> Vec<Net> {
    (0..17)
        .map(|k| {
            let s = Scenario {
                seed: seed_base + k as u64,
                ..Scenario::default()
            };
            let mut net = single(&s);
            net.run(fault_at(k, fault));
            assert!(net.client_failure(0).is_none(), "k={k}");
            assert_consistent(&net, 0);
            net
        })
        .collect()
}

#[test]
fn recovers_from_loss_of_each_message() {
    // Drop the first transmission of the k-th datagram, for every position in the exchange.
    survives_fault_at_each_position(200, Fate::Dropped);
}

#[test]
fn duplicated_datagrams_change_nothing() {
    for (k, net) in survives_fault_at_each_position(300, Fate::Duplicated)
        .iter()
        .enumerate()
    {
        assert_eq!(
            net.ipsec_entries().len(),
            1,
            "one entry despite duplicates, k={k}"
        );
    }
}

#[test]
fn two_clients_with_the_same_initiator_cookie() {
    let s = Scenario::default();
    let mut net = Net::new(&s);
    // Same seed: both clients draw the same cookie (and everything else).
    net.add_client(&s, CLIENT, 7);
    net.add_client(&s, CLIENT2, 7);
    net.run(deliver_all);
    assert_consistent(&net, 0);
    assert_consistent(&net, 1);
    let e = net.ipsec_entries();
    assert_eq!(e.len(), 2);
    assert_ne!(e[0].s_spi_2, e[1].s_spi_2);
}

#[test]
fn wrong_psk_is_a_typed_failure() {
    let s = Scenario {
        client_psk: "wrong",
        ..Scenario::default()
    };
    let net = established(&s);
    assert_eq!(
        net.client_failure(0),
        Some(&IkeClientError::Notified(NotifyType::AUTHENTICATION_FAILED))
    );
    assert!(net.ipsec_entries().is_empty());
    assert!(matches!(
        net.sgw_events.last(),
        Some(SgwEvent::Refused {
            error: SgwError::Phase1(Phase1Error::AuthenticationFailed),
            ..
        })
    ));
}

#[test]
fn no_proposal_chosen_is_a_typed_failure() {
    let mut s = Scenario::default();
    let mut net = Net::new(&s);
    s.p1.group = DhGroup::ECP_256; // the client offers ECP, the SGW wants MODP 2048
    net.add_client(&s, CLIENT, 5);
    net.run(deliver_all);
    assert_eq!(
        net.client_failure(0),
        Some(&IkeClientError::Notified(NotifyType::NO_PROPOSAL_CHOSEN))
    );
}

#[test]
fn unauthorised_client_is_dropped_and_counted() {
    let s = Scenario {
        authorised: false,
        ..Scenario::default()
    };
    let net = established(&s);
    assert!(matches!(
        net.client_failure(0),
        Some(IkeClientError::Timeout(_))
    ));
    let c = net.relay().counters();
    assert_eq!(
        c.unauthorised,
        1 + RetransmitPolicy::default().max_retransmissions as u64
    );
    assert_eq!(c.forwarded, 0, "nothing reached the SGW");
    assert_eq!(net.relay().sessions(), 0);
}

#[test]
fn user_without_sgw_is_dropped_and_counted() {
    let s = Scenario {
        user: "mallory@example.org",
        ..Scenario::default()
    };
    let net = established(&s);
    assert!(matches!(
        net.client_failure(0),
        Some(IkeClientError::Timeout(_))
    ));
    assert!(net.relay().counters().no_sgw > 0);
    assert_eq!(net.relay().counters().forwarded, 0);
}

/// Whether a datagram carries an encrypted main mode message (mm5 or mm6).
fn is_encrypted_main_mode(t: &IkeDatagram) -> bool {
    let ike = if t.remote.port() == 4500 || t.local.port() == 4500 {
        &t.payload[4..]
    } else {
        &t.payload[..]
    };
    ike[18] == 2 && ike[19] & 1 == 1
}

#[test]
fn tampered_tails_are_dropped_and_the_exchange_recovers() {
    // mm5's tail (client -> relay) and mm6's tail (relay -> client), each corrupted once.
    for from in [CLIENT, RELAY_C] {
        let s = Scenario::default();
        let mut net = single(&s);
        let mut done = false;
        net.run(move |_, t| {
            if !done && t.local.ip() == IpAddr::V4(from) && is_encrypted_main_mode(t) {
                done = true;
                Fate::Corrupted
            } else {
                Fate::Delivered
            }
        });
        // Exactly one datagram was damaged (the rule's `done` lives in the rule).
        let corrupted = net
            .log()
            .iter()
            .filter(|(_, f)| *f == Fate::Corrupted)
            .count();
        assert_eq!(corrupted, 1);
        assert_consistent(&net, 0);
        if from == CLIENT {
            assert_eq!(net.relay().counters().tail_rejected, 1);
        } else {
            assert_eq!(net.client(0).counters().tail_rejected, 1);
        }
    }
}

/// The relay's outputs carry no IKE or IPsec key. Its entries are addresses, cookies, SPIs
/// and flags (pinned below by exhaustive destructuring: adding a field fails to compile and
/// forces a review here); its state holds only `TailSession`s, by construction in relay.rs.
#[test]
fn relay_outputs_hold_no_ike_or_ipsec_key() {
    let s = Scenario::default();
    let net = established(&s);
    let client = net.client_child(0).unwrap();
    let shown = format!("{:?}", net.relay_events);
    assert!(shown.contains("IpsecTranslation") && shown.contains("IkeTranslation"));
    for keys in [
        client.sa.esp_out.as_ref().unwrap(),
        client.sa.esp_in.as_ref().unwrap(),
    ] {
        for key in [keys.encryption.expose(), keys.integrity.expose()] {
            assert!(!shown.contains(&format!("{key:?}")));
            assert!(!shown.contains(&hex_of(key)));
        }
    }
    for e in &net.relay_events {
        match e.clone() {
            IkeRelayEvent::IkeTranslation(IkeTranslation {
                client: _,
                relay_c: _,
                c_cookies: _,
                relay_s: _,
                sgw: _,
                s_cookies: _,
                user: _,
            }) => {}
            IkeRelayEvent::IpsecTranslation(IpsecTranslation {
                client: _,
                relay_c: _,
                relay_s: _,
                sgw: _,
                c_spi_1: _,
                c_spi_2: _,
                s_spi_2: _,
                s_spi_3: _,
                s_udp_encap: _,
                c_udp_encap: _,
                lifetime_secs: _,
            }) => {}
            IkeRelayEvent::IkeExpired {
                client: _,
                c_cookies: _,
                s_cookies: _,
            }
            | IkeRelayEvent::IkeRetired {
                client: _,
                c_cookies: _,
                s_cookies: _,
            } => {}
            IkeRelayEvent::IpsecRetired {
                client: _,
                s_spi_2: _,
                c_spi_2: _,
            } => {}
        }
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Rekeying: a second (and third) quick mode under the same IKE SA, each using the SPI grant
/// the previous one brought, gives new keys, new SPIs on both legs and a new relay entry.
#[test]
fn rekey_makes_new_entries_under_the_same_ike_sa() {
    let s = Scenario::default();
    let mut net = established(&s);
    for round in 1..=2 {
        net.rekey_client(0);
        assert_eq!(net.client_children(0).len(), round + 1);
        assert_consistent(&net, 0);
    }
    let children = net.client_children(0);
    let entries = net.ipsec_entries();
    assert_eq!(entries.len(), 3);
    assert_eq!(net.sgw_children().len(), 3);
    // All SPIs distinct across the three bundles, on every leg.
    for pick in [
        |e: &IpsecTranslation| e.s_spi_2.esp,
        |e: &IpsecTranslation| e.s_spi_3.esp,
        |e: &IpsecTranslation| e.c_spi_1.esp,
        |e: &IpsecTranslation| e.c_spi_2.esp,
    ] {
        let mut v: Vec<_> = entries.iter().map(|e| pick(e)).collect();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 3);
    }
    // Fresh keys each time.
    let k = |c: &ClientChild| c.sa.esp_out.as_ref().unwrap().encryption.expose().to_vec();
    assert_ne!(k(children[0]), k(children[1]));
    assert_ne!(k(children[1]), k(children[2]));
    // One IKE SA throughout.
    let ike: Vec<_> = net
        .relay_events
        .iter()
        .filter(|e| matches!(e, IkeRelayEvent::IkeTranslation(_)))
        .collect();
    assert_eq!(ike.len(), 1);
}

#[test]
fn rekey_before_establishment_is_refused() {
    let s = Scenario::default();
    let mut net = single(&s);
    let now = net.now();
    assert_eq!(net.client_mut(0).rekey(now), Err(IkeClientError::NotReady));
    net.run(deliver_all);
    assert_consistent(&net, 0);
}

/// The relay forgets an IKE session when the SA's lifetime (read from mm2's SA payload) ends,
/// and a half-open one when the SGW never answers.
#[test]
fn relay_expires_ike_sessions() {
    let s = Scenario::default();
    let mut net = established(&s);
    assert_consistent(&net, 0);
    assert_eq!(net.relay().sessions(), 1);
    let entry = net.ipsec_entries()[0].clone();
    assert_eq!(
        entry.lifetime_secs, 3960,
        "the child lifetime reaches the relay"
    );
    let expiry = net.relay().poll_timeout().unwrap();
    let left = expiry - net.now();
    assert!(
        left <= Duration::from_secs(15840) && left > Duration::from_secs(15839),
        "expires with the 15840 s phase-1 lifetime, {left:?} left"
    );
    let (relay, spis) = net.relay_parts();
    relay.handle_timeout(expiry - Duration::from_secs(1), spis);
    assert_eq!(net.relay().sessions(), 1);
    let (relay, spis) = net.relay_parts();
    relay.handle_timeout(expiry, spis);
    assert_eq!(net.relay().sessions(), 0);
    assert!(matches!(
        net.relay_mut().poll_event(),
        Some(IkeRelayEvent::IkeExpired { .. })
    ));
    // The grant no quick mode used went back to the allocator; the used bundle's SPIs stay
    // with its entry (in a relay, the table entry) until that is retired.
    let bundle_spis = [entry.c_spi_2, entry.s_spi_2]
        .iter()
        .flat_map(|b| [b.esp, b.ah])
        .flatten()
        .count();
    assert_eq!(net.spis().table().reserved_spis(), bundle_spis);

    // Half-open: the SGW is silent.
    let mut net = single(&s);
    net.run(|_, t| {
        if t.remote.ip() == IpAddr::V4(SGW) {
            Fate::Dropped
        } else {
            Fate::Delivered
        }
    });
    assert!(matches!(
        net.client_failure(0),
        Some(IkeClientError::Timeout(_))
    ));
    assert_eq!(net.relay().sessions(), 0, "half-open session forgotten");
    assert!(net
        .relay_events
        .iter()
        .any(|e| matches!(e, IkeRelayEvent::IkeExpired { .. })));
}

/// The SGW rekeys (starts a quick mode itself, as strongSwan does when its rekey time comes
/// first): the relay's grant rides on the SGW's qm1, the client answers as quick mode
/// responder and reports the bundle on qm2's tail, and everything agrees again. Loss of the
/// SGW's first qm1 and of the client's first qm2 is recovered.
#[test]
fn sgw_initiated_rekey_through_the_relay() {
    for lose in [None, Some(0), Some(1)] {
        let s = Scenario::default();
        let mut net = established(&s);
        let cookies = sgw_cookies(&net)[0];
        let now = net.now();
        net.sgw_mut().start_quick_mode(now, &cookies).unwrap();
        let start = net.log().len();
        match lose {
            Some(k) => net.run(fault_at(start + k, Fate::Dropped)),
            None => net.run(deliver_all),
        }
        assert_eq!(net.client_children(0).len(), 2, "lose {lose:?}");
        assert_eq!(net.ipsec_entries().len(), 2);
        assert_consistent(&net, 0);
        // The client can still rekey itself afterwards with its spare grant.
        net.rekey_client(0);
        assert_eq!(net.client_children(0).len(), 3);
        assert_consistent(&net, 0);
    }
}

/// A bundle ends with an encrypted informational DELETE: when the SGW deletes, the client
/// drops its half and sends its own DELETE; when the client deletes, it sends one. Either
/// way the client's DELETE carries a tail that makes the relay retire exactly that entry.
#[test]
fn deletes_retire_relay_entries() {
    use ipsec_xlat::wire::isakmp::ProtocolId;
    let s = Scenario::default();
    let mut net = established(&s);
    net.rekey_client(0);
    let entries: Vec<IpsecTranslation> = net.ipsec_entries().into_iter().cloned().collect();
    assert_eq!(entries.len(), 2);
    let cookies = sgw_cookies(&net)[0];

    // The SGW deletes its inbound SA of the first bundle (s-SPI-3).
    net.sgw_mut()
        .delete_child(
            &cookies,
            &[(ProtocolId::IPSEC_ESP, vec![entries[0].s_spi_3.esp.unwrap()])],
        )
        .unwrap();
    net.run(deliver_all);
    assert!(net.client_events[0].iter().any(|e| matches!(
        e,
        IkeClientEvent::ChildDeleted { s_spis_out, by_peer: true, .. } if *s_spis_out == entries[0].s_spi_3
    )));
    let retired: Vec<_> = net
        .relay_events
        .iter()
        .filter_map(|e| match e {
            IkeRelayEvent::IpsecRetired {
                s_spi_2, c_spi_2, ..
            } => Some((*s_spi_2, *c_spi_2)),
            _ => None,
        })
        .collect();
    assert_eq!(retired, vec![(entries[0].s_spi_2, entries[0].c_spi_2)]);
    // The SGW heard the client's DELETE for the other half (the client's inbound s-SPI-2).
    assert!(net.sgw_events.iter().any(|e| matches!(
        e,
        SgwEvent::Deleted { deletes, .. } if deletes == &vec![(ProtocolId::IPSEC_ESP, vec![entries[0].s_spi_2.esp.unwrap()])]
    )));

    // Now the client retires the second bundle itself.
    let second_in = net.client_child(0).unwrap().sa.inbound_spis;
    assert_eq!(second_in, entries[1].s_spi_2);
    net.client_mut(0).delete_child(second_in).unwrap();
    net.run(deliver_all);
    let retired = net
        .relay_events
        .iter()
        .filter(|e| matches!(e, IkeRelayEvent::IpsecRetired { .. }))
        .count();
    assert_eq!(retired, 2);
    assert!(net.client_events[0]
        .iter()
        .any(|e| matches!(e, IkeClientEvent::ChildDeleted { by_peer: false, .. })));
    assert_eq!(
        net.client_mut(0).delete_child(second_in),
        Err(IkeClientError::NotReady),
        "already gone"
    );
    assert_relay_accepted_every_tail(&net);
}

fn sgw_cookies(net: &Net) -> Vec<Cookies> {
    net.sgw_events
        .iter()
        .filter_map(|e| match e {
            SgwEvent::Phase1Established { cookies, .. } => Some(*cookies),
            _ => None,
        })
        .collect()
}

/// Replaces client 0 by a fresh one at the same address with the same key and seed, as a
/// restarted client process would be: the same c-side initiator cookie comes again, which
/// only works if the relay really forgot the old entry. The new client then runs the whole
/// exchange, which must succeed.
fn restart_client_and_establish(net: &mut Net, s: &Scenario) {
    // The node stays (a network keeps its nodes); the process on it is new.
    assert_eq!(net.clients.len(), 1);
    let client = net.make_client(s, CLIENT, s.seed + 100);
    *net.client_mut(0) = client;
    net.client_events[0].clear();
    net.run(deliver_all);
    assert!(net.client_failure(0).is_none());
    assert_consistent(net, 0);
}

/// Every tail the relay received authenticated, decoded and was where it belonged.
fn assert_relay_accepted_every_tail(net: &Net) {
    let c = net.relay().counters();
    assert_eq!((c.tail_rejected, c.tail_content, c.tail_missing), (0, 0, 0));
}

/// Shutdown (`swanctl --terminate` style): the client deletes its bundles and then its IKE
/// SA. The ISAKMP-SA DELETE (SPI = the s-side cookie pair) verifies at the SGW, which forgets
/// the IKE SA; the relay forwards it, forgets its entry (reporting `IkeRetired`), and counts
/// later datagrams with those cookies as unknown. A new main mode through the same relay
/// then succeeds, even with the same c-side initiator cookie.
#[test]
fn ike_delete_retires_the_relay_entry_and_allows_a_new_start() {
    use ipsec_xlat::wire::isakmp::ProtocolId;
    let s = Scenario::default();
    let mut net = established(&s);
    let entry = net.ipsec_entries()[0].clone();
    let first = sgw_cookies(&net)[0];
    assert_eq!((net.relay().sessions(), net.sgw().ike_sas()), (1, 1));
    let c_cookies = net
        .relay_events
        .iter()
        .find_map(|e| match e {
            IkeRelayEvent::IkeTranslation(t) => Some(t.c_cookies),
            _ => None,
        })
        .unwrap();

    let sent_before = net.log().len();
    net.client_mut(0).delete_phase1().unwrap();
    net.run(deliver_all);

    // Order on the wire: the bundle's DELETE, then the IKE SA's, each once toward the SGW.
    let to_sgw: Vec<IkeDatagram> = net.log()[sent_before..]
        .iter()
        .map(|(t, _)| t)
        .filter(|t| t.remote.ip() == IpAddr::V4(SGW))
        .cloned()
        .collect();
    assert_eq!(to_sgw.len(), 2);
    let sgw_seen: Vec<&SgwEvent> = net
        .sgw_events
        .iter()
        .filter(|e| matches!(e, SgwEvent::Deleted { .. } | SgwEvent::Phase1Deleted { .. }))
        .collect();
    assert!(matches!(
        sgw_seen.as_slice(),
        [SgwEvent::Deleted { deletes, .. }, SgwEvent::Phase1Deleted { cookies, peer }]
            if deletes == &vec![(ProtocolId::IPSEC_ESP, vec![entry.s_spi_2.esp.unwrap()])]
                && *cookies == first
                && peer.ip() == IpAddr::V4(RELAY_S)
    ));
    assert_eq!(net.sgw().ike_sas(), 0, "the SGW forgot the IKE SA");
    // The relay retired the bundle, then the IKE entry.
    let ends: Vec<&IkeRelayEvent> = net
        .relay_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                IkeRelayEvent::IpsecRetired { .. } | IkeRelayEvent::IkeRetired { .. }
            )
        })
        .collect();
    assert!(matches!(
        ends.as_slice(),
        [IkeRelayEvent::IpsecRetired { s_spi_2, .. }, IkeRelayEvent::IkeRetired { c_cookies: c, s_cookies, .. }]
            if *s_spi_2 == entry.s_spi_2 && *c == c_cookies && *s_cookies == first
    ));
    assert_eq!(net.relay().sessions(), 0);
    let events = &net.client_events[0];
    assert!(matches!(
        events.last(),
        Some(IkeClientEvent::Phase1Deleted { cookies, by_peer: false }) if *cookies == first
    ));
    assert!(net.client(0).is_idle());
    assert_eq!(
        net.client_mut(0).delete_phase1(),
        Err(IkeClientError::NotReady),
        "already gone"
    );

    // Anything later with those cookies is unknown at the relay, from either side.
    let unknown = net.relay().counters().unknown_cookies;
    let replayed_at = net.log().len();
    let (last_c, _) = net.log()[sent_before..]
        .iter()
        .rev()
        .find(|(t, _)| t.remote.ip() == IpAddr::V4(RELAY_C))
        .cloned()
        .unwrap();
    net.deliver(last_c);
    let (last_s, _) = net.log()[sent_before..]
        .iter()
        .rev()
        .find(|(t, _)| t.remote.ip() == IpAddr::V4(SGW))
        .cloned()
        .unwrap();
    let mut from_sgw = last_s.clone();
    core::mem::swap(&mut from_sgw.local, &mut from_sgw.remote);
    net.deliver(from_sgw);
    assert_eq!(net.relay().counters().unknown_cookies, unknown + 2);
    let relay = [IpAddr::V4(RELAY_C), IpAddr::V4(RELAY_S)];
    assert!(
        net.log()[replayed_at..]
            .iter()
            .all(|(t, _)| !relay.contains(&t.local.ip())),
        "nothing reflected"
    );
    assert_relay_accepted_every_tail(&net);

    // A new start through the same relay works.
    restart_client_and_establish(&mut net, &s);
    let cookies = sgw_cookies(&net);
    assert_eq!(cookies.len(), 2);
    assert_ne!(cookies[1], first);
    assert_eq!((net.relay().sessions(), net.sgw().ike_sas()), (1, 1));
}

/// The SGW deletes the IKE SA (after its bundles, as strongSwan's `swanctl --terminate
/// --ike` does): the client tears everything down and reports `Phase1Deleted { by_peer }`,
/// and its tail makes the relay forget the entry without forwarding anything to the SGW,
/// which no longer knows the cookies. A DELETE naming other cookies changes nothing.
#[test]
fn sgw_ike_delete_tears_down_the_client_and_the_relay_entry() {
    use ipsec_xlat::wire::isakmp::ProtocolId;
    let s = Scenario::default();
    let mut net = established(&s);
    let entry = net.ipsec_entries()[0].clone();
    let cookies = sgw_cookies(&net)[0];

    net.sgw_mut()
        .delete_child(
            &cookies,
            &[(ProtocolId::IPSEC_ESP, vec![entry.s_spi_3.esp.unwrap()])],
        )
        .unwrap();
    net.sgw_mut().delete_phase1(&cookies).unwrap();
    assert_eq!(net.sgw().ike_sas(), 0);
    let sent_before = net.log().len();
    net.run(deliver_all);

    let events = &net.client_events[0];
    assert!(events.iter().any(|e| matches!(
        e,
        IkeClientEvent::ChildDeleted { by_peer: true, s_spis_out, .. } if *s_spis_out == entry.s_spi_3
    )));
    assert!(matches!(
        events.last(),
        Some(IkeClientEvent::Phase1Deleted { cookies: c, by_peer: true }) if *c == cookies
    ));
    assert!(net.client_failure(0).is_none());
    assert!(net.client(0).is_idle());
    assert!(net.relay_events.iter().any(
        |e| matches!(e, IkeRelayEvent::IkeRetired { s_cookies, .. } if *s_cookies == cookies)
    ));
    assert_eq!(net.relay().sessions(), 0);
    // Toward the SGW only the client's DELETE of the bundle went (its IKE SA still existed
    // when it was sent); the carrier of the IKE retire tail stayed at the relay.
    let to_sgw = net.log()[sent_before..]
        .iter()
        .filter(|(t, _)| t.remote.ip() == IpAddr::V4(SGW))
        .count();
    assert_eq!(to_sgw, 1);
    assert_relay_accepted_every_tail(&net);

    restart_client_and_establish(&mut net, &s);
}

/// The SGW deleting one client's IKE SA ends that session only: the other client's IKE SA,
/// relay entry and SGW state stay, and it can still rekey.
#[test]
fn sgw_ike_delete_ends_only_that_session() {
    let s = Scenario::default();
    let mut net = established(&s);
    let cookies = sgw_cookies(&net)[0];
    // A second IKE SA at the SGW from another client, deleted by the SGW: its DELETE goes to
    // the relay under that session's cookies and never reaches client 0.
    net.add_client(&s, CLIENT2, 7);
    net.run(deliver_all);
    let other = sgw_cookies(&net)[1];
    net.sgw_mut().delete_phase1(&other).unwrap();
    net.run(deliver_all);
    assert!(!net.client_events[0]
        .iter()
        .any(|e| matches!(e, IkeClientEvent::Phase1Deleted { .. })));
    assert!(net.client_events[1]
        .iter()
        .any(|e| matches!(e, IkeClientEvent::Phase1Deleted { cookies: c, .. } if *c == other)));
    assert_eq!(net.relay().sessions(), 1);
    assert_eq!(net.sgw().ike_sas(), 1);
    // Client 0 still works: a rekey completes.
    net.rekey_client(0);
    assert_eq!(net.client_children(0).len(), 2);
    assert_ne!(cookies, other);
}

/// Dead peer detection (RFC 3706): the SGW's R-U-THERE reaches the client through the relay
/// (header translation only) and the client's R-U-THERE-ACK, with the same sequence number
/// and the s-side cookies as SPI, verifies at the SGW.
#[test]
fn dpd_is_answered_through_the_relay() {
    let s = Scenario::default();
    let mut net = established(&s);
    let cookies = sgw_cookies(&net)[0];
    for seq in [7u32, 8] {
        net.sgw_mut().send_dpd(&cookies, seq).unwrap();
        net.run(deliver_all);
        assert!(net
            .sgw_events
            .iter()
            .any(|e| matches!(e, SgwEvent::DpdAck { sequence, .. } if *sequence == seq)));
    }
    let c = net.relay().counters();
    assert_eq!((c.unknown_cookies, c.tail_missing), (0, 0));
    assert!(net.client_failure(0).is_none());
}

/// Any single byte of any datagram of the exchange, damaged in transit: nothing panics, the
/// damaged datagram is refused, and the exchange either completes consistently (after a
/// retransmission) or ends in a typed failure. (A damaged byte in a cleartext payload the SGW
/// hashes can only be caught by authentication, so failure is allowed; success with
/// mismatched keys is not.)
#[test]
fn any_damaged_byte_is_refused_or_survived() {
    let mut rng = StdRng::seed_from_u64(99);
    use rand::Rng;
    let mut completed = 0;
    for k in 0..18 {
        for _ in 0..3 {
            let at: usize = rng.gen();
            let mask: u8 = rng.gen_range(1..=255);
            let s = Scenario {
                seed: 1000 + k as u64,
                ..Scenario::default()
            };
            let mut net = single(&s);
            net.run(fault_at(k, Fate::Mutated(at, mask)));
            match (net.client_child(0), net.client_failure(0)) {
                (Some(_), None) => {
                    assert_consistent(&net, 0);
                    completed += 1;
                }
                (None, Some(_)) => {}
                other => panic!("k={k}: neither established nor failed: {:?}", other.1),
            }
        }
    }
    assert!(
        completed > 30,
        "most damage is survived by retransmission ({completed}/54)"
    );
}

/// With `auto_rekey`, the client rekeys each bundle at 90 % of its lifetime and deletes it
/// when the lifetime ends: over ten minutes of 100-second bundles the SGW and the relay see a
/// steady chain of new entries and retirements, and only the newest bundle is alive.
#[test]
fn auto_rekey_keeps_a_chain_of_bundles() {
    let s = Scenario {
        child: ChildProposal {
            lifetime_secs: 100,
            ..ESP
        },
        auto_rekey: true,
        ..Scenario::default()
    };
    let net = established(&s);
    let children = net.client_children(0).len();
    assert!(children >= 6, "{children} bundles in 600 s");
    assert_consistent(&net, 0);
    let retired = net
        .relay_events
        .iter()
        .filter(|e| matches!(e, IkeRelayEvent::IpsecRetired { .. }))
        .count();
    let deleted = net
        .sgw_events
        .iter()
        .filter(|e| matches!(e, SgwEvent::Deleted { .. }))
        .count();
    assert_eq!(retired, deleted);
    assert!(retired >= children - 2, "{retired} retired of {children}");
    assert!(net.client_failure(0).is_none());
}
