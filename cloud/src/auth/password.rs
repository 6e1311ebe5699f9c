//! Argon2id password hashing, off the async runtime and at bounded concurrency.
//!
//! Hashing is deliberately slow (tens of milliseconds with production parameters), so it runs
//! on tokio's blocking pool instead of stalling a runtime worker. Each hash also holds its
//! memory cost (19 MiB by default) while it runs, and the blocking pool has hundreds of
//! threads: so at most `auth.password_hashing.max_concurrent` hashes run at once. A request
//! that finds them all busy waits at most `max_wait_ms`, then gets [`PasswordError::Busy`]
//! (429) instead of queueing without end.

use crate::config::{Argon2Config, PasswordHashingConfig};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Version};
use fdt_api::Password;
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why hashing or verifying could not run (never "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Argon2 refused the parameters or input.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking task panicked or was cancelled.
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Every hashing slot stayed taken for the whole wait.
    #[error("too many password checks at once")]
    Busy,
}

/// What a client told [`PasswordError::Busy`] should wait before retrying, in seconds.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// Hashes and verifies passwords with fixed Argon2id parameters, a few at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// A hash of a random password with the same parameters, verified when the account does
    /// not exist so that "no such email" takes as long as "wrong password".
    dummy_hash: String,
    /// One permit per hash allowed to run at once.
    slots: Arc<Semaphore>,
    /// How long a hash waits for a slot before giving up.
    max_wait: Duration,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.argon.params())
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the configured cost and concurrency (computes one hash up front for the
    /// dummy).
    pub fn new(cfg: &Argon2Config, limits: &PasswordHashingConfig) -> Result<Self, PasswordError> {
        let params = cfg
            .params()
            .map_err(|e| PasswordError::Argon2(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_blocking(&argon, &crate::random::random_base62(32))?;
        Ok(Self {
            argon,
            dummy_hash,
            slots: Arc::new(Semaphore::new(limits.slots())),
            max_wait: Duration::from_millis(limits.max_wait_ms),
        })
    }

    /// Runs `job` on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let slot = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        // The slot moves into the task: if the request is dropped mid-hash, the hash still
        // runs to its end and keeps its slot (and memory) until then.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await?
    }

    /// A PHC-format hash (`$argon2id$v=19$m=…`) of `password` with a fresh random salt.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        let argon = self.argon.clone();
        self.run(move || hash_blocking(&argon, password.expose_secret()))
            .await
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
        let matches = self
            .run(move || {
                // Parameters come from the stored hash, so hashes made with older settings
                // still verify after the configuration changes.
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| PasswordError::Argon2(e.to_string()))?;
                Ok(argon
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
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
mod tests;
