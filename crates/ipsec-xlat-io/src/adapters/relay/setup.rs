//! From the relay's configuration to what its cores and sockets take: the legs' listening
//! sockets, and the identification table in the IKE core's terms.

use core::net::{IpAddr, SocketAddr};

use ipsec_xlat::ike::IdentityRule;

use crate::adapters::convert::SetupError;
use crate::adapters::ports::{PeerPorts, PortPair};
use crate::config::{IdPattern, IdType, ListenConfig, RelayConfig};

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

/// The identification table in the IKE core's terms, and warnings for rules it cannot express.
pub fn identity_rules(
    config: &RelayConfig,
    warnings: &mut Vec<String>,
) -> (Vec<IdentityRule>, PeerPorts) {
    let mut rules = Vec::new();
    let mut sgws = PeerPorts::new();
    for (index, rule) in config.identification.rules().iter().enumerate() {
        let key = format!("identification[{index}]");
        let pattern = match (&rule.pattern, rule.id_type) {
            (IdPattern::Exact(bytes), IdType::FQDN | IdType::USER_FQDN | IdType::KEY_ID) => {
                match String::from_utf8(bytes.clone()) {
                    Ok(text) => text,
                    Err(_) => {
                        warnings.push(format!(
                            "`{key}.id`: binary key ids are not matched by the IKE core yet; rule skipped"
                        ));
                        continue;
                    }
                }
            }
            (IdPattern::Glob(glob), _) if glob.matches('*').count() == 1 => glob.clone(),
            (IdPattern::Glob(_), _) => {
                warnings.push(format!(
                    "`{key}.id`: the IKE core matches patterns with one `*` only; rule skipped"
                ));
                continue;
            }
            (IdPattern::Exact(_) | IdPattern::Prefix(_), _) => {
                warnings.push(format!(
                    "`{key}`: address identifications are not matched by the IKE core yet; rule skipped"
                ));
                continue;
            }
        };
        let sgw = rule.sgw_ike.ip();
        let pair = PortPair {
            ike: rule.sgw_ike.port(),
            natt: rule.sgw_natt_port,
        };
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
