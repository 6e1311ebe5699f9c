//! `GET /v1/jwks` (also `/.well-known/jwks.json`): the public keys relays verify agent tokens
//! with, as a JSON Web Key Set (RFC 7517) of Ed25519 keys (RFC 8037).
//!
//! The set holds every key whose tokens may still be live, so a rotated-out key stays listed
//! until the tokens it signed have expired.

use serde::{Deserialize, Serialize};

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Jwks {
    /// The keys, newest first.
    pub keys: Vec<Jwk>,
}

/// One public key: an Ed25519 octet key pair for EdDSA signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The raw 32-byte public key, base64url without padding.
    pub x: String,
    /// Key ID, matched against the `kid` of token headers.
    pub kid: String,
    /// Algorithm: `EdDSA`.
    pub alg: String,
    /// Use: `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

impl Jwk {
    /// An Ed25519 signing key's public half; `x` is the raw key in base64url without padding.
    pub fn ed25519(kid: impl Into<String>, x: impl Into<String>) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serializes_as_rfc_8037() {
        let set = Jwks {
            keys: vec![Jwk::ed25519(
                "k1",
                "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            )],
        };
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            serde_json::json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "k1", "alg": "EdDSA", "use": "sig"
            }]})
        );
    }
}
