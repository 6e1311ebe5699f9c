//! `/v1/authtokens`: create (the secret is shown once), list (display prefix only), revoke.

use crate::authtoken_format::Authtoken;
use crate::ids::AuthtokenId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `POST /v1/authtokens`: create a token for the caller's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAuthtokenRequest {
    /// Free text to tell tokens apart ("laptop", "CI"); at most
    /// [`crate::validate::MAX_DESCRIPTION_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The answer to a create: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedAuthtoken {
    /// The new token's metadata, as the list shows it.
    #[serde(flatten)]
    pub info: AuthtokenInfo,
    /// The secret. The server keeps only its hash: store it now.
    pub token: Authtoken,
}

/// An authtoken as listed: metadata and display prefix, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuthtokenInfo {
    /// Token ID (used to revoke it).
    pub id: AuthtokenId,
    /// `fdt_` plus the first 8 random characters of the token.
    pub prefix: String,
    /// Description given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the token was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
    /// When the token was last exchanged for an agent session, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::schema::optional_date_time")
    )]
    pub last_used_at: Option<OffsetDateTime>,
}

/// `GET /v1/authtokens`: the caller's live (not revoked) tokens, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuthtokenList {
    /// The tokens.
    pub authtokens: Vec<AuthtokenInfo>,
}
