//! Sealing secrets at rest (certificate private keys, the ACME account key) with AES-256-GCM
//! under a key from the configuration, so a database dump alone does not hold them.
//!
//! A sealed value is `version byte ‖ 12-byte random nonce ‖ ciphertext ‖ tag`; the version lets
//! a later key rotation tell old values from new.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

/// Format version of sealed values.
const VERSION: u8 = 1;

/// Why a key could not be loaded or a value opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read or written.
    #[error("domain key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold 64 hex digits.
    #[error("domain key file {0} must hold 64 hex digits (a 32-byte key)")]
    BadKey(String),
    /// The value is not one this key sealed (wrong key, tampered, truncated).
    #[error("a sealed value does not open with the configured key")]
    Open,
    /// The system random source failed.
    #[error("no randomness available")]
    Random,
}

/// Seals and opens values with one AES-256-GCM key.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// A sealer over a raw 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            // AES-256-GCM takes exactly 32 bytes, which the type guarantees.
            .expect("a 32-byte key fits AES-256-GCM");
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A sealer over a fresh random key that lives as long as the process.
    pub fn ephemeral() -> Result<Self, SealError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| SealError::Random)?;
        Ok(Self::from_key(&key))
    }

    /// Reads the hex key in `path`, creating it (mode 0600) with a fresh key when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let shown = path.display().to_string();
        let io = |source| SealError::Io {
            path: shown.clone(),
            source,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| SealError::Random)?;
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                fdt_api::private_file::create_private(path, format!("{hex}\n").as_bytes())
                    .map_err(io)?;
                hex
            }
            Err(e) => return Err(io(e)),
        };
        let text = text.trim();
        let mut key = [0u8; 32];
        if text.len() != 64 || !text.is_ascii() {
            return Err(SealError::BadKey(shown));
        }
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| SealError::BadKey(shown.clone()))?;
        }
        Ok(Self::from_key(&key))
    }

    /// Seals `plain`; `context` (the row it belongs to) is bound in, so a sealed value moved to
    /// another row does not open.
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut buf,
            )
            .map_err(|_| SealError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens a value [`Sealer::seal`] made with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let s = Sealer::from_key(&[7; 32]);
        let sealed = s.seal(b"private key", b"dom_1").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(s.open(&sealed, b"dom_1").unwrap(), b"private key");
        assert!(matches!(s.open(&sealed, b"dom_2"), Err(SealError::Open)));
        assert!(matches!(
            Sealer::from_key(&[8; 32]).open(&sealed, b"dom_1"),
            Err(SealError::Open)
        ));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(s.open(&tampered, b"dom_1"), Err(SealError::Open)));
        assert!(matches!(s.open(&[], b"dom_1"), Err(SealError::Open)));
        assert!(matches!(
            s.open(&sealed[..5], b"dom_1"),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn the_key_file_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k").join("domain.key");
        let a = Sealer::load_or_create(&path).unwrap();
        let sealed = a.seal(b"x", b"c").unwrap();
        let b = Sealer::load_or_create(&path).unwrap();
        assert_eq!(b.open(&sealed, b"c").unwrap(), b"x");
        std::fs::write(&path, "zz").unwrap();
        assert!(matches!(
            Sealer::load_or_create(&path),
            Err(SealError::BadKey(_))
        ));
    }
}
