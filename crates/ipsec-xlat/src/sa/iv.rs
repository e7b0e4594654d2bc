//! Per-packet IVs for ESP: AES-GCM needs an IV that never repeats under one key (RFC 4106
//! §3.1 suggests a counter), AES-CBC one that an attacker cannot predict (RFC 3602 §2.3:
//! random). One [`IvSource`] per outbound SA gives each what it needs.

use rand_core::RngCore;

/// Where an outbound SA's IVs come from.
#[derive(Debug, Clone)]
pub struct IvSource {
    counter: Option<u64>,
    len: usize,
}

impl IvSource {
    /// IVs of `len` bytes; a counter for AEAD ciphers, random otherwise.
    pub fn new(len: usize, aead: bool) -> Self {
        Self {
            counter: aead.then_some(1),
            len: len.min(16),
        }
    }

    /// The next IV, written into `buf`; returns its bytes.
    pub(crate) fn next<'b, R: RngCore + ?Sized>(
        &mut self,
        rng: &mut R,
        buf: &'b mut [u8; 16],
    ) -> &'b [u8] {
        let iv = buf.get_mut(..self.len).unwrap_or_default();
        match &mut self.counter {
            Some(counter) => {
                let bytes = counter.to_be_bytes();
                for (dst, src) in iv.iter_mut().rev().zip(bytes.iter().rev()) {
                    *dst = *src;
                }
                *counter = counter.wrapping_add(1);
            }
            None => rng.fill_bytes(iv),
        }
        iv
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn gcm_ivs_count_and_cbc_ivs_vary() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut buf = [0u8; 16];
        let mut gcm = IvSource::new(8, true);
        assert_eq!(gcm.next(&mut rng, &mut buf), &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(gcm.next(&mut rng, &mut buf), &[0, 0, 0, 0, 0, 0, 0, 2]);
        let mut cbc = IvSource::new(16, false);
        let a = cbc.next(&mut rng, &mut buf).to_vec();
        let b = cbc.next(&mut rng, &mut buf).to_vec();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        let mut none = IvSource::new(0, false);
        assert!(none.next(&mut rng, &mut buf).is_empty());
    }
}
