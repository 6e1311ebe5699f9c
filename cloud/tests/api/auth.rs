//! `/v1/auth`: the register → login → refresh → reuse story, logout, me, conflicts, validation,
//! and the login and registration limits.

use crate::common::{PASSWORD, TestApp, TestDb, Tokens};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;
use std::net::SocketAddr;
use time::Duration;

on_both_databases!(
    register_login_refresh_then_reuse_revokes_the_whole_family,
    logout_ends_the_session_and_is_idempotent,
    me_needs_a_valid_access_token,
    access_token_expires_with_the_clock,
    duplicate_email_is_a_conflict,
    registration_validates_email_and_password,
    wrong_password_and_unknown_email_answer_alike,
    login_brute_force_from_one_address_gets_429_until_its_window_ends,
    login_limit_per_ip_spares_other_clients,
    login_guesses_from_other_addresses_never_lock_the_owner_out,
    registration_from_one_address_is_limited_per_minute,
    register_limit_counts_the_client_behind_a_trusted_proxy_never_a_spoofed_header,
);

async fn refresh(app: &TestApp, token: &str) -> crate::common::TestResponse {
    app.post("/v1/auth/refresh", json!({ "refresh_token": token }), None)
        .await
}

async fn register_login_refresh_then_reuse_revokes_the_whole_family(db: &TestDb) {
    let app = TestApp::new(db);
    let account = app.register("  Alice@Example.COM ", PASSWORD).await;
    assert_eq!(account["email"], "alice@example.com");
    assert!(account["id"].as_str().unwrap().starts_with("acc_"));

    let login = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    assert_eq!(login.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(login.json["token_type"], "Bearer");
    assert_eq!(login.json["expires_in"], 600);
    let first = Tokens::from(&login);
    let me = app.get("/v1/auth/me", Some(&first.access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json, account);

    // Refresh: a new pair, in the same session.
    let r = refresh(&app, &first.refresh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["session_id"], login.json["session_id"]);
    let second = Tokens::from(&r);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(
        app.get("/v1/auth/me", Some(&second.access)).await.status,
        StatusCode::OK
    );

    // The spent token again: reuse is detected...
    refresh(&app, &first.refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    // ...and the whole family is revoked: the newer refresh token fails too,
    refresh(&app, &second.refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    // and so do the access tokens issued in that session.
    for access in [&first.access, &second.access] {
        app.get("/v1/auth/me", Some(access))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }

    // The owner is not locked out: a new login starts a new session.
    let again = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(again.status, StatusCode::OK);
    let stats = app.stats().await;
    assert_eq!(
        (stats.accounts, stats.sessions, stats.refresh_tokens),
        (1, 2, 3)
    );
}

async fn logout_ends_the_session_and_is_idempotent(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("bob@example.com").await;
    let out = app
        .post(
            "/v1/auth/logout",
            json!({ "refresh_token": t.refresh }),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.raw.is_empty());
    refresh(&app, &t.refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    app.get("/v1/auth/me", Some(&t.access))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    for token in [t.refresh.as_str(), "fdr_unknown", ""] {
        let r = app
            .post("/v1/auth/logout", json!({ "refresh_token": token }), None)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{token}");
    }
}

async fn me_needs_a_valid_access_token(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("carol@example.com").await;
    let missing = app.get("/v1/auth/me", None).await;
    missing.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
    app.get("/v1/auth/me", Some("not-a-jwt"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // A refresh token is not an access token.
    app.get("/v1/auth/me", Some(&t.refresh))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let basic = TestApp::request(Method::GET, "/v1/auth/me", None, None)
        .header(header::AUTHORIZATION, format!("Basic {}", t.access))
        .body(Body::empty())
        .unwrap();
    app.call(basic)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let ok = app.get("/v1/auth/me", Some(&t.access)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json["email"], "carol@example.com");
}

async fn access_token_expires_with_the_clock(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("dan@example.com").await;
    // Lifetime 600 s plus 5 s tolerated skew.
    app.clock.advance(Duration::seconds(604));
    assert_eq!(
        app.get("/v1/auth/me", Some(&t.access)).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::seconds(1));
    app.get("/v1/auth/me", Some(&t.access))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The refresh token still gets a fresh one.
    let r = refresh(&app, &t.refresh).await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = Tokens::from(&r);
    assert_eq!(
        app.get("/v1/auth/me", Some(&fresh.access)).await.status,
        StatusCode::OK
    );
}

async fn duplicate_email_is_a_conflict(db: &TestDb) {
    let app = TestApp::new(db);
    app.register("dup@example.com", PASSWORD).await;
    let again = app
        .post(
            "/v1/auth/register",
            json!({"email": " DUP@example.com", "password": "another password"}),
            None,
        )
        .await;
    again.assert_error(StatusCode::CONFLICT, "email_taken");
    assert_eq!(app.stats().await.accounts, 1);
    // The first password still works; the second was never stored.
    assert_eq!(
        app.login("dup@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("dup@example.com", "another password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn registration_validates_email_and_password(db: &TestDb) {
    let app = TestApp::new(db);
    for (email, password) in [
        ("not-an-email", PASSWORD),
        ("a@b", PASSWORD),
        ("a b@example.com", PASSWORD),
        ("ok@example.com", "123456789"),
        ("ok@example.com", ""),
    ] {
        let r = app
            .post(
                "/v1/auth/register",
                json!({"email": email, "password": password}),
                None,
            )
            .await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(app.stats().await.accounts, 0);
    // Exactly ten characters is enough.
    app.register("ok@example.com", "0123456789").await;
}

async fn wrong_password_and_unknown_email_answer_alike(db: &TestDb) {
    let app = TestApp::new(db);
    app.register("erin@example.com", PASSWORD).await;
    let wrong = app.login("erin@example.com", "wrong password").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    unknown.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong.json, unknown.json);
    assert_eq!(app.stats().await.sessions, 0);
}

async fn login_brute_force_from_one_address_gets_429_until_its_window_ends(db: &TestDb) {
    // test_config: 3 failures per (address, email) per 60 s window.
    let app = TestApp::new(db);
    app.register("victim@example.com", PASSWORD).await;
    let guesser: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let login_from = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        app.post_from(guesser, "/v1/auth/login", body, &[])
    };
    for _ in 0..3 {
        login_from("victim@example.com", "guess guess guess")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Even the right password is refused from that address while the window lasts.
    let limited = login_from("victim@example.com", PASSWORD).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "60");
    // The email is what is counted, whatever its case.
    app.clock.advance(Duration::seconds(45));
    let still = login_from("VICTIM@example.com", PASSWORD).await;
    still.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(still.headers[header::RETRY_AFTER], "15");

    // When the window ends, the right password gets in...
    app.clock.advance(Duration::seconds(15));
    let ok = login_from("victim@example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    // ...and a success clears the count: the next mistake is a plain 401.
    login_from("victim@example.com", "typo typo typo")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(app.stats().await.sessions, 1);
}

async fn login_limit_per_ip_spares_other_clients(db: &TestDb) {
    // test_config: 5 failures per IP per window (and 3 per IP and email, so spread over
    // emails).
    let app = TestApp::new(db);
    app.register("frank@example.com", PASSWORD).await;
    let attacker: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let other: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let login_from = |peer: SocketAddr, email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        app.post_from(peer, "/v1/auth/login", body, &[])
    };
    for i in 0..5 {
        let r = login_from(attacker, &format!("user{i}@example.com"), "nope nope nope").await;
        r.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let blocked = login_from(attacker, "frank@example.com", PASSWORD).await;
    blocked.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(blocked.headers.contains_key(header::RETRY_AFTER));
    // Frank, from his own address, is not affected.
    let frank = login_from(other, "frank@example.com", PASSWORD).await;
    assert_eq!(frank.status, StatusCode::OK, "{}", frank.json);
}

async fn registration_from_one_address_is_limited_per_minute(db: &TestDb) {
    // The default: 10 registrations per client address per 60 s.
    let app = TestApp::new(db);
    let bot: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let person: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let register_from = |peer: SocketAddr, email: String| {
        let body = json!({"email": email, "password": PASSWORD});
        app.post_from(peer, "/v1/auth/register", body, &[])
    };
    for i in 0..10 {
        let r = register_from(bot, format!("bot{i}@example.com")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.json);
    }
    let limited = register_from(bot, "bot10@example.com".into()).await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "60");
    // The console's sign-up form is the same registration.
    let form = TestApp::request(Method::POST, "/signup", None, Some(bot))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "email=bot11%40example.com&password={}",
            PASSWORD.replace(' ', "+")
        )))
        .unwrap();
    let r = app.call(form).await;
    let to = r.headers[header::LOCATION].to_str().unwrap();
    assert!(to.starts_with("/signup?error=rate_limited"), "{to}");
    assert_eq!(app.stats().await.accounts, 10);
    // Someone else is not affected, and the window ends by itself.
    let r = register_from(person, "person@example.com".into()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    app.clock.advance(Duration::seconds(60));
    let r = register_from(bot, "bot12@example.com".into()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
}

async fn register_limit_counts_the_client_behind_a_trusted_proxy_never_a_spoofed_header(
    db: &TestDb,
) {
    let app = TestApp::with_config(db, |c| {
        c.auth.register_limit.max_per_ip = 2;
        c.trusted_proxies = "10.0.0.0/8".parse().unwrap();
    });
    let proxy: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let direct: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let mut n = 0;
    let mut register = |peer: SocketAddr, forwarded_for: &str| {
        n += 1;
        let body = json!({"email": format!("user{n}@example.com"), "password": PASSWORD});
        let forwarded_for = forwarded_for.to_owned();
        let app = &app;
        async move {
            app.post_from(
                peer,
                "/v1/auth/register",
                body,
                &[("x-forwarded-for", &forwarded_for)],
            )
            .await
            .status
        }
    };
    // Behind the proxy, each client is counted by the address the proxy heard from, even
    // with a header of its own in front.
    assert_eq!(register(proxy, "203.0.113.5").await, StatusCode::CREATED);
    assert_eq!(
        register(proxy, "192.0.2.1, 203.0.113.5").await,
        StatusCode::CREATED
    );
    assert_eq!(
        register(proxy, "192.0.2.2, 203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(register(proxy, "203.0.113.6").await, StatusCode::CREATED);
    // A client that is not a proxy is counted by its own address, whatever it claims.
    assert_eq!(register(direct, "192.0.2.3").await, StatusCode::CREATED);
    assert_eq!(register(direct, "192.0.2.4").await, StatusCode::CREATED);
    assert_eq!(
        register(direct, "192.0.2.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn login_guesses_from_other_addresses_never_lock_the_owner_out(db: &TestDb) {
    // test_config: 3 failures per (address, email), 5 per address.
    let app = TestApp::new(db);
    app.register("owner@example.com", PASSWORD).await;
    let attacker: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let owner: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let login_from = |peer: SocketAddr, password: &str| {
        let body = json!({"email": "owner@example.com", "password": password});
        app.post_from(peer, "/v1/auth/login", body, &[])
    };
    for _ in 0..3 {
        login_from(attacker, "guess guess guess")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The guessing address is refused, even with the right password...
    let refused = login_from(attacker, PASSWORD).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(refused.headers[header::RETRY_AFTER], "60");
    // ...while the owner, from their own address, gets in.
    let ok = login_from(owner, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    // Guesses spread over many addresses are slowed down, never answered 429: the owner
    // still gets in.
    for i in 0..10u8 {
        let peer = SocketAddr::from(([203, 0, 113, i], 7000));
        login_from(peer, "guess guess guess")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let ok = login_from(owner, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    assert_eq!(app.stats().await.sessions, 2);
}
