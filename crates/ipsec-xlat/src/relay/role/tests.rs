//! The relay role between an IKE client and a test SGW on an in-memory network: what it
//! installs, what it refuses, and that every relay SPI it grants is a table reservation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::ike::phase1::Phase1Config;
use crate::ike::phase2::ChildConfig;
use crate::ike::tail_content::UserId;
use crate::ike::tail_crypto::StaticKeypair;
use crate::ike::{
    IdentityRule, IkeClient, IkeClientConfig, IkeClientEvent, IkeRelayConfig, RetransmitPolicy,
    TestSgw, TestSgwConfig,
};
use crate::net::{Leg, NetPath, PeerPorts, PortPair, Transport};
use crate::relay::{DropReason, Spi};
use crate::testing::{add_ike_node, IkeNode, Network, NodeId, RunLimit, RunOutcome};
use crate::time::Timestamp;
use crate::wire::isakmp::{IdRepr, IdType};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
// The IKE relay's own test fixtures: the same address plan, suites and selectors.
use crate::ike::relay::tests::{
    client_ts, lan_ts, psk, sa, ESP, P1, RELAY_C, RELAY_S, SGW_A as SGW,
};

fn phase1(ip: Ipv4Addr, id: IdRepr, initial_contact: bool) -> Phase1Config {
    Phase1Config {
        suites: vec![P1],
        credentials: psk(),
        local_id: id,
        local_addr: sa(ip, 500),
        initial_contact,
    }
}

/// Client, relay role and SGW on a simulated network; IKE only (the cores make no ESP).
struct Lab {
    net: Network,
    relay: NodeId,
    client: NodeId,
    relay_events: Vec<RelayEvent>,
    client_events: Vec<IkeClientEvent>,
}

impl Lab {
    fn new(max_ipsec_entries: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(5);
        let relay_key = StaticKeypair::generate(&mut rng);
        let client_key = StaticKeypair::generate(&mut rng);
        let mut sgw_ports = PeerPorts::new();
        sgw_ports.insert(IpAddr::V4(SGW), PortPair::STANDARD);
        let relay = Relay::new(
            RelaySettings {
                ike: IkeRelayConfig {
                    c_side: sa(RELAY_C, 500),
                    s_side: IpAddr::V4(RELAY_S),
                    static_key: relay_key.clone(),
                    authorised_clients: vec![client_key.public()],
                    identities: vec![IdentityRule {
                        id_type: Some(IdType::USER_FQDN),
                        pattern: "*@example.com".into(),
                        sgw: sa(SGW, 500),
                        s_side: None,
                    }],
                    half_open_timeout: Duration::from_secs(30),
                },
                s_side_pool: None,
                c_ports: PortPair::STANDARD,
                s_ports: PortPair::STANDARD,
                sgw_ports,
                max_ipsec_entries,
            },
            &mut rng,
        );
        let sgw = TestSgw::new(
            TestSgwConfig {
                phase1: phase1(SGW, IdRepr::address(IpAddr::V4(SGW)), false),
                child: ChildConfig {
                    proposals: vec![ESP],
                    local_ts: lan_ts(),
                    remote_ts: client_ts(),
                },
                retransmit: RetransmitPolicy::default(),
            },
            &mut rng,
        );
        let user = "alice@example.com";
        let client = IkeClient::new(
            IkeClientConfig {
                local: sa(CLIENT, 500),
                relay: sa(RELAY_C, 500),
                static_key: client_key,
                relay_key: relay_key.public(),
                user_id: UserId {
                    id_type: IdType::USER_FQDN,
                    value: user.as_bytes().to_vec(),
                },
                phase1: phase1(CLIENT, IdRepr::user_fqdn(user), true),
                child: ChildConfig {
                    proposals: vec![ESP],
                    local_ts: client_ts(),
                    remote_ts: lan_ts(),
                },
                c_udp_encap: true,
                retransmit: RetransmitPolicy::default(),
                auto_rekey: false,
            },
            Timestamp::ZERO,
            &mut rng,
        )
        .unwrap();
        let mut net = Network::new(Duration::from_millis(1));
        let client = add_ike_node(
            &mut net,
            "client",
            client,
            (),
            &[(Leg::CSide, IpAddr::V4(CLIENT))],
        );
        let relay = net.add_node(
            "relay",
            relay,
            &[
                (Leg::CSide, IpAddr::V4(RELAY_C)),
                (Leg::SSide, IpAddr::V4(RELAY_S)),
            ],
        );
        add_ike_node(&mut net, "sgw", sgw, (), &[(Leg::SSide, IpAddr::V4(SGW))]);
        Self {
            net,
            relay,
            client,
            relay_events: Vec::new(),
            client_events: Vec::new(),
        }
    }

    fn relay(&mut self) -> &mut Relay {
        self.net.node_mut(self.relay).unwrap()
    }

    fn client(&mut self) -> &mut IkeClient {
        self.net
            .node_mut::<IkeNode<IkeClient>>(self.client)
            .unwrap()
            .inner_mut()
    }

    /// Runs the network until nothing is in flight, then takes the events.
    fn settle(&mut self) {
        let limit = RunLimit::for_duration(self.net.now(), Duration::from_secs(10));
        let outcome = self.net.run_until(limit, |net| net.in_flight() == 0);
        assert_eq!(outcome, RunOutcome::Done, "the exchange did not settle");
        let events: Vec<_> = std::iter::from_fn(|| self.relay().poll_event()).collect();
        self.relay_events.extend(events);
        let events: Vec<_> = std::iter::from_fn(|| self.client().poll_event()).collect();
        self.client_events.extend(events);
    }

    fn child_established(&self) -> bool {
        self.client_events
            .iter()
            .any(|e| matches!(e, IkeClientEvent::ChildEstablished(_)))
    }
}

/// The bundle becomes one table entry; the IKE entry carries the real ports; the grant for
/// the next quick mode (s-SPI-2 and c-SPI-2 of ESP) waits in the table as a reservation.
#[test]
fn an_established_bundle_is_one_entry_and_the_next_grant_a_reservation() {
    let mut lab = Lab::new(10);
    lab.settle();
    assert!(lab.child_established());
    let installed: Vec<_> = lab
        .relay_events
        .iter()
        .filter_map(|e| match e {
            RelayEvent::IpsecInstalled { id, translation } => Some((*id, translation.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(installed.len(), 1);
    let (id, t) = &installed[0];
    let relay = lab.relay();
    let table = relay.datapath().table();
    assert_eq!(table.len(), 1);
    let entry = table.get(*id).unwrap();
    assert_eq!(entry.client.relay_spis.esp.map(Spi::get), t.c_spi_2.esp);
    assert_eq!(entry.gateway.relay_spis.esp.map(Spi::get), t.s_spi_2.esp);
    assert_eq!(table.reserved_spis(), 2, "the next quick mode's grant");
    assert_eq!(relay.ike_entries().len(), 1);
    assert_eq!(relay.counters().entries_installed, 1);
    assert_eq!(relay.counters().entries_refused, 0);
}

/// Over the limit, the entry is refused and its grant goes back to the table: only the next
/// quick mode's grant stays reserved.
#[test]
fn a_refused_entry_gives_its_spis_back() {
    let mut lab = Lab::new(0);
    lab.settle();
    assert!(lab.child_established(), "the client cannot tell");
    assert!(lab.relay_events.iter().any(|e| matches!(
        e,
        RelayEvent::IpsecRefused {
            reason: Refusal::Limit(0),
            ..
        }
    )));
    let relay = lab.relay();
    let table = relay.datapath().table();
    assert_eq!(table.len(), 0);
    assert_eq!(table.reserved_spis(), 2, "only the next quick mode's grant");
    assert_eq!(relay.counters().entries_refused, 1);
}

/// A NAT-keepalive on a NAT-T port is absorbed, a packet from a TUN ignored, and ESP for no
/// entry dropped with its reason told once.
#[test]
fn keepalives_tun_packets_and_unknown_esp() {
    let mut lab = Lab::new(10);
    // The client stays silent: its main mode 1 is taken off the core before anything runs,
    // and the network runs far less than a retransmission interval.
    while lab.client().poll_transmit().is_some() {}
    let from_client = NetPath {
        leg: Leg::CSide,
        local: IpAddr::V4(CLIENT),
        remote: IpAddr::V4(RELAY_C),
        transport: Transport::Udp {
            local_port: 4500,
            remote_port: 4500,
        },
    };
    let limit = RunLimit::for_duration(lab.net.now(), Duration::from_millis(100));
    lab.net.inject(lab.client, from_client, &[0xff]);
    lab.net.run_until(limit, |net| net.in_flight() == 0);
    assert_eq!(lab.relay().counters().keepalives, 1);
    lab.net.send_inner(lab.relay, &[0x45; 20]);
    assert_eq!(lab.relay().counters().ignored, 1);
    let esp = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
    lab.net.inject(lab.client, from_client, &esp);
    lab.net.run_until(limit, |net| net.in_flight() == 0);
    assert_eq!(lab.relay().counters().ipsec_packets, 1);
    assert_eq!(lab.relay().take_drop(), Some(DropReason::UnknownSpi));
    assert_eq!(lab.relay().take_drop(), None);
    // The relay sent nothing: the only datagrams on the wire were the two injected.
    assert_eq!(lab.net.stats().sent, 2);
    assert!(lab.net.take_inner(lab.relay).is_empty());
}
