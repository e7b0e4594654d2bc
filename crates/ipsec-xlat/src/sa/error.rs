//! Errors of SA processing.
//!
//! [`SaError`] is flat and specific on purpose (boringtun style): every variant is a distinct
//! reason a packet was refused, so a caller can count each one and a log line says exactly what
//! happened. Construction-time mistakes (wrong key length, window size out of range) are a
//! separate [`ConfigError`], because they are bugs in configuration, not events on the wire.

use thiserror::Error;

use crate::wire::ah::AhError;
use crate::wire::ipv4::Ipv4Error;
use crate::wire::ipv6::Ipv6Error;
use crate::wire::udp::UdpError;

/// Why a packet could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SaError {
    /// The packet ended before a structure it must contain; `what` names the structure and
    /// `offset` is where it starts in the packet.
    #[error("truncated {what} at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Name of the structure that did not fit.
        what: &'static str,
        /// Offset of that structure in the packet.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A header in front of the protected data is malformed; the wire layer's error says
    /// which field at which offset.
    #[error("malformed header: {0}")]
    MalformedHeader(HeaderError),
    /// The outer header does not carry the protocol this SA expects (ESP 50, AH 51, or UDP 17
    /// for RFC 3948 encapsulation).
    #[error("outer header carries protocol {found}, expected {expected}")]
    WrongProtocol {
        /// Protocol number found.
        found: u8,
        /// Protocol number this SA needs.
        expected: u8,
    },
    /// No SA is known for this SPI.
    #[error("unknown SPI {spi:#010x}")]
    UnknownSpi {
        /// The SPI on the wire.
        spi: u32,
    },
    /// The packet's SPI differs from the SPI of the SA it was handed to.
    #[error("SPI {found:#010x} does not belong to this SA ({expected:#010x})")]
    SpiMismatch {
        /// SPI on the wire.
        found: u32,
        /// SPI of the SA.
        expected: u32,
    },
    /// AH's Payload Length field announces authentication data (ICV + alignment padding) of
    /// a length the SA's algorithm does not produce.
    #[error("AH carries {found} bytes of ICV and padding; a {icv_len}-byte ICV needs {expected}")]
    BadIcvLength {
        /// Authentication data bytes in the AH header on the wire.
        found: usize,
        /// Authentication data bytes the SA's ICV length (and the IP version) imply.
        expected: usize,
        /// ICV length of the SA's algorithm.
        icv_len: usize,
    },
    /// The integrity check value (or AES-GCM tag) did not verify.
    #[error("integrity check failed (ICV mismatch)")]
    BadIcv,
    /// The sequence number was already received (inside the replay window).
    #[error("sequence number {seq} replayed")]
    Replayed {
        /// The (extended) sequence number.
        seq: u64,
    },
    /// The sequence number lies left of the replay window.
    #[error("sequence number {seq} is older than the replay window")]
    TooOld {
        /// The (extended) sequence number.
        seq: u64,
    },
    /// Sequence number 0 is never sent (RFC 4303 §3.3.3: the first packet carries 1).
    #[error("sequence number 0 is invalid")]
    ZeroSequence,
    /// The outbound sequence counter would cycle; the SA must be rekeyed (RFC 4303 §3.3.3).
    #[error("sequence number space exhausted; SA must be rekeyed")]
    SequenceOverflow,
    /// The hard byte or time lifetime has expired; the SA can no longer be used.
    #[error("SA hard lifetime expired")]
    LifetimeExpired,
    /// The encrypted part is not a whole number of cipher blocks (or not 4-byte aligned).
    #[error("ciphertext length {len} is not a multiple of {block}")]
    BadCiphertextLength {
        /// Length of the ciphertext.
        len: usize,
        /// Required block multiple.
        block: usize,
    },
    /// The ESP padding is not the default 1, 2, 3, ... sequence, or Pad Length overruns the
    /// payload.
    #[error("bad ESP padding (pad length {pad_len})")]
    BadPadding {
        /// The Pad Length byte.
        pad_len: u8,
    },
    /// The ESP/AH Next Header does not fit the SA's mode (tunnel mode carries 4 or 41; 59 is a
    /// dummy packet).
    #[error("next header {found} not acceptable here")]
    UnexpectedNextHeader {
        /// The Next Header value.
        found: u8,
    },
    /// The IV given for sealing has the wrong length for the cipher.
    #[error("IV length {found} but the cipher needs {expected}")]
    BadIvLength {
        /// Given length.
        found: usize,
        /// Needed length.
        expected: usize,
    },
    /// The packet to protect is not an IP packet this SA can carry.
    #[error("payload is not a valid IP packet: {reason}")]
    BadPayload {
        /// What was wrong.
        reason: &'static str,
    },
    /// The sealed packet would exceed the 65535-byte IP length limit.
    #[error("packet too large: {len} bytes")]
    TooLarge {
        /// Length it would have had.
        len: usize,
    },
    /// The caller's output buffer cannot hold the result.
    #[error("output buffer too small: need {needed}, have {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The ICV translation cannot map this packet (address family or encapsulation differ in a
    /// way this side cannot reproduce).
    #[error("translation not possible: {reason}")]
    Untranslatable {
        /// Why.
        reason: &'static str,
    },
}

/// A wire-layer error met while locating ESP/AH in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// Outer IPv4 header.
    #[error(transparent)]
    Ipv4(Ipv4Error),
    /// Outer IPv6 header or extension headers.
    #[error(transparent)]
    Ipv6(Ipv6Error),
    /// RFC 3948 UDP header.
    #[error(transparent)]
    Udp(UdpError),
    /// AH header.
    #[error(transparent)]
    Ah(AhError),
    /// The first byte is neither IPv4 nor IPv6.
    #[error("IP version nibble at offset 0 is {0}, neither 4 nor 6")]
    IpVersion(u8),
    /// The packet is an IPv4 or IPv6 fragment; ESP/AH need the reassembled packet.
    #[error("IP fragment (offset {offset}); reassemble before IPsec processing")]
    Fragment {
        /// Offset of the IPv4 flags or the IPv6 Fragment header.
        offset: usize,
    },
}

impl From<Ipv4Error> for SaError {
    fn from(e: Ipv4Error) -> Self {
        match e {
            Ipv4Error::Truncated {
                offset,
                needed,
                available,
            } => Self::Truncated {
                what: "IPv4 header",
                offset,
                needed,
                available,
            },
            Ipv4Error::TotalLenExceedsBuffer {
                total_len,
                available,
            } => Self::Truncated {
                what: "IPv4 packet",
                offset: 0,
                needed: usize::from(total_len),
                available,
            },
            other => Self::MalformedHeader(HeaderError::Ipv4(other)),
        }
    }
}

impl From<Ipv6Error> for SaError {
    fn from(e: Ipv6Error) -> Self {
        match e {
            Ipv6Error::Truncated {
                offset,
                needed,
                available,
            } => Self::Truncated {
                what: "IPv6 header",
                offset,
                needed,
                available,
            },
            Ipv6Error::PayloadLenExceedsBuffer {
                payload_len,
                available,
            } => Self::Truncated {
                what: "IPv6 packet",
                offset: crate::wire::ipv6::HEADER_LEN,
                needed: usize::from(payload_len),
                available,
            },
            other => Self::MalformedHeader(HeaderError::Ipv6(other)),
        }
    }
}

impl From<UdpError> for SaError {
    fn from(e: UdpError) -> Self {
        match e {
            UdpError::Truncated {
                offset,
                needed,
                available,
            } => Self::Truncated {
                what: "UDP header",
                offset,
                needed,
                available,
            },
            UdpError::LengthExceedsBuffer { len, available } => Self::Truncated {
                what: "UDP datagram",
                offset: 0,
                needed: usize::from(len),
                available,
            },
            other => Self::MalformedHeader(HeaderError::Udp(other)),
        }
    }
}

impl From<AhError> for SaError {
    fn from(e: AhError) -> Self {
        match e {
            AhError::Truncated {
                offset,
                needed,
                available,
            } => Self::Truncated {
                what: "AH header",
                offset,
                needed,
                available,
            },
            AhError::IcvLenMismatch {
                header_len,
                icv_len,
                expected,
            } => Self::BadIcvLength {
                found: header_len.saturating_sub(crate::wire::ah::FIXED_LEN),
                expected: expected.saturating_sub(crate::wire::ah::FIXED_LEN),
                icv_len,
            },
            AhError::Ipv4(e) => e.into(),
            AhError::Ipv6(e) => e.into(),
            AhError::Fragmented { offset } => {
                Self::MalformedHeader(HeaderError::Fragment { offset })
            }
            other => Self::MalformedHeader(HeaderError::Ah(other)),
        }
    }
}

/// Why an SA could not be built from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A key has the wrong length for its algorithm.
    #[error("{what} key is {found} bytes, algorithm needs {expected}")]
    BadKeyLength {
        /// Which key.
        what: &'static str,
        /// Given length.
        found: usize,
        /// Accepted length(s), as text.
        expected: &'static str,
    },
    /// The replay window must hold 32 to 4096 packets.
    #[error("replay window of {0} packets outside 32..=4096")]
    BadReplayWindow(u32),
    /// SPI values 0..=255 are reserved (RFC 4303 §2.1).
    #[error("SPI {0:#x} is reserved")]
    ReservedSpi(u32),
    /// The combination of algorithms, protocols or mode is not supported.
    #[error("unsupported configuration: {0}")]
    Unsupported(&'static str),
}
