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
use crate::ike::phase2::{ChildConfig, ChildProposal, Encapsulation, EspCipher, Integrity};
use crate::ike::tail_content::UserId;
use crate::ike::tail_crypto::StaticKeypair;
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
                esp: Some((EspCipher::AesCbc128, Some(Integrity::HmacSha256_128))),
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

/// Client, relay and test-SGW of the core exchanging datagrams in memory (no loss).
pub(super) struct Lab {
    pub(super) relay: crate::ike::IkeRelay,
    /// Where the relay's SPIs come from (no datapath table here).
    spis: crate::relay::StandaloneSpis,
    pub(super) sgw: crate::ike::TestSgw,
    pub(super) clients: Vec<IkeClient>,
    pub(super) events: Vec<IkeClientEvent>,
    pub(super) now: Timestamp,
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
        let lab = Self {
            relay,
            spis: crate::relay::StandaloneSpis::new(1),
            sgw,
            clients: Vec::new(),
            events: Vec::new(),
            now: Timestamp::ZERO,
        };
        (lab, client)
    }

    /// Delivers datagrams until none is left.
    pub(super) fn settle(&mut self) {
        for _ in 0..100 {
            let mut flight = Vec::new();
            for c in &mut self.clients {
                flight.extend(std::iter::from_fn(|| c.poll_transmit()));
                self.events.extend(std::iter::from_fn(|| c.poll_event()));
            }
            flight.extend(std::iter::from_fn(|| self.relay.poll_transmit()));
            flight.extend(std::iter::from_fn(|| self.sgw.poll_transmit()));
            while self.relay.poll_event().is_some() {}
            while self.sgw.poll_event().is_some() {}
            if flight.is_empty() {
                return;
            }
            for t in flight {
                let (local, remote) = (t.remote, t.local);
                match local.ip() {
                    IpAddr::V4(ip) if ip == RELAY_C || ip == RELAY_S => self.relay.handle_datagram(
                        self.now,
                        local,
                        remote,
                        &t.payload,
                        &mut self.spis,
                    ),
                    IpAddr::V4(ip) if ip == SGW => self
                        .sgw
                        .handle_datagram(self.now, local, remote, &t.payload),
                    _ => {
                        for c in &mut self.clients {
                            c.handle_datagram(self.now, local, remote, &t.payload);
                        }
                    }
                }
            }
        }
        panic!("no quiet");
    }

    pub(super) fn take_events(&mut self) -> Vec<IkeClientEvent> {
        core::mem::take(&mut self.events)
    }
}
