//! The one error type of the ISAKMP format family.
//!
//! Every variant says what was wrong and where. Offsets count bytes from the start of the ISAKMP
//! message (after any non-ESP marker); for a decrypted body they count as if the plaintext sat
//! where the ciphertext did, i.e. the first plaintext byte is at offset 28.

use super::numbers::{IdType, PayloadType};

/// What was wrong with an ISAKMP message, and at which offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsakmpError {
    /// Fewer bytes remain than the fixed part of a structure needs.
    #[error("truncated {what} at offset {offset}: needs {needed} bytes, {available} left")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes its fixed part needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The header's length field is below the 28-byte header itself.
    #[error("ISAKMP length {declared} (offset 24) is below the 28-byte header")]
    MessageLengthTooSmall {
        /// The length field.
        declared: u32,
    },
    /// The header's length field claims more bytes than the datagram holds.
    #[error("ISAKMP length {declared} (offset 24) exceeds the {available} bytes received")]
    MessageTruncated {
        /// The length field.
        declared: u32,
        /// Bytes received.
        available: usize,
    },
    /// The major version is not 1; IKEv2 (major 2) lands here.
    #[error("unsupported ISAKMP version {version:#04x} (offset 17); major version must be 1")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The payloads of a message with the E flag were asked for without decrypting first.
    #[error("message body is encrypted (E flag, offset 19); decrypt it and parse the plaintext")]
    Encrypted,
    /// A length field is smaller than the structure's own fixed part. For a payload this is the
    /// only way a chain could loop (a zero length would never advance), so it is refused here.
    #[error("{what} at offset {offset} has length {length}, below its minimum {minimum}")]
    LengthTooSmall {
        /// The structure.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Its length field.
        length: usize,
        /// The smallest valid length.
        minimum: usize,
    },
    /// A length field runs past the end of what encloses it.
    #[error(
        "{what} at offset {offset} has length {length}, overrunning the {available} bytes left"
    )]
    LengthOverrun {
        /// The structure.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Its length field.
        length: usize,
        /// Bytes left in the enclosing structure.
        available: usize,
    },
    /// Bytes follow the last element of a chain whose end must coincide with its container's.
    #[error("{len} unexpected bytes after the last {what} at offset {offset}")]
    TrailingData {
        /// The chain.
        what: &'static str,
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        len: usize,
    },
    /// A chain announced another element but its container ended.
    #[error("{what} chain announces another element at offset {offset} but its container ended")]
    MissingNext {
        /// The chain.
        what: &'static str,
        /// Where the next element should start.
        offset: usize,
    },
    /// A proposal's or transform's next-payload field is neither 0 nor its own type.
    #[error("{what} at offset {offset} has next payload {value}, expected 0 or {expected}")]
    BadNextPayload {
        /// The structure.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// The field's value.
        value: u8,
        /// The only non-zero value allowed.
        expected: u8,
    },
    /// A proposal's transform count disagrees with the transforms it holds.
    #[error("proposal at offset {offset} declares {declared} transforms but holds {found}")]
    TransformCountMismatch {
        /// Where the proposal starts.
        offset: usize,
        /// The count field.
        declared: u8,
        /// Transforms actually found.
        found: usize,
    },
    /// The SA's DOI is not the IPsec DOI, so its situation has no known length.
    #[error("SA at offset {offset} has unsupported DOI {doi}")]
    UnsupportedDoi {
        /// Where the DOI field is.
        offset: usize,
        /// Its value.
        doi: u32,
    },
    /// The SA's situation asks for secrecy or integrity labels, which nobody implements.
    #[error("SA situation {situation:#010x} at offset {offset} is unsupported")]
    UnsupportedSituation {
        /// Where the situation field is.
        offset: usize,
        /// Its value.
        situation: u32,
    },
    /// A delete payload's SPI size times its count does not fill its body exactly.
    #[error("delete payload at offset {offset}: {count} SPIs of {spi_size} bytes do not fill {available} bytes")]
    SpiCountMismatch {
        /// Where the SPI list starts.
        offset: usize,
        /// SPI size field.
        spi_size: u8,
        /// SPI count field.
        count: u16,
        /// Bytes that follow.
        available: usize,
    },
    /// Identification data whose length does not fit its type (an IPv4 address is 4 bytes...).
    #[error("{what} at offset {offset}: {length} data bytes do not fit type {id_type}")]
    BadIdentification {
        /// The payload.
        what: &'static str,
        /// Where its data starts.
        offset: usize,
        /// The identification type.
        id_type: IdType,
        /// Data length.
        length: usize,
    },
    /// A payload type that may only appear nested (proposal, transform) appeared in the chain.
    #[error("payload type {payload_type} at offset {offset} may not appear in a message chain")]
    MisplacedPayload {
        /// Where the payload starts.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
    },
    /// An unknown payload type whose critical bit is set.
    #[error("unknown payload type {payload_type} marked critical at offset {offset}")]
    UnknownCriticalPayload {
        /// Where the payload starts.
        offset: usize,
        /// Its type.
        payload_type: PayloadType,
    },
    /// Something to be written does not fit its length field.
    #[error("{what} of {length} bytes exceeds the maximum {maximum}")]
    TooLong {
        /// The structure.
        what: &'static str,
        /// Its length.
        length: usize,
        /// The maximum its length field allows.
        maximum: usize,
    },
    /// A value to be written is inconsistent with another (an SPI of the wrong size...).
    #[error("cannot write {what}: {reason}")]
    Inconsistent {
        /// The structure.
        what: &'static str,
        /// What disagrees.
        reason: &'static str,
    },
}
