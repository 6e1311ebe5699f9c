//! The console's sign-in cookie: an access token (EdDSA JWT) for a live session, in an
//! `HttpOnly`, `SameSite=Lax` cookie. The API accepts it like a bearer token (writes also need
//! [`CSRF_HEADER`]); signing out revokes the session, which ends the cookie at once.
//!
//! Behind HTTPS (`[console] secure_cookies`) the cookie is `Secure` and named with the
//! `__Host-` prefix, so browsers only accept it from this host over HTTPS with `Path=/` and no
//! `Domain`: a sibling subdomain or a plain-HTTP page cannot plant or shadow it. On plain HTTP
//! (a loopback dev set-up) it keeps the bare name, which browsers accept there.

use crate::config::ConsoleConfig;
use axum::http::HeaderMap;

/// The cookie's name on plain HTTP.
pub const COOKIE_NAME: &str = "fdt_session";

/// The cookie's name behind HTTPS.
pub const SECURE_COOKIE_NAME: &str = "__Host-fdt_session";

/// The cookie naming the organisation the console acts in, on plain HTTP.
pub const ORG_COOKIE_NAME: &str = "fdt_org";

/// The same behind HTTPS.
pub const SECURE_ORG_COOKIE_NAME: &str = "__Host-fdt_org";

/// The header that cookie-authenticated writes must carry (any value).
pub const CSRF_HEADER: &str = "x-fdt-csrf";

pub use fdt_ui::site::cookie;

/// The sign-in cookie as this deployment writes and reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCookie {
    secure: bool,
}

impl SessionCookie {
    /// The cookie the console's configuration calls for.
    pub fn of(console: &ConsoleConfig) -> Self {
        Self {
            secure: console.secure_cookies,
        }
    }

    /// Its name: [`SECURE_COOKIE_NAME`] behind HTTPS, else [`COOKIE_NAME`].
    pub fn name(self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    /// The sign-in token a request carries under this name (the other name is ignored).
    pub fn token(self, headers: &HeaderMap) -> Option<String> {
        cookie(headers, self.name()).map(str::to_owned)
    }

    /// `Set-Cookie` for a new sign-in.
    pub fn set(self, token: &str, max_age_secs: u64) -> String {
        format!(
            "{}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}",
            self.name(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` that removes the sign-in.
    pub fn clear(self) -> String {
        self.set("", 0)
    }

    /// The organisation cookie's name.
    pub fn org_name(self) -> &'static str {
        if self.secure {
            SECURE_ORG_COOKIE_NAME
        } else {
            ORG_COOKIE_NAME
        }
    }

    /// The organisation a request's console cookie names, if any (unchecked).
    pub fn org(self, headers: &HeaderMap) -> Option<fdt_api::OrgId> {
        cookie(headers, self.org_name()).and_then(|v| v.parse().ok())
    }

    /// `Set-Cookie` choosing `org` (`None`: back to the person's own).
    pub fn set_org(self, org: Option<&fdt_api::OrgId>) -> String {
        let (value, age) = match org {
            Some(o) => (o.to_string(), 400 * 24 * 3600),
            None => (String::new(), 0),
        };
        format!(
            "{}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{}",
            self.org_name(),
            if self.secure { "; Secure" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    const PLAIN: SessionCookie = SessionCookie { secure: false };
    const SECURE: SessionCookie = SessionCookie { secure: true };

    #[test]
    fn reads_the_right_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; fdt_session=tok.en; fdt_theme=dark"),
        );
        assert_eq!(PLAIN.token(&h).as_deref(), Some("tok.en"));
        assert_eq!(SECURE.token(&h), None);
        assert_eq!(cookie(&h, fdt_ui::site::THEME_COOKIE), Some("dark"));
        assert_eq!(cookie(&h, "missing"), None);
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("fdt_session="));
        assert_eq!(PLAIN.token(&empty), None);
        let mut host = HeaderMap::new();
        host.append(COOKIE, HeaderValue::from_static("__Host-fdt_session=s.ec"));
        assert_eq!(SECURE.token(&host).as_deref(), Some("s.ec"));
        assert_eq!(PLAIN.token(&host), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = SECURE.set("t", 60);
        assert!(c.starts_with("__Host-fdt_session=t; Path=/;"), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!c.contains("Domain"), "{c}");
        let p = PLAIN.set("t", 60);
        assert!(
            p.starts_with("fdt_session=t;") && !p.contains("Secure"),
            "{p}"
        );
        assert!(PLAIN.clear().contains("Max-Age=0"));
        assert!(SECURE.clear().starts_with("__Host-fdt_session=;"));
    }
}
