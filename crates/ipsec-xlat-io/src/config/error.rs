//! Configuration errors: which file, which key, what is wrong with it.

use std::path::PathBuf;

use thiserror::Error;

use super::proposal::ProposalError;

/// Loading a configuration file failed.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or a key of the wrong type, missing or unknown. The message is the
    /// TOML parser's, which names the key and shows the line.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Well-formed but wrong: `key` (dotted, arrays indexed from 0, e.g.
    /// `identification[2].id`) has `problem`.
    #[error("{}: `{key}`: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

impl ConfigError {
    /// The key at fault, for [`ConfigError::Invalid`].
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The problem, for [`ConfigError::Invalid`].
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// What is wrong with one key's value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// One of several alternative keys must be given.
    #[error("is required (or give `{alternative}`)")]
    MissingOneOf {
        /// The other key that would do.
        alternative: String,
    },
    /// Two keys exclude each other.
    #[error("conflicts with `{other}`: give only one of them")]
    Conflict {
        /// The other key.
        other: String,
    },
    /// A list that must have entries has none.
    #[error("must not be empty")]
    Empty,
    /// A number outside its range.
    #[error("must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Two entries that must differ are equal.
    #[error("duplicate of `{first}`")]
    Duplicate {
        /// The key of the first occurrence.
        first: String,
    },
    /// An IKE, ESP or AH proposal that does not parse.
    #[error("{0}")]
    Proposal(#[from] ProposalError),
    /// An identification type name that is not one of the supported ones.
    #[error("unknown identification type `{0}` (expected ipv4_addr, ipv6_addr, fqdn, user_fqdn or key_id)")]
    UnknownIdType(String),
    /// An identification value or pattern that does not fit its type.
    #[error("invalid identification for type {id_type}: {reason}")]
    BadIdentification {
        /// The type's name.
        id_type: String,
        /// Why.
        reason: String,
    },
    /// A file the configuration names cannot be read.
    #[error("cannot read {}: {reason}", path.display())]
    File {
        /// The file (resolved against the configuration file's directory).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key (Noise static key) that is not 32 bytes of base64 or hex.
    #[error("not a 32-byte key in base64 or hex: {0}")]
    BadKey(String),
    /// A file that should be PEM and is not, or lacks the expected block.
    #[error("{} has no PEM `{expected}` block", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
        /// The block label looked for, e.g. `CERTIFICATE`.
        expected: &'static str,
    },
    /// An address that is not one of the relay's s-side addresses.
    #[error("{0} is not one of the s-side addresses (`s_side.address` or `s_side.pool`)")]
    NotAnSSideAddress(std::net::IpAddr),
    /// Addresses of different families where they must match.
    #[error("address family differs from {0}")]
    FamilyMismatch(std::net::IpAddr),
    /// No s-side address of the family needed to reach an SGW.
    #[error("no s-side address of the same family as {0}")]
    NoSSideAddressFor(std::net::IpAddr),
    /// A pool entry that is neither an address nor a prefix.
    #[error("`{0}` is neither an IP address nor a prefix like 198.51.100.16/28")]
    BadPoolEntry(String),
    /// Something else, explained.
    #[error("{0}")]
    Other(String),
}
