//! Small reading and writing helpers shared by the payload modules.
//!
//! Reading goes through nom; these helpers only translate nom's generic failure into our typed
//! error (which structure, at which offset) and keep offset arithmetic saturating so that no
//! network-derived value can overflow it.

use nom::error::Error as NomError;
use nom::Parser;

use super::error::IsakmpError;

/// The input type every parser here works on.
pub(crate) type Input<'a> = &'a [u8];

/// Runs `parser` over `input` (which starts at `offset` in the message) to read the fixed part
/// of `what`, which is `needed` bytes long. A short input becomes [`IsakmpError::Truncated`].
pub(crate) fn fixed<'a, O, P>(
    input: Input<'a>,
    offset: usize,
    what: &'static str,
    needed: usize,
    mut parser: P,
) -> Result<(Input<'a>, O), IsakmpError>
where
    P: Parser<Input<'a>, Output = O, Error = NomError<Input<'a>>>,
{
    parser.parse(input).map_err(|_| IsakmpError::Truncated {
        what,
        offset,
        needed,
        available: input.len(),
    })
}

/// Takes exactly `len` bytes, or reports `what` as overrunning its container.
pub(crate) fn take_len<'a>(
    input: Input<'a>,
    len: usize,
    what: &'static str,
    offset: usize,
) -> Result<(Input<'a>, Input<'a>), IsakmpError> {
    let taken: nom::IResult<Input<'a>, Input<'a>> = nom::bytes::complete::take(len).parse(input);
    match taken {
        Ok((rest, body)) => Ok((body, rest)),
        Err(_) => Err(IsakmpError::LengthOverrun {
            what,
            offset,
            length: len,
            available: input.len(),
        }),
    }
}

/// `a + b` for offsets; offsets are bounded by a datagram's length, saturating is only a guard.
pub(crate) fn at(a: usize, b: usize) -> usize {
    a.saturating_add(b)
}

/// Converts a length to the `u16` of a length field, or reports it as too long.
pub(crate) fn len_u16(what: &'static str, length: usize) -> Result<u16, IsakmpError> {
    u16::try_from(length).map_err(|_| IsakmpError::TooLong {
        what,
        length,
        maximum: usize::from(u16::MAX),
    })
}

/// Converts a count or size to a `u8` field, or reports it as too long.
pub(crate) fn len_u8(what: &'static str, length: usize) -> Result<u8, IsakmpError> {
    u8::try_from(length).map_err(|_| IsakmpError::TooLong {
        what,
        length,
        maximum: usize::from(u8::MAX),
    })
}

/// Overwrites the two bytes at `pos` with `value` (big endian); does nothing if out of range,
/// which cannot happen for positions this module recorded itself.
pub(crate) fn patch_u16(buf: &mut [u8], pos: usize, value: u16) {
    let bytes = value.to_be_bytes();
    for (dst, src) in buf.iter_mut().skip(pos).zip(bytes) {
        *dst = src;
    }
}

/// Overwrites the four bytes at `pos` with `value` (big endian); see [`patch_u16`].
pub(crate) fn patch_u32(buf: &mut [u8], pos: usize, value: u32) {
    let bytes = value.to_be_bytes();
    for (dst, src) in buf.iter_mut().skip(pos).zip(bytes) {
        *dst = src;
    }
}

/// Overwrites the byte at `pos`; see [`patch_u16`].
pub(crate) fn patch_u8(buf: &mut [u8], pos: usize, value: u8) {
    if let Some(b) = buf.get_mut(pos) {
        *b = value;
    }
}
