//! The storage seam: what any keeper of translation entries must offer.
//!
//! The relay's packet path always reads the concrete in-memory [`Table`]; a trait object or a
//! network round trip there would cost more than the whole rewrite. Entries are *created,
//! moved and removed* far less often (once per quick mode, per client move, per rekey), and
//! those control-plane operations go through [`EntryStore`], so that later:
//!
//! - a relay can restart without losing sessions: on start it reloads every entry of a durable
//!   store into its table ([`Table::restore_from`]);
//! - a fleet of relays can share one table through a store it already runs (a key-value or SQL
//!   database). The store is the authority: an entry is written there first, and the store's
//!   `insert` must fail if another node already holds one of the relay SPIs, which makes SPI
//!   uniqueness fleet-wide (a conditional put). Each node then installs the entry in its own
//!   table for the packet path.
//!
//! Keys are [`EntryId`]s (a relay SPI, stable across restarts); times are [`Timestamp`]s on a
//! clock all nodes share (Unix milliseconds in a fleet). Per-packet activity (last seen,
//! counters) is node-local and not part of the stored record.
//!
//! The trait is synchronous: an implementation backed by a remote store does its I/O in the
//! shell, outside this sans-IO core, and may batch or cache as it sees fit.

use super::entry::{Entry, EntryId, LegPath};
use super::spi::Spi;
use super::table::{Table, TableError};
use crate::net::Leg;
use crate::time::Timestamp;

/// A keeper of translation entries.
pub trait EntryStore {
    /// What can go wrong: the entry is refused, or the store is unreachable.
    type Error;

    /// Stores a new entry. Fails if any of its relay SPIs belongs to a stored entry.
    fn insert(&mut self, entry: Entry, now: Timestamp) -> Result<EntryId, Self::Error>;

    /// The stored entry named `id`, if any.
    fn get(&self, id: EntryId) -> Result<Option<Entry>, Self::Error>;

    /// Moves one leg of entry `id` (mobility of the client).
    fn update_path(&mut self, id: EntryId, leg: Leg, path: LegPath) -> Result<(), Self::Error>;

    /// Removes entry `id`, returning it if it was stored.
    fn remove(&mut self, id: EntryId) -> Result<Option<Entry>, Self::Error>;

    /// Whether `spi` is a relay SPI of a stored entry (or otherwise not free to hand out).
    fn spi_taken(&self, spi: Spi) -> Result<bool, Self::Error>;

    /// Calls `visit` with every stored entry (for reloading after a restart).
    fn for_each(&self, visit: &mut dyn FnMut(&Entry)) -> Result<(), Self::Error>;
}

impl EntryStore for Table {
    type Error = TableError;

    fn insert(&mut self, entry: Entry, now: Timestamp) -> Result<EntryId, TableError> {
        Table::insert(self, entry, now)
    }

    fn get(&self, id: EntryId) -> Result<Option<Entry>, TableError> {
        Ok(Table::get(self, id))
    }

    fn update_path(&mut self, id: EntryId, leg: Leg, path: LegPath) -> Result<(), TableError> {
        Table::update_path(self, id, leg, path)
    }

    fn remove(&mut self, id: EntryId) -> Result<Option<Entry>, TableError> {
        Ok(Table::remove(self, id))
    }

    fn spi_taken(&self, spi: Spi) -> Result<bool, TableError> {
        Ok(Table::spi_taken(self, spi))
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Entry)) -> Result<(), TableError> {
        self.iter().for_each(|(_, entry, _)| visit(&entry));
        Ok(())
    }
}

/// Why [`Table::restore_from`] stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError<E> {
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(E),
    /// An entry of the store does not fit the table (invalid, or an SPI already live here).
    #[error("a stored entry was refused: {0}")]
    Table(TableError),
}

impl Table {
    /// Installs every entry of `store` (after a restart, or when a fleet node joins), each with
    /// its idle clock starting at `now`. Returns how many were installed.
    pub fn restore_from<S: EntryStore + ?Sized>(
        &mut self,
        store: &S,
        now: Timestamp,
    ) -> Result<usize, RestoreError<S::Error>> {
        let mut installed = 0usize;
        let mut refused = None;
        store
            .for_each(&mut |entry| {
                if refused.is_some() {
                    return;
                }
                match self.insert(*entry, now) {
                    Ok(_) => installed = installed.saturating_add(1),
                    Err(error) => refused = Some(error),
                }
            })
            .map_err(RestoreError::Store)?;
        match refused {
            Some(error) => Err(RestoreError::Table(error)),
            None => Ok(installed),
        }
    }
}
