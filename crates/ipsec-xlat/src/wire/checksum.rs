//! The Internet checksum (RFC 1071), used by the IPv4 header and UDP.
//!
//! Computed over several chunks so that pseudo-headers need not be copied next to the data.

/// Accumulates the one's-complement sum of 16-bit big-endian words over a sequence of chunks.
/// An odd-length chunk is continued by the next chunk's first byte, as if all chunks were one
/// buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checksum {
    sum: u64,
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Self {
            sum: 0,
            pending: None,
        }
    }

    /// Adds the bytes of `data`.
    pub(crate) fn add(&mut self, data: &[u8]) -> &mut Self {
        let mut rest = data;
        if let Some(hi) = self.pending.take() {
            match rest.split_first() {
                Some((lo, tail)) => {
                    self.add_word(u16::from_be_bytes([hi, *lo]));
                    rest = tail;
                }
                None => {
                    self.pending = Some(hi);
                    return self;
                }
            }
        }
        let mut words = rest.chunks_exact(2);
        for w in &mut words {
            if let &[a, b] = w {
                self.add_word(u16::from_be_bytes([a, b]));
            }
        }
        if let &[last] = words.remainder() {
            self.pending = Some(last);
        }
        self
    }

    /// Adds one 16-bit word.
    pub(crate) fn add_word(&mut self, word: u16) -> &mut Self {
        // A u64 cannot overflow from 16-bit words before 2^48 of them: far beyond any packet.
        self.sum = self.sum.wrapping_add(u64::from(word));
        self
    }

    /// The folded one's-complement sum, not yet inverted.
    pub(crate) fn sum(&self) -> u16 {
        let mut sum = self.sum;
        if let Some(hi) = self.pending {
            sum = sum.wrapping_add(u64::from(u16::from_be_bytes([hi, 0])));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff).wrapping_add(sum >> 16);
        }
        // Folding leaves at most 16 bits.
        u16::try_from(sum).unwrap_or(0xffff)
    }

    /// The checksum to put in a header field: the inverted folded sum.
    pub(crate) fn finish(&self) -> u16 {
        !self.sum()
    }
}

/// Checksum of one contiguous buffer.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add(data).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Checksum::new().add(&data).sum(), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn chunking_does_not_change_result() {
        let data: Vec<u8> = (0..=200u8).collect();
        let whole = checksum(&data);
        for split in 0..data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                Checksum::new().add(a).add(b).finish(),
                whole,
                "split {split}"
            );
        }
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0xab]), !0xab00);
    }
}
