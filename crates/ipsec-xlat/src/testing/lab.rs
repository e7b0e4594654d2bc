//! A complete, minimal configuration of the three roles that fit together, on the address
//! plan of `docs/LAB.md` (documentation ranges only), and [`Lab`]: the three on a [`Network`]
//! with the tunnel up. Tests, doc examples and `examples/embed.rs` start here; an embedder can
//! copy the settings as a starting point for its own.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use rand_core::{CryptoRng, RngCore};

use super::{Network, NodeId, RunLimit, RunOutcome};
use crate::client::{Client, ClientCommandError, ClientSettings, SessionSettings};
use crate::gateway::{Gateway, GatewaySettings};
use crate::ike::crypto::{HashAlgorithm, IkeCipherAlgorithm, SecretBytes};
use crate::ike::dh::DhGroup;
use crate::ike::phase1::{Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal};
use crate::ike::phase2::{ChildConfig, ChildProposal, Encapsulation, EspCipher};
use crate::ike::tail_content::UserId;
use crate::ike::tail_crypto::StaticKeypair;
use crate::ike::{IdentityRule, IkeClientConfig, IkeRelayConfig, RetransmitPolicy, TestSgwConfig};
use crate::net::{Leg, PeerPorts, PortPair};
use crate::relay::{Relay, RelaySettings};
use crate::wire::ipsec_packet::wrap;
use crate::wire::isakmp::{IdRepr, IdType};
use crate::wire::IpProtocol;

/// The client's address.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
/// The relay's c-side address.
pub const RELAY_C: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
/// The relay's s-side address.
pub const RELAY_S: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 254));
/// The gateway's address.
pub const SGW: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
/// The client's inner address.
pub const INNER_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
/// A host on the LAN behind the gateway.
pub const INNER_LAN: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

const PSK: &[u8] = b"an example pre-shared key";

/// A client, a relay and a gateway on one simulated network (5 ms one way).
pub struct Lab {
    /// The network, its clock and its hooks.
    pub net: Network,
    /// The client's node.
    pub client: NodeId,
    /// The relay's node.
    pub relay: NodeId,
    /// The gateway's node.
    pub gateway: NodeId,
}

impl core::fmt::Debug for Lab {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lab")
            .field("net", &self.net)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// The three roles built from [`client_settings`], [`relay_settings`] and
    /// [`gateway_settings`] with keys drawn from `rng`; the client initiates at once.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, ClientCommandError> {
        let relay_key = StaticKeypair::generate(rng);
        let client_key = StaticKeypair::generate(rng);
        let mut net = Network::new(Duration::from_millis(5));
        let relay = Relay::new(relay_settings(relay_key.clone(), &client_key), rng);
        let gateway = Gateway::new(gateway_settings(), rng);
        let client = Client::new(client_settings(client_key, &relay_key), net.now(), rng)?;
        let client = net.add_node("client", client, &[(Leg::CSide, CLIENT)]);
        let relay = net.add_node(
            "relay",
            relay,
            &[(Leg::CSide, RELAY_C), (Leg::SSide, RELAY_S)],
        );
        let gateway = net.add_node("gateway", gateway, &[(Leg::SSide, SGW)]);
        Ok(Self {
            net,
            client,
            relay,
            gateway,
        })
    }

    /// Runs until the client has an IPsec SA through the relay, for at most `within` of
    /// virtual time.
    pub fn establish(&mut self, within: Duration) -> RunOutcome {
        let client = self.client;
        let limit = RunLimit::for_duration(self.net.now(), within);
        self.net.run_until(limit, |net| {
            net.node::<Client>(client)
                .is_some_and(Client::is_established)
        })
    }

    /// The client role.
    pub fn client(&mut self) -> Option<&mut Client> {
        self.net.node_mut(self.client)
    }

    /// The relay role.
    pub fn relay(&mut self) -> Option<&mut Relay> {
        self.net.node_mut(self.relay)
    }

    /// The gateway role.
    pub fn gateway(&mut self) -> Option<&mut Gateway> {
        self.net.node_mut(self.gateway)
    }
}

/// An inner IPv4/UDP packet (no UDP checksum, allowed over IPv4) whose 100 bytes of payload
/// are a function of `n`, so a packet that arrives changed or out of place is noticed.
pub fn inner_packet(src: Ipv4Addr, dst: Ipv4Addr, n: u32) -> Vec<u8> {
    let mut udp = Vec::with_capacity(108);
    udp.extend_from_slice(&40_000u16.to_be_bytes());
    udp.extend_from_slice(&7u16.to_be_bytes());
    udp.extend_from_slice(&108u16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    for i in 0..25u32 {
        udp.extend_from_slice(&(n ^ i).to_be_bytes());
    }
    let mut packet = Vec::new();
    // Both addresses are IPv4 and the packet is small: `wrap` cannot refuse it.
    let _ = wrap(src.into(), dst.into(), IpProtocol::UDP, &udp, &mut packet);
    packet
}

fn phase1(local: SocketAddr, id: IdRepr, initial_contact: bool) -> Phase1Config {
    Phase1Config {
        suites: vec![Phase1Proposal {
            cipher: IkeCipherAlgorithm::Aes128Cbc,
            hash: HashAlgorithm::Sha256,
            group: DhGroup::MODP_2048,
            auth: Phase1Auth::PreSharedKey,
            lifetime_secs: 10_800,
        }],
        credentials: Phase1Credentials::PreSharedKey(SecretBytes::from_slice(PSK)),
        local_id: id,
        local_addr: local,
        initial_contact,
    }
}

fn child_proposal() -> ChildProposal {
    ChildProposal {
        esp: Some((EspCipher::AesGcm16_128, None)),
        ah: None,
        pfs: None,
        mode: Encapsulation::Tunnel,
        lifetime_secs: 3_600,
    }
}

fn lan() -> IdRepr {
    IdRepr::ipv4_subnet(Ipv4Addr::new(10, 9, 0, 0), Ipv4Addr::new(255, 255, 255, 0))
}

/// The client: user `alice@example.com`, PSK main mode (AES-128-CBC, SHA-256, MODP-2048),
/// ESP AES-GCM-16 in tunnel mode from 10.8.0.1 to 10.9.0.0/24, UDP-encapsulated toward the
/// relay, reauthentication and restart on.
pub fn client_settings(key: StaticKeypair, relay_key: &StaticKeypair) -> ClientSettings {
    let local = SocketAddr::new(CLIENT, 4500);
    ClientSettings {
        ike: IkeClientConfig {
            local,
            relay: SocketAddr::new(RELAY_C, 4500),
            static_key: key,
            relay_key: relay_key.public(),
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: b"alice@example.com".to_vec(),
            },
            phase1: phase1(local, IdRepr::user_fqdn("alice@example.com"), true),
            child: ChildConfig {
                proposals: vec![child_proposal()],
                local_ts: IdRepr::address(INNER_CLIENT.into()),
                remote_ts: lan(),
            },
            c_udp_encap: true,
            retransmit: RetransmitPolicy::default(),
            auto_rekey: true,
        },
        session: SessionSettings {
            reauth: true,
            reauth_margin: None,
            restart: true,
            restart_max_backoff: Duration::from_secs(60),
        },
        local: CLIENT,
        relay: RELAY_C,
        own_ports: PortPair::STANDARD,
        relay_ports: PortPair::STANDARD,
        c_udp_encap: true,
        raw_header_included: false,
        initiate: true,
        controlled: false,
    }
}

/// The relay: authorises the one client key, sends every `*@example.com` user to the gateway.
pub fn relay_settings(key: StaticKeypair, client: &StaticKeypair) -> RelaySettings {
    RelaySettings {
        ike: IkeRelayConfig {
            c_side: SocketAddr::new(RELAY_C, 500),
            s_side: RELAY_S,
            static_key: key,
            authorised_clients: vec![client.public()],
            identities: vec![IdentityRule {
                id_type: Some(IdType::USER_FQDN),
                pattern: "*@example.com".into(),
                sgw: SocketAddr::new(SGW, 500),
                s_side: None,
            }],
            half_open_timeout: Duration::from_secs(30),
        },
        s_side_pool: None,
        c_ports: PortPair::STANDARD,
        s_ports: PortPair::STANDARD,
        sgw_ports: PeerPorts::new(),
        max_ipsec_entries: 1_000,
    }
}

/// The gateway: PSK responder for the client's suites, the LAN 10.9.0.0/24.
pub fn gateway_settings() -> GatewaySettings {
    GatewaySettings {
        ike: TestSgwConfig {
            phase1: phase1(SocketAddr::new(SGW, 500), IdRepr::address(SGW), false),
            child: ChildConfig {
                proposals: vec![child_proposal()],
                local_ts: lan(),
                remote_ts: IdRepr::address(INNER_CLIENT.into()),
            },
            retransmit: RetransmitPolicy::default(),
        },
        own: PortPair::STANDARD,
        default_local: SGW,
        header_included: false,
    }
}
