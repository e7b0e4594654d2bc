//! Protocol numbers shared by IPv4's Protocol and IPv6's Next Header fields.

use core::fmt;

/// An IP protocol number (IANA "Assigned Internet Protocol Numbers").
///
/// An open newtype rather than a closed enum: a peer may legitimately send a value we have no
/// constant for, and we must still be able to parse, count and report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 Hop-by-Hop Options extension header.
    pub const HOP_BY_HOP: Self = Self(0);
    /// ICMP for IPv4.
    pub const ICMP: Self = Self(1);
    /// IPv4 encapsulated in IP (tunnel-mode inner packet).
    pub const IPV4: Self = Self(4);
    /// TCP.
    pub const TCP: Self = Self(6);
    /// UDP.
    pub const UDP: Self = Self(17);
    /// IPv6 encapsulated in IP (tunnel-mode inner packet).
    pub const IPV6: Self = Self(41);
    /// IPv6 Routing extension header.
    pub const IPV6_ROUTE: Self = Self(43);
    /// IPv6 Fragment extension header.
    pub const IPV6_FRAG: Self = Self(44);
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: Self = Self(50);
    /// Authentication Header (RFC 4302).
    pub const AH: Self = Self(51);
    /// ICMP for IPv6.
    pub const ICMPV6: Self = Self(58);
    /// "No next header": used in ESP for dummy (traffic-flow-confidentiality) packets.
    pub const NO_NEXT_HEADER: Self = Self(59);
    /// IPv6 Destination Options extension header.
    pub const IPV6_OPTS: Self = Self(60);

    /// Whether this is one of the IPv6 extension headers that the walk in
    /// [`ipv6::walk_extension_headers`](super::ipv6::walk_extension_headers) steps over
    /// (Hop-by-Hop, Routing, Fragment, Destination Options).
    pub const fn is_ipv6_extension(self) -> bool {
        matches!(self.0, 0 | 43 | 44 | 60)
    }
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        Self(value)
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        value.0
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::HOP_BY_HOP => "HOPOPT",
            Self::ICMP => "ICMP",
            Self::IPV4 => "IPv4",
            Self::TCP => "TCP",
            Self::UDP => "UDP",
            Self::IPV6 => "IPv6",
            Self::IPV6_ROUTE => "IPv6-Route",
            Self::IPV6_FRAG => "IPv6-Frag",
            Self::ESP => "ESP",
            Self::AH => "AH",
            Self::ICMPV6 => "IPv6-ICMP",
            Self::NO_NEXT_HEADER => "IPv6-NoNxt",
            Self::IPV6_OPTS => "IPv6-Opts",
            _ => return write!(f, "protocol {}", self.0),
        };
        f.write_str(name)
    }
}

/// Which IP version carries a header. AH needs it: its length must be a multiple of 32 bits
/// under IPv4 but of 64 bits under IPv6 (RFC 4302 §2.2), and its ICV input differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// Alignment in bytes that AH (and so its ICV padding) must respect under this version.
    pub const fn ah_alignment(self) -> usize {
        match self {
            Self::V4 => 4,
            Self::V6 => 8,
        }
    }

    /// Reads the version nibble of an IP packet's first byte, if it is 4 or 6.
    pub fn of_packet(packet: &[u8]) -> Option<Self> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => Some(Self::V4),
            Some(6) => Some(Self::V6),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_known_and_unknown() {
        assert_eq!(IpProtocol::ESP.to_string(), "ESP");
        assert_eq!(IpProtocol(253).to_string(), "protocol 253");
    }

    #[test]
    fn extension_headers_are_exactly_the_four() {
        let ext: Vec<u8> = (0..=255u8)
            .filter(|p| IpProtocol(*p).is_ipv6_extension())
            .collect();
        assert_eq!(ext, vec![0, 43, 44, 60]);
    }

    #[test]
    fn version_of_packet() {
        assert_eq!(IpVersion::of_packet(&[0x45]), Some(IpVersion::V4));
        assert_eq!(IpVersion::of_packet(&[0x60]), Some(IpVersion::V6));
        assert_eq!(IpVersion::of_packet(&[0x50]), None);
        assert_eq!(IpVersion::of_packet(&[]), None);
    }
}
