//! Where the IKE relay gets the relay SPIs it grants (c-SPI-2 and s-SPI-2, `docs/PROTOCOL.md`
//! "SPI grants"), and gives back the ones a negotiation never used.
//!
//! The IKE relay draws no SPI itself: the relay's translation table is the one place that knows
//! which relay SPIs are live or promised, so it is the one allocator (`relay::TableSpis`). An
//! SPI the IKE relay grants stays reserved there until the entry that uses it is installed (the
//! table consumes the reservation) or the IKE relay releases it.

use crate::time::Timestamp;

/// A source of fresh relay SPIs, each unique among live entries and other grants, never
/// 0–255 (RFC 4303 §2.1).
pub trait SpiAllocator {
    /// A fresh SPI, reserved from `now` until it is installed or released; `None` when no
    /// free SPI could be found (the grant is then not made and the datagram dropped).
    fn allocate(&mut self, now: Timestamp) -> Option<u32>;

    /// Gives back an SPI granted by [`SpiAllocator::allocate`] that no entry will use (its IKE
    /// session ended before a quick mode took it).
    fn release(&mut self, spi: u32);
}
