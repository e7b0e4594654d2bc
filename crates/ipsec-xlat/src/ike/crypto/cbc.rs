//! AES-CBC encryption of ISAKMP message bodies (RFC 2408 section 3.1 "E" flag, RFC 2409
//! section 5.3, RFC 3602 for AES).
//!
//! Everything after the ISAKMP header is encrypted as one CBC run with the IV from
//! [`Iv`](super::iv::Iv); there is no explicit IV, no MAC and no padding-length byte.
//!
//! Padding follows strongSwan (encrypted_payload.c, `encrypt_v1`), which is what an unmodified
//! SGW sends and expects: `block - (len % block)` zero bytes, so there is always at least one
//! byte and a whole block when the plaintext is already aligned. On receive strongSwan demands
//! only a non-empty, block-aligned ciphertext and ignores whatever follows the last payload, so
//! [`IkeCipher::decrypt`] checks the same and hands back the whole plaintext: the payload chain
//! (each payload carries its length) says where the padding starts.

use aes::cipher::consts::U16;
use aes::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128, Aes192, Aes256};

use super::iv::{Iv, BLOCK_LEN};
use super::secret::SecretBytes;
use super::IkeCryptoError;

/// The phase-1 encryption algorithms we negotiate: AES-CBC (attribute value 7) with a
/// Key-Length attribute (RFC 3602, RFC 2409 App. A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IkeCipherAlgorithm {
    /// AES-CBC, 128-bit key.
    Aes128Cbc,
    /// AES-CBC, 192-bit key.
    Aes192Cbc,
    /// AES-CBC, 256-bit key.
    Aes256Cbc,
}

impl IkeCipherAlgorithm {
    /// Phase-1 "Encryption Algorithm" attribute value of AES-CBC.
    pub(crate) const IKEV1_AES_CBC: u16 = 7;

    /// Maps the "Encryption Algorithm" and "Key Length" (bits) attributes. AES requires the
    /// key length attribute (RFC 3602 section 5), so `None` is rejected too.
    pub(crate) fn from_ikev1_attributes(
        algorithm: u16,
        key_length_bits: Option<u16>,
    ) -> Option<Self> {
        match (algorithm, key_length_bits) {
            (Self::IKEV1_AES_CBC, Some(128)) => Some(Self::Aes128Cbc),
            (Self::IKEV1_AES_CBC, Some(192)) => Some(Self::Aes192Cbc),
            (Self::IKEV1_AES_CBC, Some(256)) => Some(Self::Aes256Cbc),
            _ => None,
        }
    }

    /// Key length in bytes (how much [`expand_encryption_key`](super::expand_encryption_key)
    /// must produce).
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }

    /// Key length in bits, the value of the Key Length attribute.
    pub(crate) fn key_length_bits(self) -> u16 {
        match self {
            Self::Aes128Cbc => 128,
            Self::Aes192Cbc => 192,
            Self::Aes256Cbc => 256,
        }
    }
}

/// The keyed AES block cipher. The `aes` crate's `zeroize` feature wipes the round keys when
/// this is dropped.
#[derive(Clone)]
enum KeyedAes {
    Aes128(Aes128),
    Aes192(Aes192),
    Aes256(Aes256),
}

/// An ISAKMP encryption key Ka, ready to encrypt and decrypt message bodies.
#[derive(Clone)]
pub struct IkeCipher {
    algorithm: IkeCipherAlgorithm,
    aes: KeyedAes,
}

impl core::fmt::Debug for IkeCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeCipher")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Result of encrypting or decrypting one body: the output bytes and the IV for the next
/// message of the same exchange (the last ciphertext block).
#[derive(Debug)]
pub struct CbcOutput {
    /// Ciphertext (after encryption) or plaintext including padding (after decryption).
    pub bytes: Vec<u8>,
    /// Last ciphertext block: the IV of the next message in this exchange.
    pub next_iv: Iv,
}

impl IkeCipher {
    /// Keys the cipher with Ka. Fails if `ka` is not exactly the algorithm's key length.
    pub fn new(algorithm: IkeCipherAlgorithm, ka: &SecretBytes) -> Result<Self, IkeCryptoError> {
        let key = ka.expose();
        let wrong = || IkeCryptoError::KeyLength {
            expected: algorithm.key_len(),
            actual: key.len(),
        };
        let aes = match algorithm {
            IkeCipherAlgorithm::Aes128Cbc => {
                KeyedAes::Aes128(Aes128::new_from_slice(key).map_err(|_| wrong())?)
            }
            IkeCipherAlgorithm::Aes192Cbc => {
                KeyedAes::Aes192(Aes192::new_from_slice(key).map_err(|_| wrong())?)
            }
            IkeCipherAlgorithm::Aes256Cbc => {
                KeyedAes::Aes256(Aes256::new_from_slice(key).map_err(|_| wrong())?)
            }
        };
        Ok(Self { algorithm, aes })
    }

    /// The algorithm this key is for.
    pub fn algorithm(&self) -> IkeCipherAlgorithm {
        self.algorithm
    }

    /// Number of zero bytes strongSwan appends to a `len`-byte body: `16 - len % 16`, i.e.
    /// 1..=16, never 0.
    pub(crate) fn padding_len(len: usize) -> usize {
        // `len % 16` is below 16, so this is 1..=16.
        BLOCK_LEN.saturating_sub(len % BLOCK_LEN)
    }

    /// Pads `plaintext` (the payload chain after the ISAKMP header) with zeros as strongSwan
    /// does and encrypts it in CBC mode under `iv`.
    pub fn encrypt(&self, iv: &Iv, plaintext: &[u8]) -> CbcOutput {
        let padded_len = plaintext
            .len()
            .saturating_add(Self::padding_len(plaintext.len()));
        let mut buf = vec![0u8; padded_len];
        for (dst, src) in buf.iter_mut().zip(plaintext) {
            *dst = *src;
        }
        match &self.aes {
            KeyedAes::Aes128(k) => cbc_encrypt(k, iv, &mut buf),
            KeyedAes::Aes192(k) => cbc_encrypt(k, iv, &mut buf),
            KeyedAes::Aes256(k) => cbc_encrypt(k, iv, &mut buf),
        }
        // `buf` is at least one block long: padding is never empty.
        let next_iv = Iv::after(&buf).unwrap_or(*iv);
        CbcOutput {
            bytes: buf,
            next_iv,
        }
    }

    /// Decrypts a CBC body under `iv`. The result still carries the sender's padding (see the
    /// module docs). Fails, as strongSwan does, unless the ciphertext is a non-empty multiple
    /// of the block length.
    pub fn decrypt(&self, iv: &Iv, ciphertext: &[u8]) -> Result<CbcOutput, IkeCryptoError> {
        if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
            return Err(IkeCryptoError::CiphertextLength {
                len: ciphertext.len(),
            });
        }
        let mut buf = ciphertext.to_vec();
        match &self.aes {
            KeyedAes::Aes128(k) => cbc_decrypt(k, iv, &mut buf),
            KeyedAes::Aes192(k) => cbc_decrypt(k, iv, &mut buf),
            KeyedAes::Aes256(k) => cbc_decrypt(k, iv, &mut buf),
        }
        let next_iv = Iv::after(ciphertext).unwrap_or(*iv);
        Ok(CbcOutput {
            bytes: buf,
            next_iv,
        })
    }
}

/// CBC-encrypts a block-aligned buffer in place with the `cbc` crate. Trailing bytes short of
/// a block (never present: callers pad or check) would be left untouched.
fn cbc_encrypt<C>(key: &C, iv: &Iv, buf: &mut [u8])
where
    C: BlockEncryptMut + BlockCipher<BlockSize = U16> + Clone,
{
    let mut enc = cbc::Encryptor::<C>::inner_iv_init(key.clone(), (&iv.0).into());
    for block in buf.chunks_exact_mut(BLOCK_LEN) {
        enc.encrypt_block_mut(aes::Block::from_mut_slice(block));
    }
}

/// CBC-decrypts a block-aligned buffer in place with the `cbc` crate.
fn cbc_decrypt<C>(key: &C, iv: &Iv, buf: &mut [u8])
where
    C: BlockDecryptMut + BlockCipher<BlockSize = U16> + Clone,
{
    let mut dec = cbc::Decryptor::<C>::inner_iv_init(key.clone(), (&iv.0).into());
    for block in buf.chunks_exact_mut(BLOCK_LEN) {
        dec.decrypt_block_mut(aes::Block::from_mut_slice(block));
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    /// RFC 3602 section 4, case #2: AES-128-CBC, 32 bytes. Checks our CBC chaining against
    /// an independent vector (the padding block we add is checked separately).
    #[test]
    fn rfc3602_case2() {
        let key = SecretBytes::new(hex::decode("c286696d887c9aa0611bbb3e2025a45a").unwrap());
        let iv = Iv(hex::decode("562e17996d093d28ddb3ba695a2e6f58")
            .unwrap()
            .try_into()
            .unwrap());
        let pt = hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .unwrap();
        let ct = "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1";
        let cipher = IkeCipher::new(IkeCipherAlgorithm::Aes128Cbc, &key).unwrap();
        let out = cipher.encrypt(&iv, &pt);
        assert_eq!(
            out.bytes.len(),
            48,
            "an aligned body still gets a whole block of padding"
        );
        assert_eq!(hex::encode(&out.bytes[..32]), ct);
        let back = cipher.decrypt(&iv, &out.bytes).unwrap();
        assert_eq!(&back.bytes[..32], &pt[..]);
        assert_eq!(&back.bytes[32..], &[0u8; 16]);
        assert_eq!(back.next_iv, out.next_iv);
        assert_eq!(Some(out.next_iv), Iv::after(&out.bytes));
    }

    #[test]
    fn padding_is_one_to_sixteen_zero_bytes() {
        assert_eq!(IkeCipher::padding_len(0), 16);
        assert_eq!(IkeCipher::padding_len(1), 15);
        assert_eq!(IkeCipher::padding_len(15), 1);
        assert_eq!(IkeCipher::padding_len(16), 16);
    }

    #[test]
    fn rejects_bad_lengths() {
        let key = SecretBytes::new(vec![1u8; 32]);
        assert!(matches!(
            IkeCipher::new(IkeCipherAlgorithm::Aes128Cbc, &key),
            Err(IkeCryptoError::KeyLength {
                expected: 16,
                actual: 32
            })
        ));
        let cipher = IkeCipher::new(IkeCipherAlgorithm::Aes256Cbc, &key).unwrap();
        let iv = Iv([0u8; 16]);
        assert_eq!(
            cipher.decrypt(&iv, &[0u8; 17]).unwrap_err(),
            IkeCryptoError::CiphertextLength { len: 17 }
        );
        assert_eq!(
            cipher.decrypt(&iv, &[]).unwrap_err(),
            IkeCryptoError::CiphertextLength { len: 0 }
        );
    }

    #[test]
    fn attribute_mapping() {
        assert_eq!(
            IkeCipherAlgorithm::from_ikev1_attributes(7, Some(256)),
            Some(IkeCipherAlgorithm::Aes256Cbc)
        );
        assert_eq!(IkeCipherAlgorithm::from_ikev1_attributes(7, None), None);
        assert_eq!(
            IkeCipherAlgorithm::from_ikev1_attributes(5, Some(128)),
            None
        );
    }
}
