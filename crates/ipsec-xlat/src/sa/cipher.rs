//! ESP encryption algorithms: AES-CBC (RFC 3602), AES-GCM with a 16-byte ICV (RFC 4106) and
//! NULL (RFC 2410), keyed from IKE's KEYMAT.
//!
//! The AES key schedules (and the GHASH key) are zeroized when dropped: the `zeroize` features
//! of `aes`, `aes-gcm` and `ghash` are enabled in Cargo.toml for exactly that.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, AesGcm};
use zeroize::Zeroize;

use super::error::{ConfigError, SaError};

/// An ESP encryption algorithm as negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES in CBC mode with an explicit 16-byte IV (RFC 3602); 16, 24 or 32-byte key.
    AesCbc,
    /// AES-GCM with a 16-byte ICV and 8-byte explicit IV (RFC 4106); the key material is the AES
    /// key followed by a 4-byte salt (20, 28 or 36 bytes). Combined mode: no separate integrity.
    AesGcm16,
    /// No encryption (RFC 2410); needs a separate integrity algorithm.
    Null,
}

impl Encryption {
    /// Length of the explicit IV carried in each packet.
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesCbc => 16,
            Self::AesGcm16 => 8,
            Self::Null => 0,
        }
    }

    /// The length `payload + padding + 2` must be a multiple of: the cipher block size, and at
    /// least 4 so the ICV is 32-bit aligned (RFC 4303 §2.4).
    pub(crate) const fn alignment(self) -> usize {
        match self {
            Self::AesCbc => 16,
            Self::AesGcm16 | Self::Null => 4,
        }
    }

    /// True for combined-mode (AEAD) algorithms, which bring their own ICV.
    pub(crate) const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16)
    }
}

/// RFC 4106 salt length.
pub(crate) const GCM_SALT_LEN: usize = 4;
/// RFC 4106 ICV length for the "-16" variant.
pub(crate) const GCM_ICV_LEN: usize = 16;

type Aes192Gcm = AesGcm<Aes192, U12>;

/// A keyed encryption algorithm.
pub(crate) enum CipherKey {
    Null,
    Cbc128(Aes128),
    Cbc192(Aes192),
    Cbc256(Aes256),
    Gcm128(Box<aes_gcm::Aes128Gcm>, [u8; GCM_SALT_LEN]),
    Gcm192(Box<Aes192Gcm>, [u8; GCM_SALT_LEN]),
    Gcm256(Box<aes_gcm::Aes256Gcm>, [u8; GCM_SALT_LEN]),
}

impl Drop for CipherKey {
    fn drop(&mut self) {
        // The AES and GHASH states wipe themselves; the salt is ours to wipe.
        match self {
            Self::Gcm128(_, salt) | Self::Gcm192(_, salt) | Self::Gcm256(_, salt) => salt.zeroize(),
            _ => {}
        }
    }
}

impl CipherKey {
    pub(crate) fn new(alg: Encryption, key: &[u8]) -> Result<Self, ConfigError> {
        let bad = |expected| ConfigError::BadKeyLength {
            what: "encryption",
            found: key.len(),
            expected,
        };
        match alg {
            Encryption::Null if key.is_empty() => Ok(Self::Null),
            Encryption::Null => Err(bad("0")),
            Encryption::AesCbc => {
                let e = |_: aes::cipher::InvalidLength| bad("16, 24 or 32");
                match key.len() {
                    16 => Ok(Self::Cbc128(Aes128::new_from_slice(key).map_err(e)?)),
                    24 => Ok(Self::Cbc192(Aes192::new_from_slice(key).map_err(e)?)),
                    32 => Ok(Self::Cbc256(Aes256::new_from_slice(key).map_err(e)?)),
                    _ => Err(bad("16, 24 or 32")),
                }
            }
            Encryption::AesGcm16 => {
                let e = |_: aes::cipher::InvalidLength| bad("20, 28 or 36 (AES key + 4-byte salt)");
                let split = key
                    .len()
                    .checked_sub(GCM_SALT_LEN)
                    .ok_or(e(aes::cipher::InvalidLength))?;
                let (aes_key, salt_bytes) = key.split_at(split);
                let mut salt = [0u8; GCM_SALT_LEN];
                salt.copy_from_slice(salt_bytes);
                match aes_key.len() {
                    16 => Ok(Self::Gcm128(
                        Box::new(aes_gcm::Aes128Gcm::new_from_slice(aes_key).map_err(e)?),
                        salt,
                    )),
                    24 => Ok(Self::Gcm192(
                        Box::new(Aes192Gcm::new_from_slice(aes_key).map_err(e)?),
                        salt,
                    )),
                    32 => Ok(Self::Gcm256(
                        Box::new(aes_gcm::Aes256Gcm::new_from_slice(aes_key).map_err(e)?),
                        salt,
                    )),
                    _ => Err(e(aes::cipher::InvalidLength)),
                }
            }
        }
    }

    /// Encrypts `buf` in place. CBC and NULL return no tag; GCM authenticates `aad` too and
    /// writes its 16-byte tag into `tag`. `buf` is already padded to [`Encryption::alignment`].
    pub(crate) fn encrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), SaError> {
        match self {
            Self::Null => Ok(()),
            Self::Cbc128(k) => cbc_encrypt(k, iv, buf),
            Self::Cbc192(k) => cbc_encrypt(k, iv, buf),
            Self::Cbc256(k) => cbc_encrypt(k, iv, buf),
            Self::Gcm128(k, salt) => gcm_seal(k.as_ref(), salt, iv, aad, buf, tag),
            Self::Gcm192(k, salt) => gcm_seal(k.as_ref(), salt, iv, aad, buf, tag),
            Self::Gcm256(k, salt) => gcm_seal(k.as_ref(), salt, iv, aad, buf, tag),
        }
    }

    /// Decrypts `buf` in place. For GCM the tag is checked first and `buf` is left untouched
    /// when it does not verify ([`SaError::BadIcv`]).
    pub(crate) fn decrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), SaError> {
        match self {
            Self::Null => Ok(()),
            Self::Cbc128(k) => cbc_decrypt(k, iv, buf),
            Self::Cbc192(k) => cbc_decrypt(k, iv, buf),
            Self::Cbc256(k) => cbc_decrypt(k, iv, buf),
            Self::Gcm128(k, salt) => gcm_open(k.as_ref(), salt, iv, aad, buf, tag),
            Self::Gcm192(k, salt) => gcm_open(k.as_ref(), salt, iv, aad, buf, tag),
            Self::Gcm256(k, salt) => gcm_open(k.as_ref(), salt, iv, aad, buf, tag),
        }
    }
}

fn check_iv(iv: &[u8], expected: usize) -> Result<(), SaError> {
    if iv.len() == expected {
        Ok(())
    } else {
        Err(SaError::BadIvLength {
            found: iv.len(),
            expected,
        })
    }
}

fn check_blocks(buf: &[u8]) -> Result<(), SaError> {
    if buf.len() % 16 == 0 {
        Ok(())
    } else {
        Err(SaError::BadCiphertextLength {
            len: buf.len(),
            block: 16,
        })
    }
}

fn cbc_encrypt<C>(key: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), SaError>
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockEncrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + Clone,
{
    check_iv(iv, 16)?;
    check_blocks(buf)?;
    let len = buf.len();
    // The key schedule clone is wiped when the encryptor drops (aes `zeroize` feature).
    cbc::Encryptor::<C>::inner_iv_slice_init(key.clone(), iv)
        .map_err(|_| SaError::BadIvLength {
            found: iv.len(),
            expected: 16,
        })?
        .encrypt_padded_mut::<NoPadding>(buf, len)
        .map(|_| ())
        .map_err(|_| SaError::BadCiphertextLength { len, block: 16 })
}

fn cbc_decrypt<C>(key: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), SaError>
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockDecrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + Clone,
{
    check_iv(iv, 16)?;
    check_blocks(buf)?;
    let len = buf.len();
    cbc::Decryptor::<C>::inner_iv_slice_init(key.clone(), iv)
        .map_err(|_| SaError::BadIvLength {
            found: iv.len(),
            expected: 16,
        })?
        .decrypt_padded_mut::<NoPadding>(buf)
        .map(|_| ())
        .map_err(|_| SaError::BadCiphertextLength { len, block: 16 })
}

/// RFC 4106 §4: nonce = salt (4 bytes, from KEYMAT) || explicit IV (8 bytes, in the packet).
fn gcm_nonce(salt: &[u8; GCM_SALT_LEN], iv: &[u8]) -> Result<[u8; 12], SaError> {
    check_iv(iv, 8)?;
    let mut nonce = [0u8; 12];
    let (s, i) = nonce.split_at_mut(GCM_SALT_LEN);
    s.copy_from_slice(salt);
    i.copy_from_slice(iv);
    Ok(nonce)
}

fn gcm_seal<A: AeadInPlace<NonceSize = U12>>(
    aead: &A,
    salt: &[u8; GCM_SALT_LEN],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag_out: &mut [u8],
) -> Result<(), SaError> {
    let nonce = gcm_nonce(salt, iv)?;
    let len = buf.len();
    let tag = aead
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, buf)
        .map_err(|_| SaError::TooLarge { len })?;
    match tag_out.get_mut(..GCM_ICV_LEN) {
        Some(dst) if tag.len() == GCM_ICV_LEN => {
            dst.copy_from_slice(&tag);
            Ok(())
        }
        _ => Err(SaError::BufferTooSmall {
            needed: GCM_ICV_LEN,
            available: tag_out.len(),
        }),
    }
}

fn gcm_open<A: AeadInPlace<NonceSize = U12>>(
    aead: &A,
    salt: &[u8; GCM_SALT_LEN],
    iv: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> Result<(), SaError> {
    let nonce = gcm_nonce(salt, iv)?;
    if tag.len() != GCM_ICV_LEN {
        return Err(SaError::BadIcv);
    }
    aead.decrypt_in_place_detached(
        GenericArray::from_slice(&nonce),
        aad,
        buf,
        GenericArray::from_slice(tag),
    )
    .map_err(|_| SaError::BadIcv)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_are_checked() {
        assert!(CipherKey::new(Encryption::AesCbc, &[0; 16]).is_ok());
        assert!(CipherKey::new(Encryption::AesCbc, &[0; 32]).is_ok());
        assert!(CipherKey::new(Encryption::AesCbc, &[0; 20]).is_err());
        assert!(CipherKey::new(Encryption::AesGcm16, &[0; 20]).is_ok());
        assert!(CipherKey::new(Encryption::AesGcm16, &[0; 36]).is_ok());
        assert!(CipherKey::new(Encryption::AesGcm16, &[0; 16]).is_err());
        assert!(CipherKey::new(Encryption::AesGcm16, &[0; 3]).is_err());
        assert!(CipherKey::new(Encryption::Null, &[]).is_ok());
        assert!(CipherKey::new(Encryption::Null, &[1]).is_err());
    }

    #[test]
    fn cbc_round_trip_and_iv_check() {
        let k = CipherKey::new(Encryption::AesCbc, &[7; 16]).unwrap();
        let mut buf = [0x55u8; 32];
        k.encrypt(&[1; 16], &[], &mut buf, &mut []).unwrap();
        assert_ne!(buf, [0x55u8; 32]);
        k.decrypt(&[1; 16], &[], &mut buf, &[]).unwrap();
        assert_eq!(buf, [0x55u8; 32]);
        assert_eq!(
            k.encrypt(&[1; 8], &[], &mut buf, &mut []),
            Err(SaError::BadIvLength {
                found: 8,
                expected: 16
            })
        );
        let mut odd = [0u8; 17];
        assert!(matches!(
            k.decrypt(&[1; 16], &[], &mut odd, &[]),
            Err(SaError::BadCiphertextLength { len: 17, .. })
        ));
    }

    #[test]
    fn gcm_tag_covers_aad_and_leaves_buffer_on_failure() {
        let k = CipherKey::new(Encryption::AesGcm16, &[9; 20]).unwrap();
        let mut buf = *b"sixteen byte msg";
        let mut tag = [0u8; 16];
        k.encrypt(&[2; 8], b"aad!", &mut buf, &mut tag).unwrap();
        let sealed = buf;
        assert_eq!(
            k.decrypt(&[2; 8], b"aad?", &mut buf, &tag),
            Err(SaError::BadIcv)
        );
        assert_eq!(buf, sealed, "failed open must not decrypt");
        k.decrypt(&[2; 8], b"aad!", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"sixteen byte msg");
    }
}
