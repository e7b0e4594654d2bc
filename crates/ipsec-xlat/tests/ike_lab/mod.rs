//! The in-memory lab the IKE tests share: where client, relay and SGW sit (documentation
//! ranges only), the lab's phase-1 suite and traffic selectors, the lab PKI, and the configs
//! that wire a test SGW, a relay and a client to one another. Each test file used to spell
//! these out on its own; they live here so a change to the lab is made once.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::sync::Arc;

use ipsec_xlat::ike::crypto::{
    Certificate, HashAlgorithm, IkeCipherAlgorithm, RsaSigningKey, SaKeys, SecretBytes,
};
use ipsec_xlat::ike::dh::DhGroup;
use ipsec_xlat::ike::phase1::{
    Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal, RsaCredentials,
};
use ipsec_xlat::ike::phase2::{ChildConfig, ChildProposal};
use ipsec_xlat::ike::tail_content::UserId;
use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
use ipsec_xlat::ike::{
    IdentityRule, IkeClientConfig, IkeRelayConfig, RetransmitPolicy, TestSgwConfig,
};
use ipsec_xlat::wire::isakmp::{IdRepr, IdType};

/// The client's own address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The relay's address toward clients (c-side).
pub const RELAY_C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The relay's address toward the SGW (s-side).
pub const RELAY_S: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 254);
/// The SGW.
pub const SGW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// `ip:port`.
pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// The lab's phase-1 suite (what strongSwan is configured with): AES-128-CBC, SHA-256,
/// MODP-2048, pre-shared key, 15840 s.
pub const LAB_P1: Phase1Proposal = Phase1Proposal {
    cipher: IkeCipherAlgorithm::Aes128Cbc,
    hash: HashAlgorithm::Sha256,
    group: DhGroup::MODP_2048,
    auth: Phase1Auth::PreSharedKey,
    lifetime_secs: 15840,
};

/// The client's inner address as a traffic selector.
pub fn client_ts() -> IdRepr {
    IdRepr::address(Ipv4Addr::new(10, 8, 0, 1).into())
}

/// The network behind the SGW as a traffic selector.
pub fn lan_ts() -> IdRepr {
    IdRepr::ipv4_subnet(Ipv4Addr::new(10, 9, 0, 0), Ipv4Addr::new(255, 255, 255, 0))
}

/// Lab PKI made with strongSwan's `pki` (tests/ike_captures/pki, lab-only keys): a CA and two
/// end-entity certificates with subjectAltName dNSName client.lab.test / sgw.lab.test, valid
/// 2026-11-27 .. 2036-11-24.
pub fn pki(file: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/ike_captures/pki")
            .join(file),
    )
    .unwrap()
}

/// Whether two ends hold the same keys for one direction (both absent counts as the same:
/// the protocol is not in the bundle).
pub fn same_keys(a: &Option<SaKeys>, b: &Option<SaKeys>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.encryption.ct_eq(b.encryption.expose()) && a.integrity.ct_eq(b.integrity.expose())
        }
        (None, None) => true,
        _ => false,
    }
}

/// What both ends of a relayed exchange are configured to negotiate.
#[derive(Clone, Copy, Debug)]
pub struct LabSuite {
    /// Phase-1 suite; its `auth` is replaced by the one `rsa` selects.
    pub p1: Phase1Proposal,
    /// The one child proposal both ends use.
    pub child: ChildProposal,
    /// RSA signatures with the lab PKI instead of a pre-shared key.
    pub rsa: bool,
}

impl LabSuite {
    /// Credentials and ID of `name` ("client" or "sgw"): its lab certificate (valid at a fixed
    /// time) and FQDN `name.lab.test`, or the pre-shared key `psk` and alice's user FQDN.
    pub fn credentials(&self, name: &str, psk: &str) -> (Phase1Credentials, IdRepr) {
        if self.rsa {
            let c = RsaCredentials {
                key: RsaSigningKey::from_pem(&pki(&format!("{name}.key"))).unwrap(),
                cert: Certificate::from_pem(&pki(&format!("{name}.crt"))).unwrap(),
                trusted_cas: vec![Certificate::from_pem(&pki("ca.crt")).unwrap()],
                now_unix_secs: 1_800_000_000,
            };
            (
                Phase1Credentials::Rsa(Arc::new(c)),
                IdRepr::fqdn(&format!("{name}.lab.test")),
            )
        } else {
            (
                Phase1Credentials::PreSharedKey(SecretBytes::from_slice(psk.as_bytes())),
                IdRepr::user_fqdn("alice@example.com"),
            )
        }
    }

    /// Phase-1 config of `name` at `local_addr`, with the suite's auth method matching the
    /// credentials.
    pub fn phase1(
        &self,
        name: &str,
        psk: &str,
        local_addr: SocketAddr,
        initial_contact: bool,
    ) -> Phase1Config {
        let (credentials, local_id) = self.credentials(name, psk);
        let auth = if self.rsa {
            Phase1Auth::RsaSignatures
        } else {
            Phase1Auth::PreSharedKey
        };
        Phase1Config {
            suites: vec![Phase1Proposal { auth, ..self.p1 }],
            credentials,
            local_id,
            local_addr,
            initial_contact,
        }
    }

    /// The test SGW at [`SGW`], protecting [`lan_ts`] toward [`client_ts`].
    pub fn sgw_config(&self, psk: &str) -> TestSgwConfig {
        TestSgwConfig {
            phase1: self.phase1("sgw", psk, sa(SGW, 500), false),
            child: ChildConfig {
                proposals: vec![self.child],
                local_ts: lan_ts(),
                remote_ts: client_ts(),
            },
            retransmit: RetransmitPolicy::default(),
        }
    }

    /// A client at `ip` talking through the relay at [`RELAY_C`] as `user` (UDP-encapsulated
    /// on the c-side, no automatic rekeying).
    pub fn client_config(
        &self,
        psk: &str,
        ip: Ipv4Addr,
        static_key: StaticKeypair,
        relay_key: StaticPublicKey,
        user: &str,
    ) -> IkeClientConfig {
        IkeClientConfig {
            local: sa(ip, 500),
            relay: sa(RELAY_C, 500),
            static_key,
            relay_key,
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: user.as_bytes().to_vec(),
            },
            phase1: self.phase1("client", psk, sa(ip, 500), true),
            child: ChildConfig {
                proposals: vec![self.child],
                local_ts: client_ts(),
                remote_ts: lan_ts(),
            },
            c_udp_encap: true,
            retransmit: RetransmitPolicy::default(),
            auto_rekey: false,
        }
    }
}

/// The relay between [`RELAY_C`] and [`RELAY_S`], sending every `*@example.com` user to
/// [`SGW`] and accepting the `authorised` client keys.
pub fn relay_config(static_key: StaticKeypair, authorised: Vec<StaticPublicKey>) -> IkeRelayConfig {
    IkeRelayConfig {
        c_side: sa(RELAY_C, 500),
        s_side: IpAddr::V4(RELAY_S),
        static_key,
        authorised_clients: authorised,
        identities: vec![IdentityRule {
            id_type: Some(IdType::USER_FQDN),
            pattern: "*@example.com".into(),
            sgw: sa(SGW, 500),
            s_side: None,
        }],
        half_open_timeout: Duration::from_secs(30),
    }
}
