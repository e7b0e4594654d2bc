//! The relay: translation tables and the per-packet rewrite. It holds no keys.
//!
//! A relay sits between a client and an unmodified SGW. For each SA bundle it keeps an
//! [`Entry`] with a client-leg and a gateway-leg [`Partition`] (the seed's c-side and s-side);
//! a packet arriving on one leg is found by its outermost SPI and leaves by the other leg with
//! that leg's SPI(s) and outer header. The sequence number and every byte after it are never
//! touched, so every integrity check the client computed over the values the SGW sees holds.
//! A packet the table cannot place is dropped and counted, never sent anywhere.
//!
//! - [`Table`]: the in-memory table (one open-addressing SPI index, O(1) lookup; per entry one
//!   cache line per leg holding all a packet arriving there needs, a small cold record, and
//!   the whole entry aside only for AH or IPv6; no allocation per packet), SPI allocation with
//!   reservations, expiry. About 202 bytes per IPv4 ESP entry at a million entries (see
//!   `tests/relay_memory.rs` and the relay bench).
//! - [`Relay`]: the relay role, owning the IKE relay and the datapath, as one
//!   [`Endpoint`](crate::Endpoint).
//! - [`EntryStore`]: the seam for durable or fleet-shared storage of entries.
//! - [`Datapath`]: the rewrite, in place ([`Datapath::rewrite_in_place`]), into a caller's buffer
//!   ([`Datapath::rewrite`]) or for a `recvmmsg` batch ([`Datapath::rewrite_batch`]), returning an
//!   [`Action`] (or a [`Verdict`] per packet) and counting every drop by [`DropReason`].
//!   UDP-encapsulated IPv4 ESP of a compact entry takes a fast path (`fast`) that reads the
//!   index bucket and one line; everything else, drops included, the general path.
//!
//! # What travels on the client leg
//!
//! The gateway leg carries standard IPsec; the client leg is ours, and this is its contract.
//!
//! **ESP.** Exactly the packet the SGW sees, with each SPI replaced: the client sends with
//! c-SPI-2 (the relay's client-leg SPI) and receives with c-SPI-1 (its own). The client
//! seals with s-SPI-3 and writes c-SPI-2 afterwards; it restores s-SPI-2 before verifying
//! what it receives. ESP's ICV covers nothing of the outer header.
//!
//! **AH.** AH's ICV covers the immutable fields of the outer IP header (RFC 4302 App. A),
//! which on the gateway leg the relay writes. So everything in that header must follow from
//! the entry and the packet, and it does — except one field, which the client leg carries:
//!
//! - Gateway-leg IPv4 header: version 4, IHL 5 (never options), Total Length = 20 + the
//!   length from AH to the end, Identification (below), Protocol 51, addresses s-addr-2 /
//!   s-addr-3 in the direction of travel. TOS, flags, fragment offset, TTL and checksum are
//!   mutable and zeroed in the ICV computation; the relay copies TOS and DF from a client-leg
//!   IPv4 header when there is one, writes its own TTL, and sets DF when Identification is 0
//!   (Linux replaces an Identification of 0 with a random value when DF is clear).
//! - Gateway-leg IPv6 header: payload length = the length from AH to the end, Next Header 51,
//!   no extension headers, the two addresses. Traffic class, flow label and hop limit are
//!   mutable. Nothing needs carrying.
//! - **Identification** (gateway leg IPv4 only) crosses the client leg in both directions:
//!   - when the client leg is raw IPv4, in the client-leg packet's own IPv4 header, whose
//!     Total Length is then the gateway leg's too; AH's Reserved stays 0;
//!   - otherwise (a client leg of IPv6, or of UDP), in **AH's Reserved field**. Reserved is
//!     16 bits like Identification and sits before the SPI, so the bytes after SPI and
//!     sequence number still never change.
//!
//!   Client → relay: the Identification the client used when it computed the ICV over the
//!   gateway-leg header; the relay writes it into the header it sends (and 0 into Reserved).
//!   SGW → relay → client: the SGW's Identification, in the client-leg header or in Reserved;
//!   the client puts it into the header it rebuilds (and 0 into Reserved) before verifying.
//!   The relay drops AH from the SGW with a nonzero Reserved
//!   ([`DropReason::AhReservedNonZero`]): RFC 4302 says send zero, and the client could not
//!   tell it from a carried Identification.
//! - SPIs as for ESP; in an AH+ESP bundle (`IP | AH | ESP`) both AH's and the inner ESP's.
//! - The client builds AH for the gateway leg's IP version (64-bit alignment under IPv6) even
//!   when its own leg differs; the relay does not check alignment.
//! - The client needs s-addr-2 and s-addr-3 to build and rebuild the header; the IKE relay
//!   hands them over with the s-side cookies.
//!
//! **UDP on the client leg.** ESP as RFC 3948; AH preceded by
//! [`AH_IN_UDP_MARKER`](crate::wire::encap::AH_IN_UDP_MARKER). Toward the
//! SGW, AH always travels as IP protocol 51 (RFC 3948 encapsulates ESP only).
mod action;
mod arrival;
mod batch;
mod counters;
mod decide;
mod entry;
mod expiry;
mod fast;
mod index;
mod rewrite;
mod role;
mod spi;
pub(crate) mod store;
pub mod table;

pub use action::{Action, Framing, Outgoing};
pub use arrival::Arrival;
pub use batch::{BatchPacket, Verdict};
pub use counters::{Counters, DropReason};
pub use entry::{Entry, EntryError, EntryId, LegPath, LegTransport, Partition};
pub use rewrite::{Datapath, DatapathConfig, HEADROOM};
pub use role::{
    KeptPorts, Refusal, Relay, RelayCounters, RelayEvent, RelayReload, RelaySettings,
    RelaySnapshot, ReloadApplied, StandaloneSpis, TableSpis,
};
pub use spi::{BundleShape, IpsecProtocol, Spi, SpiSet, FIRST_USABLE_SPI};
pub use store::{EntryStore, RestoreError};
pub use table::{
    Activity, Expired, ExpiryCause, MemoryUsage, Table, TableConfig, TableError, Traffic,
};
