//! The relay's identification table in the core's terms: which SGW serves which user.
//!
//! The user's identification arrives in the client's mm1 tail as an ISAKMP ID type and the
//! value's wire bytes (names as text, addresses as 4 or 16 bytes, key ids as opaque bytes).
//! Each rule matches the type and the value: exactly, by a `*` pattern, or (addresses) by
//! prefix. Values come from the network, so matching never panics and a `*` pattern runs in
//! time linear in pattern × value (no recursion, one backtrack point).

use core::net::{IpAddr, SocketAddr};

use crate::ike::tail_content::UserId;
use crate::wire::isakmp::IdType;

/// How a rule's value matches the user's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityMatch {
    /// These exact bytes. Names (ID_FQDN, ID_USER_FQDN) compare ASCII case-insensitively, as
    /// DNS names do; every other type (key ids, addresses) byte for byte.
    Exact(Vec<u8>),
    /// A pattern where each `*` stands for any run of bytes, empty included (`*@example.com`,
    /// `vpn-*.*.example.com`). Case-insensitive for names, as [`IdentityMatch::Exact`].
    Glob(String),
    /// An address identification (ID_IPV4_ADDR, ID_IPV6_ADDR) inside this prefix.
    Prefix(AddressPrefix),
}

impl IdentityMatch {
    /// Whether the value `value` of an identification of type `id_type` matches.
    pub fn matches(&self, id_type: IdType, value: &[u8]) -> bool {
        let fold = is_name(id_type);
        match self {
            Self::Exact(bytes) if fold => bytes.eq_ignore_ascii_case(value),
            Self::Exact(bytes) => bytes.as_slice() == value,
            Self::Glob(pattern) => glob_match(pattern.as_bytes(), value, fold),
            Self::Prefix(prefix) => prefix.matches(id_type, value),
        }
    }
}

/// Text as a rule's value: a pattern if it has a `*`, otherwise exactly these bytes.
impl From<&str> for IdentityMatch {
    fn from(text: &str) -> Self {
        if text.contains('*') {
            Self::Glob(text.to_owned())
        } else {
            Self::Exact(text.as_bytes().to_vec())
        }
    }
}

/// ID_FQDN and ID_USER_FQDN carry DNS names, which compare case-insensitively.
fn is_name(id_type: IdType) -> bool {
    id_type == IdType::FQDN || id_type == IdType::USER_FQDN
}

/// An address prefix (`10.1.0.0/16`, `2001:db8::/32`); host bits are cleared on creation, so
/// two prefixes naming the same set compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressPrefix {
    network: IpAddr,
    len: u8,
}

impl AddressPrefix {
    /// The prefix of `len` bits of `address`; `None` if `len` is longer than the address.
    pub fn new(address: IpAddr, len: u8) -> Option<Self> {
        let network = match address {
            IpAddr::V4(a) => IpAddr::from(mask(a.octets(), len)?),
            IpAddr::V6(a) => IpAddr::from(mask(a.octets(), len)?),
        };
        Some(Self { network, len })
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether the prefix is `/0` (every address of its family).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `address` lies inside (same family, same leading `len` bits).
    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(a)) => {
                mask(a.octets(), self.len).map(IpAddr::from) == Some(self.network)
            }
            (IpAddr::V6(_), IpAddr::V6(a)) => {
                mask(a.octets(), self.len).map(IpAddr::from) == Some(self.network)
            }
            _ => false,
        }
    }

    /// Whether an identification of `id_type` with wire value `value` is an address of the
    /// prefix's family inside it. Other types and lengths never match.
    fn matches(&self, id_type: IdType, value: &[u8]) -> bool {
        let address = match (id_type, self.network) {
            (IdType::IPV4_ADDR, IpAddr::V4(_)) => <[u8; 4]>::try_from(value).map(IpAddr::from).ok(),
            (IdType::IPV6_ADDR, IpAddr::V6(_)) => {
                <[u8; 16]>::try_from(value).map(IpAddr::from).ok()
            }
            _ => None,
        };
        address.is_some_and(|a| self.contains(a))
    }
}

impl core::fmt::Display for AddressPrefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// `octets` with every bit after the first `len` cleared; `None` if `len` exceeds the width.
fn mask<const N: usize>(mut octets: [u8; N], len: u8) -> Option<[u8; N]> {
    let mut keep = usize::from(len);
    if keep > N.saturating_mul(8) {
        return None;
    }
    for byte in octets.iter_mut() {
        let bits = keep.min(8);
        // Keep the top `bits` bits: clear the low ones (a shift by 8 is "none left to clear").
        let low = u32::try_from(bits)
            .ok()
            .and_then(|b| 0xff_u8.checked_shr(b))
            .unwrap_or(0);
        *byte &= !low;
        keep = keep.saturating_sub(bits);
    }
    Some(octets)
}

/// `*` matches any run of bytes (also empty); every other byte matches itself, ASCII
/// case-insensitively when `fold`. Iterative with one backtrack point (the latest `*`), which
/// suffices for `*`-only patterns: O(pattern × value), no recursion.
fn glob_match(pattern: &[u8], value: &[u8], fold: bool) -> bool {
    let same = |a: &u8, b: &u8| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let (mut p, mut v) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match (pattern.get(p), value.get(v)) {
            (Some(b'*'), _) => {
                star = Some((p, v));
                p = p.saturating_add(1);
            }
            (Some(pc), Some(vc)) if same(pc, vc) => {
                p = p.saturating_add(1);
                v = v.saturating_add(1);
            }
            _ => match star {
                Some((star_p, star_v)) => {
                    let next_v = star_v.saturating_add(1);
                    star = Some((star_p, next_v));
                    p = star_p.saturating_add(1);
                    v = next_v;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// One row of the identification table: which SGW serves which users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRule {
    /// ID type to match; `None` matches any.
    pub id_type: Option<IdType>,
    /// How the value must look.
    pub pattern: IdentityMatch,
    /// The SGW's IKE address and port.
    pub sgw: SocketAddr,
    /// The s-side address to use toward it; `None` for the relay's default.
    pub s_side: Option<IpAddr>,
}

impl IdentityRule {
    /// Whether `user` is served by this rule.
    pub fn matches(&self, user: &UserId) -> bool {
        if self.id_type.is_some_and(|t| t != user.id_type) {
            return false;
        }
        self.pattern.matches(user.id_type, &user.value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn user(id_type: IdType, value: &[u8]) -> UserId {
        UserId {
            id_type,
            value: value.to_vec(),
        }
    }

    fn rule(id_type: IdType, pattern: IdentityMatch) -> IdentityRule {
        IdentityRule {
            id_type: Some(id_type),
            pattern,
            sgw: "203.0.113.1:500".parse().unwrap(),
            s_side: None,
        }
    }

    fn prefix(text: &str) -> IdentityMatch {
        let (address, len) = text.split_once('/').unwrap();
        IdentityMatch::Prefix(
            AddressPrefix::new(address.parse().unwrap(), len.parse().unwrap()).unwrap(),
        )
    }

    #[test]
    fn exact_names_ignore_case_and_other_types_do_not() {
        let r = rule(IdType::USER_FQDN, "Bob@Example.com".into());
        assert!(r.matches(&user(IdType::USER_FQDN, b"bob@example.COM")));
        assert!(!r.matches(&user(IdType::USER_FQDN, b"bob@example.co")));
        assert!(!r.matches(&user(IdType::FQDN, b"bob@example.com")));
        let fqdn = rule(IdType::FQDN, "GW.example.com".into());
        assert!(fqdn.matches(&user(IdType::FQDN, b"gw.EXAMPLE.com")));
        // Key ids are opaque: "A" and "a" are different keys.
        let key = rule(IdType::KEY_ID, IdentityMatch::Exact(b"Key-A".to_vec()));
        assert!(key.matches(&user(IdType::KEY_ID, b"Key-A")));
        assert!(!key.matches(&user(IdType::KEY_ID, b"key-a")));
    }

    #[test]
    fn binary_key_ids_match_exact_bytes() {
        let bytes = vec![0x00, 0xff, 0x41, 0x80, 0x61];
        let r = rule(IdType::KEY_ID, IdentityMatch::Exact(bytes.clone()));
        assert!(r.matches(&user(IdType::KEY_ID, &bytes)));
        // Case folding would equate 0x41 and 0x61: not for key ids.
        assert!(!r.matches(&user(IdType::KEY_ID, &[0x00, 0xff, 0x61, 0x80, 0x61])));
        assert!(!r.matches(&user(IdType::KEY_ID, &bytes[..4])));
        assert!(!r.matches(&user(IdType::KEY_ID, b"")));
    }

    #[test]
    fn globs_take_any_number_of_stars() {
        let g = |p: &str, v: &[u8]| IdentityMatch::from(p).matches(IdType::FQDN, v);
        assert!(g("*@example.com", b"alice@example.com"));
        assert!(g("*@example.com", b"ALICE@Example.COM"));
        assert!(!g("*@example.com", b"alice@example.org"));
        assert!(!g("*@example.com", b"alice@example.comx"));
        assert!(g("vpn-*.*.example.com", b"vpn-7.branch.example.com"));
        assert!(!g("vpn-*.*.example.com", b"vpn-7.example.com"));
        assert!(g("a*b*c", b"aXXbYYc"));
        assert!(g("a*b*c", b"abc"));
        assert!(!g("a*b*c", b"acb"));
        assert!(g("**", b""));
        assert!(g("*", b"anything"));
        assert!(!g("", b"x"));
        // Not UTF-8 is just bytes.
        assert!(g("*x", &[0xff, 0xfe, b'x']));
        // Pathological input terminates and refuses.
        let value = vec![b'a'; 4096];
        assert!(!g("*a*a*a*a*a*b", &value));
        // Key-id globs are case-sensitive.
        let k = IdentityMatch::from("dev-*");
        assert!(k.matches(IdType::KEY_ID, b"dev-1"));
        assert!(!k.matches(IdType::KEY_ID, b"DEV-1"));
    }

    #[test]
    fn addresses_match_exactly_or_by_prefix() {
        let exact = rule(IdType::IPV4_ADDR, IdentityMatch::Exact(vec![10, 1, 2, 3]));
        assert!(exact.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2, 3])));
        assert!(!exact.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2, 4])));
        let v4 = rule(IdType::IPV4_ADDR, prefix("10.1.0.0/16"));
        assert!(v4.matches(&user(IdType::IPV4_ADDR, &[10, 1, 200, 3])));
        assert!(!v4.matches(&user(IdType::IPV4_ADDR, &[10, 2, 0, 0])));
        assert!(!v4.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2])));
        assert!(!v4.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2, 3, 4])));
        let odd = rule(IdType::IPV4_ADDR, prefix("10.1.2.128/25"));
        assert!(odd.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2, 255])));
        assert!(!odd.matches(&user(IdType::IPV4_ADDR, &[10, 1, 2, 127])));
        let v6 = rule(IdType::IPV6_ADDR, prefix("2001:db8:a::/48"));
        let inside: std::net::Ipv6Addr = "2001:db8:a:ffff::1".parse().unwrap();
        let outside: std::net::Ipv6Addr = "2001:db8:b::1".parse().unwrap();
        assert!(v6.matches(&user(IdType::IPV6_ADDR, &inside.octets())));
        assert!(!v6.matches(&user(IdType::IPV6_ADDR, &outside.octets())));
        // A v4 prefix never matches a v6 identification or a name.
        let any = IdentityRule {
            id_type: None,
            ..rule(IdType::IPV4_ADDR, prefix("0.0.0.0/0"))
        };
        assert!(any.matches(&user(IdType::IPV4_ADDR, &[192, 0, 2, 1])));
        assert!(!any.matches(&user(IdType::IPV6_ADDR, &inside.octets())));
        assert!(!any.matches(&user(IdType::FQDN, b"abcd")));
    }

    #[test]
    fn prefixes_clear_host_bits_and_refuse_overlong_lengths() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let p = AddressPrefix::new(ip("10.1.2.3"), 16).unwrap();
        assert_eq!(p.network(), ip("10.1.0.0"));
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert_eq!(p, AddressPrefix::new(ip("10.1.0.0"), 16).unwrap());
        assert!(AddressPrefix::new(ip("10.1.2.3"), 33).is_none());
        assert!(AddressPrefix::new(ip("2001:db8::"), 129).is_none());
        assert!(AddressPrefix::new(ip("2001:db8::1"), 128)
            .unwrap()
            .contains(ip("2001:db8::1")));
        assert!(!AddressPrefix::new(ip("2001:db8::1"), 128)
            .unwrap()
            .contains(ip("2001:db8::2")));
        assert!(AddressPrefix::new(ip("10.0.0.0"), 0)
            .unwrap()
            .contains(ip("192.0.2.1")));
        assert!(!AddressPrefix::new(ip("10.0.0.0"), 0)
            .unwrap()
            .contains(ip("2001:db8::1")));
    }
}
