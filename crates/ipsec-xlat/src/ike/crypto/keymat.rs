//! Phase-2 keying material (RFC 2409 section 5.5).

use super::hash::HashAlgorithm;
use super::secret::SecretBytes;
use super::skeyid::Phase1Keys;
use crate::ike::dh::SharedSecret;

/// IPsec protocol IDs as they enter KEYMAT (RFC 2407 section 4.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpsecProtocolId(pub u8);

impl IpsecProtocolId {
    /// PROTO_IPSEC_AH.
    pub const AH: Self = Self(2);
    /// PROTO_IPSEC_ESP.
    pub const ESP: Self = Self(3);
}

/// The inputs that pick out one SA's KEYMAT.
#[derive(Clone, Copy, Debug)]
pub struct KeymatInput<'a> {
    /// The protocol of this SA in the bundle (ESP or AH).
    pub protocol: IpsecProtocolId,
    /// The SPI of this SA: the one its *receiver* put in its SA payload. Keys for traffic
    /// toward the SGW use the SPI the SGW chose (qm2); keys for traffic from the SGW use the
    /// SPI in qm1's SA payload **as the SGW saw it**, i.e. the s-side SPI the relay offered,
    /// never the client's c-side SPI.
    pub spi: u32,
    /// Ni_b: body of the initiator's quick mode NONCE payload.
    pub ni_b: &'a [u8],
    /// Nr_b: body of the responder's quick mode NONCE payload.
    pub nr_b: &'a [u8],
}

/// Derives `len` bytes of KEYMAT for one SA (RFC 2409 section 5.5):
///
/// ```text
/// KEYMAT = K1 | K2 | K3 | ...
/// K1 = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)
/// K2 = prf(SKEYID_d, K1 | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)
/// K3 = prf(SKEYID_d, K2 | [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b)
/// ```
///
/// `pfs` is the quick-mode shared DH value when PFS was negotiated (KE payloads in qm1/qm2).
/// `protocol` is one octet, `SPI` four octets in network order. The caller splits the result:
/// encryption key first, then integrity key (RFC 2409 section 5.5, and strongSwan's
/// `derive_child_keymat`); for AES-GCM the encryption part is 4 bytes longer to hold the
/// salt (RFC 4106 section 8.1).
pub fn keymat(
    keys: &Phase1Keys,
    pfs: Option<&SharedSecret>,
    input: &KeymatInput<'_>,
    len: usize,
) -> SecretBytes {
    expand(keys.hash(), keys.skeyid_d(), pfs, input, len)
}

fn expand(
    hash: HashAlgorithm,
    skeyid_d: &SecretBytes,
    pfs: Option<&SharedSecret>,
    input: &KeymatInput<'_>,
    len: usize,
) -> SecretBytes {
    let g_qm: &[u8] = pfs.map(|s| s.expose()).unwrap_or(&[]);
    let protocol = [input.protocol.0];
    let spi = input.spi.to_be_bytes();
    let mut material = SecretBytes::new(Vec::with_capacity(len.saturating_add(hash.output_len())));
    let mut previous: Option<SecretBytes> = None;
    while material.len() < len {
        let prev: &[u8] = previous.as_ref().map(|p| p.expose()).unwrap_or(&[]);
        let block = hash.prf(
            skeyid_d.expose(),
            &[prev, g_qm, &protocol, &spi, input.ni_b, input.nr_b],
        );
        material.extend_from_slice(block.expose());
        previous = Some(block);
    }
    material.truncate(len);
    material
}

/// KEYMAT split into the keys of one ESP or AH SA.
#[derive(Clone, Debug)]
pub struct SaKeys {
    /// Encryption key (with the 4-byte salt at its end for AES-GCM); empty for AH.
    pub encryption: SecretBytes,
    /// Integrity key; empty for AEAD ciphers.
    pub integrity: SecretBytes,
}

impl SaKeys {
    /// Derives KEYMAT of `encryption_len + integrity_len` bytes and splits it, encryption key
    /// first (RFC 2409 section 5.5; strongSwan `derive_child_keymat`).
    pub fn derive(
        keys: &Phase1Keys,
        pfs: Option<&SharedSecret>,
        input: &KeymatInput<'_>,
        encryption_len: usize,
        integrity_len: usize,
    ) -> Self {
        let all = keymat(
            keys,
            pfs,
            input,
            encryption_len.saturating_add(integrity_len),
        );
        let bytes = all.expose();
        let split = encryption_len.min(bytes.len());
        let (enc, integ) = bytes.split_at(split);
        Self {
            encryption: SecretBytes::from_slice(enc),
            integrity: SecretBytes::from_slice(integ),
        }
    }
}
