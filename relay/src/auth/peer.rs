//! Relay identity tokens: what a relay forwarding visitors presents to the relay holding their
//! tunnel. The control plane signs one into each heartbeat answer with its agent-token ring
//! (audience [`fdt_api::PEER_AUDIENCE`], `sub` the relay's ID); the holder checks it against
//! the published JWKS only — never the PEM keys of self-hosted agent tokens, which an operator
//! may hand out — and requires the control plane's issuer.

use super::{AuthError, LEEWAY_SECS, TokenVerifier};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

/// Claims of a relay identity token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerClaims {
    /// The relay's ID.
    pub sub: String,
    /// Its region.
    pub region: String,
    /// Expiry (seconds since the Unix epoch).
    pub exp: u64,
    /// Issuer: the control plane.
    pub iss: String,
}

impl TokenVerifier {
    /// Verifies a relay identity token with the keys of the JWKS known now (refetched once when
    /// it names an unknown key). `Err` without a JWKS: only a control plane issues them.
    pub async fn verify_peer(&self, token: &str) -> Result<PeerClaims, AuthError> {
        match self.try_peer(token) {
            Err(AuthError::UnknownKey(kid)) => {
                let Some(jwks) = &self.jwks else {
                    return Err(AuthError::UnknownKey(kid));
                };
                jwks.refresh_for_unknown_kid().await;
                self.try_peer(token)
            }
            other => other,
        }
    }

    fn try_peer(&self, token: &str) -> Result<PeerClaims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Malformed);
        }
        let kid = header.kid.ok_or(AuthError::Malformed)?;
        let published = self.jwks.as_ref().map(|j| j.current()).unwrap_or_default();
        let key = published
            .iter()
            .find(|k| k.kid() == Some(kid.as_str()))
            .ok_or(AuthError::UnknownKey(kid))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_audience(&[fdt_api::PEER_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub", "iss"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<PeerClaims>(token, &key.key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature => AuthError::BadSignature,
                    K::ExpiredSignature => AuthError::Expired,
                    K::InvalidAudience | K::MissingRequiredClaim(_) => AuthError::WrongAudience,
                    _ => AuthError::Malformed,
                }
            })?
            .claims;
        if claims.iss != *self.issuer {
            return Err(AuthError::WrongIssuer(self.issuer.to_string()));
        }
        Ok(claims)
    }
}
