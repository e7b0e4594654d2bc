//! The identification payload (RFC 2408 §3.8, RFC 2407 §4.6.2) and NAT-OA (RFC 3947 §5.2),
//! which reuses ID types for an address.
//!
//! ```text
//! ID body:     ! ID Type ! Protocol ID ! Port (2) ! Identification Data...
//! NAT-OA body: ! ID Type ! RESERVED (3)           ! IPv4 (4) or IPv6 (16) address
//! ```
//!
//! Address-type data is checked against its type at parse time, so [`IdPayload::identity`]
//! cannot fail.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::number::complete::{be_u16, be_u8};

use super::codec::{at, fixed};
use super::error::IsakmpError;
use super::numbers::IdType;

/// What an identification payload identifies, decoded from its type and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// One IPv4 address.
    Ipv4Addr(Ipv4Addr),
    /// An IPv4 address and netmask (quick mode's client IDs).
    Ipv4Subnet {
        /// Address.
        addr: Ipv4Addr,
        /// Netmask.
        mask: Ipv4Addr,
    },
    /// An IPv4 range, both ends included.
    Ipv4Range {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// One IPv6 address.
    Ipv6Addr(Ipv6Addr),
    /// An IPv6 address and netmask.
    Ipv6Subnet {
        /// Address.
        addr: Ipv6Addr,
        /// Netmask.
        mask: Ipv6Addr,
    },
    /// An IPv6 range, both ends included.
    Ipv6Range {
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
    /// A fully qualified domain name, as sent (not checked to be ASCII).
    Fqdn(&'a [u8]),
    /// A user FQDN (`user@example.com`), as sent.
    UserFqdn(&'a [u8]),
    /// A DER distinguished name.
    DerAsn1Dn(&'a [u8]),
    /// A DER general name.
    DerAsn1Gn(&'a [u8]),
    /// An opaque key ID.
    KeyId(&'a [u8]),
    /// A type we do not decode.
    Other(IdType, &'a [u8]),
}

fn v4(bytes: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from)
}

fn v6(bytes: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(bytes).ok().map(Ipv6Addr::from)
}

fn pair<T>(data: &[u8], half: usize, f: fn(&[u8]) -> Option<T>) -> Option<(T, T)> {
    let (a, b) = data.split_at_checked(half)?;
    Some((f(a)?, f(b)?))
}

impl<'a> Identity<'a> {
    /// Decodes `data` as identification of type `id_type`; `None` if an address type's data has
    /// the wrong length.
    pub fn decode(id_type: IdType, data: &'a [u8]) -> Option<Identity<'a>> {
        Some(match id_type {
            IdType::IPV4_ADDR => Identity::Ipv4Addr(v4(data)?),
            IdType::IPV4_ADDR_SUBNET => {
                let (addr, mask) = pair(data, 4, v4)?;
                Identity::Ipv4Subnet { addr, mask }
            }
            IdType::IPV4_ADDR_RANGE => {
                let (start, end) = pair(data, 4, v4)?;
                Identity::Ipv4Range { start, end }
            }
            IdType::IPV6_ADDR => Identity::Ipv6Addr(v6(data)?),
            IdType::IPV6_ADDR_SUBNET => {
                let (addr, mask) = pair(data, 16, v6)?;
                Identity::Ipv6Subnet { addr, mask }
            }
            IdType::IPV6_ADDR_RANGE => {
                let (start, end) = pair(data, 16, v6)?;
                Identity::Ipv6Range { start, end }
            }
            IdType::FQDN => Identity::Fqdn(data),
            IdType::USER_FQDN => Identity::UserFqdn(data),
            IdType::DER_ASN1_DN => Identity::DerAsn1Dn(data),
            IdType::DER_ASN1_GN => Identity::DerAsn1Gn(data),
            IdType::KEY_ID => Identity::KeyId(data),
            other => Identity::Other(other, data),
        })
    }
}

/// Identification payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPayload<'a> {
    id_type: IdType,
    protocol: u8,
    port: u16,
    data: &'a [u8],
}

impl<'a> IdPayload<'a> {
    /// Reads an identification payload body at `offset`.
    pub fn parse(body: &'a [u8], offset: usize) -> Result<Self, IsakmpError> {
        let (data, (id_type, protocol, port)) = fixed(
            body,
            offset,
            "identification payload",
            4,
            (be_u8, be_u8, be_u16),
        )?;
        let id_type = IdType(id_type);
        if Identity::decode(id_type, data).is_none() {
            return Err(IsakmpError::BadIdentification {
                what: "identification payload",
                offset: at(offset, 4),
                id_type,
                length: data.len(),
            });
        }
        Ok(IdPayload {
            id_type,
            protocol,
            port,
            data,
        })
    }

    /// The identification type.
    pub fn id_type(&self) -> IdType {
        self.id_type
    }

    /// The IP protocol (0 = any; phase 1 often says UDP).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The port (0 = any).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The raw identification data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The decoded identity.
    pub fn identity(&self) -> Identity<'a> {
        Identity::decode(self.id_type, self.data)
            .unwrap_or(Identity::Other(self.id_type, self.data))
    }

    /// The owned form.
    pub fn to_repr(&self) -> IdRepr {
        IdRepr {
            id_type: self.id_type,
            protocol: self.protocol,
            port: self.port,
            data: self.data.to_vec(),
        }
    }
}

/// An identification payload body to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdRepr {
    /// Identification type.
    pub id_type: IdType,
    /// IP protocol (0 = any).
    pub protocol: u8,
    /// Port (0 = any).
    pub port: u16,
    /// Identification data.
    pub data: Vec<u8>,
}

impl IdRepr {
    fn new(id_type: IdType, data: Vec<u8>) -> Self {
        IdRepr {
            id_type,
            protocol: 0,
            port: 0,
            data,
        }
    }

    /// ID_IPV4_ADDR or ID_IPV6_ADDR for `addr`.
    pub fn address(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => IdRepr::new(IdType::IPV4_ADDR, a.octets().to_vec()),
            IpAddr::V6(a) => IdRepr::new(IdType::IPV6_ADDR, a.octets().to_vec()),
        }
    }

    /// ID_IPV4_ADDR_SUBNET.
    pub fn ipv4_subnet(addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let mut data = addr.octets().to_vec();
        data.extend_from_slice(&mask.octets());
        IdRepr::new(IdType::IPV4_ADDR_SUBNET, data)
    }

    /// ID_IPV6_ADDR_SUBNET.
    pub fn ipv6_subnet(addr: Ipv6Addr, mask: Ipv6Addr) -> Self {
        let mut data = addr.octets().to_vec();
        data.extend_from_slice(&mask.octets());
        IdRepr::new(IdType::IPV6_ADDR_SUBNET, data)
    }

    /// ID_FQDN.
    pub fn fqdn(name: &str) -> Self {
        IdRepr::new(IdType::FQDN, name.as_bytes().to_vec())
    }

    /// ID_USER_FQDN.
    pub fn user_fqdn(name: &str) -> Self {
        IdRepr::new(IdType::USER_FQDN, name.as_bytes().to_vec())
    }

    /// ID_KEY_ID.
    pub fn key_id(id: &[u8]) -> Self {
        IdRepr::new(IdType::KEY_ID, id.to_vec())
    }

    /// The same identification with protocol and port set.
    pub fn with_protocol_port(mut self, protocol: u8, port: u16) -> Self {
        self.protocol = protocol;
        self.port = port;
        self
    }

    /// Appends the payload body to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.0);
        out.push(self.protocol);
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
    }
}

/// NAT original address payload (RFC 3947 §5.2). Payload type 21, or 131 with the drafts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatOaPayload {
    address: IpAddr,
}

impl NatOaPayload {
    /// Reads a NAT-OA payload body at `offset`.
    pub fn parse(body: &[u8], offset: usize) -> Result<Self, IsakmpError> {
        let (data, (id_type, _reserved)) = fixed(
            body,
            offset,
            "NAT-OA payload",
            4,
            (be_u8, nom::bytes::complete::take(3usize)),
        )?;
        let id_type = IdType(id_type);
        let address = match id_type {
            IdType::IPV4_ADDR => v4(data).map(IpAddr::V4),
            IdType::IPV6_ADDR => v6(data).map(IpAddr::V6),
            _ => None,
        };
        match address {
            Some(address) => Ok(NatOaPayload { address }),
            None => Err(IsakmpError::BadIdentification {
                what: "NAT-OA payload",
                offset: at(offset, 4),
                id_type,
                length: data.len(),
            }),
        }
    }

    /// A NAT-OA for `address`.
    pub fn new(address: IpAddr) -> Self {
        NatOaPayload { address }
    }

    /// The original address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Appends the payload body to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        match self.address {
            IpAddr::V4(a) => {
                out.extend_from_slice(&[IdType::IPV4_ADDR.0, 0, 0, 0]);
                out.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                out.extend_from_slice(&[IdType::IPV6_ADDR.0, 0, 0, 0]);
                out.extend_from_slice(&a.octets());
            }
        }
    }
}
