//! What the client and the relay tell each other in tails: typed contents and their item
//! encoding (`wire::tail` items inside the Noise-protected body).
//!
//! | message | direction | items |
//! | --- | --- | --- |
//! | mm1 | client → relay (handshake) | USER_ID |
//! | mm2 | relay → client (handshake) | SGW, RELAY_S_ADDR, S_COOKIES |
//! | mm5 | client → relay | C_SPI (client's c-side inbound SPI per protocol), S_FLOAT |
//! | mm6 | relay → client | an [`SpiGrant`]: S_SPI_OFFER (s-SPI-2), C_SPI_RELAY (c-SPI-2) |
//! | first SGW message of each later quick mode (qm2, or an SGW's qm1) | relay → client | a fresh [`SpiGrant`] |
//! | qm3 | client → relay | S_SPI_SGW (s-SPI-3), S_SPI_OFFER (which grant), C_SPI (c-SPI-1), S_UDP_ENCAP, C_UDP_ENCAP, LIFETIME |
//!
//! | an informational exchange with DELETE | client → relay | S_SPI_OFFER: the s-SPI-2 of the bundle that ended (`RetireTail`) |
//! | an informational exchange with the ISAKMP-SA DELETE | client → relay | S_COOKIES of the IKE SA that ended, S_DELETED (`IkeRetireTail`) |
//!
//! Why grants: the client must put s-SPI-2 (the relay's s-side SPI) in qm1's encrypted SA
//! payload, so the relay allocates it *before* each quick mode. One grant comes with mm6 for
//! the first quick mode; every quick mode then brings the next one, so rekeying never waits for
//! an extra round trip. The client names the grant it used in qm3's tail.
//!
//! Every item we define is critical (top bit set): a peer that does not understand one must
//! refuse the tail rather than act on half of it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::ike::crypto::Cookies;
use crate::ike::phase2::BundleSpis;
use crate::wire::isakmp::IdType;
use crate::wire::tail::{items, write_item, TailError, TailItem};

/// Item type numbers (critical bit included).
pub(crate) mod item {
    use crate::wire::tail::TailItem;
    /// User identification: ID type (1 byte, RFC 2407 numbers) and value.
    pub(crate) const USER_ID: u8 = TailItem::CRITICAL | 1;
    /// The SGW chosen for this user: address and IKE port.
    pub(crate) const SGW: u8 = TailItem::CRITICAL | 2;
    /// The relay's s-side address and IKE port (what the SGW sees as the initiator).
    pub(crate) const RELAY_S_ADDR: u8 = TailItem::CRITICAL | 3;
    /// The s-side cookie pair, CKY-I then CKY-R.
    pub(crate) const S_COOKIES: u8 = TailItem::CRITICAL | 4;
    /// The client's c-side inbound SPIs (c-SPI-1): protocol byte and SPI, per protocol.
    pub(crate) const C_SPI: u8 = TailItem::CRITICAL | 5;
    /// Whether IKE toward the SGW floats to port 4500 from mm5 on (one byte, 0 or 1).
    pub(crate) const S_FLOAT: u8 = TailItem::CRITICAL | 6;
    /// s-SPI-2 per protocol: the relay's s-side inbound SPIs, to offer to the SGW in qm1.
    pub(crate) const S_SPI_OFFER: u8 = TailItem::CRITICAL | 7;
    /// c-SPI-2 per protocol: the relay's c-side inbound SPIs, for the client to send with.
    pub(crate) const C_SPI_RELAY: u8 = TailItem::CRITICAL | 8;
    /// s-SPI-3 per protocol: the SGW's inbound SPIs from qm2.
    pub(crate) const S_SPI_SGW: u8 = TailItem::CRITICAL | 9;
    /// Whether ESP/AH toward the SGW is UDP-encapsulated (one byte).
    pub(crate) const S_UDP_ENCAP: u8 = TailItem::CRITICAL | 10;
    /// Whether ESP/AH between client and relay is UDP-encapsulated (one byte).
    pub(crate) const C_UDP_ENCAP: u8 = TailItem::CRITICAL | 11;
    /// Lifetime of the negotiated SA bundle in seconds (4 bytes).
    pub(crate) const LIFETIME: u8 = TailItem::CRITICAL | 12;
    /// Whether the SGW already deleted the IKE SA (one byte): the relay retires its entry
    /// and does not forward the carrier message to an SGW that no longer knows the cookies.
    pub(crate) const S_DELETED: u8 = TailItem::CRITICAL | 13;
}

/// Why a tail's contents could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TailContentError {
    /// The item list is malformed.
    #[error("tail items: {0}")]
    Items(#[from] TailError),
    /// A required item is absent.
    #[error("tail lacks item {0:#04x}")]
    Missing(u8),
    /// An item's value has the wrong shape.
    #[error("tail item {0:#04x} is malformed")]
    Malformed(u8),
    /// A critical item we do not know.
    #[error("unknown critical tail item {0:#04x}")]
    UnknownCritical(u8),
}

/// The user identification carried in mm1 (what the relay's identification table matches).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId {
    /// ID type (RFC 2407 section 4.6.2.1), e.g. USER_FQDN.
    pub id_type: IdType,
    /// The value (for USER_FQDN and FQDN: the name's bytes).
    pub value: Vec<u8>,
}

/// mm1 tail contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mm1Tail {
    /// Who the user is.
    pub user_id: UserId,
}

/// mm2 tail contents: everything the client needs to compute as the SGW does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mm2Tail {
    /// The SGW's address and port.
    pub sgw: SocketAddr,
    /// The relay's s-side address and port.
    pub relay_s: SocketAddr,
    /// The cookies the SGW sees.
    pub s_cookies: Cookies,
}

/// mm5 tail contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mm5Tail {
    /// c-SPI-1: the SPIs the client receives with on the c-side, per protocol of the bundle.
    pub c_spis: BundleSpis,
    /// Whether IKE floats to 4500 toward the SGW (the client saw NAT in the s-side NAT-D).
    pub s_float: bool,
}

/// SPIs the relay allocated for one quick mode (mm6's tail, then one per later quick mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpiGrant {
    /// s-SPI-2: what the client offers to the SGW in qm1.
    pub s_spi_offer: BundleSpis,
    /// c-SPI-2: what the client puts on packets it sends to the relay.
    pub c_spi_relay: BundleSpis,
}

/// qm3 tail contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qm3Tail {
    /// s-SPI-3: the SGW's SPIs from qm2.
    pub s_spi_sgw: BundleSpis,
    /// The grant this quick mode used (its s-SPI-2).
    pub s_spi_offer: BundleSpis,
    /// c-SPI-1 of this quick mode: what the relay puts on packets to the client.
    pub c_spi_client: BundleSpis,
    /// ESP/AH toward the SGW in UDP (negotiated UDP-encapsulated mode).
    pub s_udp_encap: bool,
    /// ESP/AH between client and relay in UDP.
    pub c_udp_encap: bool,
    /// The bundle's negotiated lifetime in seconds (the relay retires the entry after it).
    pub lifetime_secs: u32,
}

fn put_addr(out: &mut Vec<u8>, ty: u8, addr: SocketAddr) -> Result<(), TailError> {
    let mut v = Vec::with_capacity(19);
    match addr.ip() {
        IpAddr::V4(a) => {
            v.push(4);
            v.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            v.push(6);
            v.extend_from_slice(&a.octets());
        }
    }
    v.extend_from_slice(&addr.port().to_be_bytes());
    write_item(out, ty, &v)
}

fn get_addr(ty: u8, v: &[u8]) -> Result<SocketAddr, TailContentError> {
    let bad = TailContentError::Malformed(ty);
    let (family, rest) = v.split_first().ok_or(bad.clone())?;
    let (ip, port): (IpAddr, &[u8]) = match (family, rest.len()) {
        (4, 6) => {
            let (a, p) = rest.split_at(4);
            let a: [u8; 4] = a.try_into().map_err(|_| bad.clone())?;
            (Ipv4Addr::from(a).into(), p)
        }
        (6, 18) => {
            let (a, p) = rest.split_at(16);
            let a: [u8; 16] = a.try_into().map_err(|_| bad.clone())?;
            (Ipv6Addr::from(a).into(), p)
        }
        _ => return Err(bad),
    };
    let port: [u8; 2] = port.try_into().map_err(|_| bad)?;
    Ok(SocketAddr::new(ip, u16::from_be_bytes(port)))
}

/// Protocol numbers inside SPI items (RFC 2407 section 4.4.1).
const PROTO_AH: u8 = 2;
const PROTO_ESP: u8 = 3;

fn put_spis(out: &mut Vec<u8>, ty: u8, spis: &BundleSpis) -> Result<(), TailError> {
    let mut v = Vec::with_capacity(10);
    if let Some(spi) = spis.ah {
        v.push(PROTO_AH);
        v.extend_from_slice(&spi.to_be_bytes());
    }
    if let Some(spi) = spis.esp {
        v.push(PROTO_ESP);
        v.extend_from_slice(&spi.to_be_bytes());
    }
    write_item(out, ty, &v)
}

fn get_spis(ty: u8, v: &[u8]) -> Result<BundleSpis, TailContentError> {
    if v.is_empty() || v.len() % 5 != 0 {
        return Err(TailContentError::Malformed(ty));
    }
    let mut spis = BundleSpis::default();
    for chunk in v.chunks_exact(5) {
        let (proto, spi) = chunk.split_first().ok_or(TailContentError::Malformed(ty))?;
        let spi: [u8; 4] = spi
            .try_into()
            .map_err(|_| TailContentError::Malformed(ty))?;
        let spi = Some(u32::from_be_bytes(spi));
        let slot = match *proto {
            PROTO_AH => &mut spis.ah,
            PROTO_ESP => &mut spis.esp,
            _ => return Err(TailContentError::Malformed(ty)),
        };
        if slot.is_some() {
            return Err(TailContentError::Malformed(ty));
        }
        *slot = spi;
    }
    Ok(spis)
}

fn put_flag(out: &mut Vec<u8>, ty: u8, flag: bool) -> Result<(), TailError> {
    write_item(out, ty, &[u8::from(flag)])
}

fn get_flag(ty: u8, v: &[u8]) -> Result<bool, TailContentError> {
    match v {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(TailContentError::Malformed(ty)),
    }
}

/// Collects the items of a plaintext, refusing duplicates and unknown critical items.
fn collect<'a>(plaintext: &'a [u8], known: &[u8]) -> Result<Vec<TailItem<'a>>, TailContentError> {
    let mut out: Vec<TailItem<'a>> = Vec::new();
    for it in items(plaintext) {
        let it = it?;
        if known.contains(&it.item_type()) {
            if out.iter().any(|o| o.item_type() == it.item_type()) {
                return Err(TailContentError::Malformed(it.item_type()));
            }
            out.push(it);
        } else if it.is_critical() {
            return Err(TailContentError::UnknownCritical(it.item_type()));
        }
    }
    Ok(out)
}

fn value<'a>(found: &[TailItem<'a>], ty: u8) -> Result<&'a [u8], TailContentError> {
    found
        .iter()
        .find(|i| i.item_type() == ty)
        .map(|i| i.value())
        .ok_or(TailContentError::Missing(ty))
}

/// Tail on the client's DELETE: which bundle ended, named by its s-SPI-2 (the relay cannot
/// read the encrypted DELETE itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetireTail {
    /// s-SPI-2 of the bundle.
    pub s_spi_2: BundleSpis,
}

impl RetireTail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        put_spis(&mut out, item::S_SPI_OFFER, &self.s_spi_2)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::S_SPI_OFFER])?;
        Ok(Self {
            s_spi_2: get_spis(item::S_SPI_OFFER, value(&found, item::S_SPI_OFFER)?)?,
        })
    }
}

/// Tail on the client's DELETE of the IKE SA itself: the relay cannot read the encrypted
/// DELETE, so the tail names the IKE SA by its s-side cookies (a check against the session
/// the message arrived on) and says whether the SGW deleted it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IkeRetireTail {
    /// The s-side cookie pair of the IKE SA that ended.
    pub s_cookies: Cookies,
    /// The SGW deleted it already: retire without forwarding.
    pub s_deleted: bool,
}

impl IkeRetireTail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        let mut c = self.s_cookies.initiator.to_vec();
        c.extend_from_slice(&self.s_cookies.responder);
        write_item(&mut out, item::S_COOKIES, &c)?;
        put_flag(&mut out, item::S_DELETED, self.s_deleted)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::S_COOKIES, item::S_DELETED])?;
        Ok(Self {
            s_cookies: get_cookies(value(&found, item::S_COOKIES)?)?,
            s_deleted: get_flag(item::S_DELETED, value(&found, item::S_DELETED)?)?,
        })
    }
}

/// A cookie pair, CKY-I then CKY-R, 16 bytes exactly.
fn get_cookies(v: &[u8]) -> Result<Cookies, TailContentError> {
    let bad = |_| TailContentError::Malformed(item::S_COOKIES);
    let (i, r) = v
        .split_at_checked(8)
        .ok_or(TailContentError::Malformed(item::S_COOKIES))?;
    Ok(Cookies::new(
        i.try_into().map_err(bad)?,
        r.try_into().map_err(bad)?,
    ))
}

impl Mm1Tail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        let mut v = vec![self.user_id.id_type.0];
        v.extend_from_slice(&self.user_id.value);
        write_item(&mut out, item::USER_ID, &v)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::USER_ID])?;
        let v = value(&found, item::USER_ID)?;
        let (ty, rest) = v
            .split_first()
            .ok_or(TailContentError::Malformed(item::USER_ID))?;
        Ok(Self {
            user_id: UserId {
                id_type: IdType(*ty),
                value: rest.to_vec(),
            },
        })
    }
}

impl Mm2Tail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        put_addr(&mut out, item::SGW, self.sgw)?;
        put_addr(&mut out, item::RELAY_S_ADDR, self.relay_s)?;
        let mut c = self.s_cookies.initiator.to_vec();
        c.extend_from_slice(&self.s_cookies.responder);
        write_item(&mut out, item::S_COOKIES, &c)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::SGW, item::RELAY_S_ADDR, item::S_COOKIES])?;
        Ok(Self {
            sgw: get_addr(item::SGW, value(&found, item::SGW)?)?,
            relay_s: get_addr(item::RELAY_S_ADDR, value(&found, item::RELAY_S_ADDR)?)?,
            s_cookies: get_cookies(value(&found, item::S_COOKIES)?)?,
        })
    }
}

impl Mm5Tail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        put_spis(&mut out, item::C_SPI, &self.c_spis)?;
        put_flag(&mut out, item::S_FLOAT, self.s_float)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::C_SPI, item::S_FLOAT])?;
        Ok(Self {
            c_spis: get_spis(item::C_SPI, value(&found, item::C_SPI)?)?,
            s_float: get_flag(item::S_FLOAT, value(&found, item::S_FLOAT)?)?,
        })
    }
}

impl SpiGrant {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        put_spis(&mut out, item::S_SPI_OFFER, &self.s_spi_offer)?;
        put_spis(&mut out, item::C_SPI_RELAY, &self.c_spi_relay)?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(plaintext, &[item::S_SPI_OFFER, item::C_SPI_RELAY])?;
        Ok(Self {
            s_spi_offer: get_spis(item::S_SPI_OFFER, value(&found, item::S_SPI_OFFER)?)?,
            c_spi_relay: get_spis(item::C_SPI_RELAY, value(&found, item::C_SPI_RELAY)?)?,
        })
    }
}

impl Qm3Tail {
    /// The item list.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, TailError> {
        let mut out = Vec::new();
        put_spis(&mut out, item::S_SPI_SGW, &self.s_spi_sgw)?;
        put_spis(&mut out, item::S_SPI_OFFER, &self.s_spi_offer)?;
        put_spis(&mut out, item::C_SPI, &self.c_spi_client)?;
        put_flag(&mut out, item::S_UDP_ENCAP, self.s_udp_encap)?;
        put_flag(&mut out, item::C_UDP_ENCAP, self.c_udp_encap)?;
        write_item(&mut out, item::LIFETIME, &self.lifetime_secs.to_be_bytes())?;
        Ok(out)
    }

    /// Reads an item list.
    pub fn decode(plaintext: &[u8]) -> Result<Self, TailContentError> {
        let found = collect(
            plaintext,
            &[
                item::S_SPI_SGW,
                item::S_SPI_OFFER,
                item::C_SPI,
                item::S_UDP_ENCAP,
                item::C_UDP_ENCAP,
                item::LIFETIME,
            ],
        )?;
        let life: [u8; 4] = value(&found, item::LIFETIME)?
            .try_into()
            .map_err(|_| TailContentError::Malformed(item::LIFETIME))?;
        Ok(Self {
            s_spi_sgw: get_spis(item::S_SPI_SGW, value(&found, item::S_SPI_SGW)?)?,
            s_spi_offer: get_spis(item::S_SPI_OFFER, value(&found, item::S_SPI_OFFER)?)?,
            c_spi_client: get_spis(item::C_SPI, value(&found, item::C_SPI)?)?,
            s_udp_encap: get_flag(item::S_UDP_ENCAP, value(&found, item::S_UDP_ENCAP)?)?,
            c_udp_encap: get_flag(item::C_UDP_ENCAP, value(&found, item::C_UDP_ENCAP)?)?,
            lifetime_secs: u32::from_be_bytes(life),
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn every_tail_round_trips() {
        let spis = BundleSpis {
            esp: Some(0x1234_5678),
            ah: Some(0x9abc_def0),
        };
        let m1 = Mm1Tail {
            user_id: UserId {
                id_type: IdType::USER_FQDN,
                value: b"alice@example.com".to_vec(),
            },
        };
        assert_eq!(Mm1Tail::decode(&m1.encode().unwrap()).unwrap(), m1);
        let m2 = Mm2Tail {
            sgw: "203.0.113.1:500".parse().unwrap(),
            relay_s: "[2001:db8::1]:500".parse().unwrap(),
            s_cookies: Cookies::new([1; 8], [2; 8]),
        };
        assert_eq!(Mm2Tail::decode(&m2.encode().unwrap()).unwrap(), m2);
        let m5 = Mm5Tail {
            c_spis: spis,
            s_float: true,
        };
        assert_eq!(Mm5Tail::decode(&m5.encode().unwrap()).unwrap(), m5);
        let m6 = SpiGrant {
            s_spi_offer: spis,
            c_spi_relay: BundleSpis {
                esp: Some(7),
                ah: None,
            },
        };
        assert_eq!(SpiGrant::decode(&m6.encode().unwrap()).unwrap(), m6);
        let q3 = Qm3Tail {
            s_spi_sgw: spis,
            s_spi_offer: spis,
            c_spi_client: spis,
            s_udp_encap: true,
            c_udp_encap: false,
            lifetime_secs: 3960,
        };
        assert_eq!(Qm3Tail::decode(&q3.encode().unwrap()).unwrap(), q3);
        for s_deleted in [false, true] {
            let ike = IkeRetireTail {
                s_cookies: Cookies::new([3; 8], [4; 8]),
                s_deleted,
            };
            assert_eq!(IkeRetireTail::decode(&ike.encode().unwrap()).unwrap(), ike);
        }
    }

    /// The two retire tails cannot be taken for each other: each refuses the other's
    /// critical item, which is how the relay tells them apart.
    #[test]
    fn retire_tails_are_distinct() {
        let child = RetireTail {
            s_spi_2: BundleSpis {
                esp: Some(0x1234_5678),
                ah: None,
            },
        }
        .encode()
        .unwrap();
        let ike = IkeRetireTail {
            s_cookies: Cookies::new([3; 8], [4; 8]),
            s_deleted: false,
        }
        .encode()
        .unwrap();
        assert_eq!(
            IkeRetireTail::decode(&child).unwrap_err(),
            TailContentError::UnknownCritical(item::S_SPI_OFFER)
        );
        assert_eq!(
            RetireTail::decode(&ike).unwrap_err(),
            TailContentError::UnknownCritical(item::S_COOKIES)
        );
        let mut short = Vec::new();
        write_item(&mut short, item::S_COOKIES, &[1; 15]).unwrap();
        put_flag(&mut short, item::S_DELETED, false).unwrap();
        assert_eq!(
            IkeRetireTail::decode(&short).unwrap_err(),
            TailContentError::Malformed(item::S_COOKIES)
        );
    }

    #[test]
    fn malformed_contents_are_typed_errors() {
        assert_eq!(
            Mm5Tail::decode(&[]).unwrap_err(),
            TailContentError::Missing(item::C_SPI)
        );
        let mut unknown = Vec::new();
        write_item(&mut unknown, TailItem::CRITICAL | 0x70, b"x").unwrap();
        assert_eq!(
            Mm1Tail::decode(&unknown).unwrap_err(),
            TailContentError::UnknownCritical(0xf0)
        );
        let mut skip = Vec::new();
        write_item(&mut skip, 0x70, b"optional").unwrap();
        skip.extend(
            Mm1Tail {
                user_id: UserId {
                    id_type: IdType::FQDN,
                    value: b"x".to_vec(),
                },
            }
            .encode()
            .unwrap(),
        );
        assert!(
            Mm1Tail::decode(&skip).is_ok(),
            "non-critical unknown items are skipped"
        );
        let mut bad = Vec::new();
        write_item(&mut bad, item::C_SPI, &[3, 0, 0]).unwrap();
        write_item(&mut bad, item::S_FLOAT, &[1]).unwrap();
        assert_eq!(
            Mm5Tail::decode(&bad).unwrap_err(),
            TailContentError::Malformed(item::C_SPI)
        );
        let mut twice = Vec::new();
        write_item(&mut twice, item::S_FLOAT, &[1]).unwrap();
        write_item(&mut twice, item::S_FLOAT, &[1]).unwrap();
        assert!(Mm5Tail::decode(&twice).is_err());
    }
}
