//! Pages the HTTP edge answers itself when it cannot forward: an HTML page for browsers, a
//! JSON body for API clients, each with a stable error code.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// Body type of every edge response.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Wraps bytes as a response body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// The error code of [`EdgeError::NotHere`], which the forwarding relay looks for.
pub const NOT_HERE: &str = "tunnel_not_here";

/// Why the edge answered itself instead of forwarding. Each maps to one status and one stable
/// error code (shown to the visitor and usable in monitoring).
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No tunnel has ever served this host.
    #[error("no tunnel is bound to {0}")]
    UnknownHost(String),
    /// The tunnel's agent is not connected.
    #[error("the tunnel for {0} is offline: its agent is not connected")]
    TunnelOffline(String),
    /// The tunnel's agent is reconnecting, and the request could not be held until it is back
    /// (see [`crate::edge::hold`]).
    #[error("the tunnel for {0} is reconnecting; retry shortly")]
    Reconnecting(String),
    /// The agent could not reach the local service.
    #[error("the agent could not reach its local service: {0}")]
    UpstreamUnreachable(String),
    /// The tunnel or the relay is at its concurrency limit.
    #[error("too many concurrent requests to this tunnel; retry shortly")]
    Busy,
    /// The tunnel is over its plan's request rate.
    #[error("this tunnel is over its request rate limit; retry shortly")]
    RateLimited,
    /// The visitor's IP is not allowed.
    #[error("access from your address is not allowed")]
    Forbidden,
    /// Basic auth required or wrong.
    #[error("authentication required")]
    Unauthorized,
    /// TLS SNI and Host name different tunnels.
    #[error("the Host header does not match the TLS server name")]
    Misdirected,
    /// Malformed or refused request (absolute-form target, missing Host…).
    #[error("{0}")]
    BadRequest(&'static str),
    /// CONNECT is not served: the edge is not a forward proxy.
    #[error("CONNECT is not supported: this is not a forward proxy")]
    MethodNotAllowed,
    /// The agent did not answer in time.
    #[error("the tunnel did not answer in time")]
    Timeout,
    /// A request another relay forwarded here for a name this relay does not hold (any
    /// more): the forwarding relay's placement is stale. Never shown to a visitor: the
    /// forwarding relay asks again or answers with its own error.
    #[error("this relay does not hold {0}")]
    NotHere(String),
}

impl EdgeError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::UnknownHost(_) | EdgeError::NotHere(_) => StatusCode::NOT_FOUND,
            EdgeError::TunnelOffline(_) | EdgeError::UpstreamUnreachable(_) => {
                StatusCode::BAD_GATEWAY
            }
            EdgeError::Busy | EdgeError::Reconnecting(_) => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            EdgeError::Forbidden => StatusCode::FORBIDDEN,
            EdgeError::Unauthorized => StatusCode::UNAUTHORIZED,
            EdgeError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            EdgeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EdgeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            EdgeError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::UnknownHost(_) => "tunnel_not_found",
            EdgeError::TunnelOffline(_) => "tunnel_offline",
            EdgeError::Reconnecting(_) => "tunnel_reconnecting",
            EdgeError::UpstreamUnreachable(_) => "upstream_unreachable",
            EdgeError::Busy => "tunnel_busy",
            EdgeError::RateLimited => "tunnel_rate_limited",
            EdgeError::Forbidden => "ip_forbidden",
            EdgeError::Unauthorized => "auth_required",
            EdgeError::Misdirected => "misdirected_request",
            EdgeError::BadRequest(_) => "bad_request",
            EdgeError::MethodNotAllowed => "method_not_allowed",
            EdgeError::Timeout => "tunnel_timeout",
            EdgeError::NotHere(_) => NOT_HERE,
        }
    }

    /// Renders the answer; `html` when the visitor's Accept prefers HTML.
    pub fn into_response(self, html: bool) -> Response<Body> {
        let status = self.status();
        let message = self.to_string();
        let (ctype, body) = if html {
            (
                "text/html; charset=utf-8",
                format!(
                    "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code} {reason}</title>\
                     <style>body{{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}}\
                     code{{background:#eee;padding:.1em .3em}}</style></head><body>\
                     <h1>{code} {reason}</h1><p>{msg}</p><p><code>{err}</code></p>\
                     <hr><small>FlyingDarkDevTunnel relay</small></body></html>",
                    code = status.as_u16(),
                    reason = status.canonical_reason().unwrap_or(""),
                    msg = escape_html(&message),
                    err = self.code(),
                ),
            )
        } else {
            (
                "application/json",
                serde_json::json!({
                    "error": { "code": self.code(), "status": status.as_u16(), "message": message }
                })
                .to_string(),
            )
        };
        let mut resp = Response::new(full(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            fdt_proto::wire::ERROR_HEADER,
            HeaderValue::from_static(self.code()),
        );
        match self {
            EdgeError::Unauthorized => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"fdt\", charset=\"UTF-8\""),
                );
            }
            EdgeError::Busy | EdgeError::RateLimited => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            EdgeError::Reconnecting(_) => {
                // Agents retry within seconds (backoff from 0.5 s); a little later is likely
                // to find the name bound again.
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}

/// Whether a request's Accept header prefers an HTML page.
pub fn wants_html(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// `s` safe to place in HTML text and attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn json_and_html_forms() {
        let r = EdgeError::UnknownHost("<x>.localhost".into()).into_response(false);
        assert_eq!(r.status(), 404);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["code"], "tunnel_not_found");
        let r = EdgeError::UnknownHost("<x>.localhost".into()).into_response(true);
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let s = String::from_utf8(b.to_vec()).unwrap();
        assert!(
            s.contains("&lt;x&gt;") && !s.contains("<x>"),
            "escaped: {s}"
        );
    }

    #[tokio::test]
    async fn reconnecting_is_503_with_retry_after() {
        let r = EdgeError::Reconnecting("app.localhost".into()).into_response(false);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert_eq!(r.headers()["x-fdt-error"], "tunnel_reconnecting");
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["code"], "tunnel_reconnecting");
    }
}
