//! The fixed 28-byte ISAKMP header (RFC 2408 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Initiator                            !
//! !                            Cookie                             !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Responder                            !
//! !                            Cookie                             !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                          Message ID                           !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! !                            Length                             !
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`Header`] is a view in smoltcp's style: `new_checked` validates the length once, and the
//! accessors (and, over a mutable buffer, the setters the relay uses to rewrite cookies in place)
//! cannot panic afterwards. [`HeaderRepr`] is the owned form, parsed with nom and emitted by
//! builders.

use core::fmt;
use core::ops::Range;

use nom::number::complete::{be_u32, be_u8};

use super::codec::{fixed, patch_u32, patch_u8};
use super::error::IsakmpError;
use super::numbers::{ExchangeType, PayloadType};

/// Length of the ISAKMP header.
pub const HEADER_LEN: usize = 28;

/// The version byte IKEv1 sends: major 1, minor 0.
pub const IKEV1_VERSION: u8 = 0x10;

mod field {
    use core::ops::Range;
    pub(crate) const INITIATOR_COOKIE: Range<usize> = 0..8;
    pub(crate) const RESPONDER_COOKIE: Range<usize> = 8..16;
    pub(crate) const NEXT_PAYLOAD: usize = 16;
    pub(crate) const VERSION: usize = 17;
    pub(crate) const EXCHANGE_TYPE: usize = 18;
    pub(crate) const FLAGS: usize = 19;
    pub(crate) const MESSAGE_ID: Range<usize> = 20..24;
    pub(crate) const LENGTH: Range<usize> = 24..28;
}

/// An 8-byte ISAKMP cookie. The pair of cookies names an ISAKMP SA, and the relay indexes its
/// IKE translation table by them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cookie(pub [u8; 8]);

impl Cookie {
    /// The all-zero cookie: the responder cookie of a first message.
    pub const ZERO: Cookie = Cookie([0; 8]);

    /// Whether this is the all-zero cookie.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// The cookie's bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl From<[u8; 8]> for Cookie {
    fn from(b: [u8; 8]) -> Self {
        Cookie(b)
    }
}

/// Header flags (RFC 2408 §3.1). Unknown bits are kept, never dropped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// E: the payloads after the header are encrypted.
    pub const ENCRYPTION: Flags = Flags(0x01);
    /// C: commit, the sender wants a CONNECTED notification before using the SA.
    pub const COMMIT: Flags = Flags(0x02);
    /// A: authentication only, the payloads are authenticated but not encrypted.
    pub(crate) const AUTHENTICATION_ONLY: Flags = Flags(0x04);

    /// Whether every bit of `other` is set.
    pub(crate) fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The E flag.
    pub fn encryption(self) -> bool {
        self.contains(Flags::ENCRYPTION)
    }

    /// The C flag.
    pub fn commit(self) -> bool {
        self.contains(Flags::COMMIT)
    }

    /// The A flag.
    pub fn authentication_only(self) -> bool {
        self.contains(Flags::AUTHENTICATION_ONLY)
    }

    /// These flags with the bits of `other` set too.
    pub(crate) fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// These flags with the bits of `other` cleared.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x}", self.0)?;
        for (flag, name) in [
            (Flags::ENCRYPTION, " E"),
            (Flags::COMMIT, " C"),
            (Flags::AUTHENTICATION_ONLY, " A"),
        ] {
            if self.contains(flag) {
                f.write_str(name)?;
            }
        }
        write!(f, ")")
    }
}

/// A read (and, over a mutable buffer, write) view of an ISAKMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking it; accessors on a short buffer return zeros.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Header { buffer }
    }

    /// Wraps a buffer that holds at least the 28-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, IsakmpError> {
        let available = buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(IsakmpError::Truncated {
                what: "ISAKMP header",
                offset: 0,
                needed: HEADER_LEN,
                available,
            });
        }
        Ok(Header { buffer })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn bytes<const N: usize>(&self, range: Range<usize>) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }

    #[inline]
    fn byte(&self, pos: usize) -> u8 {
        self.buffer.as_ref().get(pos).copied().unwrap_or(0)
    }

    /// The initiator cookie.
    #[inline]
    pub fn initiator_cookie(&self) -> Cookie {
        Cookie(self.bytes(field::INITIATOR_COOKIE))
    }

    /// The responder cookie (zero in the first message of an exchange).
    #[inline]
    pub fn responder_cookie(&self) -> Cookie {
        Cookie(self.bytes(field::RESPONDER_COOKIE))
    }

    /// The type of the first payload.
    #[inline]
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.byte(field::NEXT_PAYLOAD))
    }

    /// The version byte (major in the high nibble, minor in the low).
    #[inline]
    pub fn version(&self) -> u8 {
        self.byte(field::VERSION)
    }

    /// The major version: 1 for IKEv1.
    #[inline]
    pub fn major_version(&self) -> u8 {
        self.version() >> 4
    }

    /// The minor version: 0 for IKEv1.
    pub fn minor_version(&self) -> u8 {
        self.version() & 0x0f
    }

    /// The exchange type.
    #[inline]
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.byte(field::EXCHANGE_TYPE))
    }

    /// The flags.
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.byte(field::FLAGS))
    }

    /// The message ID (zero in phase 1).
    #[inline]
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.bytes(field::MESSAGE_ID))
    }

    /// The length of the whole message, header included.
    #[inline]
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.bytes(field::LENGTH))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn put(&mut self, range: Range<usize>, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            for (d, s) in dst.iter_mut().zip(value) {
                *d = *s;
            }
        }
    }

    /// Rewrites the initiator cookie in place (the relay's translation).
    pub fn set_initiator_cookie(&mut self, cookie: Cookie) {
        self.put(field::INITIATOR_COOKIE, &cookie.0);
    }

    /// Rewrites the responder cookie in place (the relay's translation).
    pub fn set_responder_cookie(&mut self, cookie: Cookie) {
        self.put(field::RESPONDER_COOKIE, &cookie.0);
    }

    /// Sets the first payload's type.
    pub(crate) fn set_next_payload(&mut self, value: PayloadType) {
        patch_u8(self.buffer.as_mut(), field::NEXT_PAYLOAD, value.0);
    }

    /// Sets the version byte.
    pub(crate) fn set_version(&mut self, value: u8) {
        patch_u8(self.buffer.as_mut(), field::VERSION, value);
    }

    /// Sets the exchange type.
    pub(crate) fn set_exchange_type(&mut self, value: ExchangeType) {
        patch_u8(self.buffer.as_mut(), field::EXCHANGE_TYPE, value.0);
    }

    /// Sets the flags.
    pub(crate) fn set_flags(&mut self, value: Flags) {
        patch_u8(self.buffer.as_mut(), field::FLAGS, value.0);
    }

    /// Sets the message ID.
    pub(crate) fn set_message_id(&mut self, value: u32) {
        patch_u32(self.buffer.as_mut(), field::MESSAGE_ID.start, value);
    }

    /// Sets the length field.
    pub(crate) fn set_length(&mut self, value: u32) {
        patch_u32(self.buffer.as_mut(), field::LENGTH.start, value);
    }
}

/// Every field of an ISAKMP header, owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// Initiator cookie.
    pub initiator_cookie: Cookie,
    /// Responder cookie.
    pub responder_cookie: Cookie,
    /// First payload's type.
    pub next_payload: PayloadType,
    /// Version byte; [`IKEV1_VERSION`] for anything we send.
    pub version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Length of the whole message.
    pub length: u32,
}

impl HeaderRepr {
    /// Reads the header fields with nom. No semantic check: see [`super::Message::parse`].
    pub fn parse(input: &[u8]) -> Result<HeaderRepr, IsakmpError> {
        let (_, (ic, rc, np, version, exchange, flags, message_id, length)) = fixed(
            input,
            0,
            "ISAKMP header",
            HEADER_LEN,
            (
                nom::bytes::complete::take(8usize),
                nom::bytes::complete::take(8usize),
                be_u8,
                be_u8,
                be_u8,
                be_u8,
                be_u32,
                be_u32,
            ),
        )?;
        let cookie = |s: &[u8]| Cookie(<[u8; 8]>::try_from(s).unwrap_or([0; 8]));
        Ok(HeaderRepr {
            initiator_cookie: cookie(ic),
            responder_cookie: cookie(rc),
            next_payload: PayloadType(np),
            version,
            exchange_type: ExchangeType(exchange),
            flags: Flags(flags),
            message_id,
            length,
        })
    }

    /// The header as its 28 wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut h = Header::new_unchecked(&mut out[..]);
        h.set_initiator_cookie(self.initiator_cookie);
        h.set_responder_cookie(self.responder_cookie);
        h.set_next_payload(self.next_payload);
        h.set_version(self.version);
        h.set_exchange_type(self.exchange_type);
        h.set_flags(self.flags);
        h.set_message_id(self.message_id);
        h.set_length(self.length);
        out
    }

    /// Appends the header's 28 bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

impl<T: AsRef<[u8]>> From<&Header<T>> for HeaderRepr {
    fn from(h: &Header<T>) -> Self {
        HeaderRepr {
            initiator_cookie: h.initiator_cookie(),
            responder_cookie: h.responder_cookie(),
            next_payload: h.next_payload(),
            version: h.version(),
            exchange_type: h.exchange_type(),
            flags: h.flags(),
            message_id: h.message_id(),
            length: h.length(),
        }
    }
}
