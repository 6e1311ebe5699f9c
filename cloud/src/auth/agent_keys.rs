//! The keyring agent tokens are signed with, and the JWKS that publishes it to relays.
//!
//! These keys are **separate from the access-token key** (`cloud-signing.key`): relays learn
//! every key in this ring, and nothing they learn should verify a `/v1` access token. Each key
//! has its own `kid` (a fingerprint of its public half, see [`SigningKey`]).
//!
//! On disk the ring is a directory of PKCS#8 PEM files named by a counter (`000001.key`,
//! `000002.key`, …). The highest number signs; every key in the directory is published.
//! [`AgentKeyring::rotate`] adds the next key and deletes all but the two newest, so the key
//! it replaces stays published for one more rotation: rotate no more often than the agent
//! token lifetime, and tokens signed by the old key expire before it disappears. A running
//! `fdt-cloud serve` reads the directory at start, so restart it after a rotation (relays fetch
//! the new set on their next refresh, or at once when they meet the new `kid`).

use super::jwt::{KeyError, SigningKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fdt_api::private_file::create_private_dir;
use fdt_api::{Jwk, Jwks};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Directory of the keyring, inside the data directory.
pub const AGENT_KEYS_DIR: &str = "agent-keys";
/// Keys kept by a rotation: the new one and the one it replaces.
const KEPT_ON_ROTATION: usize = 2;

/// The agent-token signing keys: the newest signs, all are published.
#[derive(Debug, Clone)]
pub struct AgentKeyring {
    /// The newest key.
    signing: Arc<SigningKey>,
    /// Every key, oldest first (the signing key last).
    keys: Vec<Arc<SigningKey>>,
}

impl AgentKeyring {
    /// A ring of `keys`, oldest first (the last one signs). `None` when `keys` is empty.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let keys: Vec<_> = keys.into_iter().map(Arc::new).collect();
        let signing = keys.last()?.clone();
        Some(Self { signing, keys })
    }

    /// A ring of one fresh key that lives only in memory (tests, tools).
    pub fn generate() -> Result<Self, KeyError> {
        let key = Arc::new(SigningKey::generate()?);
        Ok(Self {
            signing: key.clone(),
            keys: vec![key],
        })
    }

    /// Loads the ring from `dir` (see the module docs), creating the directory (mode 0700) and
    /// a first key when there is none.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        create_ring_dir(dir)?;
        let mut files = key_files(dir)?;
        if files.is_empty() {
            let first = dir.join(file_name(1));
            SigningKey::load_or_create_file(&first)?;
            files.push((1, first));
        }
        let keys = files
            .iter()
            .map(|(_, path)| SigningKey::load_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys).ok_or_else(|| KeyError::Format {
            path: dir.display().to_string(),
            detail: "no agent signing key".into(),
        })
    }

    /// Adds a new signing key to the ring in `dir` and deletes all but the two newest keys.
    /// Returns the new key's `kid`.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        create_ring_dir(dir)?;
        let files = key_files(dir)?;
        let next = files.last().map_or(1, |(n, _)| n + 1);
        let key = SigningKey::load_or_create_file(&dir.join(file_name(next)))?;
        let keep_from = (files.len() + 1).saturating_sub(KEPT_ON_ROTATION);
        for (_, old) in files.iter().take(keep_from) {
            std::fs::remove_file(old).map_err(|source| KeyError::Io {
                path: old.display().to_string(),
                source,
            })?;
        }
        Ok(key.kid().to_owned())
    }

    /// The key new tokens are signed with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Every key of the ring, oldest first (the signing key last).
    pub fn keys(&self) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().map(Arc::as_ref)
    }

    /// The public keys of the ring as a JWKS, newest first.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .rev()
                .map(|k| Jwk::ed25519(k.kid(), URL_SAFE_NO_PAD.encode(k.public_key_raw())))
                .collect(),
        }
    }
}

fn file_name(n: u64) -> String {
    format!("{n:06}.key")
}

/// The `NNNNNN.key` files of `dir`, by number.
fn key_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, KeyError> {
    let io = |source| KeyError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let number = path
            .extension()
            .filter(|e| *e == "key")
            .and_then(|_| path.file_stem()?.to_str()?.parse::<u64>().ok());
        if let Some(n) = number {
            files.push((n, path));
        }
    }
    files.sort();
    Ok(files)
}

/// Creates the ring's directory, readable by its owner only.
fn create_ring_dir(dir: &Path) -> Result<(), KeyError> {
    create_private_dir(dir).map_err(|source| KeyError::Io {
        path: dir.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn load_is_stable_and_rotation_keeps_the_previous_key_published() {
        let dir = tempfile::tempdir().unwrap();
        let ring_dir = dir.path().join(AGENT_KEYS_DIR);
        let first = AgentKeyring::load_or_create(&ring_dir).unwrap();
        let kid1 = first.signing_key().kid().to_owned();
        assert_eq!(
            AgentKeyring::load_or_create(&ring_dir)
                .unwrap()
                .signing_key()
                .kid(),
            kid1
        );

        let kid2 = AgentKeyring::rotate(&ring_dir).unwrap();
        let ring = AgentKeyring::load_or_create(&ring_dir).unwrap();
        assert_eq!(ring.signing_key().kid(), kid2);
        let published: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(published, vec![kid2.clone(), kid1.clone()]);

        // A second rotation retires the first key for good.
        let kid3 = AgentKeyring::rotate(&ring_dir).unwrap();
        let ring = AgentKeyring::load_or_create(&ring_dir).unwrap();
        let published: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(published, vec![kid3, kid2]);
    }

    #[test]
    fn jwks_carries_the_raw_public_key() {
        let ring = AgentKeyring::generate().unwrap();
        let jwk = &ring.jwks().keys[0];
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("OKP", "Ed25519"));
        assert_eq!((jwk.alg.as_str(), jwk.key_use.as_str()), ("EdDSA", "sig"));
        let x = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap();
        assert_eq!(x, ring.signing_key().public_key_raw());
        assert_eq!(x.len(), 32);
    }
}
