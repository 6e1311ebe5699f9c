#![allow(clippy::unwrap_used)]
use super::*;
use http_body_util::BodyExt;

const HOST: &str = "app.fdt.example";
const NOW: u64 = 1_700_000_000;
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn decide(warns: bool, method: Method, target: &str, h: &HeaderMap, key: &ConsentKey) -> Step {
    let visit = Visit {
        method: &method,
        target,
        headers: h,
        host: HOST,
    };
    step(warns, visit, key, NOW)
}

fn warn(back: &str) -> Step {
    Step::Warn { back: back.into() }
}

#[test]
fn a_browser_navigation_without_consent_is_warned() {
    let key = ConsentKey::random();
    let h = headers(&[("accept", BROWSER_ACCEPT), ("sec-fetch-mode", "navigate")]);
    assert_eq!(
        decide(true, Method::GET, "/a?b=c", &h, &key),
        warn("/a?b=c")
    );
    // Browsers that send no Sec-Fetch-* (plain HTTP on a public name) are warned too.
    let h = headers(&[("accept", BROWSER_ACCEPT)]);
    assert_eq!(decide(true, Method::GET, "/", &h, &key), warn("/"));
}

#[test]
fn tunnels_without_the_claim_never_warn() {
    let key = ConsentKey::random();
    let h = headers(&[("accept", BROWSER_ACCEPT), ("sec-fetch-mode", "navigate")]);
    assert_eq!(decide(false, Method::GET, "/", &h, &key), Step::Forward);
    // Not even their consent path is the edge's.
    let h = headers(&[("sec-fetch-site", "same-origin")]);
    assert_eq!(
        decide(false, Method::POST, CONSENT_PATH, &h, &key),
        Step::Forward
    );
}

#[test]
fn non_browser_requests_pass() {
    let key = ConsentKey::random();
    let cases: [(Method, HeaderMap); 6] = [
        // curl's default Accept.
        (Method::GET, headers(&[("accept", "*/*")])),
        (Method::GET, HeaderMap::new()),
        (Method::GET, headers(&[("accept", "application/json")])),
        (Method::POST, headers(&[("accept", BROWSER_ACCEPT)])),
        // A page's fetch() asking for HTML is not a navigation.
        (
            Method::GET,
            headers(&[("accept", "text/html"), ("sec-fetch-mode", "cors")]),
        ),
        // A WebSocket handshake.
        (
            Method::GET,
            headers(&[("accept", "text/html"), ("upgrade", "websocket")]),
        ),
    ];
    for (method, h) in cases {
        assert_eq!(
            decide(true, method.clone(), "/", &h, &key),
            Step::Forward,
            "{method} {h:?}"
        );
    }
}

#[test]
fn the_skip_header_passes_with_any_value() {
    let key = ConsentKey::random();
    for v in ["1", "true", ""] {
        let h = headers(&[("accept", BROWSER_ACCEPT), (SKIP_HEADER, v)]);
        assert_eq!(decide(true, Method::GET, "/", &h, &key), Step::Forward);
    }
}

#[test]
fn a_valid_cookie_passes_and_others_are_warned() {
    let key = ConsentKey::random();
    let good = key.cookie_value(HOST, NOW);
    let with = |cookie: &str| {
        headers(&[
            ("accept", BROWSER_ACCEPT),
            ("cookie", &format!("a=1; {COOKIE}={cookie}; b=2")),
        ])
    };
    assert_eq!(
        decide(true, Method::GET, "/", &with(&good), &key),
        Step::Forward
    );
    // HTTP/2 may split cookies over several headers.
    let h = headers(&[
        ("accept", BROWSER_ACCEPT),
        ("cookie", "a=1"),
        ("cookie", &format!("{COOKIE}={good}")),
    ]);
    assert_eq!(decide(true, Method::GET, "/", &h, &key), Step::Forward);

    let other_host = key.cookie_value("other.fdt.example", NOW);
    let other_key = ConsentKey::random().cookie_value(HOST, NOW);
    let (exp, tag) = good.split_once('.').unwrap();
    let later = format!("{}.{tag}", exp.parse::<u64>().unwrap() + 1);
    let expired = key.cookie_value(HOST, NOW - CONSENT_TTL_SECS - 1);
    for bad in [
        other_host.as_str(),
        &other_key,
        &later,
        &expired,
        "1",
        "",
        "x.y",
    ] {
        assert_eq!(
            decide(true, Method::GET, "/", &with(bad), &key),
            warn("/"),
            "{bad:?}"
        );
    }
}

#[test]
fn consent_needs_a_same_origin_post() {
    let key = ConsentKey::random();
    let target = consent_action("/app?x=1");
    let consent = Step::Consent {
        back: "/app?x=1".into(),
    };
    for h in [
        headers(&[("sec-fetch-site", "same-origin")]),
        headers(&[("origin", "http://app.fdt.example:8080")]),
        headers(&[("origin", "https://APP.fdt.example")]),
    ] {
        assert_eq!(
            decide(true, Method::POST, &target, &h, &key),
            consent,
            "{h:?}"
        );
    }
    // Linked or posted from another site, or fetched: the warning for where it leads.
    for (method, h) in [
        (Method::GET, headers(&[("sec-fetch-site", "same-origin")])),
        (Method::POST, headers(&[("sec-fetch-site", "cross-site")])),
        (Method::POST, headers(&[("sec-fetch-site", "same-site")])),
        (
            Method::POST,
            headers(&[
                ("sec-fetch-site", "none"),
                ("origin", "http://app.fdt.example"),
            ]),
        ),
        (Method::POST, headers(&[("origin", "http://evil.example")])),
        (Method::POST, headers(&[("origin", "null")])),
        (Method::POST, HeaderMap::new()),
    ] {
        assert_eq!(
            decide(true, method.clone(), &target, &h, &key),
            warn("/app?x=1"),
            "{method} {h:?}"
        );
    }
    // The consent path is the edge's even with the skip header.
    let h = headers(&[(SKIP_HEADER, "1")]);
    assert_eq!(decide(true, Method::GET, CONSENT_PATH, &h, &key), warn("/"));
}

#[test]
fn consent_only_returns_to_a_local_path() {
    let key = ConsentKey::random();
    let h = headers(&[("sec-fetch-site", "same-origin")]);
    let consent_to = |back: &str| {
        let target = format!("{CONSENT_PATH}?back={}", B64.encode(back));
        decide(true, Method::POST, &target, &h, &key)
    };
    assert_eq!(
        consent_to("/a/b?c=d&e"),
        Step::Consent {
            back: "/a/b?c=d&e".into()
        }
    );
    let home = Step::Consent { back: "/".into() };
    for bad in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "evil",
        "/a b",
        "/\r\nSet-Cookie: x=1",
    ] {
        assert_eq!(consent_to(bad), home, "{bad:?}");
    }
    for query in ["", "back=%2F%2Fevil", "back=!!", "other=1"] {
        let target = format!("{CONSENT_PATH}?{query}");
        assert_eq!(decide(true, Method::POST, &target, &h, &key), home);
    }
}

#[test]
fn the_cookie_is_removed_and_other_cookies_kept() {
    let mut h = headers(&[
        ("cookie", &format!("a=1; {COOKIE}=x.y")),
        ("cookie", &format!("{COOKIE}=z; b=2")),
        ("accept", "*/*"),
    ]);
    strip_cookie(&mut h);
    let cookies: Vec<_> = h.get_all(header::COOKIE).iter().collect();
    assert_eq!(cookies, ["a=1; b=2"]);
    let mut h = headers(&[("cookie", &format!("{COOKIE}=x.y"))]);
    strip_cookie(&mut h);
    assert!(!h.contains_key(header::COOKIE));
    // Requests without it are left exactly as they were.
    let mut h = headers(&[("cookie", "a=1"), ("cookie", "b=2")]);
    strip_cookie(&mut h);
    assert_eq!(h.get_all(header::COOKIE).iter().count(), 2);
}

#[test]
fn set_cookie_attributes() {
    let key = ConsentKey::random();
    let c = set_cookie(&key, HOST, NOW, true);
    let value = c
        .strip_prefix(&format!("{COOKIE}="))
        .and_then(|r| r.split(';').next())
        .unwrap();
    assert!(key.accepts(HOST, value, NOW + CONSENT_TTL_SECS));
    assert!(!key.accepts(HOST, value, NOW + CONSENT_TTL_SECS + 1));
    for attr in [
        "Path=/",
        "Max-Age=604800",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
    ] {
        assert!(c.contains(&format!("; {attr}")), "{attr} in {c}");
    }
    assert!(!set_cookie(&key, HOST, NOW, false).contains("Secure"));
    assert_eq!(format!("{key:?}"), "ConsentKey(***)");
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
