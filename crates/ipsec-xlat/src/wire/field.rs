//! Big-endian field access that cannot panic.
//!
//! Views validate their buffer length once in `new_checked`; afterwards their accessors read
//! fixed offsets through these helpers. Should a view ever be built with `new_unchecked` over a
//! short buffer, a read yields zero and a write is dropped instead of panicking: a wrong value
//! is a bug we can test for, a panic on network input is a denial of service.

pub(crate) fn u8_at(buf: &[u8], off: usize) -> u8 {
    buf.get(off).copied().unwrap_or(0)
}

pub(crate) fn u16_at(buf: &[u8], off: usize) -> u16 {
    match buf.get(off..off.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

pub(crate) fn u32_at(buf: &[u8], off: usize) -> u32 {
    match buf.get(off..off.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

pub(crate) fn array_at<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(off..off.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

pub(crate) fn set_u8(buf: &mut [u8], off: usize, value: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = value;
    }
}

pub(crate) fn set_bytes(buf: &mut [u8], off: usize, value: &[u8]) {
    if let Some(dst) = buf.get_mut(off..off.saturating_add(value.len())) {
        dst.copy_from_slice(value);
    }
}

pub(crate) fn set_u16(buf: &mut [u8], off: usize, value: u16) {
    set_bytes(buf, off, &value.to_be_bytes());
}

pub(crate) fn set_u32(buf: &mut [u8], off: usize, value: u32) {
    set_bytes(buf, off, &value.to_be_bytes());
}

/// `buf[from..to]`, or an empty slice if the range does not fit.
pub(crate) fn slice(buf: &[u8], from: usize, to: usize) -> &[u8] {
    buf.get(from..to).unwrap_or(&[])
}

/// `&mut buf[from..to]`, or an empty slice if the range does not fit.
pub(crate) fn slice_mut(buf: &mut [u8], from: usize, to: usize) -> &mut [u8] {
    buf.get_mut(from..to).unwrap_or(&mut [])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_big_endian_and_total() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(u16_at(&b, 1), 0x0203);
        assert_eq!(u32_at(&b, 1), 0x0203_0405);
        assert_eq!(u32_at(&b, 2), 0);
        assert_eq!(u8_at(&b, 9), 0);
        assert_eq!(u16_at(&b, usize::MAX), 0);
        assert_eq!(array_at::<2>(&b, 3), [4, 5]);
        assert_eq!(slice(&b, 4, 9), &[] as &[u8]);
    }

    #[test]
    fn writes_out_of_range_are_dropped() {
        let mut b = [0u8; 3];
        set_u32(&mut b, 0, 0xdead_beef);
        assert_eq!(b, [0, 0, 0]);
        set_u16(&mut b, 1, 0xbeef);
        assert_eq!(b, [0, 0xbe, 0xef]);
    }
}
