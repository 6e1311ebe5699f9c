//! The browser warning of free-plan tunnels (tokens with the `warn` claim), against a real relay,
//! agent and origin: with curl (who is warned, who passes, the consent flow and its cookie) and
//! in headless Chromium (warned once, "Visit site" lands on the site, the next page is not
//! warned). Screenshots: `e2e/output/screenshots/interstitial-*.png`.

use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::browser::Browser;
use fdt_e2e::client::CurlResponse;
use fdt_e2e::stack::{Agent, DEFAULT_ACCOUNT};
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use fdt_relay::auth::TokenSigner;
use fdt_relay::edge::interstitial::{COOKIE, SKIP_HEADER};
use std::sync::atomic::Ordering;
use std::time::Duration;

const HTML: &str = "Accept: text/html,application/xhtml+xml,*/*;q=0.8";

fn http_tunnel(origin: &HttpOrigin, sub: &str) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(sub.to_string());
    t
}

/// An agent whose token carries the free plan's `warn` claim, serving `subs`.
async fn warning_agent(stack: &Stack, origin: &HttpOrigin, subs: &[&str]) -> Agent {
    let mut claims = TokenSigner::claims(DEFAULT_ACCOUNT, 3600);
    claims.warn = true;
    let tunnels = subs.iter().map(|s| (*s, http_tunnel(origin, s))).collect();
    let mut agent = stack.spawn_agent(stack.sign(&claims), tunnels).unwrap();
    agent.wait_bound().await.unwrap();
    agent
}

fn requests(origin: &HttpOrigin) -> usize {
    origin.stats.requests.load(Ordering::SeqCst)
}

/// `/echo` requests the origin answered (a browser also asks for `/favicon.ico`, which is not
/// a page and passes).
fn pages(origin: &HttpOrigin) -> usize {
    origin.stats.echoed.lock().unwrap().len()
}

fn is_warning(r: &CurlResponse) -> bool {
    r.status == 200 && r.header("x-fdt-interstitial") == Some("browser-warning")
}

/// The "Visit site" form's action on a warning page.
fn consent_action(page: &CurlResponse) -> String {
    let text = page.text();
    let (_, rest) = text.split_once("action=\"").unwrap();
    rest.split_once('"').unwrap().0.to_owned()
}

/// `name=value` of the consent cookie a response sets.
fn consent_cookie(r: &CurlResponse) -> String {
    let set = r.header("set-cookie").unwrap();
    let pair = set.split(';').next().unwrap();
    assert!(pair.starts_with(&format!("{COOKIE}=")), "{set}");
    pair.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_are_warned_once_and_api_clients_never() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let _warn = warning_agent(&stack, &origin, &["free", "free2"]).await;
    let _paid = stack
        .agent(vec![("paid", http_tunnel(&origin, "paid"))])
        .await
        .unwrap();
    let url = stack.http_url("free", "/echo?x=1");

    // A browser-like request gets the page; the origin gets nothing.
    let page = stack.curl(&url).header(HTML).run().await.unwrap();
    assert!(is_warning(&page), "{:?} {}", page.headers, page.text());
    let text = page.text();
    assert!(text.contains("You are about to visit"), "{text}");
    assert!(text.contains(&stack.host("free")), "{text}");
    assert!(
        text.contains("Visit site") && text.contains(SKIP_HEADER),
        "{text}"
    );
    assert!(page.header("set-cookie").is_none());
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(
        requests(&origin),
        0,
        "the warning must not reach the origin"
    );

    // The bypass header (any value), plain curl, and non-GET requests reach the origin.
    let skip = stack
        .curl(&url)
        .header(HTML)
        .header(&format!("{SKIP_HEADER}: yes"))
        .run()
        .await
        .unwrap();
    assert_eq!(skip.status, 200, "{}", skip.text());
    let echo = skip.json().unwrap();
    assert_eq!(echo["path"], "/echo?x=1");
    let plain = stack.curl(&url).run().await.unwrap();
    assert_eq!(plain.json().unwrap()["path"], "/echo?x=1");
    let post = stack
        .curl(&url)
        .header(HTML)
        .args(["--data", "a=1"])
        .run()
        .await
        .unwrap();
    assert_eq!(post.json().unwrap()["method"], "POST");
    assert_eq!(requests(&origin), 3);

    // A tunnel whose token has no `warn` claim never warns.
    let paid = stack
        .curl(&stack.http_url("paid", "/echo"))
        .header(HTML)
        .run()
        .await
        .unwrap();
    assert_eq!(paid.json().unwrap()["path"], "/echo", "{}", paid.text());
    assert_eq!(requests(&origin), 4);

    // A consent posted from another site is not one: the warning again, no cookie.
    let action = consent_action(&page);
    let consent_url = stack.http_url("free", &action);
    let forced = stack
        .curl(&consent_url)
        .args(["--data", ""])
        .header("Sec-Fetch-Site: cross-site")
        .header(HTML)
        .run()
        .await
        .unwrap();
    assert!(is_warning(&forced), "{}", forced.text());
    assert!(forced.header("set-cookie").is_none());

    // "Visit site" from the page: 303 back to where the visitor was going, with the cookie.
    let consent = stack
        .curl(&consent_url)
        .args(["--data", ""])
        .header(&format!(
            "Origin: http://{}:{}",
            stack.host("free"),
            stack.http_addr.port()
        ))
        .run()
        .await
        .unwrap();
    assert_eq!(consent.status, 303, "{:?}", consent.headers);
    assert_eq!(consent.header("location"), Some("/echo?x=1"));
    let set = consent.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(
        requests(&origin),
        4,
        "the consent must not reach the origin"
    );

    // With the cookie the page is served; the service sees the visitor's other cookies only.
    let cookie = consent_cookie(&consent);
    let with_cookie = |sub: &str| {
        stack
            .curl(&stack.http_url(sub, "/echo"))
            .header(HTML)
            .header(&format!("Cookie: a=1; {cookie}; b=2"))
    };
    let visit = with_cookie("free").run().await.unwrap();
    assert_eq!(visit.status, 200, "{}", visit.text());
    let echo = visit.json().unwrap();
    assert_eq!(echo["headers"]["cookie"][0], "a=1; b=2", "{echo}");
    assert_eq!(requests(&origin), 5);

    // The cookie is for that host only, and a forged one counts for nothing.
    let other = with_cookie("free2").run().await.unwrap();
    assert!(is_warning(&other), "{}", other.text());
    let forged = stack
        .curl(&stack.http_url("free", "/echo"))
        .header(HTML)
        .header(&format!("Cookie: {COOKIE}=9999999999.AAAA"))
        .run()
        .await
        .unwrap();
    assert!(is_warning(&forged));
    assert_eq!(requests(&origin), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_cookie_is_secure_over_https() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let _warn = warning_agent(&stack, &origin, &["tls"]).await;
    let page = stack
        .curl(&stack.https_url("tls", "/echo"))
        .header(HTML)
        .run()
        .await
        .unwrap();
    assert!(is_warning(&page), "{}", page.text());
    let consent = stack
        .curl(&stack.https_url("tls", &consent_action(&page)))
        .args(["--data", ""])
        .header("Sec-Fetch-Site: same-origin")
        .run()
        .await
        .unwrap();
    assert_eq!(consent.status, 303);
    assert!(consent.header("set-cookie").unwrap().contains("; Secure"));
    let visit = stack
        .curl(&stack.https_url("tls", "/echo"))
        .header(HTML)
        .header(&format!("Cookie: {}", consent_cookie(&consent)))
        .run()
        .await
        .unwrap();
    assert_eq!(visit.json().unwrap()["path"], "/echo");
    assert_eq!(requests(&origin), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sees_the_warning_once_and_visit_site_opens_the_site() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let _warn = warning_agent(&stack, &origin, &["browse"]).await;
    let b = Browser::start().await.unwrap();
    let url = stack.http_url("browse", "/echo?from=browser");
    let load = |url: String| {
        let b = &b;
        async move {
            tokio::time::timeout(Duration::from_secs(10), b.client.goto(&url))
                .await
                .unwrap()
                .unwrap();
        }
    };

    load(url.clone()).await;
    let heading = b.wait_text("h1", "You are about to visit").await.unwrap();
    assert!(heading.contains(&stack.host("browse")), "{heading}");
    b.screenshot("interstitial-warning").await.unwrap();
    let problems = b.accessibility_problems().await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(pages(&origin), 0);

    b.click("#fdt-visit").await.unwrap();
    // The origin's /echo answers JSON, which Chromium shows as text.
    let shown = b
        .wait_text("body", "\"path\":\"/echo?from=browser\"")
        .await
        .unwrap();
    assert_eq!(b.client.current_url().await.unwrap().as_str(), url);
    let echo: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert!(
        echo["headers"].get("cookie").is_none(),
        "the service saw the consent cookie: {echo}"
    );
    assert_eq!(pages(&origin), 1);

    // A second page of the same site is not warned.
    let second = stack.http_url("browse", "/echo?page=2");
    load(second.clone()).await;
    b.wait_text("body", "\"path\":\"/echo?page=2\"")
        .await
        .unwrap();
    assert_eq!(b.client.current_url().await.unwrap().as_str(), second);
    b.screenshot("interstitial-after-consent").await.unwrap();
    assert_eq!(pages(&origin), 2);
    b.close().await.unwrap();
}
