//! Per-SA counters: one per success path and one per [`SaError`] variant that can happen to a
//! packet, so an operator can tell "replays" from "forgeries" from "truncated junk".

use super::error::SaError;

/// Counters of one SA (or of an SA database, for [`SaError::UnknownSpi`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets sealed or opened successfully.
    pub packets: u64,
    /// Plaintext bytes of those packets.
    pub bytes: u64,
    /// Dummy packets (Next Header 59, RFC 4303 §2.6) received and discarded.
    pub dummy: u64,
    /// [`SaError::Truncated`], [`SaError::BadCiphertextLength`].
    pub truncated: u64,
    /// [`SaError::MalformedHeader`].
    pub malformed: u64,
    /// [`SaError::WrongProtocol`], [`SaError::SpiMismatch`].
    pub misdirected: u64,
    /// [`SaError::UnknownSpi`].
    pub unknown_spi: u64,
    /// [`SaError::BadIcvLength`].
    pub bad_icv_length: u64,
    /// [`SaError::BadIcv`].
    pub bad_icv: u64,
    /// [`SaError::Replayed`].
    pub replayed: u64,
    /// [`SaError::TooOld`].
    pub too_old: u64,
    /// [`SaError::ZeroSequence`].
    pub zero_sequence: u64,
    /// [`SaError::SequenceOverflow`].
    pub sequence_overflow: u64,
    /// [`SaError::LifetimeExpired`].
    pub expired: u64,
    /// [`SaError::BadPadding`].
    pub bad_padding: u64,
    /// [`SaError::UnexpectedNextHeader`], [`SaError::BadPayload`].
    pub bad_payload: u64,
    /// Errors of the caller's making: buffer too small, bad IV length, too large, untranslatable.
    pub local_errors: u64,
}

impl SaCounters {
    /// Counts `err` in its counter.
    pub fn count(&mut self, err: &SaError) {
        let c = match err {
            SaError::Truncated { .. } | SaError::BadCiphertextLength { .. } => &mut self.truncated,
            SaError::MalformedHeader(_) => &mut self.malformed,
            SaError::WrongProtocol { .. } | SaError::SpiMismatch { .. } => &mut self.misdirected,
            SaError::UnknownSpi { .. } => &mut self.unknown_spi,
            SaError::BadIcvLength { .. } => &mut self.bad_icv_length,
            SaError::BadIcv => &mut self.bad_icv,
            SaError::Replayed { .. } => &mut self.replayed,
            SaError::TooOld { .. } => &mut self.too_old,
            SaError::ZeroSequence => &mut self.zero_sequence,
            SaError::SequenceOverflow => &mut self.sequence_overflow,
            SaError::LifetimeExpired => &mut self.expired,
            SaError::BadPadding { .. } => &mut self.bad_padding,
            SaError::UnexpectedNextHeader { .. } | SaError::BadPayload { .. } => {
                &mut self.bad_payload
            }
            SaError::BadIvLength { .. }
            | SaError::TooLarge { .. }
            | SaError::BufferTooSmall { .. }
            | SaError::Untranslatable { .. } => &mut self.local_errors,
        };
        *c = c.saturating_add(1);
    }

    /// Counts one successful packet of `bytes` plaintext bytes.
    pub(crate) fn count_ok(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    /// Total packets refused for any reason.
    pub fn errors(&self) -> u64 {
        [
            self.truncated,
            self.malformed,
            self.misdirected,
            self.unknown_spi,
            self.bad_icv_length,
            self.bad_icv,
            self.replayed,
            self.too_old,
            self.zero_sequence,
            self.sequence_overflow,
            self.expired,
            self.bad_padding,
            self.bad_payload,
            self.local_errors,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}
