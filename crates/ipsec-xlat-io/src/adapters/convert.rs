//! From the validated configuration (strongSwan-style proposal names, files, address
//! prefixes) to the core's types (phase-1 suites, quick mode proposals, credentials, ID
//! payloads, the test-SGW's [`GatewaySettings`]). (From a negotiated child SA to the datapath
//! is the core's: `ipsec_xlat::ike::phase2::sa_config`.)
//!
//! Everything the core cannot do yet is refused here with a [`SetupError`] that names the
//! configuration key, so that a daemon fails at start and not at the first client.

use core::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use ipsec_xlat::ike::crypto::{
    Certificate, HashAlgorithm, IkeCipherAlgorithm, RsaSigningKey, SecretBytes,
};
use ipsec_xlat::ike::dh::DhGroup as CoreGroup;
use ipsec_xlat::ike::phase1::{
    Phase1Auth, Phase1Config, Phase1Credentials, Phase1Proposal, RsaCredentials,
};
use ipsec_xlat::ike::phase2::{
    ChildConfig, ChildIntegrity, ChildProposal, Encapsulation, EspCipher,
};
use ipsec_xlat::ike::tail_content::UserId;
use ipsec_xlat::ike::{RetransmitPolicy, TestSgwConfig as IkeConfig};
use ipsec_xlat::net::PortPair;
use ipsec_xlat::wire::isakmp::{IdRepr, IdType as WireIdType};
use ipsec_xlat::GatewaySettings;
use thiserror::Error;

use crate::config::{
    AhProposal, Auth, DhGroup, Encryption, EspProposal, IdType, Identity, IkeProposal, Integrity,
    Lifetimes, Proposals, TestSgwConfig,
};

/// A configuration the core cannot run (yet), or credentials that do not load.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SetupError {
    /// `key` asks for something the core does not implement.
    #[error("`{key}`: {what}")]
    Unsupported {
        /// The configuration key.
        key: String,
        /// What is not supported, and what to do instead.
        what: String,
    },
    /// A PEM certificate or key does not load.
    #[error("`{key}`: {problem}")]
    Credentials {
        /// The configuration key.
        key: String,
        /// The parser's complaint.
        problem: String,
    },
    /// A combination of settings that cannot work.
    #[error("{0}")]
    Inconsistent(String),
}

impl SetupError {
    pub(crate) fn unsupported(key: &str, what: impl Into<String>) -> Self {
        Self::Unsupported {
            key: key.to_owned(),
            what: what.into(),
        }
    }
}

fn group(g: DhGroup) -> CoreGroup {
    CoreGroup(g.number())
}

/// Phase-1 suites in offer order, all with the authentication method `auth` implies.
pub fn phase1_suites(
    proposals: &[IkeProposal],
    auth: &Auth,
    lifetimes: &Lifetimes,
) -> Result<Vec<Phase1Proposal>, SetupError> {
    let method = match auth {
        Auth::Psk(_) => Phase1Auth::PreSharedKey,
        Auth::Rsa { .. } => Phase1Auth::RsaSignatures,
    };
    proposals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let cipher = match p.encryption {
                Encryption::AesCbc128 => IkeCipherAlgorithm::Aes128Cbc,
                Encryption::AesCbc256 => IkeCipherAlgorithm::Aes256Cbc,
                Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => {
                    return Err(SetupError::unsupported(
                        &format!("proposals.ike[{i}]"),
                        "IKEv1 has no AES-GCM",
                    ))
                }
            };
            let hash = match p.hash {
                Integrity::Sha1 => HashAlgorithm::Sha1,
                Integrity::Sha256 => HashAlgorithm::Sha256,
            };
            Ok(Phase1Proposal {
                cipher,
                hash,
                group: group(p.group),
                auth: method,
                lifetime_secs: lifetimes.ike_seconds,
            })
        })
        .collect()
}

fn esp_cipher(e: Encryption) -> EspCipher {
    match e {
        Encryption::AesCbc128 => EspCipher::AesCbc128,
        Encryption::AesCbc256 => EspCipher::AesCbc256,
        Encryption::AesGcm16_128 => EspCipher::AesGcm16_128,
        Encryption::AesGcm16_256 => EspCipher::AesGcm16_256,
    }
}

fn child_integrity(i: Integrity) -> ChildIntegrity {
    match i {
        Integrity::Sha1 => ChildIntegrity::HmacSha1_96,
        Integrity::Sha256 => ChildIntegrity::HmacSha256_128,
    }
}

/// Quick mode alternatives: each ESP proposal alone, each AH proposal alone, or, when both
/// lists are given, every ESP × AH pair as an AH+ESP bundle (ESP's PFS group first).
pub fn child_proposals(
    proposals: &Proposals,
    lifetimes: &Lifetimes,
) -> Result<Vec<ChildProposal>, SetupError> {
    let esp_part = |i: usize, p: &EspProposal| {
        if p.esn {
            return Err(SetupError::unsupported(
                &format!("proposals.esp[{i}]"),
                "extended sequence numbers are not negotiated by the IKE core yet; drop `esn`",
            ));
        }
        Ok((
            (esp_cipher(p.encryption), p.integrity.map(child_integrity)),
            p.pfs_group,
        ))
    };
    let ah_part = |i: usize, p: &AhProposal| {
        if p.esn {
            return Err(SetupError::unsupported(
                &format!("proposals.ah[{i}]"),
                "extended sequence numbers are not negotiated by the IKE core yet; drop `esn`",
            ));
        }
        Ok((child_integrity(p.integrity), p.pfs_group))
    };
    let base = |esp, ah, pfs: Option<DhGroup>| ChildProposal {
        esp,
        ah,
        pfs: pfs.map(group),
        mode: Encapsulation::Tunnel,
        lifetime_secs: lifetimes.ipsec_seconds,
    };
    let mut out = Vec::new();
    match (proposals.esp.is_empty(), proposals.ah.is_empty()) {
        (false, true) => {
            for (i, p) in proposals.esp.iter().enumerate() {
                let (esp, pfs) = esp_part(i, p)?;
                out.push(base(Some(esp), None, pfs));
            }
        }
        (true, false) => {
            for (i, p) in proposals.ah.iter().enumerate() {
                let (ah, pfs) = ah_part(i, p)?;
                out.push(base(None, Some(ah), pfs));
            }
        }
        (false, false) => {
            for (i, e) in proposals.esp.iter().enumerate() {
                let (esp, esp_pfs) = esp_part(i, e)?;
                for (j, a) in proposals.ah.iter().enumerate() {
                    let (ah, ah_pfs) = ah_part(j, a)?;
                    out.push(base(Some(esp), Some(ah), esp_pfs.or(ah_pfs)));
                }
            }
        }
        (true, true) => {
            return Err(SetupError::Inconsistent(
                "no ESP or AH proposal to offer".into(),
            ))
        }
    }
    Ok(out)
}

/// Phase-1 credentials; certificate validity is checked against `now_unix_secs`.
pub fn credentials(auth: &Auth, now_unix_secs: u64) -> Result<Phase1Credentials, SetupError> {
    match auth {
        Auth::Psk(secret) => Ok(Phase1Credentials::PreSharedKey(SecretBytes::from_slice(
            secret.expose(),
        ))),
        Auth::Rsa {
            certificate,
            private_key,
            ca_certificate,
        } => {
            let text = |key: &str, bytes: &[u8]| {
                core::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
                    SetupError::Credentials {
                        key: key.to_owned(),
                        problem: "not UTF-8 PEM".into(),
                    }
                })
            };
            let bad = |key: &str| {
                let key = key.to_owned();
                move |e: ipsec_xlat::ike::crypto::CertError| SetupError::Credentials {
                    key: key.clone(),
                    problem: e.to_string(),
                }
            };
            let cert = Certificate::from_pem(&text("auth.certificate", certificate.expose())?)
                .map_err(bad("auth.certificate"))?;
            let key = RsaSigningKey::from_pem(&text("auth.private_key", private_key.expose())?)
                .map_err(bad("auth.private_key"))?;
            if !key.matches(&cert) {
                return Err(SetupError::Credentials {
                    key: "auth.private_key".into(),
                    problem: "does not belong to auth.certificate".into(),
                });
            }
            let trusted_cas = match ca_certificate {
                Some(ca) => vec![
                    Certificate::from_pem(&text("auth.ca_certificate", ca.expose())?)
                        .map_err(bad("auth.ca_certificate"))?,
                ],
                None => Vec::new(),
            };
            Ok(Phase1Credentials::Rsa(Arc::new(RsaCredentials {
                key,
                cert,
                trusted_cas,
                now_unix_secs,
            })))
        }
    }
}

/// Seconds since the Unix epoch by the system clock (certificate validity).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The test-SGW's core settings for `config`; `own` are the real ports of its sockets. Warnings are
/// for settings that are accepted but do not act as their name says.
pub fn gateway_settings(
    config: &TestSgwConfig,
    own: PortPair,
) -> Result<(GatewaySettings, Vec<String>), SetupError> {
    let mut warnings = Vec::new();
    let default_local = *config
        .listen
        .addresses
        .first()
        .ok_or_else(|| SetupError::unsupported("listen.addresses", "needs an address"))?;
    if config.force_udp_encapsulation {
        warnings.push(
            "`force_udp_encapsulation`: the IKE core cannot force NAT-T yet; it is used \
             when NAT detection asks for it (e.g. a relay on non-standard ports)"
                .into(),
        );
    }
    if !config.proposals.ah.is_empty()
        && config.listen.raw_ah
        && !config.listen.raw_header_included
        && default_local.is_ipv4()
    {
        return Err(SetupError::unsupported(
            "listen.raw_header_included",
            "AH over IPv4 needs it: AH's ICV covers the Identification and Total Length \
             the kernel would otherwise choose",
        ));
    }
    let local_id = match &config.identity {
        Some(identity) => id_repr(identity),
        None => IdRepr::address(default_local),
    };
    let phase1 = Phase1Config {
        suites: phase1_suites(&config.proposals.ike, &config.auth, &config.lifetimes)?,
        credentials: credentials(&config.auth, unix_now())?,
        local_id,
        local_addr: SocketAddr::new(default_local, PortPair::STANDARD.ike),
        initial_contact: false,
    };
    let child = ChildConfig {
        proposals: child_proposals(&config.proposals, &config.lifetimes)?,
        local_ts: first_selector(&config.lan, "lan", &mut warnings)?,
        remote_ts: first_selector(&config.tun.routes, "tun.routes", &mut warnings)?,
    };
    let settings = GatewaySettings {
        ike: IkeConfig {
            phase1,
            child,
            retransmit: RetransmitPolicy::default(),
        },
        own,
        default_local,
        header_included: config.listen.raw_header_included,
    };
    Ok((settings, warnings))
}

/// The ID payload for a configured identity.
pub fn id_repr(identity: &Identity) -> IdRepr {
    match identity.id_type {
        IdType::IPV4_ADDR => <[u8; 4]>::try_from(identity.value.as_slice())
            .map(|o| IdRepr::address(IpAddr::from(o)))
            .unwrap_or_else(|_| IdRepr::key_id(&identity.value)),
        IdType::IPV6_ADDR => <[u8; 16]>::try_from(identity.value.as_slice())
            .map(|o| IdRepr::address(IpAddr::from(o)))
            .unwrap_or_else(|_| IdRepr::key_id(&identity.value)),
        IdType::FQDN => IdRepr::fqdn(&String::from_utf8_lossy(&identity.value)),
        IdType::USER_FQDN => IdRepr::user_fqdn(&String::from_utf8_lossy(&identity.value)),
        _ => IdRepr::key_id(&identity.value),
    }
}

/// The user identification the client sends the relay (same type and bytes as the ID).
pub fn user_id(identity: &Identity) -> UserId {
    UserId {
        id_type: WireIdType(identity.id_type.0),
        value: identity.value.clone(),
    }
}

/// A traffic selector: a host route becomes ID_IPV4_ADDR/ID_IPV6_ADDR, anything wider a
/// subnet ID, as strongSwan sends them. Our IKE core compares selectors byte for byte (it does
/// not narrow), so both ends must write the same prefix.
pub fn traffic_selector(net: &IpNet) -> IdRepr {
    match net {
        IpNet::V4(n) if n.prefix_len() == 32 => IdRepr::address(IpAddr::V4(n.addr())),
        IpNet::V6(n) if n.prefix_len() == 128 => IdRepr::address(IpAddr::V6(n.addr())),
        IpNet::V4(n) => IdRepr::ipv4_subnet(n.network(), n.netmask()),
        IpNet::V6(n) => IdRepr::ipv6_subnet(n.network(), n.netmask()),
    }
}

/// The one selector quick mode carries from a configured list (the core negotiates one pair
/// per quick mode); a warning when more were given.
pub fn first_selector(
    nets: &[IpNet],
    key: &str,
    warnings: &mut Vec<String>,
) -> Result<IdRepr, SetupError> {
    let first = nets
        .first()
        .ok_or_else(|| SetupError::unsupported(key, "needs one traffic selector"))?;
    if nets.len() > 1 {
        warnings.push(format!(
            "`{key}`: only the first selector ({first}) is negotiated; one quick mode carries one selector pair"
        ));
    }
    Ok(traffic_selector(first))
}

/// The client's settings from its validated configuration; `own` are the real ports of its
/// c-side sockets. Refuses what the client cannot run: AH is sealed over the outer header,
/// so it needs raw IP (and, over IPv4, the header written by us). Warnings about
/// configuration the core cannot honour go to `warnings`, for the caller to log.
pub fn client_settings(
    config: &crate::config::ClientConfig,
    own: ipsec_xlat::net::PortPair,
    warnings: &mut Vec<String>,
) -> Result<ipsec_xlat::ClientSettings, SetupError> {
    use core::net::SocketAddr;
    use core::time::Duration;
    use ipsec_xlat::client::SessionSettings;
    use ipsec_xlat::ike::phase1::Phase1Config;
    use ipsec_xlat::ike::phase2::ChildConfig;
    use ipsec_xlat::ike::tail_crypto::{StaticKeypair, StaticPublicKey};
    use ipsec_xlat::ike::{IkeClientConfig, RetransmitPolicy};
    use ipsec_xlat::net::PortPair;

    let relay = config.relay.ike.ip();
    if !config.proposals.ah.is_empty() {
        if !config.local.raw_ah {
            return Err(SetupError::unsupported(
                "local.raw_ah",
                "AH covers the outer IP header and cannot be UDP-encapsulated: with \
                 `proposals.ah` the client sends AH by raw IP (raw_ah = true)",
            ));
        }
        if relay.is_ipv4() && !config.local.raw_header_included {
            return Err(SetupError::unsupported(
                "local.raw_header_included",
                "AH over IPv4 covers the Identification and Total Length, so the client \
                 writes the IPv4 header itself (raw_header_included = true)",
            ));
        }
    }
    let local = config
        .local
        .addresses
        .iter()
        .copied()
        .find(|a| a.is_ipv4() == relay.is_ipv4())
        .ok_or_else(|| {
            SetupError::unsupported("local.addresses", "no address of the relay's family")
        })?;
    let c_udp_encap = !(config.local.raw_esp || config.local.raw_ah);
    let ike_port = if c_udp_encap {
        PortPair::STANDARD.natt
    } else {
        PortPair::STANDARD.ike
    };
    let core_local = SocketAddr::new(local, ike_port);
    let phase1 = Phase1Config {
        suites: phase1_suites(&config.proposals.ike, &config.auth, &config.lifetimes)?,
        credentials: credentials(&config.auth, unix_now())?,
        local_id: id_repr(&config.identity),
        local_addr: core_local,
        initial_contact: true,
    };
    let child = ChildConfig {
        proposals: child_proposals(&config.proposals, &config.lifetimes)?,
        local_ts: first_selector(
            &config.traffic_selectors.local,
            "traffic_selectors.local",
            warnings,
        )?,
        remote_ts: first_selector(
            &config.traffic_selectors.remote,
            "traffic_selectors.remote",
            warnings,
        )?,
    };
    let ike = IkeClientConfig {
        local: core_local,
        relay: SocketAddr::new(relay, ike_port),
        static_key: StaticKeypair::from_private_bytes(*config.noise_private_key.as_bytes()),
        relay_key: StaticPublicKey(config.relay.noise_public_key.0),
        user_id: user_id(&config.identity),
        phase1,
        child,
        c_udp_encap,
        retransmit: RetransmitPolicy::default(),
        // The core rekeys at 90% of a bundle's lifetime and deletes it at the end.
        auto_rekey: true,
    };
    let session = config.session;
    Ok(ipsec_xlat::ClientSettings {
        ike,
        session: SessionSettings {
            reauth: session.reauth,
            reauth_margin: session
                .reauth_margin_secs
                .map(|secs| Duration::from_secs(u64::from(secs))),
            restart: session.restart,
            restart_max_backoff: Duration::from_secs(u64::from(session.restart_max_backoff_secs)),
        },
        local,
        relay,
        own_ports: own,
        relay_ports: PortPair {
            ike: config.relay.ike.port(),
            natt: config.relay.natt_port,
        },
        c_udp_encap,
        raw_header_included: config.local.raw_header_included,
        initiate: config.control.initiate,
        controlled: false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn proposals(esp: &[&str], ah: &[&str]) -> Proposals {
        Proposals {
            ike: vec!["aes128-sha256-modp2048".parse().unwrap()],
            esp: esp.iter().map(|p| p.parse().unwrap()).collect(),
            ah: ah.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    const LIFE: Lifetimes = Lifetimes {
        ike_seconds: 14_400,
        ipsec_seconds: 3_600,
    };

    #[test]
    fn child_proposals_cover_esp_ah_and_bundles() {
        let only_esp =
            child_proposals(&proposals(&["aes128gcm16", "aes256-sha1"], &[]), &LIFE).unwrap();
        assert_eq!(only_esp.len(), 2);
        assert_eq!(only_esp[0].esp, Some((EspCipher::AesGcm16_128, None)));
        assert_eq!(
            only_esp[1].esp,
            Some((EspCipher::AesCbc256, Some(ChildIntegrity::HmacSha1_96)))
        );
        assert!(only_esp.iter().all(|p| p.ah.is_none()
            && p.lifetime_secs == 3_600
            && p.mode == Encapsulation::Tunnel));
        let bundles = child_proposals(
            &proposals(
                &["aes128-sha256-modp2048", "aes128gcm16"],
                &["sha1", "sha256"],
            ),
            &LIFE,
        )
        .unwrap();
        assert_eq!(bundles.len(), 4);
        assert!(bundles.iter().all(|p| p.esp.is_some() && p.ah.is_some()));
        assert_eq!(bundles[0].pfs, Some(CoreGroup::MODP_2048));
        assert_eq!(bundles[2].pfs, None);
        let only_ah = child_proposals(&proposals(&[], &["sha256"]), &LIFE).unwrap();
        assert_eq!(only_ah[0].ah, Some(ChildIntegrity::HmacSha256_128));
        assert!(child_proposals(&proposals(&["aes128gcm16-esn"], &[]), &LIFE).is_err());
    }

    #[test]
    fn selectors_follow_strongswan_id_types() {
        let host: IpNet = "10.8.0.1/32".parse().unwrap();
        let net: IpNet = "10.9.0.0/24".parse().unwrap();
        assert_eq!(
            traffic_selector(&host),
            IdRepr::address("10.8.0.1".parse().unwrap())
        );
        assert_eq!(
            traffic_selector(&net),
            IdRepr::ipv4_subnet(
                "10.9.0.0".parse().unwrap(),
                "255.255.255.0".parse().unwrap()
            )
        );
        let mut warnings = Vec::new();
        first_selector(&[host, net], "traffic_selectors.local", &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(first_selector(&[], "x", &mut warnings).is_err());
    }

    #[test]
    fn identities_become_id_payloads() {
        let id = Identity::parse("user_fqdn", "alice@example.com").unwrap();
        assert_eq!(id_repr(&id), IdRepr::user_fqdn("alice@example.com"));
        assert_eq!(user_id(&id).value, b"alice@example.com");
        let id = Identity::parse("ipv4_addr", "10.1.2.3").unwrap();
        assert_eq!(id_repr(&id), IdRepr::address("10.1.2.3".parse().unwrap()));
    }
}
