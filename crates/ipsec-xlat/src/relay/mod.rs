//! The relay: translation tables and the per-packet rewrite. It holds no keys.
//!
//! A relay sits between a client and an unmodified SGW. For each SA bundle it keeps an
//! [`Entry`] with a client-leg and a gateway-leg [`Partition`]; a packet arriving on one leg is
//! found by its SPI and leaves by the other with the SPI(s) and outer header of that other leg.
//! The bytes after the SPI and sequence number are never touched, so every integrity check the
//! client computed over the values the SGW sees still holds.
//!
//! - [`table`]: the in-memory [`Table`] (hashbrown index, slab, expiry), SPI allocation.
//! - [`store`]: the [`EntryStore`] seam for durable or shared storage.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

mod entry;
mod expiry;
mod index;
mod spi;
pub mod store;
pub mod table;
mod time;

pub use entry::{Entry, EntryError, EntryId, Leg, Partition, Path, Transport};
pub use spi::{BundleShape, IpsecProtocol, Spi, SpiSet, FIRST_USABLE_SPI};
pub use store::{EntryStore, RestoreError};
pub use table::{
    Activity, Expired, ExpiryCause, MemoryUsage, Table, TableConfig, TableError, Traffic,
};
pub use time::Timestamp;
