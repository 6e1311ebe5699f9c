//! `/v1/auth`: register, login, refresh, logout, me.
//!
//! Request types refuse unknown fields, so a typo in a field name is an error rather than a
//! silently ignored value. Response types accept unknown fields, so older clients keep working
//! when the server adds one. Secrets (passwords, tokens) are newtypes whose `Debug` hides them.

use crate::ids::{AccountId, SessionId};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(secret.into())
            }

            /// The secret itself. Never log it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

secret_string!(
    /// A password as typed by its owner.
    Password
);
secret_string!(
    /// A short-lived access token (a JWT) sent as `Authorization: Bearer …`.
    AccessToken
);
secret_string!(
    /// A long-lived, single-use refresh token, exchanged for a new token pair.
    RefreshToken
);

/// `POST /v1/auth/register`: create an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address (the login name); compared case-insensitively.
    pub email: String,
    /// Password, at least [`crate::validate::MIN_PASSWORD_CHARS`] characters.
    pub password: Password,
}

/// `POST /v1/auth/login`: exchange email and password for a token pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: Password,
}

/// `POST /v1/auth/refresh` and `POST /v1/auth/logout`: name a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the latest token pair.
    pub refresh_token: RefreshToken,
}

/// The only token type the API issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum TokenType {
    /// Send the access token as `Authorization: Bearer <token>`.
    Bearer,
}

/// A token pair, answered by login and refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenResponse {
    /// Access token for `Authorization: Bearer`.
    pub access_token: AccessToken,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Refresh token; single use — each refresh returns a new one.
    pub refresh_token: RefreshToken,
    /// Seconds until the refresh token expires if unused.
    pub refresh_expires_in: u64,
    /// The login session these tokens belong to.
    pub session_id: SessionId,
}

/// An account as its owner sees it (`GET /v1/auth/me`, and the answer to register).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Account {
    /// Account ID.
    pub id: AccountId,
    /// Email address, normalized (trimmed, lower-case).
    pub email: String,
    /// When the account was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let req = LoginRequest {
            email: "a@b.co".into(),
            password: Password::new("hunter2hunter2"),
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Password(***)"));
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let err = serde_json::from_str::<LoginRequest>(
            r#"{"email":"a@b.co","password":"0123456789","admin":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn token_type_is_bearer_on_the_wire() {
        assert_eq!(
            serde_json::to_string(&TokenType::Bearer).unwrap(),
            "\"Bearer\""
        );
    }
}
