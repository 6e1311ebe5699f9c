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
//! Deciding is pure ([`step`]); the edge renders the answers ([`crate::pages`]).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, header};
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
        && crate::pages::wants_html(h)
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
) -> Option<http::Response<crate::pages::Body>> {
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
        Step::Warn { back } => Some(crate::pages::browser_warning(host, &consent_action(&back))),
        Step::Consent { back } => Some(crate::pages::consent_redirect(
            &back,
            &set_cookie(key, host, now, tls),
        )),
    }
}

#[cfg(test)]
mod tests;
