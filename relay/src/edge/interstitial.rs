//! The browser warning (abuse interstitial) of free-plan tunnels.
//!
//! A browser's first page view of a tunnel whose token carries the plan's `warn` claim gets a
//! page saying whose site this is before any request reaches the agent; "Visit site" posts to
//! [`CONSENT_PATH`], which sets [`COOKIE`] for that host and sends the visitor back. Everything
//! that is not a browser navigation (API clients, `curl` without `Accept: text/html`, other
//! methods, WebSockets) and every request with [`SKIP_HEADER`] passes untouched.
//!
//! The cookie is `<expiry>.<HMAC-SHA256(relay key, host and expiry)>`: it cannot be made for
//! another host or a later expiry without the key, which each relay draws at start (so a
//! relay restart, or another relay of a fleet, asks again). The consent itself must come from
//! the warning page (same origin), so another site cannot link a visitor past the warning.
//!
//! Deciding is pure ([`step`]); [`browser_warning`] and [`consent_redirect`] render the answers.

use crate::edge::error::{Body, escape_html, full};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sha2::Sha256;

/// Request header that skips the warning (any value), for API clients and scripts.
pub const SKIP_HEADER: &str = "fdt-skip-browser-warning";
/// Path the warning page's "Visit site" form posts to; the edge answers it on warning
/// tunnels, it never reaches the agent.
pub const CONSENT_PATH: &str = "/.fdt/consent";
/// Cookie remembering a visitor's consent for one host (removed before forwarding).
pub const COOKIE: &str = "fdt_warned";
/// How long a consent lasts.
pub const CONSENT_TTL_SECS: u64 = 7 * 24 * 3600;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The relay's key for consent cookies, drawn at start.
pub struct ConsentKey([u8; 32]);

impl std::fmt::Debug for ConsentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsentKey(***)")
    }
}

impl ConsentKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    fn mac(&self, host: &str, exp: u64) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        // The host never holds a newline, so host and expiry cannot be shifted into each other.
        mac.update(format!("fdt-warned\n{host}\n{exp}").as_bytes());
        mac
    }

    /// The cookie value recording consent for `host`, valid [`CONSENT_TTL_SECS`] from `now`.
    pub fn cookie_value(&self, host: &str, now: u64) -> String {
        let exp = now.saturating_add(CONSENT_TTL_SECS);
        let tag = self.mac(host, exp).finalize().into_bytes();
        format!("{exp}.{}", B64.encode(tag))
    }

    /// Whether `value` is an unexpired consent for `host` made with this key (the tag is
    /// compared in constant time).
    pub fn accepts(&self, host: &str, value: &str, now: u64) -> bool {
        let Some((exp, tag)) = value.split_once('.') else {
            return false;
        };
        let (Ok(exp), Ok(tag)) = (exp.parse::<u64>(), B64.decode(tag)) else {
            return false;
        };
        exp >= now && self.mac(host, exp).verify_slice(&tag).is_ok()
    }
}

/// What the edge does with a request to a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Forward it (after removing [`COOKIE`]).
    Forward,
    /// Answer the warning page; "Visit site" returns to `back` (an origin-local path).
    Warn {
        /// Where the visitor goes after consenting.
        back: String,
    },
    /// The visitor consented: set the cookie and redirect (303) to `back`.
    Consent {
        /// Origin-local path to return to.
        back: String,
    },
}

/// The request as [`step`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    /// Method.
    pub method: &'a Method,
    /// Path and query of the target.
    pub target: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The routed host (lower-case, no port).
    pub host: &'a str,
}

/// Decides how a request to a tunnel is handled: `warns` is the tunnel's
/// [`crate::registry::Tunnel::browser_warning`], `now` Unix seconds.
pub fn step(warns: bool, visit: Visit<'_>, key: &ConsentKey, now: u64) -> Step {
    if !warns {
        return Step::Forward;
    }
    let (path, query) = visit.target.split_once('?').unwrap_or((visit.target, ""));
    if path == CONSENT_PATH {
        let back = back_from_query(query).unwrap_or_else(|| "/".to_owned());
        // Only the warning page's own form consents; a consent linked or posted from
        // elsewhere shows the warning for where it leads.
        return if *visit.method == Method::POST && same_origin(visit.headers, visit.host) {
            Step::Consent { back }
        } else {
            Step::Warn { back }
        };
    }
    let h = visit.headers;
    if h.contains_key(SKIP_HEADER) || !is_navigation(visit.method, h) {
        return Step::Forward;
    }
    if cookie_values(h).any(|v| key.accepts(visit.host, v, now)) {
        return Step::Forward;
    }
    Step::Warn {
        back: visit.target.to_owned(),
    }
}

/// A browser loading a page: GET, asking for HTML, not an upgrade, and (when the browser says)
/// a navigation rather than a `fetch`.
fn is_navigation(method: &Method, h: &HeaderMap) -> bool {
    *method == Method::GET
        && crate::edge::error::wants_html(h)
        && !h.contains_key(header::UPGRADE)
        && h.get("sec-fetch-mode").is_none_or(|m| m == "navigate")
}

/// Whether a POST comes from a page of `host` itself: `Sec-Fetch-Site: same-origin` where the
/// browser sends it (HTTPS and localhost), else an `Origin` naming `host`.
fn same_origin(h: &HeaderMap, host: &str) -> bool {
    if let Some(site) = h.get("sec-fetch-site") {
        return site == "same-origin";
    }
    h.get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .and_then(|o| {
            o.strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
        })
        .and_then(|a| a.parse::<http::uri::Authority>().ok())
        .is_some_and(|a| a.host().trim_end_matches('.').eq_ignore_ascii_case(host))
}

/// Values of [`COOKIE`] in the request's `Cookie` headers.
fn cookie_values(h: &HeaderMap) -> impl Iterator<Item = &str> {
    cookie_pairs(h).filter_map(|(name, value)| (name == COOKIE).then_some(value))
}

fn cookie_pairs(h: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (n.trim(), v.trim()))
}

/// Removes [`COOKIE`] from the request's cookies (the service behind the tunnel never sees
/// it); other cookies stay, in one `Cookie` header.
pub fn strip_cookie(h: &mut HeaderMap) {
    if cookie_values(h).next().is_none() {
        return;
    }
    let kept: Vec<String> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && pair.split_once('=').is_none_or(|(n, _)| n.trim() != COOKIE)
        })
        .map(str::to_owned)
        .collect();
    h.remove(header::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&kept.join("; "))
        && !kept.is_empty()
    {
        h.insert(header::COOKIE, v);
    }
}

/// The consent form's action for returning to `back`: [`CONSENT_PATH`] with `back` encoded
/// (base64url, so no query syntax needs escaping).
pub fn consent_action(back: &str) -> String {
    format!("{CONSENT_PATH}?back={}", B64.encode(back))
}

/// `back` from a consent query, if it is an origin-local path (never `//host` or `/\host`,
/// which browsers read as another origin).
fn back_from_query(query: &str) -> Option<String> {
    let encoded = query.split('&').find_map(|kv| kv.strip_prefix("back="))?;
    let back = String::from_utf8(B64.decode(encoded).ok()?).ok()?;
    let local = back.starts_with('/')
        && !back.starts_with("//")
        && !back.starts_with("/\\")
        && back.parse::<http::uri::PathAndQuery>().is_ok();
    local.then_some(back)
}

/// The `Set-Cookie` value recording consent for `host` (`Secure` when the visitor came over
/// HTTPS).
pub fn set_cookie(key: &ConsentKey, host: &str, now: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/; Max-Age={CONSENT_TTL_SECS}; HttpOnly; SameSite=Lax{}",
        key.cookie_value(host, now),
        if secure { "; Secure" } else { "" }
    )
}

/// The edge's step for a routed request: the warning page or the consent redirect when the
/// edge answers itself, else `None` after removing [`COOKIE`] from `req` (which is then
/// forwarded). `tls`: the visitor came over HTTPS (the cookie is then `Secure`).
pub fn gate<B>(
    warns: bool,
    req: &mut http::Request<B>,
    host: &str,
    key: &ConsentKey,
    tls: bool,
) -> Option<Response<Body>> {
    if !warns {
        return None;
    }
    let now = crate::auth::unix_now();
    let visit = Visit {
        method: req.method(),
        target: req.uri().path_and_query().map_or("/", |p| p.as_str()),
        headers: req.headers(),
        host,
    };
    match step(warns, visit, key, now) {
        Step::Forward => {
            strip_cookie(req.headers_mut());
            None
        }
        Step::Warn { back } => Some(browser_warning(host, &consent_action(&back))),
        Step::Consent { back } => Some(consent_redirect(&back, &set_cookie(key, host, now, tls))),
    }
}

/// The warning page's style sheet; the page's CSP admits exactly this (by hash).
const WARNING_STYLE: &str = "body{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;\
padding:0 1em;color:#1a1a1a;background:#fff}h1{font-size:1.5em}code{background:#eee;\
padding:.1em .3em}button{font:inherit;padding:.6em 1.4em;border:0;border-radius:4px;\
background:#0b57d0;color:#fff;cursor:pointer}small{color:#555}";

/// The browser warning for `host`: "Visit site" posts to `action` (from
/// [`consent_action`]). No script; a CSP allowing only its own style and
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
        skip = SKIP_HEADER,
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

#[cfg(test)]
mod tests;
