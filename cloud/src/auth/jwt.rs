//! Access tokens: short-lived EdDSA (Ed25519) JWTs for the `/v1` API.
//!
//! The algorithm is pinned (a token whose header says `none`, HS256 or anything but EdDSA is
//! refused before any key is tried), `iss`, `aud` and `exp` are required and checked, and the
//! header's `kid` must name our key — the hook for key rotation and JWKS later. `exp` is checked
//! against the injected [`Clock`](crate::clock::Clock), not the system clock, so tests control
//! time.

use crate::config::AuthConfig;
use fdt_api::private_file::create_private;
use fdt_api::{AccessToken, AccountId, SessionId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// File name of the signing key (PKCS#8 PEM) in the data directory.
pub const SIGNING_KEY_FILE: &str = "cloud-signing.key";
/// File name of the matching public key (SubjectPublicKeyInfo PEM), for relays.
pub const PUBLIC_KEY_FILE: &str = "cloud-signing.pub";

/// Errors loading, generating or saving the signing key.
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
    /// The key is not an Ed25519 key in PEM form, or could not be generated.
    #[error("key {path}: {detail}")]
    Format {
        /// The file, or `<generated>`.
        path: String,
        /// What the parser said.
        detail: String,
    },
}

/// The cloud's Ed25519 signing key, with its public half and key ID.
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    public_pem: String,
    public_raw: Vec<u8>,
    /// When its file was written (`None` for a key made in memory).
    created: Option<time::OffsetDateTime>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key that lives only in memory (tests, tools).
    pub fn generate() -> Result<Self, KeyError> {
        let pem = generate_pem("<generated>")?;
        Self::from_private_pem(&pem, "<generated>")
    }

    /// Loads `dir/cloud-signing.key`, or generates it (mode 0600) and writes the public key next
    /// to it on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let key = Self::load_or_create_file(&dir.join(SIGNING_KEY_FILE))?;
        // Rewritten each start so it always matches the private key.
        let pub_path = dir.join(PUBLIC_KEY_FILE);
        std::fs::write(&pub_path, &key.public_pem).map_err(|source| KeyError::Io {
            path: pub_path.display().to_string(),
            source,
        })?;
        Ok(key)
    }

    /// Replaces the access-token signing key in `dir` with a new one (the file swapped
    /// atomically, owner-only) and returns its `kid`. Access tokens signed with the old key
    /// stop verifying: clients get new ones with their refresh tokens.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        let path = dir.join(SIGNING_KEY_FILE);
        let shown = path.display().to_string();
        let pem = generate_pem(&shown)?;
        let key = Self::from_private_pem(&pem, &shown)?;
        fdt_api::private_file::write_private(&path, pem.as_bytes()).map_err(|source| {
            KeyError::Io {
                path: shown,
                source,
            }
        })?;
        Self::load_or_create(dir).map(|_| key.kid().to_owned())
    }

    /// Loads the PKCS#8 PEM key at `path`, or generates one there (mode 0600, never
    /// overwriting a file that appeared meanwhile).
    pub fn load_or_create_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let pem = match std::fs::read_to_string(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem(&shown)?;
                create_private(path, pem.as_bytes()).map_err(|source| KeyError::Io {
                    path: shown.clone(),
                    source,
                })?;
                pem
            }
            Err(source) => {
                return Err(KeyError::Io {
                    path: shown,
                    source,
                });
            }
        };
        Ok(Self::from_private_pem(&pem, &shown)?.with_file_time(path))
    }

    /// Loads the PKCS#8 PEM key at `path`, which must exist.
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: shown.clone(),
            source,
        })?;
        Ok(Self::from_private_pem(&pem, &shown)?.with_file_time(path))
    }

    fn from_private_pem(pem: &str, path: &str) -> Result<Self, KeyError> {
        let format = |detail: String| KeyError::Format {
            path: path.to_owned(),
            detail,
        };
        let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| format(e.to_string()))?;
        if !pair.is_compatible(&rcgen::PKCS_ED25519) {
            return Err(format("not an Ed25519 key".into()));
        }
        let public_pem = pair.public_key_pem();
        let encoding =
            EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| format(e.to_string()))?;
        let decoding =
            DecodingKey::from_ed_pem(public_pem.as_bytes()).map_err(|e| format(e.to_string()))?;
        // Key ID: a short fingerprint of the raw public key, stable across restarts.
        let public_raw = pair.public_key_raw().to_vec();
        let digest = Sha256::digest(&public_raw);
        let kid = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            encoding,
            decoding,
            kid,
            public_pem,
            public_raw,
            created: None,
        })
    }

    /// When the key's file was written (its age is what rotation health judges); `None` for
    /// a key that lives in memory.
    pub fn created(&self) -> Option<time::OffsetDateTime> {
        self.created
    }

    fn with_file_time(mut self, path: &Path) -> Self {
        self.created = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(time::OffsetDateTime::from);
        self
    }

    /// The key ID put in every token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key in PEM form (what a verifier needs).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The raw 32-byte Ed25519 public key (the `x` of its JWK).
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public_raw
    }

    /// The claims of `token` if this key signed it (EdDSA, our `kid`); no time claims are
    /// required (signed records such as audit checkpoints do not expire).
    pub fn verify_signed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, jsonwebtoken::errors::Error> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid()) {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidSignature.into());
        }
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation).map(|d| d.claims)
    }

    /// Signs `claims` as an EdDSA JWT carrying our `kid`. Tests also use this to build tokens
    /// with a wrong audience or a past expiry.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

fn generate_pem(path: &str) -> Result<String, KeyError> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .map(|k| k.serialize_pem())
        .map_err(|e| KeyError::Format {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The account acting.
    pub sub: AccountId,
    /// The login session (refresh family) the token was issued in; revoking it ends the token.
    pub sid: SessionId,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token ID.
    pub jti: String,
}

/// Why an access token was refused. Clients only ever see "unauthorized"; the variant goes to
/// the log.
#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// Not a JWT, or its header or claims do not parse.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm than EdDSA (including `none`).
    #[error("algorithm not allowed")]
    WrongAlgorithm,
    /// The header's `kid` is missing or not one of our keys.
    #[error("unknown key id")]
    UnknownKey,
    /// The signature does not verify with our key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `aud` is not this API's.
    #[error("wrong audience")]
    WrongAudience,
    /// `iss` is not this cloud.
    #[error("wrong issuer")]
    WrongIssuer,
    /// A required claim is missing or has the wrong type.
    #[error("invalid claims: {0}")]
    Invalid(String),
    /// Signing failed (server side).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Issues and verifies access tokens.
#[derive(Debug, Clone)]
pub struct AccessTokens {
    key: Arc<SigningKey>,
    issuer: String,
    audience: String,
    ttl_secs: u64,
    skew_secs: i64,
    validation: Validation,
}

impl AccessTokens {
    /// Tokens signed by `key` with the issuer, audience and lifetimes from `cfg`.
    pub fn new(key: Arc<SigningKey>, cfg: &AuthConfig) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // exp is checked in `verify` against the injected clock instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            key,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl_secs: cfg.access_ttl_secs,
            skew_secs: i64::try_from(cfg.clock_skew_secs).unwrap_or(0),
            validation,
        }
    }

    /// The signing key (its public half is what relays and tests verify with).
    pub fn signing_key(&self) -> &Arc<SigningKey> {
        &self.key
    }

    /// Lifetime of new tokens, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// The claims a token issued now for `account` in `session` carries.
    pub fn claims(
        &self,
        account: &AccountId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> AccessClaims {
        let iat = now.unix_timestamp();
        AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: account.clone(),
            sid: session.clone(),
            iat,
            exp: iat.saturating_add_unsigned(self.ttl_secs),
            jti: crate::random::random_base62(22),
        }
    }

    /// Issues a token for `account` in `session`.
    pub fn issue(
        &self,
        account: &AccountId,
        session: &SessionId,
        now: OffsetDateTime,
    ) -> Result<AccessToken, AccessTokenError> {
        self.issue_for(account, session, now, self.ttl_secs)
    }

    /// Issues a token that lives `ttl_secs` (the console's sign-in cookie, which has no
    /// refresh token and is checked against its live session on every request like any
    /// access token).
    pub fn issue_for(
        &self,
        account: &AccountId,
        session: &SessionId,
        now: OffsetDateTime,
        ttl_secs: u64,
    ) -> Result<AccessToken, AccessTokenError> {
        let mut claims = self.claims(account, session, now);
        claims.exp = claims.iat.saturating_add_unsigned(ttl_secs);
        self.key
            .sign(&claims)
            .map(AccessToken::new)
            .map_err(|e| AccessTokenError::Signing(e.to_string()))
    }

    /// Verifies `token` at time `now` and returns its claims.
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<AccessClaims, AccessTokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        // Header first: a foreign algorithm or key is refused without running any verifier.
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // `alg: none` (or any name jsonwebtoken does not know) fails to parse the header.
            K::Json(_) => AccessTokenError::WrongAlgorithm,
            _ => AccessTokenError::Malformed,
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(AccessTokenError::WrongAlgorithm);
        }
        if header.kid.as_deref() != Some(self.key.kid()) {
            return Err(AccessTokenError::UnknownKey);
        }
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.key.decoding, &self.validation)
                .map_err(|e| match e.kind() {
                    K::InvalidSignature => AccessTokenError::BadSignature,
                    K::InvalidAudience => AccessTokenError::WrongAudience,
                    K::InvalidIssuer => AccessTokenError::WrongIssuer,
                    K::InvalidAlgorithm => AccessTokenError::WrongAlgorithm,
                    K::MissingRequiredClaim(c) => AccessTokenError::Invalid(format!("missing {c}")),
                    K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                        AccessTokenError::Malformed
                    }
                    other => AccessTokenError::Invalid(format!("{other:?}")),
                })?;
        if data.claims.exp.saturating_add(self.skew_secs) <= now.unix_timestamp() {
            return Err(AccessTokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests;
