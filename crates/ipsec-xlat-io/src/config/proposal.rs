//! IKE, ESP and AH proposals in strongSwan's syntax (`aes128-sha256-modp2048`,
//! `aes128gcm16`, `sha256`), parsed into typed suites.
//!
//! One proposal names one algorithm of each kind; list several proposals to offer several
//! combinations (strongSwan's `aes128-aes256-sha256` shorthand for a set is rejected, so a
//! configuration says exactly what is offered, in order). Only what ipsec-xlat implements is
//! accepted: AES-CBC 128/256 and AES-GCM-16 128/256, HMAC-SHA1-96 and HMAC-SHA-256-128, and
//! the groups MODP 2048 (14), MODP 3072 (15), ECP 256 (19) and Curve25519 (31).

use core::fmt;
use core::str::FromStr;

use thiserror::Error;

/// A proposal string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProposalError {
    /// Empty string or empty token (`aes128--sha256`).
    #[error("empty proposal or algorithm name in `{0}`")]
    Empty(String),
    /// Not an algorithm name ipsec-xlat knows.
    #[error("unknown or unsupported algorithm `{token}` in `{proposal}`")]
    Unknown {
        /// The token.
        token: String,
        /// The whole proposal.
        proposal: String,
    },
    /// An algorithm that exists but is not allowed in this kind of proposal (AES-GCM in IKEv1).
    #[error("`{token}` is not allowed in a{kind} proposal (`{proposal}`)")]
    NotAllowed {
        /// The token.
        token: String,
        /// " IKE", "n ESP", " AH".
        kind: &'static str,
        /// The whole proposal.
        proposal: String,
    },
    /// Two algorithms of the same kind.
    #[error("more than one {what} in `{proposal}`: list separate proposals instead")]
    Repeated {
        /// "encryption algorithm", "integrity algorithm", "DH group", "ESN setting".
        what: &'static str,
        /// The whole proposal.
        proposal: String,
    },
    /// A required kind is absent.
    #[error("no {what} in `{proposal}`")]
    Missing {
        /// What is missing.
        what: &'static str,
        /// The whole proposal.
        proposal: String,
    },
    /// AES-GCM already authenticates; an integrity algorithm beside it is an error.
    #[error("AES-GCM takes no integrity algorithm (`{0}`)")]
    AeadWithIntegrity(String),
}

/// Diffie-Hellman group (IKE, and PFS in quick mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// MODP 2048, group 14.
    Modp2048,
    /// MODP 3072, group 15.
    Modp3072,
    /// NIST P-256, group 19.
    Ecp256,
    /// Curve25519, group 31.
    Curve25519,
}

impl DhGroup {
    /// The IANA group number.
    pub const fn number(self) -> u16 {
        match self {
            Self::Modp2048 => 14,
            Self::Modp3072 => 15,
            Self::Ecp256 => 19,
            Self::Curve25519 => 31,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Modp2048 => "modp2048",
            Self::Modp3072 => "modp3072",
            Self::Ecp256 => "ecp256",
            Self::Curve25519 => "curve25519",
        }
    }
}

/// Encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-CBC, 128-bit key.
    AesCbc128,
    /// AES-CBC, 256-bit key.
    AesCbc256,
    /// AES-GCM with a 16-byte ICV, 128-bit key (ESP only).
    AesGcm16_128,
    /// AES-GCM with a 16-byte ICV, 256-bit key (ESP only).
    AesGcm16_256,
}

impl Encryption {
    /// Whether the cipher authenticates (AEAD) and so takes no integrity algorithm.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16_128 | Self::AesGcm16_256)
    }

    /// Key length in bits (without GCM's salt).
    pub const fn key_bits(self) -> u16 {
        match self {
            Self::AesCbc128 | Self::AesGcm16_128 => 128,
            Self::AesCbc256 | Self::AesGcm16_256 => 256,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::AesCbc128 => "aes128",
            Self::AesCbc256 => "aes256",
            Self::AesGcm16_128 => "aes128gcm16",
            Self::AesGcm16_256 => "aes256gcm16",
        }
    }
}

/// Integrity (and, in IKEv1, hash/PRF) algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-SHA1-96; in IKE, the SHA-1 hash.
    Sha1,
    /// HMAC-SHA-256-128; in IKE, the SHA-256 hash.
    Sha256,
}

impl Integrity {
    const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
}

/// An IKEv1 phase-1 proposal: cipher, hash and group, e.g. `aes128-sha256-modp2048`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// AES-CBC 128 or 256.
    pub encryption: Encryption,
    /// SHA-1 or SHA-256 (hash and PRF).
    pub hash: Integrity,
    /// The Diffie-Hellman group (IKEv1 phase 1 always has one).
    pub group: DhGroup,
}

/// An ESP proposal, e.g. `aes128gcm16`, `aes256-sha256`, `aes128-sha1-modp2048` (PFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// The cipher.
    pub encryption: Encryption,
    /// The integrity algorithm; `None` exactly when the cipher is AEAD.
    pub integrity: Option<Integrity>,
    /// The PFS group for quick mode, if any.
    pub pfs_group: Option<DhGroup>,
    /// Extended sequence numbers (`esn`); default off (`noesn`).
    pub esn: bool,
}

/// An AH proposal, e.g. `sha256`, `sha1-modp2048`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AhProposal {
    /// The integrity algorithm.
    pub integrity: Integrity,
    /// The PFS group for quick mode, if any.
    pub pfs_group: Option<DhGroup>,
    /// Extended sequence numbers.
    pub esn: bool,
}

/// One recognised token.
#[derive(Debug, Clone, Copy)]
enum Token {
    Encryption(Encryption),
    Integrity(Integrity),
    Group(DhGroup),
    Esn(bool),
}

/// strongSwan's keywords (and aliases) for what ipsec-xlat implements.
fn token(name: &str) -> Option<Token> {
    Some(match name.to_ascii_lowercase().as_str() {
        "aes" | "aes128" => Token::Encryption(Encryption::AesCbc128),
        "aes256" => Token::Encryption(Encryption::AesCbc256),
        "aes128gcm16" | "aes128gcm128" => Token::Encryption(Encryption::AesGcm16_128),
        "aes256gcm16" | "aes256gcm128" => Token::Encryption(Encryption::AesGcm16_256),
        "sha" | "sha1" => Token::Integrity(Integrity::Sha1),
        "sha256" | "sha2_256" => Token::Integrity(Integrity::Sha256),
        "modp2048" => Token::Group(DhGroup::Modp2048),
        "modp3072" => Token::Group(DhGroup::Modp3072),
        "ecp256" => Token::Group(DhGroup::Ecp256),
        "curve25519" | "x25519" => Token::Group(DhGroup::Curve25519),
        "esn" => Token::Esn(true),
        "noesn" => Token::Esn(false),
        _ => return None,
    })
}

/// The tokens of a proposal, at most one of each kind.
#[derive(Debug, Default)]
struct Parts {
    encryption: Option<Encryption>,
    integrity: Option<Integrity>,
    group: Option<DhGroup>,
    esn: Option<bool>,
}

fn split(proposal: &str) -> Result<Parts, ProposalError> {
    let proposal = proposal.trim();
    if proposal.is_empty() {
        return Err(ProposalError::Empty(proposal.to_owned()));
    }
    let mut parts = Parts::default();
    for name in proposal.split('-') {
        if name.is_empty() {
            return Err(ProposalError::Empty(proposal.to_owned()));
        }
        let repeated = |what| ProposalError::Repeated {
            what,
            proposal: proposal.to_owned(),
        };
        match token(name) {
            None => {
                return Err(ProposalError::Unknown {
                    token: name.to_owned(),
                    proposal: proposal.to_owned(),
                })
            }
            Some(Token::Encryption(e)) => {
                if parts.encryption.replace(e).is_some() {
                    return Err(repeated("encryption algorithm"));
                }
            }
            Some(Token::Integrity(i)) => {
                if parts.integrity.replace(i).is_some() {
                    return Err(repeated("integrity algorithm"));
                }
            }
            Some(Token::Group(g)) => {
                if parts.group.replace(g).is_some() {
                    return Err(repeated("DH group"));
                }
            }
            Some(Token::Esn(e)) => {
                if parts.esn.replace(e).is_some() {
                    return Err(repeated("ESN setting"));
                }
            }
        }
    }
    Ok(parts)
}

fn missing(what: &'static str, proposal: &str) -> ProposalError {
    ProposalError::Missing {
        what,
        proposal: proposal.trim().to_owned(),
    }
}

impl FromStr for IkeProposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split(s)?;
        let not_allowed = |token: &str| ProposalError::NotAllowed {
            token: token.to_owned(),
            kind: " IKE",
            proposal: s.trim().to_owned(),
        };
        let encryption = parts
            .encryption
            .ok_or_else(|| missing("encryption algorithm", s))?;
        if encryption.is_aead() {
            return Err(not_allowed(encryption.name()));
        }
        if parts.esn.is_some() {
            return Err(not_allowed("esn"));
        }
        Ok(Self {
            encryption,
            hash: parts
                .integrity
                .ok_or_else(|| missing("hash algorithm", s))?,
            group: parts.group.ok_or_else(|| missing("DH group", s))?,
        })
    }
}

impl FromStr for EspProposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split(s)?;
        let encryption = parts
            .encryption
            .ok_or_else(|| missing("encryption algorithm", s))?;
        match (encryption.is_aead(), parts.integrity) {
            (true, Some(_)) => return Err(ProposalError::AeadWithIntegrity(s.trim().to_owned())),
            (false, None) => return Err(missing("integrity algorithm", s)),
            _ => {}
        }
        Ok(Self {
            encryption,
            integrity: parts.integrity,
            pfs_group: parts.group,
            esn: parts.esn.unwrap_or(false),
        })
    }
}

impl FromStr for AhProposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = split(s)?;
        if let Some(encryption) = parts.encryption {
            return Err(ProposalError::NotAllowed {
                token: encryption.name().to_owned(),
                kind: "n AH",
                proposal: s.trim().to_owned(),
            });
        }
        Ok(Self {
            integrity: parts
                .integrity
                .ok_or_else(|| missing("integrity algorithm", s))?,
            pfs_group: parts.group,
            esn: parts.esn.unwrap_or(false),
        })
    }
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.encryption.name(),
            self.hash.name(),
            self.group.name()
        )
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encryption.name())?;
        if let Some(integrity) = self.integrity {
            write!(f, "-{}", integrity.name())?;
        }
        if let Some(group) = self.pfs_group {
            write!(f, "-{}", group.name())?;
        }
        if self.esn {
            f.write_str("-esn")?;
        }
        Ok(())
    }
}

impl fmt::Display for AhProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.integrity.name())?;
        if let Some(group) = self.pfs_group {
            write!(f, "-{}", group.name())?;
        }
        if self.esn {
            f.write_str("-esn")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_proposals_parse_and_print_back() {
        let p: IkeProposal = "aes128-sha256-modp2048".parse().unwrap();
        assert_eq!(
            p,
            IkeProposal {
                encryption: Encryption::AesCbc128,
                hash: Integrity::Sha256,
                group: DhGroup::Modp2048
            }
        );
        assert_eq!(p.to_string(), "aes128-sha256-modp2048");
        let p: IkeProposal = "AES256-sha1-x25519".parse().unwrap();
        assert_eq!(p.group.number(), 31);
        assert_eq!(p.to_string(), "aes256-sha1-curve25519");
    }

    #[test]
    fn esp_and_ah_proposals_parse() {
        let gcm: EspProposal = "aes128gcm16".parse().unwrap();
        assert!(gcm.encryption.is_aead());
        assert_eq!(gcm.integrity, None);
        let pfs: EspProposal = "aes256-sha256-ecp256".parse().unwrap();
        assert_eq!(pfs.pfs_group, Some(DhGroup::Ecp256));
        assert_eq!(pfs.to_string(), "aes256-sha256-ecp256");
        let ah: AhProposal = "sha1-modp3072".parse().unwrap();
        assert_eq!(ah.integrity, Integrity::Sha1);
        assert_eq!(ah.pfs_group.map(DhGroup::number), Some(15));
    }

    #[test]
    fn bad_proposals_say_what_is_wrong() {
        assert!(matches!(
            "aes128-sha256".parse::<IkeProposal>(),
            Err(ProposalError::Missing {
                what: "DH group",
                ..
            })
        ));
        assert!(matches!(
            "aes128gcm16-modp2048".parse::<IkeProposal>(),
            Err(ProposalError::NotAllowed { .. })
        ));
        assert!(matches!(
            "aes128gcm16-sha256".parse::<EspProposal>(),
            Err(ProposalError::AeadWithIntegrity(_))
        ));
        assert!(matches!(
            "aes128".parse::<EspProposal>(),
            Err(ProposalError::Missing { .. })
        ));
        assert!(matches!(
            "3des-sha1".parse::<EspProposal>(),
            Err(ProposalError::Unknown { token, .. }) if token == "3des"
        ));
        assert!(matches!(
            "aes128-aes256-sha1".parse::<EspProposal>(),
            Err(ProposalError::Repeated { .. })
        ));
        assert!(matches!(
            "aes128--sha1".parse::<EspProposal>(),
            Err(ProposalError::Empty(_))
        ));
        assert!(matches!(
            "aes128-sha1".parse::<AhProposal>(),
            Err(ProposalError::NotAllowed { .. })
        ));
    }
}
