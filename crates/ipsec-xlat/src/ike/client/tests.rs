//! The client's shared test fixtures (a configuration, and [`Lab`]: client, relay and
//! test-SGW of the core in memory) and the tests of what `mod.rs` does: start, dispatch,
//! retransmission.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use core::net::{IpAddr, Ipv4Addr};

use rand::rngs::StdRng;
use rand::SeedableRng;

use core::time::Duration;

use super::*;
use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm, SecretBytes};
use crate::ike::dh::DhGroup;
use crate::ike::endpoint::RetransmitPolicy;
use crate::ike::phase1::{Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal};
use crate::ike::phase2::{ChildConfig, ChildIntegrity, ChildProposal, Encapsulation, EspCipher};
use crate::ike::tail_content::UserId;
use crate::ike::tail_crypto::StaticKeypair;
use crate::net::Leg;
use crate::testing::{add_ike_node, IkeNode, Network, NodeId, RunLimit, RunOutcome};
use crate::wire::isakmp::{IdRepr, IdType};

pub(crate) fn config(rng: &mut StdRng) -> IkeClientConfig {
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)), 4500);
    IkeClientConfig {
        local,
        relay: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 4500),
        static_key: StaticKeypair::generate(rng),
        relay_key: StaticKeypair::generate(rng).public(),
        user_id: UserId {
            id_type: IdType::USER_FQDN,
            value: b"alice@example.com".to_vec(),
        },
        phase1: Phase1Config {
            suites: vec![Phase1Proposal {
                cipher: IkeCipherAlgorithm::Aes128Cbc,
                hash: HashAlgorithm::Sha256,
                group: DhGroup::MODP_2048,
                auth: Phase1Auth::PreSharedKey,
                lifetime_secs: 10_800,
            }],
            credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(b"psk")),
            local_id: IdRepr::user_fqdn("alice@example.com"),
            local_addr: local,
            initial_contact: true,
        },
        child: ChildConfig {
            proposals: vec![ChildProposal {
                esp: Some((EspCipher::AesCbc128, Some(ChildIntegrity::HmacSha256_128))),
                ah: None,
                pfs: None,
                mode: Encapsulation::Tunnel,
                lifetime_secs: 3600,
            }],
            local_ts: IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into()),
            remote_ts: IdRepr::ipv4_subnet(
                Ipv4Addr::new(10, 9, 0, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            ),
        },
        c_udp_encap: true,
        retransmit: RetransmitPolicy {
            initial: Duration::from_secs(1),
            max_retransmissions: 2,
        },
        auto_rekey: false,
    }
}

#[test]
fn a_new_client_is_in_main_mode_and_refuses_rekey_and_delete() {
    let mut rng = StdRng::seed_from_u64(1);
    let now = Timestamp::ZERO;
    let mut client = IkeClient::new(config(&mut rng), now, &mut rng).unwrap();
    assert_eq!(client.phase(), IkePhase::MainMode);
    assert!(!client.phase().has_ike_sa());
    assert!(client.ike_sa().is_none());
    assert!(client.poll_transmit().is_some(), "mm1 queued");
    assert_eq!(client.rekey(now), Err(IkeClientError::NotReady));
    assert_eq!(client.delete_phase1(), Err(IkeClientError::NotReady));
    // Neither refusal changed anything.
    assert_eq!(client.phase(), IkePhase::MainMode);
    assert!(client.poll_transmit().is_none());
    assert!(client.poll_event().is_none());
}

#[test]
fn an_unanswered_client_ends_in_the_failed_phase() {
    let mut rng = StdRng::seed_from_u64(2);
    let start = Timestamp::ZERO;
    let mut client = IkeClient::new(config(&mut rng), start, &mut rng).unwrap();
    assert!(client.poll_transmit().is_some(), "mm1");
    let mut sent = 0;
    while let Some(at) = client.poll_timeout() {
        client.handle_timeout(at);
        while client.poll_transmit().is_some() {
            sent += 1;
        }
    }
    assert_eq!(sent, 2, "two retransmissions of mm1");
    assert_eq!(client.phase(), IkePhase::Failed);
    assert!(client.phase().is_finished());
    assert!(matches!(
        client.poll_event(),
        Some(IkeClientEvent::Failed(IkeClientError::Timeout(2)))
    ));
}

/// Client(s), relay and test-SGW of the core on a simulated network (1 ms one way, no loss).
/// The clients share one node, as sessions of one host behind one socket: each datagram
/// reaches all of them, and each keeps what carries its cookies.
pub(super) struct Lab {
    pub(super) net: Network,
    clients: NodeId,
    relay: NodeId,
    sgw: NodeId,
    /// Every client's events, in order, as [`Lab::settle`] took them.
    pub(super) events: Vec<IkeClientEvent>,
}

const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

impl Lab {
    pub(super) fn new(rng: &mut StdRng) -> (Self, IkeClientConfig) {
        use crate::ike::{IdentityRule, IkeRelayConfig, TestSgw, TestSgwConfig};
        let mut client = config(rng);
        client.relay = SocketAddr::new(IpAddr::V4(RELAY_C), 4500);
        let relay_key = StaticKeypair::generate(rng);
        client.relay_key = relay_key.public();
        let mut relay = crate::ike::IkeRelay::new(
            IkeRelayConfig {
                c_side: SocketAddr::new(IpAddr::V4(RELAY_C), 500),
                s_side: IpAddr::V4(RELAY_S),
                static_key: relay_key,
                authorised_clients: Vec::new(),
                identities: vec![IdentityRule {
                    id_type: Some(IdType::USER_FQDN),
                    pattern: "*@example.com".into(),
                    sgw: SocketAddr::new(IpAddr::V4(SGW), 500),
                    s_side: None,
                }],
                half_open_timeout: Duration::from_secs(30),
            },
            rng,
        );
        relay.authorise_client(client.static_key.public());
        let sgw = TestSgw::new(
            TestSgwConfig {
                phase1: Phase1Config {
                    local_id: IdRepr::address(IpAddr::V4(SGW)),
                    local_addr: SocketAddr::new(IpAddr::V4(SGW), 500),
                    initial_contact: false,
                    ..client.phase1.clone()
                },
                child: ChildConfig {
                    local_ts: client.child.remote_ts.clone(),
                    remote_ts: client.child.local_ts.clone(),
                    ..client.child.clone()
                },
                retransmit: RetransmitPolicy::default(),
            },
            rng,
        );
        let mut net = Network::new(Duration::from_millis(1));
        let clients = add_ike_node(
            &mut net,
            "clients",
            Vec::<IkeClient>::new(),
            (),
            &[(Leg::CSide, client.local.ip())],
        );
        // Where the relay's SPIs come from (no datapath table here).
        let relay = add_ike_node(
            &mut net,
            "relay",
            relay,
            crate::relay::StandaloneSpis::new(1),
            &[
                (Leg::CSide, IpAddr::V4(RELAY_C)),
                (Leg::SSide, IpAddr::V4(RELAY_S)),
            ],
        );
        let sgw = add_ike_node(&mut net, "sgw", sgw, (), &[(Leg::SSide, IpAddr::V4(SGW))]);
        let lab = Self {
            net,
            clients,
            relay,
            sgw,
            events: Vec::new(),
        };
        (lab, client)
    }

    /// The clients, to add one or call their commands.
    pub(super) fn clients(&mut self) -> &mut Vec<IkeClient> {
        self.net
            .node_mut::<IkeNode<Vec<IkeClient>>>(self.clients)
            .unwrap()
            .inner_mut()
    }

    pub(super) fn relay(&mut self) -> &mut crate::ike::IkeRelay {
        self.net
            .node_mut::<IkeNode<crate::ike::IkeRelay>>(self.relay)
            .unwrap()
            .inner_mut()
    }

    pub(super) fn sgw(&mut self) -> &mut crate::ike::TestSgw {
        self.net
            .node_mut::<IkeNode<crate::ike::TestSgw>>(self.sgw)
            .unwrap()
            .inner_mut()
    }

    /// Runs the network until nothing is in flight (timers far out, such as lifetimes, are
    /// left alone), then takes the clients' events and discards the others'.
    pub(super) fn settle(&mut self) {
        let limit = RunLimit::for_duration(self.net.now(), Duration::from_secs(10));
        let outcome = self.net.run_until(limit, |net| net.in_flight() == 0);
        assert_eq!(outcome, RunOutcome::Done, "no quiet");
        let events: Vec<_> = self
            .clients()
            .iter_mut()
            .flat_map(|c| std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>())
            .collect();
        self.events.extend(events);
        while self.relay().poll_event().is_some() {}
        while self.sgw().poll_event().is_some() {}
    }

    /// Moves the clock to `at`, which must be the next timer of some node, without running
    /// any timer due then: the test makes those calls itself.
    pub(super) fn advance_to(&mut self, at: Timestamp) {
        let limit = RunLimit {
            steps: 1_000,
            until: at,
        };
        let outcome = self.net.run_until(limit, |net| net.now() >= at);
        assert_eq!(outcome, RunOutcome::Done, "nothing happens until {at:?}");
    }

    pub(super) fn take_events(&mut self) -> Vec<IkeClientEvent> {
        core::mem::take(&mut self.events)
    }
}
