//! Secrets and keys read from files: zeroized on drop, never printed.

use core::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use super::error::Problem;

/// A Noise static private key (X25519, 32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct NoisePrivateKey(Zeroizing<[u8; 32]>);

impl NoisePrivateKey {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for NoisePrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoisePrivateKey(<redacted>)")
    }
}

/// A Noise static public key (X25519, 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoisePublicKey(pub [u8; 32]);

impl fmt::Debug for NoisePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NoisePublicKey({})",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

/// Bytes that must not leak: a pre-shared key or a PEM private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wrap bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// 32 bytes from base64 (standard, padded or not) or 64 hex digits.
pub fn decode_key32(text: &str) -> Result<[u8; 32], Problem> {
    let text = text.trim();
    let mut bytes = Zeroizing::new(
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| Problem::BadKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|e| Problem::BadKey(e.to_string()))?
        },
    );
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Problem::BadKey(format!("{} bytes", bytes.len())))?;
    bytes.zeroize();
    Ok(key)
}

/// `path` resolved against the directory of the configuration file.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Read a whole file into zeroizing memory.
pub fn read_secret_file(path: &Path) -> Result<Secret, Problem> {
    std::fs::read(path)
        .map(Secret::new)
        .map_err(|e| Problem::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// The permission bits of `path` that let its group or others read or write it, if any: a
/// private key or PSK so exposed is no longer private (OpenSSH refuses such private keys; we
/// warn, so existing deployments keep starting while they fix it).
pub fn loose_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o077;
    (mode != 0).then_some(mode)
}

/// Read a file holding a private key or a PSK, warning when others can read it.
fn read_private_file(path: &Path) -> Result<Secret, Problem> {
    let secret = read_secret_file(path)?;
    if let Some(mode) = loose_permissions(path) {
        tracing::warn!(
            path = %path.display(),
            group_other_bits = format!("{mode:03o}"),
            "private key or pre-shared key file is accessible to group or others: chmod 600 it"
        );
    }
    Ok(secret)
}

/// Read a Noise private key file.
pub fn read_noise_private_key(path: &Path) -> Result<NoisePrivateKey, Problem> {
    let secret = read_private_file(path)?;
    let text = std::str::from_utf8(secret.expose())
        .map_err(|_| Problem::BadKey("file is not text".into()))?;
    Ok(NoisePrivateKey(Zeroizing::new(decode_key32(text)?)))
}

/// Read a pre-shared key file: its text without the trailing newline.
pub fn read_psk(path: &Path) -> Result<Secret, Problem> {
    let secret = read_private_file(path)?;
    let bytes = secret.expose();
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |last| last.saturating_add(1));
    let trimmed = bytes.get(..end).unwrap_or_default();
    if trimmed.is_empty() {
        return Err(Problem::File {
            path: path.to_owned(),
            reason: "empty pre-shared key".into(),
        });
    }
    Ok(Secret::new(trimmed.to_vec()))
}

/// Read a PEM file and check it holds a block whose label ends with `expected`
/// (`CERTIFICATE`, `PRIVATE KEY` also matching `RSA PRIVATE KEY`).
pub fn read_pem(path: &Path, expected: &'static str) -> Result<Secret, Problem> {
    let secret = if expected.ends_with("PRIVATE KEY") {
        read_private_file(path)?
    } else {
        read_secret_file(path)?
    };
    let text = String::from_utf8_lossy(secret.expose());
    let has_block = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with(expected))
    });
    if !has_block {
        return Err(Problem::NotPem {
            path: path.to_owned(),
            expected,
        });
    }
    Ok(secret)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn loose_permissions_are_the_group_and_other_bits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.noise.key");
        std::fs::write(&path, hex::encode([7u8; 32])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_permissions(&path), Some(0o044));
        // Loose permissions warn, they do not refuse: the key still loads.
        assert_eq!(
            read_noise_private_key(&path).unwrap().as_bytes(),
            &[7u8; 32]
        );
        assert_eq!(loose_permissions(&dir.path().join("absent")), None);
    }
}
