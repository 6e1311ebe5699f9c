//! The one way pages reach a backend: [`Api`], a small typed layer over a [`Transport`].
//!
//! The transport is what differs between hosts: in the browser it is `fetch` (same origin,
//! cookies included), on the server it is the cloud's own router called in process with the
//! visitor's session, so a server-rendered page and its hydrated copy read the same data.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One call: method, path with query, and an optional JSON body.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path and query, starting with `/`.
    pub path: String,
    /// JSON body.
    pub body: Option<String>,
}

/// The answer: status and body text.
#[derive(Debug, Clone)]
pub struct ApiReply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: String,
}

/// No answer came (network down, server gone); the text says what the transport saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

// Transports build the detail as text from whatever their platform reports; `?` turns it
// into the typed error.
impl From<String> for TransportError {
    fn from(detail: String) -> Self {
        Self(detail)
    }
}

impl From<&str> for TransportError {
    fn from(detail: &str) -> Self {
        Self(detail.to_owned())
    }
}

/// A transport's future. `Send` on every target: browser transports wrap theirs (the browser
/// runs one thread), so resources can be created the same way on server and client.
pub type ApiFuture = Pin<Box<dyn Future<Output = Result<ApiReply, TransportError>> + Send>>;

/// Sends [`ApiRequest`]s somewhere.
pub trait Transport: Send + Sync {
    /// Sends one request; `Err` when no answer came (network down, server gone).
    fn call(&self, req: ApiRequest) -> ApiFuture;
}

/// Why a call failed, in the shape pages show: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFailure {
    /// HTTP status (0 when no answer came).
    pub status: u16,
    /// The API's error code (`network` when no answer came).
    pub code: String,
    /// What to tell the user.
    pub message: String,
    /// The request field the API refused, when it named one (a form shows the message there).
    #[serde(default)]
    pub field: Option<String>,
}

impl ApiFailure {
    fn network(detail: TransportError) -> Self {
        Self {
            status: 0,
            code: "network".into(),
            field: None,
            message: format!("the server could not be reached ({detail})"),
        }
    }

    /// Reads an error reply: `{"error":{"code","message"}}`, or a generic message.
    pub fn from_reply(reply: &ApiReply) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_str(&reply.body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get("error"))
                .and_then(|e| e.get(name))
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        };
        Self {
            status: reply.status,
            code: field("code").unwrap_or_else(|| "http_error".into()),
            message: field("message")
                .unwrap_or_else(|| format!("the server answered HTTP {}", reply.status)),
            field: field("field"),
        }
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of an API call as pages hold it (serialisable, so resources hydrate).
pub type ApiResult<T> = Result<T, ApiFailure>;

/// A typed handle on a [`Transport`]. Cheap to clone; pages take it from context
/// ([`use_api`]).
#[derive(Clone)]
pub struct Api(Arc<dyn Transport>);

impl Api {
    /// Wraps a transport.
    pub fn new(transport: impl Transport + 'static) -> Self {
        Self(Arc::new(transport))
    }

    /// `GET path` → JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: impl Into<String>) -> ApiResult<T> {
        let reply = self.raw("GET", path.into(), None).await?;
        decode(&reply)
    }

    /// `GET path` → body text (bodies, exports).
    pub async fn get_text(&self, path: impl Into<String>) -> ApiResult<String> {
        let reply = self.raw("GET", path.into(), None).await?;
        Ok(reply.body)
    }

    /// `method path` with a JSON body → JSON.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: impl Into<String>,
        body: &B,
    ) -> ApiResult<T> {
        let body = serde_json::to_string(body).map_err(|e| ApiFailure {
            status: 0,
            code: "encode".into(),
            message: e.to_string(),
            field: None,
        })?;
        let reply = self.raw(method, path.into(), Some(body)).await?;
        decode(&reply)
    }

    /// `method path` (optional JSON body), expecting no content back.
    pub async fn act(
        &self,
        method: &'static str,
        path: impl Into<String>,
        body: Option<serde_json::Value>,
    ) -> ApiResult<()> {
        self.raw(method, path.into(), body.map(|b| b.to_string()))
            .await
            .map(drop)
    }

    async fn raw(
        &self,
        method: &'static str,
        path: String,
        body: Option<String>,
    ) -> ApiResult<ApiReply> {
        let reply = self
            .0
            .call(ApiRequest { method, path, body })
            .await
            .map_err(ApiFailure::network)?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(ApiFailure::from_reply(&reply))
        }
    }
}

fn decode<T: DeserializeOwned>(reply: &ApiReply) -> ApiResult<T> {
    serde_json::from_str(&reply.body).map_err(|e| ApiFailure {
        status: reply.status,
        code: "decode".into(),
        message: format!("unexpected answer from the server: {e}"),
        field: None,
    })
}

/// The [`Api`] the host provided.
///
/// # Panics
/// When no host provided one: a wiring bug, caught by every page test.
pub fn use_api() -> Api {
    leptos::prelude::expect_context::<Api>()
}

/// `path?k=v&…` with the present values percent-encoded.
pub fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut out = path.to_owned();
    let mut first = !path.contains('?');
    for (k, v) in params {
        let Some(v) = v.filter(|v| !v.is_empty()) else {
            continue;
        };
        out.push(if first { '?' } else { '&' });
        first = false;
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text (a query string) into pairs.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Decodes one form-encoded component (`+` is a space); bad escapes are kept as they are.
pub fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips() {
        let q = with_query(
            "/v1/requests",
            &[
                ("path", Some("/a b&c")),
                ("method", None),
                ("status", Some("")),
            ],
        );
        assert_eq!(q, "/v1/requests?path=%2Fa%20b%26c");
        let parsed = parse_query(q.split_once('?').map(|(_, q)| q).unwrap_or_default());
        assert_eq!(parsed, vec![("path".to_owned(), "/a b&c".to_owned())]);
        assert_eq!(decode_component("a+b%2"), "a b%2");
        assert_eq!(decode_component("%zz%41"), "%zzA");
    }

    #[test]
    fn error_bodies_become_failures() {
        let reply = ApiReply {
            status: 403,
            body: r#"{"error":{"code":"forbidden","message":"admins only"}}"#.into(),
        };
        let f = ApiFailure::from_reply(&reply);
        assert_eq!(
            (f.status, f.code.as_str(), f.message.as_str()),
            (403, "forbidden", "admins only")
        );
        let f = ApiFailure::from_reply(&ApiReply {
            status: 502,
            body: "<html>".into(),
        });
        assert_eq!(f.code, "http_error");
        assert!(f.message.contains("502"));
    }
}
