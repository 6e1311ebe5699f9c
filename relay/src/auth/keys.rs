//! Key material for agent tokens: Ed25519 public keys accepted for verification, and reading
//! and writing key files.

use jsonwebtoken::DecodingKey;
use std::path::Path;

/// Errors loading or generating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 key in PEM form.
    #[error("key file {path} is not an Ed25519 PEM key: {detail}")]
    Format {
        /// The file.
        path: String,
        /// Parser message.
        detail: String,
    },
}

/// An Ed25519 public key accepted for agent tokens, with the key ID it is published under
/// (none for keys from PEM files).
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A key from PEM (SubjectPublicKeyInfo), without a key ID.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| KeyError::Format {
            path: "<inline>".into(),
            detail: e.to_string(),
        })?;
        Ok(Self { kid: None, key })
    }

    /// A key from its raw 32 bytes, published under `kid`.
    pub fn from_raw(kid: String, raw: &[u8; 32]) -> Self {
        Self {
            kid: Some(kid),
            key: DecodingKey::from_ed_der(raw),
        }
    }

    /// The key ID, when the key came from a JWKS.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// Reads a key file.
pub(crate) fn read_to_string(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes a secret file (created or replaced) readable only by its owner, through the one
/// owner-only writer ([`fdt_api::private_file`]).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), KeyError> {
    fdt_api::private_file::write_private(path, contents.as_bytes()).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}
