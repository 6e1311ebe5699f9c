//! OAuth 2.0 device authorization (RFC 8628), as `fdt login` and the desktop app use it: the
//! device asks for a code pair, shows the user code, and polls while a signed-in user approves
//! that code in the console; the answer to the approved poll is a new authtoken, once.

use crate::authtokens::CreatedAuthtoken;
use serde::{Deserialize, Serialize};

/// Letters of user codes: consonants only, so no code spells a word or mixes up 0/O, 1/I
/// (RFC 8628 §6.1). 20 letters, 8 of them: about 34.6 bits.
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code (shown as `XXXX-XXXX`).
pub const USER_CODE_LEN: usize = 8;
/// Longest client name (a machine's host name).
pub const MAX_CLIENT_NAME: usize = 64;

/// The user code as typed: upper case, letters of [`USER_CODE_ALPHABET`] only, hyphens and
/// spaces dropped. `None` when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A normalized user code as shown: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    match code.get(..4).zip(code.get(4..)) {
        Some((a, b)) => format!("{a}-{b}"),
        None => code.to_owned(),
    }
}

/// `POST /v1/device/code` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceCodeRequest {
    /// The device's name (its host name); the new authtoken's description says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// `POST /v1/device/code` answer (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceCodeResponse {
    /// The secret the device polls with.
    pub device_code: String,
    /// What the user types or checks in the console (`XXXX-XXXX`).
    pub user_code: String,
    /// The console page where the user approves it.
    pub verification_uri: String,
    /// The same page with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds the device waits between polls.
    pub interval: u64,
}

/// `POST /v1/device/token` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceTokenRequest {
    /// The device code from [`DeviceCodeResponse`].
    pub device_code: String,
}

/// The approved poll's answer: a new authtoken of the approving account.
pub type DeviceTokenResponse = CreatedAuthtoken;

/// Why a poll got no token yet (RFC 8628 §3.5), as `{"error": "<code>"}` with status 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DevicePollError {
    /// Not approved or denied yet: poll again after the interval.
    AuthorizationPending,
    /// Polled too fast: wait 5 seconds more from now on.
    SlowDown,
    /// The user denied it.
    AccessDenied,
    /// The code expired (or its token was already handed out): start over.
    ExpiredToken,
}

impl DevicePollError {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// The body of a poll that got no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DevicePollErrorBody {
    /// Why.
    pub error: DevicePollError,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// `POST /v1/device/approve` body: a signed-in user's decision on a user code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceDecision {
    /// The code as the device shows it (case, hyphen and spaces do not matter).
    pub user_code: String,
    /// `true` to approve, `false` to deny.
    pub approve: bool,
}

/// `GET /v1/device/pending?user_code=…`: the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DevicePendingQuery {
    /// The code as typed or linked.
    pub user_code: String,
}

/// `GET /v1/device/pending`: which device waits for a user code, so the person approving can
/// check it is theirs before deciding (RFC 8628 §5.4, remote phishing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DevicePending {
    /// The device's name as it gave it (its host name).
    pub client_name: String,
    /// When it asked.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: time::OffsetDateTime,
    /// When the code expires.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub expires_at: time::OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalize_and_display() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code(" BCDF GHJK ").as_deref(),
            Some("BCDFGHJK")
        );
        for bad in [
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "",
            "ВCDF-GHJK",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
        let e = serde_json::to_string(&DevicePollErrorBody {
            error: DevicePollError::SlowDown,
            error_description: None,
        })
        .unwrap_or_default();
        assert_eq!(e, r#"{"error":"slow_down"}"#);
    }
}
