//! The web console as a browser without JavaScript sees it: plain form posts, a sign-in
//! cookie, server-rendered pages that carry their data, the admin panel refused to non-admins,
//! a CSP whose nonce is on every inline script, and cookie-authenticated API writes that
//! need the CSRF header.

use crate::common::{TestApp, TestDb};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

on_both_databases!(
    pages_are_rendered_with_their_data_for_the_signed_in_user,
    the_domains_page_shows_records_state_and_certificate_state,
    forms_refuse_cross_site_posts_and_bad_input,
    sign_in_next_with_a_tab_or_encoded_slash_stays_on_the_site,
    session_cookie_on_plain_http_keeps_its_plain_name,
    session_cookie_behind_https_is_secure_with_the_host_prefix,
);

const EMAIL: &str = "console@example.com";
const PASSWORD: &str = "a long enough password";

fn form(path: &str, body: &str, origin: Option<&str>) -> Request<Body> {
    let mut b = Request::post(path)
        .header(header::HOST, "console.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn page(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

fn location(r: &crate::common::TestResponse) -> &str {
    r.headers[header::LOCATION].to_str().unwrap()
}

fn html(r: &crate::common::TestResponse) -> String {
    String::from_utf8_lossy(&r.raw).into_owned()
}

/// Signs up through the form; the `Cookie` header value that signs in.
async fn sign_up(app: &TestApp) -> String {
    let set = sign_up_set_cookie(app).await;
    set.split(';').next().unwrap().to_owned()
}

/// Signs up through the form; the `Set-Cookie` that signs in.
async fn sign_up_set_cookie(app: &TestApp) -> String {
    let r = app
        .call(form(
            "/signup",
            &format!("email={EMAIL}&password=a+long+enough+password"),
            Some("http://console.test"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", html(&r));
    assert_eq!(location(&r), "/");
    let set = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    set.to_owned()
}

async fn pages_are_rendered_with_their_data_for_the_signed_in_user(db: &TestDb) {
    let app = TestApp::new(db);
    // Without a session, pages send the browser to sign in, remembering where it was going.
    let r = app.call(page("/traffic?method=POST", None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Ftraffic%3Fmethod%3DPOST");
    let cookie = sign_up(&app).await;

    // An authtoken made through the API with the cookie (and the CSRF header) shows on the
    // server-rendered page; without the header the write is refused.
    let write = |csrf: bool| {
        let mut b = Request::post("/v1/authtokens")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if csrf {
            b = b.header("x-fdt-csrf", "1");
        }
        b.body(Body::from(r#"{"description":"rendered-token"}"#))
            .unwrap()
    };
    app.call(write(false))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.call(write(true)).await.status, StatusCode::CREATED);
    let r = app.call(page("/authtokens", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = html(&r);
    assert!(body.contains("rendered-token"), "the page carries its data");
    assert!(body.contains(EMAIL));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");

    // Every inline script carries the nonce the CSP allows; no 'unsafe-inline'.
    let csp = r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let mut scripts = 0;
    for tag in body
        .split("<script")
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
    {
        if tag.contains("application/json") {
            continue; // data, not code
        }
        scripts += 1;
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "script without the nonce: {tag}"
        );
    }
    assert!(scripts >= 2, "the hydration data scripts are there");

    // The admin panel: 403 for a user, the page for an admin.
    let r = app.call(page("/admin/users", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!html(&r).contains("Search accounts"));
    app.state.store().grant_admin(EMAIL).await.unwrap();
    let r = app.call(page("/admin/users", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(html(&r).contains(EMAIL));

    // Unknown pages are 404; the sign-in page sends a signed-in user home.
    assert_eq!(
        app.call(page("/traffic/..%2F", Some(&cookie))).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.call(page("/login", Some(&cookie))).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/"));

    // Signing out ends the session: the same cookie no longer opens pages or the API.
    let mut out = form("/logout", "", Some("http://console.test"));
    out.headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    let r = app.call(out).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/login"));
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        app.call(page("/", Some(&cookie))).await.status,
        StatusCode::SEE_OTHER
    );
    let r = app.call(page("/v1/auth/me", Some(&cookie))).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A database outage is an error page (503, retry), not a silent sign-out (last: it
    // closes the store).
    let again = app
        .call(form(
            "/login",
            &format!("email={EMAIL}&password=a+long+enough+password"),
            None,
        ))
        .await;
    let cookie = again.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    app.state.store().close().await;
    let r = app.call(page("/", Some(&cookie))).await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(!r.headers.contains_key(header::LOCATION));
}

async fn forms_refuse_cross_site_posts_and_bad_input(db: &TestDb) {
    let app = TestApp::new(db);
    sign_up(&app).await;
    let login = |body: String, origin: &'static str| app.call(form("/login", &body, Some(origin)));
    // A form on another site cannot sign anyone in (or out).
    let r = login(
        format!("email={EMAIL}&password=a+long+enough+password"),
        "https://evil.example",
    )
    .await;
    assert!(
        location(&r).starts_with("/login?error=bad_origin"),
        "{}",
        location(&r)
    );
    assert!(!r.headers.contains_key(header::SET_COOKIE));
    // A wrong password goes back to the form with the email kept, never the password.
    let r = login(
        format!("email={EMAIL}&password=wrong+password+here"),
        "http://console.test",
    )
    .await;
    let to = location(&r);
    assert!(
        to.starts_with("/login?error=invalid_credentials&email=console%40example.com"),
        "{to}"
    );
    assert!(!to.contains("wrong"));
    // `next` is followed only to a local path.
    let r = login(
        format!(
            "email={EMAIL}&password={}&next=%2F%2Fevil.example",
            PASSWORD.replace(' ', "+")
        ),
        "http://console.test",
    )
    .await;
    assert_eq!(location(&r), "/");
    let r = login(
        format!(
            "email={EMAIL}&password={}&next=%2Ftraffic",
            PASSWORD.replace(' ', "+")
        ),
        "http://console.test",
    )
    .await;
    assert_eq!(location(&r), "/traffic");
    // Sign-up refusals name the field's problem; nothing is created.
    let r = app
        .call(form(
            "/signup",
            "email=new%40example.com&password=short",
            None,
        ))
        .await;
    assert!(
        location(&r).starts_with("/signup?error=weak_password"),
        "{}",
        location(&r)
    );
    let r = app
        .call(form(
            "/signup",
            &format!("email={EMAIL}&password=another+long+password"),
            None,
        ))
        .await;
    assert!(
        location(&r).starts_with("/signup?error=email_taken"),
        "{}",
        location(&r)
    );
    assert!(
        app.state
            .store()
            .account_by_email("new@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The rendered form says what went wrong, in words.
    let r = app
        .call(page(
            "/signup?error=weak_password&email=new%40example.com",
            None,
        ))
        .await;
    assert!(html(&r).contains("Choose a longer password."));
}

async fn sign_in_next_with_a_tab_or_encoded_slash_stays_on_the_site(db: &TestDb) {
    let app = TestApp::new(db);
    sign_up(&app).await;
    let password = PASSWORD.replace(' ', "+");
    let sign_in = |next: &str, password: &str| {
        app.call(form(
            "/login",
            &format!("email={EMAIL}&password={password}&next={next}"),
            Some("http://console.test"),
        ))
    };
    // Form-encoded: `/<TAB>/evil.example`, `/<CR><LF>/…`, `/\/…`, `/%2F/…`, `/%5C/…`. A
    // browser drops the tab and newlines and reads `\` as `/`, so each would be
    // `//evil.example`: another site.
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%0D%0A%2Fevil.example",
        "%2F%5C%2Fevil.example",
        "%2F%252F%2Fevil.example",
        "%2F%255C%2Fevil.example",
    ] {
        let r = sign_in(next, &password).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/", "next={next}");
        assert!(
            r.headers.contains_key(header::SET_COOKIE),
            "signed in anyway"
        );
        // A refused sign-in does not carry it back to the form either.
        let r = sign_in(next, "wrong+password+here").await;
        let to = location(&r);
        assert!(to.starts_with("/login?error=invalid_credentials"), "{to}");
        assert!(to.ends_with("&next=%2F"), "{to}");
    }
    let r = sign_in("%2Ftraffic%3Fx%3D1", &password).await;
    assert_eq!(location(&r), "/traffic?x=1");
}

/// Signs up through the form and checks that the cookie is called `name`, that it opens pages
/// and the API, and that its token under `other` opens neither. Returns the `Set-Cookie` and
/// the `Cookie` value that signs in.
async fn cookie_works_only_as(app: &TestApp, name: &str, other: &str) -> (String, String) {
    let set = sign_up_set_cookie(app).await;
    let pair = set.split(';').next().unwrap().to_owned();
    let (got, token) = pair.split_once('=').unwrap();
    assert_eq!(got, name, "{set}");
    assert!(
        set.contains("; Path=/;") && !set.contains("Domain"),
        "{set}"
    );
    for path in ["/", "/v1/auth/me"] {
        assert_eq!(
            app.call(page(path, Some(&pair))).await.status,
            StatusCode::OK
        );
    }
    let renamed = format!("{other}={token}");
    assert_eq!(
        app.call(page("/", Some(&renamed))).await.status,
        StatusCode::SEE_OTHER
    );
    app.call(page("/v1/auth/me", Some(&renamed)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    (set, pair)
}

async fn session_cookie_on_plain_http_keeps_its_plain_name(db: &TestDb) {
    let app = TestApp::new(db);
    let (set, _) = cookie_works_only_as(&app, "fdt_session", "__Host-fdt_session").await;
    assert!(!set.contains("Secure"), "{set}");
}

async fn session_cookie_behind_https_is_secure_with_the_host_prefix(db: &TestDb) {
    let app = TestApp::with_config(db, |c| c.console.secure_cookies = true);
    // The plain name is one any subdomain or plain-HTTP page could set: not read here.
    let (set, pair) = cookie_works_only_as(&app, "__Host-fdt_session", "fdt_session").await;
    assert!(set.contains("; Secure"), "{set}");
    // Signing out clears the cookie under its own name, with the same attributes.
    let mut out = form("/logout", "", Some("http://console.test"));
    out.headers_mut()
        .insert(header::COOKIE, pair.parse().unwrap());
    let r = app.call(out).await;
    let cleared = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-fdt_session=;")
            && cleared.contains("Max-Age=0")
            && cleared.contains("; Secure"),
        "{cleared}"
    );
}

async fn the_domains_page_shows_records_state_and_certificate_state(db: &TestDb) {
    let app = TestApp::new(db);
    let cookie = sign_up(&app).await;
    let me = app
        .state
        .store()
        .account_by_email(EMAIL)
        .await
        .unwrap()
        .unwrap();
    app.state
        .store()
        .set_account_plan(&me.id, fdt_api::Plan::Pro)
        .await
        .unwrap();
    let r = app.call(page("/domains", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(html(&r).contains("No custom domains"), "{}", html(&r));
    let create = Request::post("/v1/domains")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-fdt-csrf", "1")
        .body(Body::from(
            r#"{"domain":"shop.example.test","route":{"subdomain":"shop"}}"#,
        ))
        .unwrap();
    let created = app.call(create).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let r = app.call(page("/domains", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = html(&r);
    // The two records to create, with this domain's own values, its state and certificate.
    for part in [
        "shop.example.test",
        "_fdt-challenge.shop.example.test",
        created.json["txt"]["value"].as_str().unwrap(),
        created.json["cname"]["value"].as_str().unwrap(),
        "pending",
        "subdomain shop",
        "ordered once the domain is verified",
    ] {
        assert!(body.contains(part), "{part} missing from the page");
    }
    // Operators see it on the admin panel's domains page, with the certificate events list.
    let r = app.call(page("/admin/domains", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.state.store().grant_admin(EMAIL).await.unwrap());
    let r = app.call(page("/admin/domains", Some(&cookie))).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = html(&r);
    assert!(body.contains("shop.example.test"), "{body}");
    assert!(body.contains("No certificate events"), "{body}");
}
