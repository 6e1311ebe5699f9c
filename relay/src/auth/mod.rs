//! Agent tokens: EdDSA-signed JWTs, verified offline against public keys from PEM files and,
//! optionally, from the control plane's JWKS ([`crate::auth::jwks`]).
//!
//! The algorithm is pinned to EdDSA (a token claiming `none`, HS256 or anything else is refused
//! before any key is tried), the audience must be [`AGENT_AUDIENCE`] and `exp` is required.
//! A token whose header names a `kid` is checked against the JWKS key with that ID; when none
//! has it, against the PEM keys (which have no ID), and failing those it is refused as
//! [`AuthError::UnknownKey`] — the signal to refetch the JWKS once, rate-limited, in case the
//! cloud has rotated. In self-hosted mode the relay operator mints tokens with
//! [`TokenSigner`]; with a control plane, the cloud does.

pub mod jwks;
mod keys;
mod peer;

pub use keys::{KeyError, VerifyingKey};
pub use peer::PeerClaims;

use crate::auth::jwks::JwksKeys;
use crate::auth::keys::{read_to_string, write_private};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Audience every agent token must carry.
pub const AGENT_AUDIENCE: &str = "fdt-relay";

/// Claims of an agent token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentClaims {
    /// Account the agent acts for.
    pub sub: String,
    /// Audience; must be [`AGENT_AUDIENCE`].
    pub aud: String,
    /// Expiry (seconds since the Unix epoch).
    pub exp: u64,
    /// Issue time (seconds since the Unix epoch).
    pub iat: u64,
    /// Subdomains the agent may bind; empty means any free name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Most tunnels the agent may hold on one session (0 = relay default).
    #[serde(default)]
    pub max_tunnels: u32,
    /// The cloud authtoken this token was exchanged for: when the cloud reports it revoked,
    /// the relay closes the session. Absent in self-hosted tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atk: Option<String>,
    /// HTTP requests per minute each tunnel of this session may take (the plan's
    /// `requests_per_minute`); 0 = unlimited (self-hosted tokens).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rpm: u32,
    /// The plan keeps request and response bodies in the cloud traffic log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bodies: bool,
    /// The plan shows browsers a warning page before a tunnel's site (free plans; see
    /// [`crate::edge::interstitial`]). Absent on self-hosted tokens, which never warn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warn: bool,
    /// Issuer: the control plane, on its tokens (checked against the verifier's issuer for
    /// tokens of keys with a key ID, which are the control plane's). Absent on self-hosted
    /// tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token ID, on the control plane's tokens: each is accepted on one connection per relay
    /// (see [`TokenVerifier::verify_fresh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl AgentClaims {
    /// Whether these claims allow binding `subdomain`.
    pub fn may_bind(&self, subdomain: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n.eq_ignore_ascii_case(subdomain))
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not a well-formed JWT, or uses another algorithm than EdDSA.
    #[error("malformed token or wrong algorithm")]
    Malformed,
    /// No configured key verifies the signature.
    #[error("token signature not valid for any configured key")]
    BadSignature,
    /// The header names a key ID that no configured or published key has.
    #[error("token signed by an unknown key {0:?}")]
    UnknownKey(String),
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// Wrong or missing audience.
    #[error("token audience is not {AGENT_AUDIENCE}")]
    WrongAudience,
    /// Other validation failure (missing claim, bad claim type).
    #[error("token rejected: {0}")]
    Invalid(String),
    /// A control-plane key signed it, but `iss` is not the control plane this relay follows.
    #[error("token issuer is not {0:?}")]
    WrongIssuer(String),
    /// Its `jti` was already presented to this relay.
    #[error("token already used on this relay")]
    Replayed,
    /// Too many live token IDs are remembered to take one more (refused, not forgotten).
    #[error("too many tokens in use; try again shortly")]
    TooManyTokens,
}

pub use crate::config::DEFAULT_CLOUD_ISSUER;

/// Most token IDs remembered at once (each until its token expires).
const MAX_SEEN_TOKENS: usize = 200_000;

/// Token IDs presented to this relay, each kept until its token's `exp`.
#[derive(Debug, Default)]
struct SeenTokens(std::sync::Mutex<HashMap<String, u64>>);

impl SeenTokens {
    /// Records `jti` (valid until `exp`); false when it was already recorded.
    fn first_use(&self, jti: &str, exp: u64, now: u64) -> Result<(), AuthError> {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(jti).is_some_and(|&until| until >= now) {
            return Err(AuthError::Replayed);
        }
        if seen.len() >= MAX_SEEN_TOKENS {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= MAX_SEEN_TOKENS {
                return Err(AuthError::TooManyTokens);
            }
        }
        // Remembered past `exp` by the verifier's leeway, while the token still verifies.
        seen.insert(jti.to_owned(), exp.saturating_add(LEEWAY_SECS));
        Ok(())
    }
}

/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 30;

/// Verifies agent tokens against Ed25519 public keys: fixed ones (PEM files) and, when
/// configured, the current JWKS. Cheap to clone.
#[derive(Clone)]
pub struct TokenVerifier {
    fixed: Arc<[VerifyingKey]>,
    jwks: Option<Arc<JwksKeys>>,
    validation: Arc<Validation>,
    /// `iss` required on tokens of keys with a key ID (the control plane's).
    issuer: Arc<str>,
    seen: Arc<SeenTokens>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.fixed.len())
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl TokenVerifier {
    /// Builds a verifier from public keys in PEM (SubjectPublicKeyInfo) form.
    pub fn from_public_pems(pems: &[String]) -> Result<Self, KeyError> {
        let keys = pems
            .iter()
            .map(|p| VerifyingKey::from_pem(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(keys, None))
    }

    /// Loads public keys from PEM files.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Self, KeyError> {
        let pems = paths
            .iter()
            .map(|p| read_to_string(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_public_pems(&pems)
    }

    /// A verifier over `fixed` keys and, when given, the keys of a JWKS.
    pub fn new(fixed: Vec<VerifyingKey>, jwks: Option<Arc<JwksKeys>>) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_audience(&[AGENT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            fixed: fixed.into(),
            jwks,
            validation: Arc::new(validation),
            issuer: DEFAULT_CLOUD_ISSUER.into(),
            seen: Arc::default(),
        }
    }

    /// This verifier, requiring `issuer` as the `iss` of the control plane's tokens (those
    /// signed by a key with a key ID).
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// This verifier, also accepting the keys of `jwks`.
    pub fn with_jwks(mut self, jwks: Arc<JwksKeys>) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The JWKS this verifier follows, if any.
    pub fn jwks(&self) -> Option<&Arc<JwksKeys>> {
        self.jwks.as_ref()
    }

    /// Verifies `token` with the keys known now and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AgentClaims, AuthError> {
        // Check the header first so a token with a foreign algorithm is refused as malformed
        // without being run through any key.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Malformed);
        }
        let published = self.jwks.as_ref().map(|j| j.current()).unwrap_or_default();
        let Some(kid) = header.kid else {
            // No key ID: any key may have signed (tokens minted by `TokenSigner`).
            return self.try_keys(token, self.fixed.iter().chain(published.iter()));
        };
        let mut named = published
            .iter()
            .filter(|k| k.kid() == Some(kid.as_str()))
            .peekable();
        if named.peek().is_some() {
            return self.try_keys(token, named);
        }
        match self.try_keys(token, self.fixed.iter()) {
            Err(AuthError::BadSignature) => Err(AuthError::UnknownKey(kid)),
            other => other,
        }
    }

    /// Like [`TokenVerifier::verify`], but a token naming a key ID not yet known makes the
    /// JWKS refetch (at most once per its minimum interval) before the token is judged.
    ///
    /// This is the check for a new agent connection: a token with a `jti` is accepted once
    /// per relay while it lives, so a bind captured off one connection cannot be replayed on
    /// another.
    pub async fn verify_fresh(&self, token: &str) -> Result<AgentClaims, AuthError> {
        let claims = match (self.verify(token), &self.jwks) {
            (Err(AuthError::UnknownKey(kid)), Some(jwks)) => {
                tracing::debug!(%kid, "token names an unknown key: refreshing the JWKS");
                jwks.refresh_for_unknown_kid().await;
                self.verify(token)
            }
            (result, _) => result,
        }?;
        if let Some(jti) = &claims.jti {
            self.seen.first_use(jti, claims.exp, unix_now())?;
        }
        Ok(claims)
    }

    fn try_keys<'a>(
        &self,
        token: &str,
        keys: impl Iterator<Item = &'a VerifyingKey>,
    ) -> Result<AgentClaims, AuthError> {
        let mut last = AuthError::BadSignature;
        for key in keys {
            match jsonwebtoken::decode::<AgentClaims>(token, &key.key, &self.validation) {
                Ok(data)
                    if key.kid().is_some() && data.claims.iss.as_deref() != Some(&*self.issuer) =>
                {
                    return Err(AuthError::WrongIssuer(self.issuer.to_string()));
                }
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::InvalidSignature => AuthError::BadSignature,
                        K::ExpiredSignature => return Err(AuthError::Expired),
                        K::InvalidAudience => return Err(AuthError::WrongAudience),
                        K::MissingRequiredClaim(c) if c == "aud" => {
                            return Err(AuthError::WrongAudience);
                        }
                        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                            return Err(AuthError::Malformed);
                        }
                        other => AuthError::Invalid(format!("{other:?}")),
                    };
                }
            }
        }
        Err(last)
    }
}

/// Signs agent tokens with an Ed25519 private key (self-hosted mode and tests).
pub struct TokenSigner {
    key: EncodingKey,
    public_pem: String,
    public_raw: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(***)")
    }
}

impl TokenSigner {
    /// Generates a fresh Ed25519 key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let kp =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| KeyError::Format {
                path: "<generated>".into(),
                detail: e.to_string(),
            })?;
        Self::from_pems(&kp.serialize_pem(), &kp.public_key_pem(), "<generated>")
    }

    fn from_pems(private_pem: &str, public_pem: &str, path: &str) -> Result<Self, KeyError> {
        let format = |detail: String| KeyError::Format {
            path: path.into(),
            detail,
        };
        let key =
            EncodingKey::from_ed_pem(private_pem.as_bytes()).map_err(|e| format(e.to_string()))?;
        let pair = rcgen::KeyPair::from_pem(private_pem).map_err(|e| format(e.to_string()))?;
        Ok(Self {
            key,
            public_pem: public_pem.to_string(),
            public_raw: pair.public_key_raw().to_vec(),
        })
    }

    /// Loads the key pair from `dir/agent-signing.key` (PKCS#8 PEM) and `dir/agent-signing.pub`,
    /// generating and saving it (private key mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let priv_path = dir.join("agent-signing.key");
        let pub_path = dir.join("agent-signing.pub");
        if priv_path.exists() && pub_path.exists() {
            let private = read_to_string(&priv_path)?;
            let public = read_to_string(&pub_path)?;
            return Self::from_pems(&private, &public, &priv_path.display().to_string());
        }
        let kp =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| KeyError::Format {
                path: priv_path.display().to_string(),
                detail: e.to_string(),
            })?;
        write_private(&priv_path, &kp.serialize_pem())?;
        std::fs::write(&pub_path, kp.public_key_pem()).map_err(|source| KeyError::Io {
            path: pub_path.display().to_string(),
            source,
        })?;
        Self::from_pems(&kp.serialize_pem(), &kp.public_key_pem(), "<generated>")
    }

    /// The matching public key in PEM form, for [`TokenVerifier::from_public_pems`].
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Mints a token for `sub` valid for `ttl_secs`, limited to `names` (empty = any).
    pub fn mint(&self, sub: &str, ttl_secs: u64, names: Vec<String>) -> String {
        let now = unix_now();
        let claims = AgentClaims {
            sub: sub.to_string(),
            aud: AGENT_AUDIENCE.to_string(),
            exp: now + ttl_secs,
            iat: now,
            names,
            max_tunnels: 0,
            atk: None,
            rpm: 0,
            bodies: false,
            warn: false,
            iss: None,
            jti: None,
        };
        self.sign(&claims)
    }

    /// The raw 32-byte public key (the `x` of its JWK, before base64url).
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public_raw
    }

    /// Signs arbitrary claims (tests use this to build expired or mis-addressed tokens).
    pub fn sign(&self, claims: &AgentClaims) -> String {
        self.sign_header(Header::new(Algorithm::EdDSA), claims)
    }

    /// Signs `claims` with `kid` in the header, as the control plane does.
    pub fn sign_with_kid(&self, claims: &AgentClaims, kid: &str) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        self.sign_header(header, claims)
    }

    /// Claims for `sub`, valid for `ttl_secs` from now, for any name.
    pub fn claims(sub: &str, ttl_secs: u64) -> AgentClaims {
        let now = unix_now();
        AgentClaims {
            sub: sub.to_string(),
            aud: AGENT_AUDIENCE.to_string(),
            exp: now + ttl_secs,
            iat: now,
            names: Vec::new(),
            max_tunnels: 0,
            atk: None,
            rpm: 0,
            bodies: false,
            warn: false,
            iss: None,
            jti: None,
        }
    }

    fn sign_header(&self, header: Header, claims: &AgentClaims) -> String {
        // Encoding a serialisable struct with a valid Ed25519 key cannot fail.
        jsonwebtoken::encode(&header, claims, &self.key).unwrap_or_default()
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
