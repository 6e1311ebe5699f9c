//! Argon2id password hashing, off the async runtime.
//!
//! Hashing is deliberately slow (tens of milliseconds with production parameters), so it runs
//! on tokio's blocking pool instead of stalling a runtime worker.

use crate::config::Argon2Config;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use fdt_api::Password;
use rand::RngCore;

/// Why hashing or verifying could not run (never "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Argon2 refused the parameters or input.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking task panicked or was cancelled.
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Validated Argon2 parameters from the configuration.
pub fn argon2_params(cfg: &Argon2Config) -> Result<Params, argon2::Error> {
    Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
}

/// Hashes and verifies passwords with fixed Argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// A hash of a random password with the same parameters, verified when the account does
    /// not exist so that "no such email" takes as long as "wrong password".
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the configured cost (computes one hash up front for the dummy).
    pub fn new(cfg: &Argon2Config) -> Result<Self, PasswordError> {
        let params = argon2_params(cfg).map_err(|e| PasswordError::Argon2(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_blocking(&argon, &crate::random::random_base62(32))?;
        Ok(Self { argon, dummy_hash })
    }

    /// A PHC-format hash (`$argon2id$v=19$m=…`) of `password` with a fresh random salt.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || hash_blocking(&argon, password.expose_secret())).await?
    }

    /// Whether `password` matches `hash`. With no hash (unknown account) it verifies against
    /// the dummy and answers `false`, taking the same time as a real check.
    pub async fn verify(
        &self,
        password: Password,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let argon = self.argon.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = tokio::task::spawn_blocking(move || {
            // Parameters come from the stored hash, so hashes made with older settings still
            // verify after the configuration changes.
            let parsed =
                PasswordHash::new(&hash).map_err(|e| PasswordError::Argon2(e.to_string()))?;
            Ok::<_, PasswordError>(
                argon
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await??;
        Ok(known && matches)
    }
}

fn hash_blocking(argon: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Argon2(e.to_string()))?;
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fast() -> Argon2Config {
        Argon2Config {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_salts_differ() {
        let h = PasswordHasher::new(&fast()).unwrap();
        let a = h.hash(Password::new("correct horse")).await.unwrap();
        let b = h.hash(Password::new("correct horse")).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(
            h.verify(Password::new("correct horse"), Some(a.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(Password::new("wrong horse"), Some(a))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_account_never_matches() {
        let h = PasswordHasher::new(&fast()).unwrap();
        assert!(!h.verify(Password::new("anything"), None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_from_other_parameters_still_verify() {
        let old = PasswordHasher::new(&fast()).unwrap();
        let hash = old.hash(Password::new("pw-0123456789")).await.unwrap();
        let new = PasswordHasher::new(&Argon2Config {
            memory_kib: 16,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(
            new.verify(Password::new("pw-0123456789"), Some(hash))
                .await
                .unwrap()
        );
    }
}
