//! `/v1/device/*`: device sign-in (RFC 8628) from code to authtoken — pacing, denial, expiry,
//! single use under concurrent polls, the rate limit per client address (new codes, and
//! polls with unknown codes), and the lookup that shows the approver which device asks.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::clock::Clock as _;
use fdt_cloud::random::secret_hash;
use serde_json::json;

on_both_databases!(
    approved_code_yields_one_authtoken,
    denied_and_expired_codes_yield_nothing,
    new_codes_are_rate_limited_per_address,
);

fn advance(app: &TestApp, secs: i64) {
    app.clock.advance(time::Duration::seconds(secs));
}

async fn poll(app: &TestApp, device_code: &str) -> (StatusCode, serde_json::Value) {
    let r = app
        .post(
            "/v1/device/token",
            json!({ "device_code": device_code }),
            None,
        )
        .await;
    (r.status, r.json)
}

async fn approved_code_yields_one_authtoken(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let code = app
        .post("/v1/device/code", json!({"client_name": "laptop"}), None)
        .await;
    assert_eq!(code.status, StatusCode::OK, "{}", code.json);
    let device_code = code.json["device_code"].as_str().unwrap().to_owned();
    let user_code = code.json["user_code"].as_str().unwrap().to_owned();
    assert!(device_code.starts_with("fdd_"));
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        code.json["verification_uri"]
            .as_str()
            .unwrap()
            .ends_with("/device")
    );
    assert!(
        code.json["verification_uri_complete"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/device?code={user_code}"))
    );
    assert_eq!(
        (
            code.json["expires_in"].as_u64(),
            code.json["interval"].as_u64()
        ),
        (Some(600), Some(5))
    );

    // Pending; too fast is slow_down, and each slow_down adds 5 s to the interval from then
    // on (5 -> 10 -> 15 s here).
    assert_eq!(
        poll(&app, &device_code).await.1["error"],
        "authorization_pending"
    );
    assert_eq!(poll(&app, &device_code).await.1["error"], "slow_down");
    advance(&app, 6);
    assert_eq!(poll(&app, &device_code).await.1["error"], "slow_down");
    advance(&app, 15);
    let (status, body) = poll(&app, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );

    // The approver can see which device asks (signed in only); an unknown code is 404.
    let pending = app
        .get(
            &format!("/v1/device/pending?user_code={user_code}"),
            Some(&t.access),
        )
        .await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.json);
    assert_eq!(pending.json["client_name"], json!("laptop"));
    app.get(&format!("/v1/device/pending?user_code={user_code}"), None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/device/pending?user_code=BCDF-GHJK", Some(&t.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Approval needs a signed-in user and a real pending code; case and hyphen do not matter.
    app.post(
        "/v1/device/approve",
        json!({"user_code": user_code, "approve": true}),
        None,
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.post(
        "/v1/device/approve",
        json!({"user_code": "BCDF-GHJK", "approve": true}),
        Some(&t.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let typed = user_code.to_lowercase().replace('-', " ");
    let ok = app
        .post(
            "/v1/device/approve",
            json!({"user_code": typed, "approve": true}),
            Some(&t.access),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.json);
    // Decided once: a second decision (deny, say) finds nothing pending.
    app.post(
        "/v1/device/approve",
        json!({"user_code": user_code, "approve": false}),
        Some(&t.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Two polls at once after the interval: exactly one gets the authtoken.
    advance(&app, 15);
    let (a, b) = tokio::join!(poll(&app, &device_code), poll(&app, &device_code));
    let winners: Vec<_> = [a, b]
        .into_iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "one poll wins the token");
    let created = &winners[0].1;
    assert_eq!(created["description"], "fdt login on laptop");
    let secret = created["token"].as_str().unwrap();
    let used = app
        .state
        .store()
        .use_authtoken(&secret_hash(secret), app.clock.now())
        .await
        .unwrap()
        .unwrap();
    let me = app.get("/v1/auth/me", Some(&t.access)).await;
    assert_eq!(used.account_id.as_str(), me.json["id"]);
    // Later polls: used up.
    advance(&app, 30);
    assert_eq!(poll(&app, &device_code).await.1["error"], "expired_token");
    // An unknown device code is no better.
    assert_eq!(poll(&app, "fdd_nope").await.1["error"], "expired_token");
}

async fn denied_and_expired_codes_yield_nothing(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("owner@example.com").await;
    let denied = app.post("/v1/device/code", json!({}), None).await;
    let denied_user = denied.json["user_code"].as_str().unwrap();
    let r = app
        .post(
            "/v1/device/approve",
            json!({"user_code": denied_user, "approve": false}),
            Some(&t.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (status, body) = poll(&app, denied.json["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access_denied"))
    );

    let late = app.post("/v1/device/code", json!({}), None).await;
    advance(&app, 601);
    app.post(
        "/v1/device/approve",
        json!({"user_code": late.json["user_code"], "approve": true}),
        Some(&t.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        poll(&app, late.json["device_code"].as_str().unwrap())
            .await
            .1["error"],
        "expired_token"
    );

    // Bad names are refused before anything is stored.
    let bad = app
        .post(
            "/v1/device/code",
            json!({"client_name": "x".repeat(65)}),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.json);
    // The retention sweep clears codes a day past their expiry.
    advance(&app, 86_400);
    fdt_cloud::retention::sweep(&app.state).await.unwrap();
    assert_eq!(
        app.state
            .store()
            .purge_device_codes(app.clock.now())
            .await
            .unwrap(),
        0,
        "already swept"
    );
}

async fn new_codes_are_rate_limited_per_address(db: &TestDb) {
    let app = TestApp::new(db);
    let peer: std::net::SocketAddr = "198.51.100.7:5000".parse().unwrap();
    for _ in 0..30 {
        let r = app.post_from(peer, "/v1/device/code", json!({}), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    app.post_from(peer, "/v1/device/code", json!({}), &[])
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let other: std::net::SocketAddr = "198.51.100.8:5000".parse().unwrap();
    let r = app
        .post_from(other, "/v1/device/code", json!({}), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Polls with made-up device codes count too: past the limit they get 429, not a lookup.
    let guesser: std::net::SocketAddr = "198.51.100.9:5000".parse().unwrap();
    for i in 0..30 {
        let r = app
            .post_from(
                guesser,
                "/v1/device/token",
                json!({"device_code": format!("fdd_guess{i}")}),
                &[],
            )
            .await;
        assert_eq!(r.json["error"], json!("expired_token"), "{}", r.json);
    }
    app.post_from(
        guesser,
        "/v1/device/token",
        json!({"device_code": "fdd_one_more"}),
        &[],
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
