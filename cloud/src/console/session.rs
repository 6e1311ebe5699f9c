//! The console's sign-in cookie: an access token (EdDSA JWT) for a live session, in an
//! `HttpOnly`, `SameSite=Lax` cookie. The API accepts it like a bearer token (writes also need
//! [`CSRF_HEADER`]); signing out revokes the session, which ends the cookie at once.

use axum::http::HeaderMap;

/// The cookie's name.
pub const COOKIE_NAME: &str = "fdt_session";

/// The header that cookie-authenticated writes must carry (any value).
pub const CSRF_HEADER: &str = "x-fdt-csrf";

pub use fdt_ui::site::cookie;

/// The sign-in cookie's token.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME).map(str::to_owned)
}

/// `Set-Cookie` for a new sign-in.
pub fn set_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that removes the sign-in.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    #[test]
    fn reads_the_right_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; fdt_session=tok.en; fdt_theme=dark"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok.en"));
        assert_eq!(cookie(&h, fdt_ui::site::THEME_COOKIE), Some("dark"));
        assert_eq!(cookie(&h, "missing"), None);
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("fdt_session="));
        assert_eq!(cookie_token(&empty), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("t", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
