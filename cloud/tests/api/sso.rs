//! Setting up single sign-on: who may, and what is refused before any provider is called.
//! (Sign-ins themselves run against a real provider in the e2e suite.)

use super::orgs::set_own_role;
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use serde_json::json;

on_both_databases!(
    sso_settings_are_checked_and_guarded,
    sso_starts_are_limited_per_address,
);

async fn sso_settings_are_checked_and_guarded(db: &TestDb) {
    let app = TestApp::new(db);
    let o = app.signed_up("owner@corp.test").await;
    let bearer = Some(o.access.as_str());
    app.get("/v1/sso", bearer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let good = json!({
        "issuer": "https://idp.corp.test", "client_id": "fdt",
        "allowed_domains": ["corp.test"], "default_role": "viewer"
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        // Plain HTTP and private addresses: the control plane would fetch them.
        (with("issuer", json!("http://idp.corp.test")), "issuer"),
        (with("issuer", json!("https://169.254.169.254")), "issuer"),
        (with("issuer", json!("https://localhost:8443")), "issuer"),
        (with("client_id", json!("")), "client_id"),
        (with("allowed_domains", json!([])), "allowed_domains"),
        (
            with("allowed_domains", json!(["not a domain"])),
            "allowed_domains",
        ),
        (with("default_role", json!("owner")), "group_roles"),
        (with("group_roles", json!({"root": "owner"})), "group_roles"),
    ] {
        let r = app.put("/v1/sso", body.clone(), bearer).await;
        r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body}: {}",
            r.json
        );
    }
    // A public issuer that cannot be reached: refused with what went wrong, nothing stored.
    let r = app.put("/v1/sso", good, bearer).await;
    r.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/v1/sso", bearer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete("/v1/sso", bearer)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Viewers read, never set.
    set_own_role(&app, &o.access, fdt_api::RoleTemplate::Viewer).await;
    app.put("/v1/sso", json!({}), bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
}

/// Every start stores a sign-in in flight, so one address may start only so many: the 61st
/// in ten minutes is sent back to the sign-in page, and another address is not affected.
async fn sso_starts_are_limited_per_address(db: &TestDb) {
    let app = TestApp::new(db);
    let start = |peer: &'static str| {
        let app = &app;
        async move {
            let req = TestApp::request(
                axum::http::Method::GET,
                "/sso/start?org=org_nope",
                None,
                Some(peer.parse().unwrap()),
            )
            .body(axum::body::Body::empty())
            .unwrap();
            let r = app.call(req).await;
            r.headers["location"].to_str().unwrap().to_owned()
        }
    };
    for _ in 0..60 {
        assert!(
            start("198.51.100.7:1000")
                .await
                .contains("error=sso_unknown")
        );
    }
    assert_eq!(
        start("198.51.100.7:1000").await,
        "/login?error=rate_limited"
    );
    assert!(
        start("198.51.100.8:1000")
            .await
            .contains("error=sso_unknown")
    );
}
