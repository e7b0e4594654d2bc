//! The relay's identification table (Figure 6 of the seed): ordered rules that map a user's
//! identification to the SGW serving it, and optionally the s-side address to use.
//!
//! The first rule whose type matches and whose value matches exactly, by a `*` pattern
//! (`*@example.com`, any number of `*`) or, for address types, by prefix (`10.1.0.0/16`) wins.
//! Matching itself is the IKE core's ([`IdentityMatch`]); this module parses and validates the
//! configured text into it.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use ipsec_xlat::ike::{AddressPrefix, IdentityMatch};

use super::error::Problem;

/// An ISAKMP identification type (RFC 2407 §4.6.2.1). Open newtype: unknown values from the
/// network are representable and simply match no rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdType(pub u8);

impl IdType {
    /// ID_IPV4_ADDR: 4 bytes.
    pub const IPV4_ADDR: Self = Self(1);
    /// ID_FQDN: a domain name.
    pub const FQDN: Self = Self(2);
    /// ID_USER_FQDN: `user@domain`.
    pub const USER_FQDN: Self = Self(3);
    /// ID_IPV6_ADDR: 16 bytes.
    pub const IPV6_ADDR: Self = Self(5);
    /// ID_KEY_ID: opaque bytes.
    pub const KEY_ID: Self = Self(11);

    /// The configuration name of a supported type.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ipv4_addr" => Self::IPV4_ADDR,
            "fqdn" => Self::FQDN,
            "user_fqdn" => Self::USER_FQDN,
            "ipv6_addr" => Self::IPV6_ADDR,
            "key_id" => Self::KEY_ID,
            _ => return None,
        })
    }

    /// The configuration name, or the number for other types.
    pub fn name(self) -> String {
        match self {
            Self::IPV4_ADDR => "ipv4_addr".into(),
            Self::FQDN => "fqdn".into(),
            Self::USER_FQDN => "user_fqdn".into(),
            Self::IPV6_ADDR => "ipv6_addr".into(),
            Self::KEY_ID => "key_id".into(),
            Self(other) => format!("id-type-{other}"),
        }
    }
}

impl fmt::Display for IdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A user identification: type and value as carried in an ID payload (addresses in binary).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The type.
    pub id_type: IdType,
    /// The value's bytes as they go on the wire.
    pub value: Vec<u8>,
}

impl Identity {
    /// Parse a configured identity (`type` name and textual value): addresses become their
    /// 4 or 16 bytes, names and key ids their UTF-8 bytes (a key id may be `hex:...`).
    pub fn parse(type_name: &str, value: &str) -> Result<Self, Problem> {
        let id_type = IdType::from_name(type_name)
            .ok_or_else(|| Problem::UnknownIdType(type_name.to_owned()))?;
        Self::from_text(id_type, value)
    }

    /// An identity of `id_type` from its textual value (see [`Identity::parse`]).
    pub fn from_text(id_type: IdType, value: &str) -> Result<Self, Problem> {
        let bad = |reason: &str| Problem::BadIdentification {
            id_type: id_type.name(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(bad("empty value"));
        }
        let value = match id_type {
            IdType::IPV4_ADDR => match value.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => a.octets().to_vec(),
                _ => return Err(bad("not an IPv4 address")),
            },
            IdType::IPV6_ADDR => match value.parse::<IpAddr>() {
                Ok(IpAddr::V6(a)) => a.octets().to_vec(),
                _ => return Err(bad("not an IPv6 address")),
            },
            IdType::USER_FQDN if !value.contains('@') => {
                return Err(bad("a user_fqdn looks like user@example.com"))
            }
            IdType::KEY_ID => key_id_bytes(value).map_err(|_| bad("bad hex after `hex:`"))?,
            _ => value.as_bytes().to_vec(),
        };
        Ok(Self { id_type, value })
    }
}

fn key_id_bytes(value: &str) -> Result<Vec<u8>, hex::FromHexError> {
    match value.strip_prefix("hex:") {
        Some(digits) => hex::decode(digits),
        None => Ok(value.as_bytes().to_vec()),
    }
}

/// How a rule matches a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdPattern {
    /// These exact bytes (ASCII case-insensitive for names, byte for byte otherwise).
    Exact(Vec<u8>),
    /// A pattern where each `*` stands for any run of bytes (`*@example.com`,
    /// `vpn-*.*.example.com`); case-insensitive for names.
    Glob(String),
    /// An address inside this prefix (address types only).
    Prefix(IpNet),
}

impl IdPattern {
    /// Parse a configured pattern for `id_type`.
    pub fn parse(id_type: IdType, text: &str) -> Result<Self, Problem> {
        let bad = |reason: &str| Problem::BadIdentification {
            id_type: id_type.name(),
            reason: reason.to_owned(),
        };
        match id_type {
            IdType::IPV4_ADDR | IdType::IPV6_ADDR => {
                if let Ok(net) = text.parse::<IpNet>() {
                    let family_ok = matches!(
                        (id_type, net),
                        (IdType::IPV4_ADDR, IpNet::V4(_)) | (IdType::IPV6_ADDR, IpNet::V6(_))
                    );
                    if !family_ok {
                        return Err(bad("prefix of the other address family"));
                    }
                    return Ok(Self::Prefix(net.trunc()));
                }
                Identity::from_text(id_type, text).map(|id| Self::Exact(id.value))
            }
            _ if text.contains('*') => Ok(Self::Glob(text.to_owned())),
            _ => Identity::from_text(id_type, text).map(|id| Self::Exact(id.value)),
        }
    }

    /// The same pattern in the IKE core's terms, which is what the running relay matches
    /// with. Every pattern [`IdPattern::parse`] makes has one (`None` only for a hand-made
    /// prefix the core refuses, which `IpNet` cannot hold).
    pub fn to_core(&self) -> Option<IdentityMatch> {
        Some(match self {
            Self::Exact(bytes) => IdentityMatch::Exact(bytes.clone()),
            Self::Glob(pattern) => IdentityMatch::Glob(pattern.clone()),
            Self::Prefix(net) => {
                IdentityMatch::Prefix(AddressPrefix::new(net.network(), net.prefix_len())?)
            }
        })
    }

    /// Whether `value` (wire bytes of an identity of type `id_type`) matches, exactly as the
    /// IKE core decides it: names case-insensitively, key ids and addresses byte for byte.
    pub fn matches(&self, id_type: IdType, value: &[u8]) -> bool {
        self.to_core()
            .is_some_and(|m| m.matches(ipsec_xlat::wire::isakmp::IdType(id_type.0), value))
    }
}

/// One rule of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentificationRule {
    /// The identification type it applies to.
    pub id_type: IdType,
    /// How the value must look.
    pub pattern: IdPattern,
    /// The SGW's IKE address and port (500 in production).
    pub sgw_ike: SocketAddr,
    /// The SGW's NAT-T port (4500 in production).
    pub sgw_natt_port: u16,
    /// The relay's s-side address to use toward this SGW; `None` lets the relay choose (its
    /// single s-side address, or one from the pool).
    pub s_side_address: Option<IpAddr>,
}

/// The ordered rules; the first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentificationTable {
    rules: Vec<IdentificationRule>,
}

impl IdentificationTable {
    /// A table of `rules` in order.
    pub fn new(rules: Vec<IdentificationRule>) -> Self {
        Self { rules }
    }

    /// The rules in order.
    pub fn rules(&self) -> &[IdentificationRule] {
        &self.rules
    }

    /// The first rule matching an identification of `id_type` with wire value `value`.
    pub fn lookup(&self, id_type: IdType, value: &[u8]) -> Option<&IdentificationRule> {
        self.rules
            .iter()
            .find(|rule| rule.id_type == id_type && rule.pattern.matches(id_type, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins() {
        let rule = |id_type, pattern: &str, sgw: &str| IdentificationRule {
            id_type,
            pattern: IdPattern::parse(id_type, pattern).unwrap(),
            sgw_ike: SocketAddr::new(sgw.parse().unwrap(), 500),
            sgw_natt_port: 4500,
            s_side_address: None,
        };
        let table = IdentificationTable::new(vec![
            rule(IdType::USER_FQDN, "boss@example.com", "203.0.113.1"),
            rule(IdType::USER_FQDN, "*@example.com", "203.0.113.2"),
            rule(IdType::IPV4_ADDR, "10.1.0.0/16", "203.0.113.3"),
        ]);
        let sgw = |t, v: &[u8]| table.lookup(t, v).map(|r| r.sgw_ike.ip().to_string());
        assert_eq!(
            sgw(IdType::USER_FQDN, b"boss@example.com").as_deref(),
            Some("203.0.113.1")
        );
        assert_eq!(
            sgw(IdType::USER_FQDN, b"eve@example.com").as_deref(),
            Some("203.0.113.2")
        );
        assert_eq!(sgw(IdType::FQDN, b"eve@example.com"), None);
        assert_eq!(
            sgw(IdType::IPV4_ADDR, &[10, 1, 2, 3]).as_deref(),
            Some("203.0.113.3")
        );
        assert_eq!(sgw(IdType::IPV4_ADDR, &[10, 2, 2, 3]), None);
        assert_eq!(sgw(IdType::IPV4_ADDR, &[10, 1, 2]), None);
        assert_eq!(sgw(IdType(200), b"x"), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod core_terms {
    use super::*;

    /// Each kind of configured pattern reaches the IKE core, and the core decides as the
    /// configuration documents.
    #[test]
    fn every_pattern_kind_has_a_core_matcher() {
        let m = |t: IdType, text: &str| IdPattern::parse(t, text).unwrap().to_core().unwrap();
        let core_type = |t: IdType| ipsec_xlat::wire::isakmp::IdType(t.0);
        let check = |t: IdType, text: &str, value: &[u8]| m(t, text).matches(core_type(t), value);

        assert_eq!(
            m(IdType::KEY_ID, "hex:00ff41"),
            IdentityMatch::Exact(vec![0x00, 0xff, 0x41])
        );
        assert!(check(IdType::KEY_ID, "hex:00ff41", &[0x00, 0xff, 0x41]));
        assert!(!check(IdType::KEY_ID, "hex:00ff41", &[0x00, 0xff, 0x61]));
        assert!(check(IdType::KEY_ID, "laptop-7", b"laptop-7"));
        assert!(!check(IdType::KEY_ID, "laptop-7", b"LAPTOP-7"));

        assert!(check(
            IdType::FQDN,
            "vpn-*.*.example.com",
            b"VPN-1.b.example.com"
        ));
        assert!(!check(
            IdType::FQDN,
            "vpn-*.*.example.com",
            b"vpn-1.example.com"
        ));

        assert!(check(IdType::IPV4_ADDR, "10.1.2.3", &[10, 1, 2, 3]));
        assert!(!check(IdType::IPV4_ADDR, "10.1.2.3", &[10, 1, 2, 4]));
        assert!(check(IdType::IPV4_ADDR, "10.1.0.0/16", &[10, 1, 7, 7]));
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        assert!(check(IdType::IPV6_ADDR, "2001:db8::7", &v6("2001:db8::7")));
        assert!(check(
            IdType::IPV6_ADDR,
            "2001:db8:a::/48",
            &v6("2001:db8:a:1::9")
        ));
        assert!(!check(
            IdType::IPV6_ADDR,
            "2001:db8:a::/48",
            &v6("2001:db8:b::9")
        ));
        // Host bits in a configured prefix are cleared, as `ipnet` does.
        assert_eq!(
            m(IdType::IPV4_ADDR, "10.1.2.3/16"),
            m(IdType::IPV4_ADDR, "10.1.0.0/16")
        );
    }
}
