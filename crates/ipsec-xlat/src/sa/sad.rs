//! Inbound SA database: find the SA a received packet belongs to by its SPI (RFC 4301
//! §4.4.2), and count packets for SPIs nobody knows.

use crate::time::Timestamp;

use hashbrown::HashMap;

use super::counters::SaCounters;
use super::error::SaError;
use super::inbound::{InboundSa, Opened};
use super::locate::locate;

/// Inbound SAs indexed by the SPI their packets carry first (AH's for a bundle).
#[derive(Default)]
pub struct InboundSad {
    by_spi: HashMap<u32, InboundSa>,
    counters: SaCounters,
}

impl InboundSad {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sa`, replacing (and returning) any SA with the same lookup SPI.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.by_spi.insert(sa.lookup_spi(), sa)
    }

    /// Removes the SA whose packets carry `spi` first.
    pub fn remove(&mut self, spi: u32) -> Option<InboundSa> {
        self.by_spi.remove(&spi)
    }

    /// The SA for `spi`.
    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.by_spi.get(&spi)
    }

    /// The SA for `spi`, mutably.
    pub fn get_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.by_spi.get_mut(&spi)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.by_spi.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_spi.is_empty()
    }

    /// Errors that happened before an SA was found ([`SaError::UnknownSpi`], malformed outer
    /// headers). Per-SA errors are in each SA's own counters.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// Finds the SA by the packet's first SPI and opens the packet with it.
    pub fn open<'a>(
        &mut self,
        packet: &'a mut [u8],
        now: Timestamp,
    ) -> Result<Opened<'a>, SaError> {
        let spi = match locate(packet) {
            Ok(loc) => loc.ah_spi(packet).or(loc.esp_spi(packet)),
            Err(e) => {
                self.counters.count(&e);
                return Err(e);
            }
        };
        match spi.and_then(|s| self.by_spi.get_mut(&s).map(|sa| (s, sa))) {
            Some((_, sa)) => sa.open(packet, now),
            None => {
                let e = SaError::UnknownSpi {
                    spi: spi.unwrap_or(0),
                };
                self.counters.count(&e);
                Err(e)
            }
        }
    }
}
