//! The relay's identification table replaced while sessions live: client, relay and two
//! test-SGWs on a small in-memory network.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm, SecretBytes};
use crate::ike::dh::DhGroup;
use crate::ike::phase1::{Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal};
use crate::ike::phase2::{ChildConfig, ChildIntegrity, ChildProposal, Encapsulation, EspCipher};
use crate::ike::{
    IkeClient, IkeClientConfig, IkeClientEvent, RetransmitPolicy, SgwEvent, TestSgw, TestSgwConfig,
};
use crate::net::Leg;
use crate::testing::{add_ike_node, IkeNode, Network, NodeId, RunLimit, RunOutcome};
use crate::wire::isakmp::{IdRepr, IdType};

pub(crate) const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub(crate) const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
pub(crate) const SGW_A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SGW_B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

pub(crate) fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

pub(crate) const P1: Phase1Proposal = Phase1Proposal {
    cipher: IkeCipherAlgorithm::Aes128Cbc,
    hash: HashAlgorithm::Sha256,
    group: DhGroup::MODP_2048,
    auth: Phase1Auth::PreSharedKey,
    lifetime_secs: 15840,
};

pub(crate) const ESP: ChildProposal = ChildProposal {
    esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
    ah: None,
    pfs: None,
    mode: Encapsulation::Tunnel,
    lifetime_secs: 3960,
};

pub(crate) fn psk() -> Phase1Credentials {
    Phase1Credentials::PreSharedKey(SecretBytes::from_slice(b"unit-test-psk"))
}

pub(crate) fn lan_ts() -> IdRepr {
    IdRepr::ipv4_subnet(Ipv4Addr::new(10, 9, 0, 0), Ipv4Addr::new(255, 255, 255, 0))
}

/// Every client's inner address (each SGW keeps its clients apart by cookies and SPIs).
pub(crate) fn client_ts() -> IdRepr {
    IdRepr::address(IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1)))
}

fn rule_to(sgw: Ipv4Addr) -> IdentityRule {
    IdentityRule {
        id_type: Some(IdType::USER_FQDN),
        pattern: "*@example.com".into(),
        sgw: sa(sgw, 500),
        s_side: None,
    }
}

fn test_sgw(ip: Ipv4Addr, rng: &mut StdRng) -> TestSgw {
    TestSgw::new(
        TestSgwConfig {
            phase1: Phase1Config {
                suites: vec![P1],
                credentials: psk(),
                local_id: IdRepr::address(IpAddr::V4(ip)),
                local_addr: sa(ip, 500),
                initial_contact: false,
            },
            child: ChildConfig {
                proposals: vec![ESP],
                local_ts: lan_ts(),
                remote_ts: client_ts(),
            },
            retransmit: RetransmitPolicy::default(),
        },
        rng,
    )
}

/// Client(s), relay and two SGWs as nodes of a simulated network (1 ms one way).
struct Net {
    net: Network,
    relay: NodeId,
    relay_key: StaticKeypair,
    sgws: Vec<(Ipv4Addr, NodeId)>,
    clients: Vec<(Ipv4Addr, NodeId)>,
    client_events: Vec<Vec<IkeClientEvent>>,
    relay_events: Vec<IkeRelayEvent>,
}

impl Net {
    fn new() -> Self {
        Self::with_pool(Vec::new())
    }

    fn with_pool(pool: Vec<Ipv4Addr>) -> Self {
        let mut rng = StdRng::seed_from_u64(11);
        let relay_key = StaticKeypair::generate(&mut rng);
        let relay = IkeRelay::new(
            IkeRelayConfig {
                c_side: sa(RELAY_C, 500),
                s_side: IpAddr::V4(RELAY_S),
                static_key: relay_key.clone(),
                authorised_clients: Vec::new(),
                identities: vec![rule_to(SGW_A)],
                half_open_timeout: Duration::from_secs(30),
            },
            &mut rng,
        )
        .with_s_side_pool(pool.iter().copied().map(IpAddr::V4).collect());
        let mut net = Network::new(Duration::from_millis(1));
        // The relay's s-side addresses: the default and any pool.
        let addresses: Vec<(Leg, IpAddr)> = [(Leg::CSide, IpAddr::V4(RELAY_C))]
            .into_iter()
            .chain(
                [RELAY_S]
                    .into_iter()
                    .chain(pool)
                    .map(|a| (Leg::SSide, IpAddr::V4(a))),
            )
            .collect();
        // Where the relay's SPI grants come from.
        let spis = crate::relay::StandaloneSpis::new(11);
        let relay = add_ike_node(&mut net, "relay", relay, spis, &addresses);
        let sgws = [SGW_A, SGW_B]
            .into_iter()
            .map(|ip| {
                let sgw = test_sgw(ip, &mut rng);
                let id = add_ike_node(&mut net, "sgw", sgw, (), &[(Leg::SSide, IpAddr::V4(ip))]);
                (ip, id)
            })
            .collect();
        Self {
            net,
            relay,
            relay_key,
            sgws,
            clients: Vec::new(),
            client_events: Vec::new(),
            relay_events: Vec::new(),
        }
    }

    fn relay(&mut self) -> &mut IkeRelay {
        self.net
            .node_mut::<IkeNode<IkeRelay>>(self.relay)
            .unwrap()
            .inner_mut()
    }

    fn client(&mut self, i: usize) -> &mut IkeClient {
        let id = self.clients[i].1;
        self.net
            .node_mut::<IkeNode<IkeClient>>(id)
            .unwrap()
            .inner_mut()
    }

    /// A client at 198.51.100.`host` identifying as `user`.
    fn add_client(&mut self, host: u8, user: &str) -> usize {
        let ip = Ipv4Addr::new(198, 51, 100, host);
        let mut rng = StdRng::seed_from_u64(u64::from(host));
        let key = StaticKeypair::generate(&mut rng);
        self.relay().authorise_client(key.public());
        let config = IkeClientConfig {
            local: sa(ip, 500),
            relay: sa(RELAY_C, 500),
            static_key: key,
            relay_key: self.relay_key.public(),
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: user.as_bytes().to_vec(),
            },
            phase1: Phase1Config {
                suites: vec![P1],
                credentials: psk(),
                local_id: IdRepr::user_fqdn(user),
                local_addr: sa(ip, 500),
                initial_contact: true,
            },
            child: ChildConfig {
                proposals: vec![ESP],
                local_ts: client_ts(),
                remote_ts: lan_ts(),
            },
            c_udp_encap: true,
            retransmit: RetransmitPolicy::default(),
            auto_rekey: false,
        };
        let client = IkeClient::new(config, self.net.now(), &mut rng).unwrap();
        let id = add_ike_node(
            &mut self.net,
            user,
            client,
            (),
            &[(Leg::CSide, IpAddr::V4(ip))],
        );
        self.clients.push((ip, id));
        self.client_events.push(Vec::new());
        self.clients.len() - 1
    }

    /// Takes the clients' and the relay's events (the SGWs' keys are not needed here).
    fn take_events(&mut self) {
        for i in 0..self.clients.len() {
            let client = self.client(i);
            let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
            self.client_events[i].extend(events);
        }
        let relay = self.relay();
        let events: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
        self.relay_events.extend(events);
        for (_, id) in self.sgws.clone() {
            let sgw = self
                .net
                .node_mut::<IkeNode<TestSgw>>(id)
                .unwrap()
                .inner_mut();
            while let Some(e) = sgw.poll_event() {
                let _: SgwEvent = e;
            }
        }
    }

    /// Delivers what the endpoints have to send now (not what it provokes): datagrams sent
    /// at one instant arrive together, so the run stops at the first arrivals, with their
    /// answers on the wire but not yet delivered.
    fn step(&mut self) {
        let before = self.net.stats().delivered;
        let limit = RunLimit::for_duration(self.net.now(), Duration::from_millis(100));
        let outcome = self
            .net
            .run_until(limit, |net| net.stats().delivered > before);
        assert_eq!(outcome, RunOutcome::Done, "nothing was sent");
        self.take_events();
    }

    /// Delivers until nothing is in flight (timers far out are not reached: nothing is lost
    /// here, and the first retransmission is two seconds away).
    fn settle(&mut self) {
        let limit = RunLimit::for_duration(self.net.now(), Duration::from_millis(500));
        let outcome = self.net.run_until(limit, |net| net.in_flight() == 0);
        assert_eq!(outcome, RunOutcome::Done, "the network did not settle");
        self.take_events();
    }

    fn established(&self, client: usize) -> usize {
        self.client_events[client]
            .iter()
            .filter(|e| matches!(e, IkeClientEvent::ChildEstablished(_)))
            .count()
    }

    fn ike_sgws(&self, client: Ipv4Addr) -> Vec<SocketAddr> {
        self.relay_events
            .iter()
            .filter_map(|e| match e {
                IkeRelayEvent::IkeTranslation(t) if t.client.ip() == IpAddr::V4(client) => {
                    Some(t.sgw)
                }
                _ => None,
            })
            .collect()
    }

    fn ipsec_sgws(&self, client: Ipv4Addr) -> Vec<SocketAddr> {
        self.relay_events
            .iter()
            .filter_map(|e| match e {
                IkeRelayEvent::IpsecTranslation(t) if t.client.ip() == IpAddr::V4(client) => {
                    Some(t.sgw)
                }
                _ => None,
            })
            .collect()
    }

    fn sgw_sas(&self, ip: Ipv4Addr) -> usize {
        let id = self.sgws.iter().find(|(a, _)| *a == ip).unwrap().1;
        self.net
            .node::<IkeNode<TestSgw>>(id)
            .unwrap()
            .inner()
            .ike_sas()
    }
}

#[test]
fn a_new_table_serves_new_mm1s_and_live_sessions_keep_their_sgw() {
    let mut net = Net::new();
    let alice = net.add_client(10, "alice@example.com");
    net.settle();
    assert_eq!(net.established(alice), 1);
    let alice_ip = net.clients[alice].0;
    assert_eq!(net.ike_sgws(alice_ip), vec![sa(SGW_A, 500)]);

    // Bob's mm1 reaches the relay and is forwarded to A; the SGW has not answered yet.
    let bob = net.add_client(11, "bob@example.com");
    net.step();
    assert_eq!(net.relay().sessions(), 2);
    let expect: HashSet<SocketAddr> = [sa(SGW_A, 500)].into_iter().collect();
    assert_eq!(net.relay().sgws_in_use(), expect);

    // The table now sends every user of example.com to B.
    net.relay().set_identities(vec![rule_to(SGW_B)]);
    assert_eq!(net.relay().identities(), &[rule_to(SGW_B)][..]);

    // The half-open session completes with A, where its mm1 went.
    net.settle();
    let bob_ip = net.clients[bob].0;
    assert_eq!(net.established(bob), 1);
    assert_eq!(net.ike_sgws(bob_ip), vec![sa(SGW_A, 500)]);
    assert_eq!(net.ipsec_sgws(bob_ip), vec![sa(SGW_A, 500)]);

    // The established session rekeys under its IKE SA, still with A.
    assert_ne!(
        net.net.run_for(Duration::from_secs(60)),
        RunOutcome::StepLimit
    );
    let now = net.net.now();
    net.client(alice).rekey(now).unwrap();
    net.settle();
    assert_eq!(net.established(alice), 2);
    assert_eq!(net.ipsec_sgws(alice_ip), vec![sa(SGW_A, 500); 2]);

    // A new user is served by B.
    let carol = net.add_client(12, "carol@example.com");
    net.settle();
    let carol_ip = net.clients[carol].0;
    assert_eq!(net.established(carol), 1);
    assert_eq!(net.ike_sgws(carol_ip), vec![sa(SGW_B, 500)]);
    assert_eq!((net.sgw_sas(SGW_A), net.sgw_sas(SGW_B)), (2, 1));
    let expect: HashSet<SocketAddr> = [sa(SGW_A, 500), sa(SGW_B, 500)].into_iter().collect();
    assert_eq!(net.relay().sgws_in_use(), expect);
    let c = net.relay().counters();
    assert_eq!((c.no_sgw, c.unknown_cookies, c.tail_rejected), (0, 0, 0));
}

#[test]
fn a_table_without_the_users_rule_refuses_new_mm1s_only() {
    let mut net = Net::new();
    let alice = net.add_client(10, "alice@example.com");
    net.settle();
    assert_eq!(net.established(alice), 1);
    net.relay().set_identities(vec![IdentityRule {
        pattern: "*@example.org".into(),
        ..rule_to(SGW_B)
    }]);
    let dave = net.add_client(13, "dave@example.com");
    net.settle();
    assert_eq!(net.established(dave), 0);
    assert_eq!(net.relay().counters().no_sgw, 1);
    assert_eq!(net.relay().sessions(), 1, "alice's session is still there");
    let now = net.net.now();
    net.client(alice).rekey(now).unwrap();
    net.settle();
    assert_eq!(net.established(alice), 2);
}

fn relay_s_of(net: &Net, client: Ipv4Addr) -> Vec<IpAddr> {
    net.relay_events
        .iter()
        .filter_map(|e| match e {
            IkeRelayEvent::IkeTranslation(t) if t.client.ip() == IpAddr::V4(client) => {
                Some(t.relay_s.ip())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn pool_gives_each_user_its_own_s_side_address_and_takes_it_back() {
    let pool = vec![
        Ipv4Addr::new(203, 0, 113, 250),
        Ipv4Addr::new(203, 0, 113, 251),
    ];
    let mut net = Net::with_pool(pool.clone());
    let alice = net.add_client(10, "alice@example.com");
    let bob = net.add_client(11, "bob@example.com");
    net.settle();
    assert_eq!((net.established(alice), net.established(bob)), (1, 1));
    let (alice_ip, bob_ip) = (net.clients[alice].0, net.clients[bob].0);
    let a = relay_s_of(&net, alice_ip);
    let b = relay_s_of(&net, bob_ip);
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_ne!(a[0], b[0], "distinct users, distinct addresses");
    for address in [a[0], b[0]] {
        let IpAddr::V4(v4) = address else {
            panic!("{address}")
        };
        assert!(pool.contains(&v4), "{address} is from the pool");
    }
    // The SGW saw the IPsec entries from the same addresses.
    let ipsec_s: Vec<IpAddr> = net
        .relay_events
        .iter()
        .filter_map(|e| match e {
            IkeRelayEvent::IpsecTranslation(t) => Some(t.relay_s.ip()),
            _ => None,
        })
        .collect();
    assert!(ipsec_s.contains(&a[0]) && ipsec_s.contains(&b[0]));
    assert_eq!(net.relay().surrogates_held(), 2);

    // The same user from a second device shares its address.
    let alice2 = net.add_client(12, "alice@example.com");
    net.settle();
    assert_eq!(net.established(alice2), 1);
    assert_eq!(relay_s_of(&net, net.clients[alice2].0), a);
    assert_eq!(net.relay().surrogates_held(), 2);

    // A third user finds the pool exhausted: dropped, counted, nothing sent to an SGW.
    let carol = net.add_client(13, "carol@example.com");
    net.step();
    assert_eq!(net.relay().counters().pool_exhausted, 1);
    assert_eq!(net.relay().sessions(), 3);

    // Bob leaves: his address is free once his IKE SA is gone, and carol's next mm1 gets it.
    let bob_child = net.client_events[bob]
        .iter()
        .find_map(|e| match e {
            IkeClientEvent::ChildEstablished(c) => Some(c.sa.inbound_spis),
            _ => None,
        })
        .unwrap();
    net.client(bob).delete_child(bob_child).unwrap();
    net.settle();
    net.client(bob).delete_phase1().unwrap();
    net.settle();
    assert_eq!(net.relay().sessions(), 2);
    assert_eq!(net.relay().surrogates_held(), 1);
    // Carol's first retransmission (two seconds after her mm1, long after bob left) is served.
    let limit = RunLimit::for_duration(net.net.now(), Duration::from_secs(5));
    net.net.run_until(limit, |net| net.in_flight() > 0);
    net.settle();
    assert_eq!(net.established(carol), 1);
    assert_eq!(relay_s_of(&net, net.clients[carol].0), b);
    assert_eq!(net.relay().counters().pool_exhausted, 1);
}
