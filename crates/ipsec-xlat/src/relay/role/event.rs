//! What the relay reports to its embedder: entries installed and retired, and refusals. The
//! I/O shell logs each and passes it on to whoever watches (the quickstart, tests).

use core::net::SocketAddr;

use thiserror::Error;

use crate::ike::crypto::Cookies;
use crate::ike::{IkeTranslation, IpsecTranslation};
use crate::relay::{EntryId, ExpiryCause, TableError};

/// Something the relay did that its embedder may log or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// An IKE translation entry is complete (the SGW's mm2 passed), with the ports as they are
    /// on the wire.
    IkeEntryComplete(IkeTranslation),
    /// An IKE session ended: the client deleted it, its lifetime passed, or the SGW never
    /// answered its mm1.
    IkeSessionEnded {
        /// The client.
        client: SocketAddr,
        /// Its c-side cookies.
        c_cookies: Cookies,
    },
    /// An IPsec translation entry is in the table (qm3 completed it).
    IpsecInstalled {
        /// Its name in the table.
        id: EntryId,
        /// What the IKE relay reported, with the ports as they are on the wire.
        translation: IpsecTranslation,
    },
    /// The table refused an IPsec translation entry; its relay SPIs are free again.
    IpsecRefused {
        /// What the IKE relay reported.
        translation: IpsecTranslation,
        /// Why.
        reason: Refusal,
    },
    /// The client deleted a bundle; its entry forwards for the drain period more and then
    /// leaves the table (reported as [`Self::IpsecExpired`]).
    IpsecRetired {
        /// The client.
        client: SocketAddr,
        /// The entry's name.
        id: EntryId,
    },
    /// An entry left the table by itself.
    IpsecExpired {
        /// The entry's name.
        id: EntryId,
        /// Lifetime or idleness.
        cause: ExpiryCause,
    },
}

/// Why an IPsec translation entry was not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The table holds [`super::RelaySettings::max_ipsec_entries`] entries already.
    #[error("the relay holds its maximum of {0} IPsec translation entries")]
    Limit(usize),
    /// With a wildcard c-side, no local address is known for the client (its IKE session
    /// ended before its qm3 arrived).
    #[error("no c-side address known for the client")]
    NoClientAddress,
    /// The client's tail named an SPI of 0–255 (RFC 4303 §2.1).
    #[error("SPI {0} is reserved")]
    ReservedSpi(u32),
    /// The table refused the entry.
    #[error(transparent)]
    Table(#[from] TableError),
}
