//! The tail: our data riding after an ISAKMP message, outside its length.
//!
//! An ISAKMP header states the message's length; a standard peer reads that many bytes and no
//! more. The client and the relay put their own data after it, where neither the SGW nor any
//! payload HASH sees it, and the relay strips it before forwarding: the SGW receives the exact
//! message the client built, even when that message is encrypted and the relay could not have
//! edited a payload inside it. docs/PROTOCOL.md ("Tail framing") gives the rationale in full.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      0x9A     |   'X' 0x58    |   'L' 0x4C    |   'T' 0x54    |  magic
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Version (1)  |     Type      |          Body Length          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                 Body (opaque here; protected by the IKE layer) ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A datagram carries at most one tail, which ends exactly at the end of the datagram. Inside a
//! body (once the IKE layer has removed its protection) several items are carried as a list of
//! [`TailItem`]s: type (1 byte, top bit "critical"), length (2 bytes), value.
//!
//! Offsets in [`TailError`] count from the first byte of the ISAKMP message, i.e. after any
//! RFC 3948 non-ESP marker, which the UDP encapsulation layer strips before this one; item
//! offsets count from the start of the item list.

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u8};
use nom::Parser;

use crate::wire::isakmp::{IsakmpError, Message};

/// The four bytes that open every tail.
pub const MAGIC: [u8; 4] = [0x9A, b'X', b'L', b'T'];

/// The framing version this code reads and writes.
pub(crate) const VERSION: u8 = 1;

/// Length of the tail header (magic, version, type, body length).
pub const HEADER_LEN: usize = 8;

/// The largest body a tail may carry. Planned contents (a Noise handshake message with a user
/// identification, SPIs, addresses and cookies) take a few hundred bytes; the cap bounds the
/// relay's work per datagram and keeps IKE datagrams from growing past common path MTUs.
pub const MAX_BODY_LEN: usize = 1024;

/// Length of an item header inside a body (type, length).
pub(crate) const ITEM_HEADER_LEN: usize = 3;

crate::wire::isakmp::open_number! {
    /// What a tail's body holds. The framing does not interpret it; the IKE layer that protects
    /// the body assigns the values (see docs/PROTOCOL.md).
    pub struct TailType(u8) {
        /// A Noise handshake message (mm1 from the client, mm2 from the relay).
        HANDSHAKE = 1,
        /// A Noise transport message (any later message).
        TRANSPORT = 2,
    }
}

/// What was wrong with a datagram's tail or a tail body's items, and at which offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TailError {
    /// The ISAKMP message the tail follows is malformed.
    #[error("ISAKMP message before the tail: {0}")]
    Isakmp(#[from] IsakmpError),
    /// Fewer bytes follow the ISAKMP message than a tail header needs.
    #[error(
        "truncated tail header at offset {offset}: needs {HEADER_LEN} bytes, {available} left"
    )]
    Truncated {
        /// Where the tail starts (the ISAKMP length).
        offset: usize,
        /// Bytes left.
        available: usize,
    },
    /// The bytes after the ISAKMP message do not start with [`MAGIC`]: not a tail.
    #[error(
        "bytes after the ISAKMP message at offset {offset} are not a tail (magic {found:02x?})"
    )]
    BadMagic {
        /// Where the tail starts.
        offset: usize,
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A framing version this code does not know.
    #[error("unsupported tail version {version} at offset {offset}")]
    UnsupportedVersion {
        /// Where the version byte is.
        offset: usize,
        /// Its value.
        version: u8,
    },
    /// The body length field does not match the bytes that follow the tail header.
    #[error("tail body length {declared} at offset {offset} disagrees with the {available} bytes that follow")]
    LengthMismatch {
        /// Where the length field is.
        offset: usize,
        /// The length field.
        declared: usize,
        /// Bytes after the tail header.
        available: usize,
    },
    /// A body longer than [`MAX_BODY_LEN`].
    #[error("tail body of {length} bytes at offset {offset} exceeds the maximum {MAX_BODY_LEN}")]
    TooLong {
        /// Where the tail starts.
        offset: usize,
        /// The body length.
        length: usize,
    },
    /// Joining: the message's ISAKMP length field is not its actual length, so the tail would
    /// not start where a reader looks for it.
    #[error("ISAKMP length field {declared} disagrees with the {actual}-byte message to join")]
    MessageLengthMismatch {
        /// The length field.
        declared: u32,
        /// Bytes given.
        actual: usize,
    },
    /// An item header is cut short.
    #[error(
        "truncated tail item at offset {offset}: needs {ITEM_HEADER_LEN} bytes, {available} left"
    )]
    ItemTruncated {
        /// Where the item starts in the item list.
        offset: usize,
        /// Bytes left.
        available: usize,
    },
    /// An item's length runs past the end of the list.
    #[error(
        "tail item at offset {offset} has length {length}, overrunning the {available} bytes left"
    )]
    ItemOverrun {
        /// Where the item starts in the item list.
        offset: usize,
        /// The length field.
        length: usize,
        /// Bytes left after the item header.
        available: usize,
    },
    /// An item value longer than its 16-bit length field allows.
    #[error("tail item value of {length} bytes is too long")]
    ItemTooLong {
        /// The value length.
        length: usize,
    },
}

/// A tail read from a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail<'a> {
    bytes: &'a [u8],
    tail_type: TailType,
    body: &'a [u8],
    offset: usize,
}

impl<'a> Tail<'a> {
    /// Reads the tail that fills `bytes` exactly; `offset` is where it starts in the message
    /// (the ISAKMP length), for error reports.
    pub fn parse(bytes: &'a [u8], offset: usize) -> Result<Tail<'a>, TailError> {
        let header: nom::IResult<&[u8], (&[u8], u8, u8, u16)> =
            (take(4usize), be_u8, be_u8, be_u16).parse(bytes);
        let Ok((body, (magic, version, tail_type, declared))) = header else {
            return Err(TailError::Truncated {
                offset,
                available: bytes.len(),
            });
        };
        if magic != MAGIC {
            return Err(TailError::BadMagic {
                offset,
                found: <[u8; 4]>::try_from(magic).unwrap_or_default(),
            });
        }
        if version != VERSION {
            return Err(TailError::UnsupportedVersion {
                offset: offset.saturating_add(4),
                version,
            });
        }
        let declared = usize::from(declared);
        if declared > MAX_BODY_LEN {
            return Err(TailError::TooLong {
                offset,
                length: declared,
            });
        }
        if declared != body.len() {
            return Err(TailError::LengthMismatch {
                offset: offset.saturating_add(6),
                declared,
                available: body.len(),
            });
        }
        Ok(Tail {
            bytes,
            tail_type: TailType(tail_type),
            body,
            offset,
        })
    }

    /// What the body holds.
    pub fn tail_type(&self) -> TailType {
        self.tail_type
    }

    /// The body, opaque at this layer.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The 8-byte tail header (magic, version, type, length): associated data for whatever
    /// protects the body.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.bytes.get(..HEADER_LEN).unwrap_or_default()
    }

    /// The whole tail, header and body.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where the tail starts in the datagram (after any non-ESP marker): the ISAKMP length.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// A datagram split into its ISAKMP message and its tail, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitDatagram<'a> {
    /// The ISAKMP message, exactly its own length.
    pub message: Message<'a>,
    /// The tail, when bytes follow the message.
    pub tail: Option<Tail<'a>>,
}

/// Splits an IKE datagram (non-ESP marker already stripped) into the ISAKMP message and the
/// tail after it. No bytes after the message: no tail. Bytes that are not a well-formed tail
/// are an error, never silently dropped: the relay must count and drop such a datagram rather
/// than forward something it did not understand.
pub fn split(datagram: &[u8]) -> Result<SplitDatagram<'_>, TailError> {
    let (message, rest) = Message::parse(datagram)?;
    let tail = if rest.is_empty() {
        None
    } else {
        Some(Tail::parse(rest, message.as_bytes().len())?)
    };
    Ok(SplitDatagram { message, tail })
}

/// Appends a tail of type `tail_type` carrying `body` to `out`.
pub(crate) fn write_tail(
    out: &mut Vec<u8>,
    tail_type: TailType,
    body: &[u8],
) -> Result<(), TailError> {
    let length = u16::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= MAX_BODY_LEN)
        .ok_or(TailError::TooLong {
            offset: out.len(),
            length: body.len(),
        })?;
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(tail_type.0);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// Joins an ISAKMP message and a tail into one datagram (the inverse of [`split`]). The
/// message's length field must equal its length, or a reader would look for the tail elsewhere.
pub fn join(message: &[u8], tail_type: TailType, body: &[u8]) -> Result<Vec<u8>, TailError> {
    let (parsed, rest) = Message::parse(message)?;
    if !rest.is_empty() {
        return Err(TailError::MessageLengthMismatch {
            declared: parsed.header().length(),
            actual: message.len(),
        });
    }
    let mut out = Vec::with_capacity(
        message
            .len()
            .saturating_add(HEADER_LEN)
            .saturating_add(body.len()),
    );
    out.extend_from_slice(message);
    write_tail(&mut out, tail_type, body)?;
    Ok(out)
}

/// One item of a tail body's plaintext: a type whose top bit marks it critical, and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailItem<'a> {
    item_type: u8,
    value: &'a [u8],
}

impl<'a> TailItem<'a> {
    /// The critical bit of an item type: a receiver that does not know a critical item must
    /// refuse the whole tail; it may skip an unknown item without the bit.
    pub(crate) const CRITICAL: u8 = 0x80;

    /// The item type, critical bit included.
    pub fn item_type(&self) -> u8 {
        self.item_type
    }

    /// Whether the critical bit is set.
    pub fn is_critical(&self) -> bool {
        self.item_type & Self::CRITICAL != 0
    }

    /// The value.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }
}

/// Walks an item list (a tail body's plaintext). Yields items until the list ends, or one
/// `Err` and then nothing.
#[derive(Debug, Clone)]
pub struct TailItemIter<'a> {
    rest: &'a [u8],
    offset: usize,
    done: bool,
}

/// Walks the item list `plaintext`.
pub fn items(plaintext: &[u8]) -> TailItemIter<'_> {
    TailItemIter {
        rest: plaintext,
        offset: 0,
        done: false,
    }
}

impl<'a> Iterator for TailItemIter<'a> {
    type Item = Result<TailItem<'a>, TailError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let header: nom::IResult<&[u8], (u8, u16)> = (be_u8, be_u16).parse(self.rest);
        let Ok((after, (item_type, length))) = header else {
            self.done = true;
            return Some(Err(TailError::ItemTruncated {
                offset: self.offset,
                available: self.rest.len(),
            }));
        };
        let value: nom::IResult<&[u8], &[u8]> = take(usize::from(length)).parse(after);
        let Ok((rest, value)) = value else {
            self.done = true;
            return Some(Err(TailError::ItemOverrun {
                offset: self.offset,
                length: usize::from(length),
                available: after.len(),
            }));
        };
        self.offset = self
            .offset
            .saturating_add(ITEM_HEADER_LEN)
            .saturating_add(value.len());
        self.rest = rest;
        Some(Ok(TailItem { item_type, value }))
    }
}

impl core::iter::FusedIterator for TailItemIter<'_> {}

/// Appends one item to an item list.
pub fn write_item(out: &mut Vec<u8>, item_type: u8, value: &[u8]) -> Result<(), TailError> {
    let length = u16::try_from(value.len()).map_err(|_| TailError::ItemTooLong {
        length: value.len(),
    })?;
    out.push(item_type);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}
