//! From the relay's configuration to what its cores and sockets take: the legs' listening
//! sockets, and the identification table in the IKE core's terms.

use core::net::{IpAddr, SocketAddr};

use ipsec_xlat::ike::IdentityRule;

use crate::adapters::convert::SetupError;
use crate::config::{IdentificationRule, ListenConfig, RelayConfig};
use ipsec_xlat::net::{PeerPorts, PortPair};

/// The listening configuration a relay leg really opens: the datapath writes the whole IPv4
/// header of everything it sends by raw IP (AH's ICV covers it), so raw IPv4 sockets always
/// get `IP_HDRINCL`; IPv6 raw sockets never do (the kernel's IPv6 header carries nothing the
/// relay must choose).
pub fn relay_listen(listen: &ListenConfig, key: &str) -> Result<ListenConfig, SetupError> {
    let mut listen = listen.clone();
    if listen.raw_esp || listen.raw_ah {
        let v4 = listen.addresses.iter().any(IpAddr::is_ipv4);
        let v6 = listen.addresses.iter().any(IpAddr::is_ipv6);
        if v4 && v6 {
            return Err(SetupError::unsupported(
                &format!("{key}.addresses"),
                "a leg with raw ESP/AH sockets takes IPv4 or IPv6 addresses, not both \
                 (IPv4 raw sockets need IP_HDRINCL, IPv6 ones must not have it)",
            ));
        }
        listen.raw_header_included = v4;
    }
    Ok(listen)
}

/// The identification table in the IKE core's terms, and the SGWs' real ports. Every rule
/// the configuration accepts has a core matcher; `warnings` gets a line for an SGW that two
/// rules give different ports (the first rule's win) and for a rule the core cannot express
/// (none today: a prefix `ipnet` accepted but the core refused).
pub fn identity_rules(
    config: &RelayConfig,
    warnings: &mut Vec<String>,
) -> (Vec<IdentityRule>, PeerPorts) {
    let mut rules = Vec::new();
    let mut sgws = PeerPorts::new();
    for (index, rule) in config.identification.rules().iter().enumerate() {
        let key = format!("identification[{index}]");
        let Some(pattern) = rule.pattern.to_core() else {
            warnings.push(format!(
                "`{key}.id`: the IKE core cannot match this prefix; rule skipped"
            ));
            continue;
        };
        let (sgw, pair) = sgw_ports(rule);
        if !sgws.insert(sgw, pair) {
            warnings.push(format!(
                "`{key}`: {sgw} already has other ports in an earlier rule; the earlier ports are used"
            ));
        }
        rules.push(IdentityRule {
            id_type: Some(ipsec_xlat::wire::isakmp::IdType(rule.id_type.0)),
            pattern,
            sgw: SocketAddr::new(sgw, PortPair::STANDARD.ike),
            s_side: rule.s_side_address,
        });
    }
    (rules, sgws)
}

/// A rule's SGW address and its real IKE and NAT-T ports.
pub(super) fn sgw_ports(rule: &IdentificationRule) -> (IpAddr, PortPair) {
    (
        rule.sgw_ike.ip(),
        PortPair {
            ike: rule.sgw_ike.port(),
            natt: rule.sgw_natt_port,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load(text: &str) -> RelayConfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("relay.key"), hex::encode([7u8; 32])).unwrap();
        let path = dir.path().join("relay.toml");
        RelayConfig::from_toml(text, &path, dir.path()).unwrap()
    }

    /// A user identification of ID type `t` with value `v`.
    fn user(t: u8, v: &[u8]) -> ipsec_xlat::ike::tail_content::UserId {
        ipsec_xlat::ike::tail_content::UserId {
            id_type: ipsec_xlat::wire::isakmp::IdType(t),
            value: v.to_vec(),
        }
    }

    /// The SGW of the first rule that matches `u`, as the core picks it.
    fn first_sgw(
        rules: &[ipsec_xlat::ike::IdentityRule],
        u: &ipsec_xlat::ike::tail_content::UserId,
    ) -> Option<String> {
        rules
            .iter()
            .find(|r| r.matches(u))
            .map(|r| r.sgw.ip().to_string())
    }

    /// The example configuration, as shipped: every rule reaches the core.
    #[test]
    fn no_rule_of_the_example_configuration_is_skipped() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/config/relay.toml");
        let config = RelayConfig::load(&path).unwrap();
        let mut warnings = Vec::new();
        let (rules, _) = identity_rules(&config, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), config.identification.rules().len());
        let sgw = |u| first_sgw(&rules, &u);
        // The address rule (10.1.0.0/16) is matched by the core too.
        assert_eq!(
            sgw(user(1, &[10, 1, 9, 9])).as_deref(),
            Some("203.0.113.10")
        );
        assert_eq!(sgw(user(1, &[10, 2, 9, 9])), None);
    }

    /// Every kind the configuration knows, in one table, none skipped, in order.
    #[test]
    fn every_rule_kind_maps_into_the_core() {
        let config = load(
            r#"noise_private_key_file = "relay.key"
[c_side]
addresses = ["192.0.2.1"]
[s_side]
address = "198.51.100.1"
[[authorized_clients]]
name = "a"
public_key = "veWl0T0rcf7r4T/kPfKE2oW3crNgufVLsvqyMSBrWAk="
[[identification]]
id_type = "key_id"
id = "hex:00ff41"
sgw = "203.0.113.1"
[[identification]]
id_type = "fqdn"
id = "vpn-*.*.example.com"
sgw = "203.0.113.2"
[[identification]]
id_type = "ipv4_addr"
id = "10.1.2.3"
sgw = "203.0.113.3"
[[identification]]
id_type = "ipv4_addr"
id = "10.1.0.0/16"
sgw = "203.0.113.4"
sgw_ike_port = 1500
sgw_natt_port = 14500
[[identification]]
id_type = "ipv6_addr"
id = "2001:db8:a::/48"
sgw = "203.0.113.5"
"#,
        );
        let mut warnings = Vec::new();
        let (rules, ports) = identity_rules(&config, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), 5);
        let sgw = |u| first_sgw(&rules, &u);
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
        assert_eq!(
            sgw(user(11, &[0x00, 0xff, 0x41])).as_deref(),
            Some("203.0.113.1")
        );
        assert_eq!(sgw(user(11, &[0x00, 0xff, 0x61])), None);
        assert_eq!(
            sgw(user(2, b"VPN-3.lab.example.com")).as_deref(),
            Some("203.0.113.2")
        );
        assert_eq!(sgw(user(1, &[10, 1, 2, 3])).as_deref(), Some("203.0.113.3"));
        assert_eq!(sgw(user(1, &[10, 1, 2, 4])).as_deref(), Some("203.0.113.4"));
        assert_eq!(
            sgw(user(5, &v6("2001:db8:a:1::1"))).as_deref(),
            Some("203.0.113.5")
        );
        assert_eq!(sgw(user(5, &v6("2001:db8:b::1"))), None);
        // The core sees standard ports; the adapter keeps the real ones.
        assert!(rules.iter().all(|r| r.sgw.port() == 500));
        assert_eq!(
            ports.get("203.0.113.4".parse().unwrap()),
            PortPair {
                ike: 1500,
                natt: 14500
            }
        );
    }
}
