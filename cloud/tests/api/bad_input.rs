//! Bad input gets a 4xx with the JSON error body and stores nothing; server failures get a
//! generic 500 that shows no database text.

use crate::common::{PASSWORD, TestApp, TestDb};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use fdt_cloud::store::StoreStats;
use serde_json::json;

on_both_databases!(
    malformed_json_is_400_and_stores_nothing,
    unknown_fields_are_400_and_store_nothing,
    wrong_types_and_missing_fields_are_400,
    missing_content_type_is_415,
    oversized_bodies_are_413_and_store_nothing,
    authtoken_create_refuses_bad_bodies_and_stores_nothing,
    unknown_routes_and_methods_get_json_errors,
    an_unreachable_database_is_a_bare_503,
);

const EMPTY: StoreStats = StoreStats {
    accounts: 0,
    sessions: 0,
    refresh_tokens: 0,
    authtokens: 0,
};

async fn malformed_json_is_400_and_stores_nothing(db: &TestDb) {
    let app = TestApp::new(db);
    for body in [
        r#"{"email": "a@example.com", "password":"#,
        "not json",
        "",
        r#"{"email": "a@example.com", "password": "0123456789"} trailing"#,
    ] {
        let r = app.post_raw("/v1/auth/register", body.into(), None).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    assert_eq!(app.stats().await, EMPTY);
}

async fn unknown_fields_are_400_and_store_nothing(db: &TestDb) {
    let app = TestApp::new(db);
    let r = app
        .post(
            "/v1/auth/register",
            json!({"email": "a@example.com", "password": PASSWORD, "is_admin": true}),
            None,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is_admin"),
        "the message names the field: {}",
        r.json
    );
    let r = app
        .post(
            "/v1/auth/login",
            json!({"email": "a@example.com", "password": PASSWORD, "remember": true}),
            None,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(app.stats().await, EMPTY);
}

async fn wrong_types_and_missing_fields_are_400(db: &TestDb) {
    let app = TestApp::new(db);
    for body in [
        json!({"email": "a@example.com", "password": 1234567890}),
        json!({"email": null, "password": PASSWORD}),
        json!({"email": ["a@example.com"], "password": PASSWORD}),
        json!({"email": "a@example.com"}),
        json!(["a@example.com", PASSWORD]),
        json!("a@example.com"),
    ] {
        let r = app.post("/v1/auth/register", body.clone(), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), "invalid_body", "{body}");
    }
    let r = app
        .post("/v1/auth/refresh", json!({"refresh_token": 42}), None)
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(app.stats().await, EMPTY);
}

async fn missing_content_type_is_415(db: &TestDb) {
    let app = TestApp::new(db);
    let body = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = TestApp::request(Method::POST, "/v1/auth/register", None, None);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let r = app.call(req.body(Body::from(body.clone())).unwrap()).await;
        r.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    assert_eq!(app.stats().await, EMPTY);
}

async fn oversized_bodies_are_413_and_store_nothing(db: &TestDb) {
    let app = TestApp::new(db);
    // 64 KiB limit; a valid-looking body just over it.
    let big = "x".repeat(65 * 1024);
    let body = json!({"email": "a@example.com", "password": big}).to_string();
    let r = app.post_raw("/v1/auth/register", body.clone(), None).await;
    r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Also when the client announces the size up front.
    let req = TestApp::request(Method::POST, "/v1/auth/register", None, None)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    app.call(req)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.stats().await, EMPTY);
}

async fn authtoken_create_refuses_bad_bodies_and_stores_nothing(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("tok@example.com").await;
    let before = app.stats().await;
    let cases = [
        (
            r#"{"description": "x", "scopes": ["all"]}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"description": 7}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            r#"{"description": "#,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let r = app
            .post_raw("/v1/authtokens", body.into(), Some(&t.access))
            .await;
        r.assert_error(status, code);
    }
    let long = json!({"description": "d".repeat(256)});
    app.post("/v1/authtokens", long, Some(&t.access))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let huge = json!({"description": "d".repeat(70 * 1024)});
    app.post("/v1/authtokens", huge, Some(&t.access))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.stats().await, before);
    assert_eq!(before.authtokens, 0);
}

async fn unknown_routes_and_methods_get_json_errors(db: &TestDb) {
    let app = TestApp::new(db);
    app.get("/v1/nope", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/v1/auth/login", None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.delete("/v1/authtokens", None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, &health.raw[..]),
        (StatusCode::OK, &b"ok"[..])
    );
}

/// The database gone (here its pool closed under the app): 503 with `Retry-After`, saying
/// nothing of what is behind it.
async fn an_unreachable_database_is_a_bare_503(db: &TestDb) {
    let app = TestApp::new(db);
    // Pull the database out from under the app.
    app.state.store().close().await;
    let r = app
        .post(
            "/v1/auth/register",
            json!({"email": "a@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(
        r.json["error"]["message"],
        "the service is temporarily unavailable; retry in 2 s"
    );
    assert_eq!(r.headers[axum::http::header::RETRY_AFTER], "2");
    let text = String::from_utf8_lossy(&r.raw).to_lowercase();
    for leak in ["pool", "sqlx", "sqlite", "postgres", "closed", "database"] {
        assert!(!text.contains(leak), "response mentions {leak}: {text}");
    }
}
