//! The ESP transform (RFC 4303) over the ESP part of a packet only: SPI, sequence number, IV,
//! encrypted payload + padding + trailer, ICV. Which IP header (or UDP encapsulation) sits in
//! front is not its business; [`super::outbound`] and [`super::inbound`] handle that.
//!
//! ```text
//!  0                   1                   2                   3
//! +---------------------------------------------------------------+
//! |               Security Parameters Index (SPI)                 |  \ ICV input
//! |                    Sequence Number (low 32)                   |  | (HMAC) or
//! |              IV (CBC 16, GCM 8, NULL 0 bytes)                 |  | AAD = SPI ||
//! |  Payload ... | Padding 1,2,3... | Pad Length | Next Header    |  | [seq high] ||
//! |            [ESN: sequence number high 32, not sent]           |  / seq low (GCM)
//! |              ICV (HMAC-SHA-256-128 16, SHA1-96 12, GCM 16)    |
//! +---------------------------------------------------------------+
//! ```

use core::ops::Range;

use super::cipher::{CipherKey, Encryption, GCM_ICV_LEN};
use super::error::{ConfigError, SaError};
use super::integrity::{Integrity, IntegrityKey};
use super::keys::SecretKey;

/// SPI + sequence number.
pub(crate) const ESP_HEADER_LEN: usize = 8;
/// Pad Length + Next Header.
const TRAILER_LEN: usize = 2;

/// An ESP algorithm suite: encryption plus, unless it is combined-mode, integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspSuite {
    /// Encryption algorithm.
    pub encryption: Encryption,
    /// Integrity algorithm; `None` exactly when `encryption` is AES-GCM.
    pub integrity: Option<Integrity>,
}

impl EspSuite {
    /// ESP AES-GCM with 16-byte ICV (RFC 4106).
    pub const AES_GCM_16: Self = Self {
        encryption: Encryption::AesGcm16,
        integrity: None,
    };
    /// ESP AES-CBC with HMAC-SHA-256-128.
    pub const AES_CBC_HMAC_SHA256: Self = Self {
        encryption: Encryption::AesCbc,
        integrity: Some(Integrity::HmacSha256_128),
    };
    /// ESP AES-CBC with HMAC-SHA1-96.
    pub const AES_CBC_HMAC_SHA1: Self = Self {
        encryption: Encryption::AesCbc,
        integrity: Some(Integrity::HmacSha1_96),
    };
    /// ESP NULL encryption with HMAC-SHA-256-128.
    pub const NULL_HMAC_SHA256: Self = Self {
        encryption: Encryption::Null,
        integrity: Some(Integrity::HmacSha256_128),
    };
    /// ESP NULL encryption with HMAC-SHA1-96.
    pub const NULL_HMAC_SHA1: Self = Self {
        encryption: Encryption::Null,
        integrity: Some(Integrity::HmacSha1_96),
    };

    /// Length of the ICV this suite appends.
    pub(crate) const fn icv_len(self) -> usize {
        match (self.encryption, self.integrity) {
            (Encryption::AesGcm16, _) => GCM_ICV_LEN,
            (_, Some(i)) => i.icv_len(),
            (_, None) => 0,
        }
    }

    /// Rejects suites we refuse to run: AEAD with a separate integrity algorithm, or a
    /// non-AEAD cipher without one (RFC 4303 §3.2 forbids NULL/NULL; unauthenticated CBC is
    /// open to the attacks of RFC 4303 §3.2's note, so we do not offer it).
    pub(crate) fn validate(self) -> Result<(), ConfigError> {
        match (self.encryption.is_aead(), self.integrity) {
            (true, None) | (false, Some(_)) => Ok(()),
            (true, Some(_)) => Err(ConfigError::Unsupported(
                "AES-GCM is combined-mode; it takes no separate integrity algorithm",
            )),
            (false, None) => Err(ConfigError::Unsupported(
                "ESP without integrity is not supported",
            )),
        }
    }
}

/// Keyed ESP processing for one SPI.
pub(crate) struct EspTransform {
    suite: EspSuite,
    cipher: CipherKey,
    integrity: Option<IntegrityKey>,
    esn: bool,
}

/// Where the pieces of a received ESP packet lie (offsets into the ESP part).
struct EspLayout {
    iv: Range<usize>,
    ciphertext: Range<usize>,
    icv: Range<usize>,
}

impl EspTransform {
    pub(crate) fn new(
        suite: EspSuite,
        encryption_key: &SecretKey,
        integrity_key: &SecretKey,
        esn: bool,
    ) -> Result<Self, ConfigError> {
        suite.validate()?;
        let cipher = CipherKey::new(suite.encryption, encryption_key.as_bytes())?;
        let integrity = match suite.integrity {
            Some(alg) => Some(IntegrityKey::new(alg, integrity_key.as_bytes())?),
            None if integrity_key.is_empty() => None,
            None => {
                return Err(ConfigError::BadKeyLength {
                    what: "integrity",
                    found: integrity_key.len(),
                    expected: "0 (combined-mode cipher)",
                })
            }
        };
        Ok(Self {
            suite,
            cipher,
            integrity,
            esn,
        })
    }

    pub(crate) fn iv_len(&self) -> usize {
        self.suite.encryption.iv_len()
    }

    pub(crate) fn icv_len(&self) -> usize {
        self.suite.icv_len()
    }

    /// Length of padding so that `payload + padding + 2` is a multiple of the alignment.
    fn pad_len(&self, payload_len: usize) -> usize {
        let align = self.suite.encryption.alignment();
        let rem = payload_len
            .wrapping_add(TRAILER_LEN)
            .checked_rem(align)
            .unwrap_or(0);
        if rem == 0 {
            0
        } else {
            align.wrapping_sub(rem)
        }
    }

    /// Total ESP length (SPI through ICV) for a payload of `payload_len` bytes.
    pub(crate) fn sealed_len(&self, payload_len: usize) -> Option<usize> {
        ESP_HEADER_LEN
            .checked_add(self.iv_len())?
            .checked_add(payload_len)?
            .checked_add(self.pad_len(payload_len))?
            .checked_add(TRAILER_LEN)?
            .checked_add(self.icv_len())
    }

    /// Writes the sealed ESP packet (SPI through ICV) into `out`, which must be exactly
    /// [`Self::sealed_len`] bytes. `spi` is the SPI the *receiver* knows (for the client: the
    /// s-side SPI — the relay rewrites it, and the ICV must verify at the SGW).
    pub(crate) fn seal(
        &self,
        spi: u32,
        seq: u64,
        iv: &[u8],
        payload: &[u8],
        next_header: u8,
        out: &mut [u8],
    ) -> Result<(), SaError> {
        let iv_len = self.iv_len();
        if iv.len() != iv_len {
            return Err(SaError::BadIvLength {
                found: iv.len(),
                expected: iv_len,
            });
        }
        let pad_len = self.pad_len(payload.len());
        let total = self
            .sealed_len(payload.len())
            .ok_or(SaError::TooLarge { len: payload.len() })?;
        if out.len() != total {
            return Err(SaError::BufferTooSmall {
                needed: total,
                available: out.len(),
            });
        }
        let ct_start = ESP_HEADER_LEN.wrapping_add(iv_len);
        let icv_start = total.wrapping_sub(self.icv_len());
        let (head, rest) = out.split_at_mut(ct_start);
        let (ct, icv) = rest.split_at_mut(icv_start.wrapping_sub(ct_start));

        // Header: SPI, low 32 bits of the sequence number, IV.
        let (spi_seq, iv_dst) = head.split_at_mut(ESP_HEADER_LEN);
        spi_seq.copy_from_slice(&header_bytes(spi, seq));
        iv_dst.copy_from_slice(iv);

        // Plaintext: payload, padding 1, 2, 3, ... (RFC 4303 §2.4 default), Pad Length, Next
        // Header.
        let (body, trailer) = ct.split_at_mut(payload.len());
        body.copy_from_slice(payload);
        let (padding, pl_nh) = trailer.split_at_mut(pad_len);
        for (i, b) in padding.iter_mut().enumerate() {
            *b = u8::try_from(i.wrapping_add(1)).unwrap_or(0);
        }
        pl_nh.copy_from_slice(&[u8::try_from(pad_len).unwrap_or(0), next_header]);

        match &self.integrity {
            None => {
                let aad = gcm_aad(spi, seq, self.esn);
                self.cipher.encrypt(iv, aad.bytes(), ct, icv)
            }
            Some(mac_key) => {
                self.cipher.encrypt(iv, &[], ct, &mut [])?;
                let mut mac = mac_key.start();
                mac.update(head);
                mac.update(ct);
                if self.esn {
                    mac.update(&seq_high(seq));
                }
                mac.finish_into(icv);
                Ok(())
            }
        }
    }

    fn layout(&self, esp_len: usize) -> Result<EspLayout, SaError> {
        let iv_start = ESP_HEADER_LEN;
        let ct_start = iv_start.wrapping_add(self.iv_len());
        let min_ct = match self.suite.encryption {
            Encryption::AesCbc => 16,
            _ => TRAILER_LEN,
        };
        let needed = ct_start.wrapping_add(min_ct).wrapping_add(self.icv_len());
        if esp_len < needed {
            return Err(SaError::Truncated {
                what: "ESP packet",
                offset: 0,
                needed,
                available: esp_len,
            });
        }
        let icv_start = esp_len.wrapping_sub(self.icv_len());
        let ct_len = icv_start.wrapping_sub(ct_start);
        if self.suite.encryption == Encryption::AesCbc && ct_len % 16 != 0 {
            return Err(SaError::BadCiphertextLength {
                len: ct_len,
                block: 16,
            });
        }
        Ok(EspLayout {
            iv: iv_start..ct_start,
            ciphertext: ct_start..icv_start,
            icv: icv_start..esp_len,
        })
    }

    /// Verifies the ICV of the ESP part `esp` (SPI through ICV) for the full sequence number
    /// `seq`, then decrypts in place. On any error `esp` is left as it was. Returns the range
    /// of the plaintext (payload + padding + trailer) within `esp`.
    ///
    /// The SPI bytes inside `esp` are what the ICV is checked over, so a client must have put
    /// back the s-side SPI before calling (see [`super::translate`]).
    pub(crate) fn authenticate_and_decrypt(
        &self,
        seq: u64,
        esp: &mut [u8],
    ) -> Result<Range<usize>, SaError> {
        let l = self.layout(esp.len())?;
        let esp_len = esp.len();
        let truncated = |what| SaError::Truncated {
            what,
            offset: 0,
            needed: l.icv.end,
            available: esp_len,
        };
        let (authenticated, icv) = esp.split_at_mut(l.icv.start);
        let icv: &[u8] = icv;
        match &self.integrity {
            None => {
                let spi_seq = authenticated
                    .get(..ESP_HEADER_LEN)
                    .ok_or(truncated("ESP header"))?;
                let mut spi = [0u8; 4];
                spi.copy_from_slice(spi_seq.get(..4).ok_or(truncated("ESP SPI"))?);
                let aad = gcm_aad(u32::from_be_bytes(spi), seq, self.esn);
                let (head, ct) = authenticated.split_at_mut(l.ciphertext.start);
                let iv = head.get(l.iv.clone()).ok_or(truncated("ESP IV"))?;
                self.cipher.decrypt(iv, aad.bytes(), ct, icv)?;
            }
            Some(mac_key) => {
                let mut mac = mac_key.start();
                mac.update(authenticated);
                if self.esn {
                    mac.update(&seq_high(seq));
                }
                if !mac.verify(icv) {
                    return Err(SaError::BadIcv);
                }
                let (head, ct) = authenticated.split_at_mut(l.ciphertext.start);
                let iv = head.get(l.iv.clone()).ok_or(truncated("ESP IV"))?;
                self.cipher.decrypt(iv, &[], ct, &[])?;
            }
        }
        Ok(l.ciphertext)
    }
}

/// Splits decrypted `plaintext` (payload + padding + Pad Length + Next Header) into the payload
/// length and the Next Header, checking that the padding is the default 1, 2, 3, ... sequence
/// (RFC 4303 §2.4: a receiver SHOULD check it; an authenticated packet with other padding means
/// a sender we do not understand).
pub(crate) fn parse_trailer(plaintext: &[u8]) -> Result<(usize, u8), SaError> {
    let (pad_len, next_header) = match plaintext {
        [.., p, n] => (*p, *n),
        _ => {
            return Err(SaError::Truncated {
                what: "ESP trailer",
                offset: 0,
                needed: TRAILER_LEN,
                available: plaintext.len(),
            })
        }
    };
    let payload_len = plaintext
        .len()
        .checked_sub(TRAILER_LEN)
        .and_then(|n| n.checked_sub(usize::from(pad_len)))
        .ok_or(SaError::BadPadding { pad_len })?;
    let padding = plaintext
        .get(payload_len..payload_len.wrapping_add(usize::from(pad_len)))
        .ok_or(SaError::BadPadding { pad_len })?;
    let monotonic = padding
        .iter()
        .zip(1u8..)
        .all(|(&byte, expected)| byte == expected);
    if !monotonic {
        return Err(SaError::BadPadding { pad_len });
    }
    Ok((payload_len, next_header))
}

fn header_bytes(spi: u32, seq: u64) -> [u8; ESP_HEADER_LEN] {
    let mut h = [0u8; ESP_HEADER_LEN];
    let (s, q) = h.split_at_mut(4);
    s.copy_from_slice(&spi.to_be_bytes());
    q.copy_from_slice(&seq_low(seq));
    h
}

fn seq_low(seq: u64) -> [u8; 4] {
    // Truncation to the low 32 bits is the point.
    ((seq & 0xffff_ffff) as u32).to_be_bytes()
}

pub(crate) fn seq_high(seq: u64) -> [u8; 4] {
    ((seq >> 32) as u32).to_be_bytes()
}

/// RFC 4106 §5: AAD is SPI || seq (8 bytes) or, with ESN, SPI || seq high || seq low (12).
struct Aad {
    buf: [u8; 12],
    len: usize,
}

impl Aad {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&self.buf)
    }
}

fn gcm_aad(spi: u32, seq: u64, esn: bool) -> Aad {
    let mut buf = [0u8; 12];
    let (s, rest) = buf.split_at_mut(4);
    s.copy_from_slice(&spi.to_be_bytes());
    if esn {
        let (hi, lo) = rest.split_at_mut(4);
        hi.copy_from_slice(&seq_high(seq));
        lo.copy_from_slice(&seq_low(seq));
        Aad { buf, len: 12 }
    } else {
        let (lo, _) = rest.split_at_mut(4);
        lo.copy_from_slice(&seq_low(seq));
        Aad { buf, len: 8 }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn gcm() -> EspTransform {
        EspTransform::new(
            EspSuite::AES_GCM_16,
            &SecretKey::new(&[3; 20]),
            &SecretKey::default(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn suite_validation() {
        assert!(EspSuite::AES_GCM_16.validate().is_ok());
        assert!(EspSuite {
            encryption: Encryption::AesGcm16,
            integrity: Some(Integrity::HmacSha1_96)
        }
        .validate()
        .is_err());
        assert!(EspSuite {
            encryption: Encryption::Null,
            integrity: None
        }
        .validate()
        .is_err());
    }

    #[test]
    fn padding_follows_alignment() {
        let t = gcm();
        // 60-byte payload + 2 = 62 -> pad 2 to 64.
        assert_eq!(t.sealed_len(60), Some(8 + 8 + 64 + 16));
        let cbc = EspTransform::new(
            EspSuite::AES_CBC_HMAC_SHA256,
            &SecretKey::new(&[1; 16]),
            &SecretKey::new(&[2; 32]),
            false,
        )
        .unwrap();
        assert_eq!(cbc.sealed_len(60), Some(8 + 16 + 64 + 16));
        assert_eq!(cbc.sealed_len(14), Some(8 + 16 + 16 + 16));
    }

    #[test]
    fn trailer_parsing() {
        assert_eq!(parse_trailer(&[9, 9, 1, 2, 2, 4]), Ok((2, 4)));
        assert_eq!(parse_trailer(&[9, 0, 41]), Ok((1, 41)));
        assert_eq!(
            parse_trailer(&[9, 1, 3, 2, 4]),
            Err(SaError::BadPadding { pad_len: 2 })
        );
        assert_eq!(
            parse_trailer(&[1, 2, 9, 4]),
            Err(SaError::BadPadding { pad_len: 9 })
        );
        assert!(matches!(
            parse_trailer(&[4]),
            Err(SaError::Truncated { .. })
        ));
    }

    #[test]
    fn seal_then_open_and_tamper() {
        let t = gcm();
        let payload = b"0123456789";
        let len = t.sealed_len(payload.len()).unwrap();
        let mut out = vec![0u8; len];
        t.seal(0x1234, 7, &[5; 8], payload, 4, &mut out).unwrap();
        let mut copy = out.clone();
        let range = t.authenticate_and_decrypt(7, &mut copy).unwrap();
        assert_eq!(parse_trailer(&copy[range]), Ok((10, 4)));
        // Wrong sequence number (it is in the AAD) and a flipped SPI both fail.
        let mut copy = out.clone();
        assert_eq!(
            t.authenticate_and_decrypt(8, &mut copy),
            Err(SaError::BadIcv)
        );
        assert_eq!(copy, out);
        out[0] ^= 1;
        assert_eq!(
            t.authenticate_and_decrypt(7, &mut out),
            Err(SaError::BadIcv)
        );
    }
}
