//! OpenID Connect single sign-on against a real provider: PyPI's `oidc-provider-mock` (run by
//! this test; the test command installs it), with nonces required. A person signs in to the
//! console in Chromium through the organisation's provider and arrives as a member with the
//! role of their group; replayed callbacks, replayed and injected codes, emails outside the
//! allowed domains and accounts the organisation did not make are refused. (Wrong `aud`,
//! `iss`, `nonce` and expired or forged id_tokens are refused by `sso::id_token`'s tests,
//! against a fixed RSA key: this provider only signs good ones.)

use fdt_api::AccessToken;
use fdt_e2e::Cloud;
use fdt_e2e::browser::Browser;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// The provider, stopped on drop.
struct Provider {
    child: std::process::Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn provider() -> Provider {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("oidc-provider-mock")
        .args(["--port", &port.to_string(), "--require-nonce", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("oidc-provider-mock (pip install 'oidc-provider-mock<0.4') on PATH");
    let url = format!("http://127.0.0.1:{port}");
    let p = Provider { child, url };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let up = http
            .get(format!("{}/.well-known/openid-configuration", p.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("oidc-provider-mock did not start");
}

/// Gives `sub` these claims at the provider.
async fn set_user(p: &Provider, sub: &str, claims: serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/users/{sub}", p.url))
        .json(&claims)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Starts a sign-in at the cloud and authorises `sub` at the provider: the callback URL the
/// provider sends the browser to.
async fn authorise(cloud: &Cloud, org: &str, sub: &str) -> String {
    let http = no_redirects();
    let start = http
        .get(format!("{}/sso/start?org={org}", cloud.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let at_provider = location(&start);
    let url = reqwest::Url::parse(&at_provider).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["nonce"].len() >= 32 && q["state"].len() >= 32);
    let authorised = http
        .post(&at_provider)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("sub={sub}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        authorised.status(),
        302,
        "{}",
        authorised.text().await.unwrap()
    );
    location(&authorised)
}

/// Follows a callback URL: where the cloud sends the browser, and whether it set a cookie.
async fn callback(url: &str) -> (String, bool) {
    let r = no_redirects().get(url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    (location(&r), r.headers().contains_key("set-cookie"))
}

async fn put_sso(cloud: &Cloud, owner: &AccessToken, issuer: &str) {
    let r = reqwest::Client::new()
        .put(format!("{}/v1/sso", cloud.url))
        .bearer_auth(owner.expose_secret())
        .json(&json!({
            "issuer": issuer, "client_id": "fdt-e2e", "client_secret": "s3cret",
            "allowed_domains": ["corp.test"], "groups_claim": "groups",
            "group_roles": {"Engineering": "developer"}, "default_role": "viewer"
        }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_client_secret"], json!(true));
    assert!(
        !body.to_string().contains("s3cret"),
        "the secret is never shown"
    );
}

async fn role_of(cloud: &Cloud, owner: &AccessToken, email: &str) -> Option<String> {
    let members: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/members", cloud.url))
        .bearer_auth(owner.expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == json!(email))
        .and_then(|m| m["role"].as_str().map(str::to_owned))
}

async fn own_org(cloud: &Cloud, who: &AccessToken) -> String {
    let orgs: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/orgs", cloud.url))
        .bearer_auth(who.expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    orgs["orgs"][0]["id"].as_str().unwrap().to_owned()
}

/// A provider, a control plane trusting it (on loopback, over plain HTTP), and an owner
/// whose organisation signs in through it: `(provider, db, cloud, owner, org id)`.
async fn setup() -> (
    Provider,
    fdt_cloud::testing::TestDb,
    Cloud,
    fdt_e2e::CloudAccount,
    String,
) {
    fdt_e2e::init_tracing();
    fdt_e2e::install_crypto();
    let p = provider().await;
    let db = fdt_cloud::testing::TestDb::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cloud = Cloud::start_with(listener, db.store.clone(), |c| {
        c.sso.allow_insecure_issuers = true;
    });
    let owner = cloud.account("owner@corp.test").await.unwrap();
    put_sso(&cloud, &owner.access_token, &p.url).await;
    let org = own_org(&cloud, &owner.access_token).await;
    // The client secret is sealed at rest (the sign-ins below prove it still opens).
    let stored = cloud
        .state
        .store()
        .sso_config(&org.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let secret = stored.client_secret.unwrap();
    assert!(
        secret.starts_with("sealed:v1:") && !secret.contains("s3cret"),
        "{secret}"
    );
    (p, db, cloud, owner, org)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_provider_in_chromium() {
    let (p, _db, cloud, owner, org) = setup().await;
    set_user(
        &p,
        "alice",
        json!({"email": "Alice@corp.test", "email_verified": true, "groups": ["engineering"]}),
    )
    .await;

    let b = Browser::start().await.unwrap();
    b.open(&format!("{}/login", cloud.url)).await.unwrap();
    b.fill("#f-org", &org).await.unwrap();
    b.click("#sso-form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Authorize Client").await.unwrap();
    b.fill("input[name=sub]", "alice").await.unwrap();
    b.click("form button[type=submit]").await.unwrap();
    b.wait_text("h1", "Tunnels").await.unwrap();
    b.screenshot("sso-signed-in").await.unwrap();
    b.close().await.unwrap();

    // A member just in time, with the role of her group.
    assert_eq!(
        role_of(&cloud, &owner.access_token, "alice@corp.test")
            .await
            .as_deref(),
        Some("developer")
    );
    let audit = cloud.state.store().audit_entries(None, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "sso.login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_injections_and_strangers_are_refused() {
    let (p, _db, cloud, owner, org) = setup().await;
    set_user(&p, "bob", json!({"email": "bob@corp.test"})).await;

    // A good sign-in, then the same callback again: the state is spent.
    let cb = authorise(&cloud, &org, "bob").await;
    let (to, cookie) = callback(&cb).await;
    assert_eq!((to.as_str(), cookie), ("/", true));
    assert_eq!(
        role_of(&cloud, &owner.access_token, "bob@corp.test")
            .await
            .as_deref(),
        Some("viewer")
    );
    let (to, cookie) = callback(&cb).await;
    assert_eq!((to.as_str(), cookie), ("/login?error=sso_expired", false));

    // The spent code under a fresh sign-in's state: the provider refuses to trade it again.
    let fresh = authorise(&cloud, &org, "bob").await;
    let fresh = reqwest::Url::parse(&fresh).unwrap();
    let state = fresh
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let old = reqwest::Url::parse(&cb).unwrap();
    let code = old
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut replay = old.clone();
    replay
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", &state);
    let (to, cookie) = callback(replay.as_str()).await;
    assert_eq!((to.as_str(), cookie), ("/login?error=sso_failed", false));

    // A code from another sign-in, injected under this one's state: its PKCE verifier and
    // nonce are not this sign-in's.
    let a = reqwest::Url::parse(&authorise(&cloud, &org, "bob").await).unwrap();
    let b = reqwest::Url::parse(&authorise(&cloud, &org, "bob").await).unwrap();
    let pick = |u: &reqwest::Url, k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .into_owned()
    };
    let mut injected = a.clone();
    injected
        .query_pairs_mut()
        .clear()
        .append_pair("code", &pick(&b, "code"))
        .append_pair("state", &pick(&a, "state"));
    let (to, cookie) = callback(injected.as_str()).await;
    assert_eq!((to.as_str(), cookie), ("/login?error=sso_failed", false));

    // An email outside the allowed domains.
    set_user(&p, "eve", json!({"email": "eve@evil.test"})).await;
    let (to, _) = callback(&authorise(&cloud, &org, "eve").await).await;
    assert_eq!(to, "/login?error=sso_domain");

    // An account the organisation did not make: the provider cannot sign into it, whatever
    // email it asserts.
    let _carol = cloud.account("carol@corp.test").await.unwrap();
    set_user(&p, "carol", json!({"email": "carol@corp.test"})).await;
    let (to, _) = callback(&authorise(&cloud, &org, "carol").await).await;
    assert_eq!(to, "/login?error=sso_account_exists");
    assert_eq!(
        role_of(&cloud, &owner.access_token, "carol@corp.test").await,
        None
    );

    // Denied at the provider: the error comes back with the sign-in's state (RFC 6749
    // §4.1.2.1; this provider's deny button leaves the state out, which is refused as unknown).
    let http = no_redirects();
    let start = http
        .get(format!("{}/sso/start?org={org}", cloud.url))
        .send()
        .await
        .unwrap();
    let state = pick(&reqwest::Url::parse(&location(&start)).unwrap(), "state");
    let denied = format!(
        "{}/sso/callback?error=access_denied&state={state}",
        cloud.url
    );
    let (to, _) = callback(&denied).await;
    assert_eq!(to, "/login?error=sso_denied");
    let (to, _) = callback(&denied).await;
    assert_eq!(to, "/login?error=sso_expired", "a state serves once");
    let r = http
        .get(format!("{}/sso/start?org=org_nope", cloud.url))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login?error=sso_unknown"));

    let audit = cloud.state.store().audit_entries(None, 200).await.unwrap();
    let failures = audit
        .iter()
        .filter(|e| e.action == "sso.login_failed")
        .count();
    assert!(failures >= 5, "{failures} failed sign-ins audited");
}
