//! The error body every `/v1` endpoint answers with: `{"error":{"code":"…","message":"…"}}`.
//!
//! `code` is stable and meant for programs (match on it); `message` is for people and may change.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` object of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// With `limit_exceeded`: the plan limit that was hit (`online_tunnels`, `bandwidth`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// With `validation_failed`, when one field is at fault: its path (`definition.addr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// Builds a body from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                limit: None,
                field: None,
            },
        }
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Stable error codes. New codes may be added; clients see codes they do not know yet as
        /// [`ErrorCode::Other`] rather than failing to parse the body.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this version of the crate does not know.
            Other(String),
        }

        impl ErrorCode {
            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(s) => s,
                }
            }

            fn from_wire(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON.
    InvalidJson => "invalid_json",
    /// The JSON does not fit the endpoint: unknown field, missing field or wrong type.
    InvalidBody => "invalid_body",
    /// The request did not say `Content-Type: application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// The body is larger than the server accepts.
    PayloadTooLarge => "payload_too_large",
    /// A field has a value the endpoint refuses (email shape, password length, …).
    ValidationFailed => "validation_failed",
    /// No access token, or one that is malformed, expired, revoked or not for this API.
    Unauthorized => "unauthorized",
    /// Login failed: unknown email or wrong password (deliberately not told apart).
    InvalidCredentials => "invalid_credentials",
    /// The refresh token is unknown, expired, already used or its session was revoked.
    InvalidRefreshToken => "invalid_refresh_token",
    /// The caller may not do this (an admin route called by a non-admin).
    Forbidden => "forbidden",
    /// The account is suspended by an operator.
    AccountSuspended => "account_suspended",
    /// No such resource (or not one the caller may see).
    NotFound => "not_found",
    /// The path exists but not with this method.
    MethodNotAllowed => "method_not_allowed",
    /// An account with this email already exists.
    EmailTaken => "email_taken",
    /// Too many attempts; the `Retry-After` header says when to try again.
    RateLimited => "rate_limited",
    /// The name is held by a live tunnel of another account (or another agent of this one).
    NameInUse => "name_in_use",
    /// The name is reserved by another account.
    NameReserved => "name_reserved",
    /// A plan limit was reached; `limit` names it.
    LimitExceeded => "limit_exceeded",
    /// No free name or port is left to allocate.
    Exhausted => "exhausted",
    /// The request conflicts with the resource's state (the message says how).
    Conflict => "conflict",
    /// No relay is available to serve the agent right now; retry later.
    NoRelayAvailable => "no_relay_available",
    /// The control plane cannot reach its database right now; retry after `Retry-After`.
    Unavailable => "unavailable",
    /// A service the request needed (a payment provider) refused or could not be reached;
    /// the message says which and what it answered.
    Upstream => "upstream",
    /// Something failed on the server; details are in its log, not in the response.
    Internal => "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A stable error code such as `not_found`; new codes may be added.",
        })
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::EmailTaken, "taken");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "email_taken", "message": "taken"}})
        );
    }

    #[test]
    fn unknown_codes_survive_a_round_trip() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded","message":"m"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Other("quota_exceeded".into()));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"quota_exceeded","message":"m"}}"#
        );
        let known: ErrorCode = serde_json::from_str("\"rate_limited\"").unwrap();
        assert_eq!(known, ErrorCode::RateLimited);
    }
}
