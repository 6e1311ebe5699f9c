//! Console form tests: where `next` may send a browser, and the same-origin check.

#![allow(clippy::unwrap_used)]
use super::*;

/// `next` values that must never leave the site, each in a form some browser or proxy
/// reads as another origin.
const OFF_SITE: &[&str] = &[
    "",
    "x",
    "evil.example",
    "//evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,x",
    // Browsers drop tabs and newlines anywhere in a URL: these are `//evil.example`.
    "/\t/evil.example",
    "/\r/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/a\r\nSet-Cookie: x",
    // Browsers read `\` as `/`.
    "/\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "/\\@evil.example",
    // Percent-encoded slashes, once or twice, decoded by some proxy or framework.
    "/%2F/evil.example",
    "/%2f/evil.example",
    "/%5C/evil.example",
    "/%5c/evil.example",
    "/%252F/evil.example",
    "/%09/evil.example",
    "%2F%2Fevil.example",
    // Userinfo forms.
    "//user@evil.example",
    "https://fdt.invalid@evil.example",
    // Whitespace and other invisible characters.
    " /traffic",
    "/traffic here",
    "/\u{7f}/evil.example",
    "/\u{a0}/evil.example",
];

/// Local paths that must still work.
const ON_SITE: &[&str] = &[
    "/",
    "/traffic?x=1",
    "/tunnels#a",
    "/traffic?method=POST&q=a%2Fb",
    "/authtokens",
    "/admin/users?q=someone%40example.com",
    // A path segment that starts with `@` is still this site's path.
    "/@evil.example",
];

#[test]
fn next_stays_local() {
    for bad in OFF_SITE {
        assert_eq!(safe_next(bad), "/", "{bad:?}");
    }
    for good in ON_SITE {
        assert_eq!(safe_next(good), *good, "{good:?}");
    }
}

#[test]
fn accepted_next_resolves_to_this_origin_as_a_browser_reads_it() {
    // The WHATWG URL parser (what browsers use) as the judge: whatever `safe_next` lets
    // through stays on the site's origin.
    let base = url::Url::parse("http://fdt.invalid/").unwrap();
    for next in OFF_SITE.iter().chain(ON_SITE) {
        let kept = safe_next(next);
        let to = base.join(kept).unwrap();
        assert_eq!(to.origin(), base.origin(), "{next:?} -> {kept:?} -> {to}");
        assert!(!to.path().starts_with("//"), "{next:?} -> {to}");
    }
}

#[test]
fn origin_must_match_host() {
    let mut h = HeaderMap::new();
    assert!(same_origin(&h));
    h.insert(HOST, HeaderValue::from_static("127.0.0.1:8780"));
    h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8780"));
    assert!(same_origin(&h));
    h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
    assert!(!same_origin(&h));
    h.remove(ORIGIN);
    h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    assert!(!same_origin(&h));
}
