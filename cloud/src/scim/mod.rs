//! SCIM 2.0 provisioning at `/scim/v2` (RFC 7643, RFC 7644): an organisation's identity
//! provider creates, updates and deprovisions its members (`Users`) and their `Groups`, which
//! map to role templates. Callers authenticate with an organisation-scoped SCIM token
//! (`POST /v1/scim/tokens`); every resource read or written is that organisation's, and every
//! change is in the audit log.
//!
//! Parsing, validation, filters and PATCH are sans-IO ([`filter`], [`doc`], [`patch`],
//! [`schema`]); [`provision`] turns writes into memberships; [`resources`] and [`discovery`]
//! are the HTTP handlers.

pub mod discovery;
pub mod doc;
pub mod error;
pub mod filter;
pub mod meta;
pub mod patch;
pub mod provision;
pub mod reads;
pub mod resources;
pub mod schema;

pub use error::{SCIM_JSON, ScimError};

use crate::random::secret_hash;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fdt_api::OrgId;
use serde_json::Value;

/// Where the SCIM service lives.
pub const PREFIX: &str = "/scim/v2";
/// What a SCIM token starts with.
pub const TOKEN_PREFIX: &str = "fdt_scim_";

/// A caller holding a live SCIM token: it acts for `org`.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    /// The organisation the token belongs to.
    pub org: OrgId,
    /// The token's id (the audit log's actor is `scim:<id>`).
    pub token_id: String,
    /// `https://host/scim/v2`, for `meta.location` and `$ref`s.
    pub base: String,
}

impl ScimCaller {
    /// The audit log's actor.
    pub fn actor(&self) -> String {
        format!("scim:{}", self.token_id)
    }
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ScimError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() <= 128)
            .ok_or_else(ScimError::unauthorized)?;
        let (token_id, org) = st
            .store()
            .scim_token(&secret_hash(token))
            .await?
            .ok_or_else(ScimError::unauthorized)?;
        Ok(Self {
            org,
            token_id,
            base: format!(
                "{}{PREFIX}",
                crate::http::device::console_base(st, &parts.headers)
            ),
        })
    }
}

/// A SCIM answer: `status` with `body` as `application/scim+json`.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

/// A request body as JSON (SCIM clients send `application/scim+json`, which axum's `Json`
/// refuses, so the body is read as bytes and parsed here).
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ScimError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/scim+json");
    let essence = media.split(';').next().unwrap_or_default().trim();
    if !(essence.eq_ignore_ascii_case(SCIM_JSON)
        || essence.eq_ignore_ascii_case("application/json"))
    {
        return Err(ScimError::invalid_syntax(format!(
            "send {SCIM_JSON} or application/json, not {media}"
        )));
    }
    if body.len() > schema::MAX_BODY_BYTES {
        return Err(ScimError::invalid_syntax(format!(
            "a body is at most {} bytes",
            schema::MAX_BODY_BYTES
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
}
