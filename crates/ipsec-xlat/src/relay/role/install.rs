//! From the IKE relay's [`IpsecTranslation`] to a table [`Entry`]: the legs' real addresses,
//! transports and ports, and the entry's lifetime (`docs/PROTOCOL.md`, "IPsec translation
//! entries").

use core::net::IpAddr;
use core::time::Duration;

use crate::ike::phase2::BundleSpis;
use crate::ike::IpsecTranslation;
use crate::net::{PeerPorts, PortPair};
use crate::relay::{Entry, LegPath, LegTransport, Partition, Spi, SpiSet};
use crate::time::Timestamp;

use super::event::Refusal;

/// Extra life an entry gets beyond the negotiated SA lifetime (plus the tenth a peer may
/// overrun it by), so that the last packets of an SA that is being replaced still pass.
const ENTRY_MARGIN: Duration = Duration::from_secs(60);

/// Where the relay's legs are, as an entry needs them.
pub(super) struct Legs<'a> {
    /// The c-side address the client talks to (the wildcard case already resolved).
    pub relay_c: IpAddr,
    /// The c-side sockets' real ports.
    pub c_ports: PortPair,
    /// The s-side sockets' real ports.
    pub s_ports: PortPair,
    /// The SGWs' real ports.
    pub sgws: &'a PeerPorts,
}

/// The table entry for `t` (ports as they are on the wire), installed at `now`.
pub(super) fn entry(
    now: Timestamp,
    t: &IpsecTranslation,
    legs: &Legs<'_>,
) -> Result<Entry, Refusal> {
    let client_transport = if t.c_udp_encap {
        // The client runs IKE on its NAT-T flow, so its IKE address is where its ESP comes
        // from (after any NAT).
        LegTransport::Udp {
            relay_port: legs.c_ports.natt,
            peer_port: t.client.port(),
        }
    } else {
        LegTransport::Ip
    };
    let gateway_transport = if t.s_udp_encap {
        LegTransport::Udp {
            relay_port: legs.s_ports.natt,
            peer_port: legs.sgws.get(t.sgw.ip()).natt,
        }
    } else {
        LegTransport::Ip
    };
    let lifetime = Duration::from_secs(u64::from(t.lifetime_secs));
    let overrun = lifetime.checked_div(10).unwrap_or_default();
    Ok(Entry {
        client: Partition {
            path: LegPath {
                relay_addr: legs.relay_c,
                peer_addr: t.client.ip().to_canonical(),
                transport: client_transport,
            },
            relay_spis: spi_set(t.c_spi_2)?,
            peer_spis: spi_set(t.c_spi_1)?,
        },
        gateway: Partition {
            path: LegPath {
                relay_addr: t.relay_s.ip(),
                peer_addr: t.sgw.ip(),
                transport: gateway_transport,
            },
            relay_spis: spi_set(t.s_spi_2)?,
            peer_spis: spi_set(t.s_spi_3)?,
        },
        expires_at: now
            .saturating_add(lifetime.saturating_add(overrun))
            .saturating_add(ENTRY_MARGIN),
    })
}

/// The table's form of a bundle's SPIs; the tail may carry anything, so 0–255 are refused.
fn spi_set(spis: BundleSpis) -> Result<SpiSet, Refusal> {
    let one = |value: Option<u32>| match value {
        None => Ok(None),
        Some(v) => Spi::new(v).map(Some).ok_or(Refusal::ReservedSpi(v)),
    };
    Ok(SpiSet {
        esp: one(spis.esp)?,
        ah: one(spis.ah)?,
    })
}

/// The name of the entry the IKE relay's bundle SPIs belong to: its outermost c-SPI-2.
pub(super) fn entry_id(c_spi_2: BundleSpis) -> Option<crate::relay::EntryId> {
    c_spi_2
        .ah
        .or(c_spi_2.esp)
        .and_then(Spi::new)
        .map(crate::relay::EntryId)
}

/// The relay-chosen SPIs of a translation (c-SPI-2, s-SPI-2): granted by the table, and given
/// back to it if the entry is refused.
pub(super) fn relay_spis(t: &IpsecTranslation) -> impl Iterator<Item = u32> {
    [t.c_spi_2, t.s_spi_2]
        .into_iter()
        .flat_map(|b| [b.esp, b.ah])
        .flatten()
}
