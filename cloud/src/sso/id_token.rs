//! Checking an OpenID Connect id_token (OIDC Core §3.1.3.7), sans-IO: the signature against
//! the issuer's JWKS (asymmetric algorithms only: never `none`, never a MAC keyed with
//! something public), `iss`, `aud` (and `azp` when there are several audiences), `exp` and
//! `iat` against the caller's clock, and the `nonce` the sign-in was started with.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use time::OffsetDateTime;

/// How far clocks may disagree, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// Why an id_token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWT, or its header is unreadable.
    #[error("not a JWT: {0}")]
    Malformed(String),
    /// An algorithm this server does not accept (`none`, `HS256`, …).
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    /// No key of the issuer's JWKS has the token's `kid`.
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKey(Option<String>),
    /// The signature, `iss` or `aud` does not check.
    #[error("{0}")]
    Invalid(String),
    /// `exp` is past, or `iat` is in the future.
    #[error("expired or not yet valid")]
    Expired,
    /// `nonce` is not the sign-in's.
    #[error("nonce does not match the sign-in")]
    Nonce,
}

/// What the sign-in needs from a checked id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's subject.
    pub sub: String,
    /// The email claim, lowercased; `None` when absent or `email_verified` is false.
    pub email: Option<String>,
    /// The group names in the configured claim.
    pub groups: Vec<String>,
}

/// What the id_token must say.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The configured issuer.
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// The nonce sent in the authorization request.
    pub nonce: &'a str,
    /// The claim holding group names.
    pub groups_claim: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    aud: Value,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

const ACCEPTED: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Checks `token` against `keys` and `expect`.
pub fn verify(token: &str, keys: &JwkSet, expect: &Expect<'_>) -> Result<Identity, IdTokenError> {
    let header = decode_header(token).map_err(|e| IdTokenError::Malformed(e.to_string()))?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(IdTokenError::Algorithm(format!("{:?}", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a kid, only a set of one key says which.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| IdTokenError::UnknownKey(header.kid.clone()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| IdTokenError::Invalid(e.to_string()))?;
    let mut v = Validation::new(header.alg);
    // Time is checked below against the caller's clock.
    v.validate_exp = false;
    v.required_spec_claims = ["iss", "aud", "sub", "exp"]
        .into_iter()
        .map(str::to_owned)
        .collect::<HashSet<_>>();
    v.set_issuer(&[expect.issuer]);
    v.set_audience(&[expect.client_id]);
    let claims = decode::<Claims>(token, &key, &v)
        .map_err(|e| IdTokenError::Invalid(e.to_string()))?
        .claims;
    // With several audiences, the token must have been issued to us (OIDC Core §3.1.3.7/5).
    if claims.aud.as_array().is_some_and(|a| a.len() > 1)
        && claims.azp.as_deref() != Some(expect.client_id)
    {
        return Err(IdTokenError::Invalid("azp is not this client".into()));
    }
    let now = expect.now.unix_timestamp();
    if claims.exp + LEEWAY_SECS < now || claims.iat.is_some_and(|iat| iat - LEEWAY_SECS > now) {
        return Err(IdTokenError::Expired);
    }
    if claims.nonce.as_deref() != Some(expect.nonce) {
        return Err(IdTokenError::Nonce);
    }
    let verified = claims.rest.get("email_verified") != Some(&Value::Bool(false));
    let email = claims
        .rest
        .get("email")
        .and_then(Value::as_str)
        .filter(|_| verified)
        .map(|e| e.trim().to_lowercase());
    let groups = match claims.rest.get(expect.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .take(256)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(Identity {
        sub: claims.sub,
        email,
        groups,
    })
}

#[cfg(test)]
mod tests;
