//! X.509 certificates and RSA keys for signature authentication (RFC 2409 section 5.1).
//!
//! In main mode with RSA signatures, SIG_I/SIG_R are PKCS#1 v1.5 signatures over HASH_I/HASH_R
//! *without* a DigestInfo prefix (the hash is already the PRF output; strongSwan's
//! `SIGN_RSA_EMSA_PKCS1_NULL`). Certificates travel DER-encoded in CERT payloads (encoding 4,
//! "X.509 Certificate - Signature") and are configured as PEM.
//!
//! Time is an argument (`unix_secs`), as everywhere in this sans-IO core.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

/// Why a certificate or key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The DER or PEM does not decode as an X.509 certificate.
    #[error("certificate does not decode: {0}")]
    Malformed(String),
    /// The certificate's key is not an RSA key (the only kind implemented).
    #[error("certificate key is not RSA")]
    NotRsa,
    /// The private key PEM is neither PKCS#8 nor PKCS#1 RSA.
    #[error("private key does not decode")]
    PrivateKey,
    /// RSA signing failed (key too small for the input).
    #[error("signing failed")]
    Signing,
}

/// A parsed X.509 certificate with an RSA public key.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    signature_oid: String,
    signature: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    dns_names: Vec<String>,
    not_before: u64,
    not_after: u64,
    public_key: RsaPublicKey,
}

impl Certificate {
    /// Parses a DER certificate (a CERT payload's data).
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| CertError::Malformed(e.to_string()))?;
        Self::from_parsed(cert, der.to_vec())
    }

    /// Parses a PEM certificate (configuration).
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| CertError::Malformed(e.to_string()))?;
        let der = cert
            .to_der()
            .map_err(|e| CertError::Malformed(e.to_string()))?;
        Self::from_parsed(cert, der)
    }

    fn from_parsed(cert: x509_cert::Certificate, der: Vec<u8>) -> Result<Self, CertError> {
        let bad = |e: x509_cert::der::Error| CertError::Malformed(e.to_string());
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().map_err(bad)?;
        let public_key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| CertError::NotRsa)?;
        let mut dns_names = Vec::new();
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id == x509_cert::ext::pkix::SubjectAltName::OID {
                if let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes()) {
                    for name in san.0 {
                        if let GeneralName::DnsName(d) = name {
                            dns_names.push(d.to_string());
                        }
                    }
                }
            }
        }
        Ok(Self {
            tbs_der: tbs.to_der().map_err(bad)?,
            signature_oid: cert.signature_algorithm.oid.to_string(),
            signature: cert.signature.raw_bytes().to_vec(),
            subject_der: tbs.subject.to_der().map_err(bad)?,
            issuer_der: tbs.issuer.to_der().map_err(bad)?,
            not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            dns_names,
            public_key,
            der,
        })
    }

    /// The DER encoding, as sent in a CERT payload.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// DER of the subject Name (an ID_DER_ASN1_DN payload carries exactly this).
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// dNSName entries of the subjectAltName extension (an ID_FQDN must be one of them).
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// Whether `unix_secs` lies within the validity period.
    pub(crate) fn is_valid_at(&self, unix_secs: u64) -> bool {
        self.not_before <= unix_secs && unix_secs <= self.not_after
    }

    /// Verifies an IKEv1 SIG payload: PKCS#1 v1.5 without DigestInfo over HASH_I or HASH_R.
    pub fn verify_ike_signature(&self, hash: &[u8], signature: &[u8]) -> bool {
        self.public_key
            .verify(Pkcs1v15Sign::new_unprefixed(), hash, signature)
            .is_ok()
    }

    /// Whether `issuer` signed this certificate (names chain and the RSA PKCS#1 v1.5
    /// signature with SHA-256/384/512 verifies). Validity and constraints are separate checks.
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        if self.issuer_der != issuer.subject_der {
            return false;
        }
        let key = &issuer.public_key;
        let sig = &self.signature;
        match self.signature_oid.as_str() {
            "1.2.840.113549.1.1.11" => key
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(&self.tbs_der),
                    sig,
                )
                .is_ok(),
            "1.2.840.113549.1.1.12" => key
                .verify(
                    Pkcs1v15Sign::new::<Sha384>(),
                    &Sha384::digest(&self.tbs_der),
                    sig,
                )
                .is_ok(),
            "1.2.840.113549.1.1.13" => key
                .verify(
                    Pkcs1v15Sign::new::<Sha512>(),
                    &Sha512::digest(&self.tbs_der),
                    sig,
                )
                .is_ok(),
            _ => false,
        }
    }

    pub(crate) fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }
}

/// Our RSA private key. `RsaPrivateKey` zeroizes itself on drop.
///
/// Note: the `rsa` crate's private-key operations are subject to RUSTSEC-2023-0071 (Marvin
/// timing side channel); signing uses blinding with the caller's RNG, which is what the crate
/// offers until its constant-time rewrite ships.
pub struct RsaSigningKey {
    key: RsaPrivateKey,
}

impl core::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RsaSigningKey(<redacted>)")
    }
}

impl RsaSigningKey {
    /// Reads a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM key.
    pub fn from_pem(pem: &str) -> Result<Self, CertError> {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map(|key| Self { key })
            .map_err(|_| CertError::PrivateKey)
    }

    /// SIG_I/SIG_R: PKCS#1 v1.5 signature without DigestInfo over `hash` (HASH_I or HASH_R),
    /// blinded with `rng`. PKCS#1 v1.5 is deterministic, so the bytes do not depend on `rng`.
    pub fn sign_ike_hash<R: rand_core::CryptoRngCore>(
        &self,
        hash: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CertError> {
        self.key
            .sign_with_rng(rng, Pkcs1v15Sign::new_unprefixed(), hash)
            .map_err(|_| CertError::Signing)
    }

    /// Whether `cert` carries this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        &self.key.to_public_key() == cert.public_key()
    }
}
