//! Pages the HTTP edge answers itself: errors (an HTML page for browsers, a JSON body for API
//! clients) and the browser warning of free-plan tunnels ([`crate::interstitial`]).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// Body type of every edge response.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Wraps bytes as a response body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

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
    /// (see [`crate::hold`]).
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
}

impl EdgeError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::UnknownHost(_) => StatusCode::NOT_FOUND,
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

/// The warning page's style sheet; the page's CSP admits exactly this (by hash).
const WARNING_STYLE: &str = "body{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;\
padding:0 1em;color:#1a1a1a;background:#fff}h1{font-size:1.5em}code{background:#eee;\
padding:.1em .3em}button{font:inherit;padding:.6em 1.4em;border:0;border-radius:4px;\
background:#0b57d0;color:#fff;cursor:pointer}small{color:#555}";

/// The browser warning for `host`: "Visit site" posts to `action` (from
/// [`crate::interstitial::consent_action`]). No script; a CSP allowing only its own style and
/// a form to its own origin, and no framing (the button cannot be clickjacked).
pub fn browser_warning(host: &str, action: &str) -> Response<Body> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let host = escape_html(host);
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>You are about to visit {host}</title><style>{WARNING_STYLE}</style></head><body>\
         <h1>You are about to visit <span id=\"fdt-host\">{host}</span></h1>\
         <p>This site is served through FlyingDarkDevTunnel by a free account. We do not \
         know who runs it.</p>\
         <p>Continue only if you trust whoever sent you here: do not enter passwords, payment \
         details or other personal data unless you know the site is genuine.</p>\
         <form method=\"post\" action=\"{action}\"><button type=\"submit\" id=\"fdt-visit\">\
         Visit site</button></form>\
         <hr><p><small>Are you the developer? Send the <code>{skip}</code> request header \
         (any value) to skip this page, or move to a paid plan to remove it.</small></p>\
         </body></html>",
        action = escape_html(action),
        skip = crate::interstitial::SKIP_HEADER,
    );
    let style_hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(WARNING_STYLE));
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut resp = Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        INTERSTITIAL_HEADER,
        HeaderValue::from_static("browser-warning"),
    );
    resp
}

/// Response header marking the edge's browser warning (so a client can tell it from the
/// site's own pages).
pub const INTERSTITIAL_HEADER: &str = "x-fdt-interstitial";

/// The answer to a consent: 303 to `back` (an origin-local path) setting `cookie`.
pub fn consent_redirect(back: &str, cookie: &str) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(back) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn escape_html(s: &str) -> String {
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
    async fn the_browser_warning_escapes_the_host_and_admits_only_its_style() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let r = browser_warning("<b>.localhost", "/.fdt/consent?back=Lw");
        assert_eq!(r.status(), 200);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let b = r.into_body().collect().await.unwrap().to_bytes();
        let s = String::from_utf8(b.to_vec()).unwrap();
        assert!(
            s.contains("&lt;b&gt;.localhost") && !s.contains("<b>"),
            "{s}"
        );
        assert!(s.contains("action=\"/.fdt/consent?back=Lw\""), "{s}");
        assert!(!s.contains("<script"), "{s}");
        // The style element's text is exactly what the CSP's hash admits.
        let style = s
            .split("<style>")
            .nth(1)
            .unwrap()
            .split("</style>")
            .next()
            .unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
        assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
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
