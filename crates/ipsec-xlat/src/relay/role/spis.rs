//! The translation table as the IKE relay's SPI allocator: one source of relay SPIs, so an SPI
//! granted in a negotiation can never collide with a live entry or another grant.

use core::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::ike::SpiAllocator;
use crate::relay::{Spi, Table, TableConfig};
use crate::time::Timestamp;

/// How long a grant stays reserved in the table: until its entry is installed or the IKE
/// relay releases it (its session ended), never lapsing by itself, because a grant may wait
/// hours for the next rekey (`docs/PROTOCOL.md`, "SPI grants").
pub(super) const GRANT_HOLD: Duration = Duration::MAX;

/// The table configuration under which grants are held by [`GRANT_HOLD`].
pub(super) fn grant_table_config() -> TableConfig {
    TableConfig {
        reservation_hold: GRANT_HOLD,
        ..TableConfig::default()
    }
}

/// [`Table::allocate_spi`] and `Table::release_spi` behind the IKE relay's
/// [`SpiAllocator`]: each grant is a table reservation, consumed when its entry is installed.
pub struct TableSpis<'a> {
    table: &'a mut Table,
    rng: &'a mut dyn RngCore,
}

impl<'a> TableSpis<'a> {
    /// Grants from `table`, drawn with `rng`.
    pub fn new(table: &'a mut Table, rng: &'a mut dyn RngCore) -> Self {
        Self { table, rng }
    }
}

impl core::fmt::Debug for TableSpis<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TableSpis")
            .field("reserved", &self.table.reserved_spis())
            .finish_non_exhaustive()
    }
}

impl SpiAllocator for TableSpis<'_> {
    fn allocate(&mut self, now: Timestamp) -> Option<u32> {
        self.table.allocate_spi(self.rng, now).ok().map(Spi::get)
    }

    fn release(&mut self, spi: u32) {
        if let Some(spi) = Spi::new(spi) {
            self.table.release_spi(spi);
        }
    }
}

/// A table of its own as the SPI allocator, for an IKE relay run without a datapath (tests,
/// the interoperability lab): grants are drawn and released exactly as in a [`super::Relay`].
#[derive(Debug)]
pub struct StandaloneSpis {
    table: Table,
    rng: ChaCha20Rng,
}

impl StandaloneSpis {
    /// An empty table whose draws are seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            table: Table::new(grant_table_config()),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// The table holding the grants.
    pub fn table(&self) -> &Table {
        &self.table
    }
}

impl SpiAllocator for StandaloneSpis {
    fn allocate(&mut self, now: Timestamp) -> Option<u32> {
        TableSpis::new(&mut self.table, &mut self.rng).allocate(now)
    }

    fn release(&mut self, spi: u32) {
        TableSpis::new(&mut self.table, &mut self.rng).release(spi);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_a_table_reservation_until_released() {
        let mut table = Table::new(TableConfig::default());
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let now = Timestamp::from_millis(1);
        let mut spis = TableSpis::new(&mut table, &mut rng);
        let a = spis.allocate(now).unwrap();
        let b = spis.allocate(now).unwrap();
        assert_ne!(a, b);
        assert!(a >= 256 && b >= 256);
        spis.release(a);
        assert!(!table.is_reserved(Spi::new(a).unwrap()));
        assert!(table.is_reserved(Spi::new(b).unwrap()));
        assert_eq!(table.reserved_spis(), 1);
    }

    /// A grant waits for the next rekey, however late: only installing or releasing ends it.
    #[test]
    fn a_grant_does_not_lapse() {
        let mut table = Table::new(grant_table_config());
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let spi = TableSpis::new(&mut table, &mut rng)
            .allocate(Timestamp::ZERO)
            .unwrap();
        let much_later = Timestamp::ZERO.saturating_add(Duration::from_secs(10 * 365 * 86_400));
        assert!(table.pop_expired(much_later).is_none());
        assert!(table.is_reserved(Spi::new(spi).unwrap()));
    }
}
