//! `GET /metrics`: only for the metrics token's bearer; Prometheus text that `promtool check
//! metrics` accepts (Debian's prometheus package, installed by the test command); requests
//! counted by route template, never by the path a client sent; refused logins and webhook
//! deliveries counted; the database pool's, the fleet's and the replay jobs' gauges.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_cloud::secret::Secret;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

on_both_databases!(metrics_are_for_the_token_bearer_and_pass_promtool);

const TOKEN: &str = "metrics-token-for-tests-0123456789";

/// `promtool check metrics` on `text`: its complaints, if any.
fn promtool_check(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn metrics_are_for_the_token_bearer_and_pass_promtool(db: &TestDb) {
    let app = TestApp::with_config(db, |c| {
        c.metrics.token = Some(Secret::new(TOKEN.into()));
        c.relay_secrets = vec![Secret::new(super::fleet::SECRET.into())];
    });
    app.get("/metrics", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/metrics", Some("metrics-token-for-tests-wrong-one"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Traffic to count: a known route, a scanner's path, a refused login, a webhook with a
    // bad signature (no provider configured here: refused before anything is read).
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let probe = "/wp-admin/secret-7f3a9c";
    assert_eq!(app.get(probe, None).await.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            "/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "not the password"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    let r = app
        .post("/v1/billing/webhooks/stripe", json!({}), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);

    // Two relays heartbeat, one of them draining.
    super::fleet::Relay::new("relay-a", "eu")
        .beat(&app, json!({}))
        .await;
    super::fleet::Relay::new("relay-b", "us")
        .beat(&app, json!({"draining": true}))
        .await;

    let r = app.get("/metrics", Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    let text = String::from_utf8(r.raw.to_vec()).unwrap();
    for want in [
        r#"fdt_cloud_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"fdt_cloud_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"fdt_cloud_http_requests_total{method="POST",route="/v1/auth/login",status="401"} 1"#,
        r#"fdt_cloud_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="10"} 1"#,
        "fdt_cloud_login_failures_total 1",
        r#"fdt_cloud_billing_webhooks_total{provider="stripe",outcome="not_configured"} 1"#,
        r#"fdt_cloud_db_pool_connections{state="idle"}"#,
        "fdt_cloud_db_pool_max_connections",
        "# HELP fdt_cloud_http_requests_total",
        r#"fdt_cloud_relays{state="healthy"} 1"#,
        r#"fdt_cloud_relays{state="draining"} 1"#,
        r#"fdt_cloud_relays{state="stale"} 0"#,
        r#"fdt_cloud_relay_heartbeat_age_seconds{relay="relay-b"}"#,
        r#"fdt_cloud_replay_jobs{state="queued"} 0"#,
        r#"fdt_cloud_domain_incidents_open{kind="expiring"} 0"#,
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    // Every store operation is timed, under its backend's name.
    let backend = match &db.store {
        fdt_cloud::Store::Sqlite(_) => "sqlite",
        fdt_cloud::Store::Postgres(_) => "postgres",
    };
    let ops = format!(r#"fdt_cloud_db_operation_duration_seconds_count{{backend="{backend}"}} "#);
    let count: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(ops.as_str()))
        .unwrap_or_else(|| panic!("no {ops:?} in\n{text}"))
        .parse()
        .unwrap();
    assert!(count >= 2.0, "{count} store operations timed");
    // What a client sent never becomes a label.
    assert!(!text.contains("secret-7f3a9c"), "{text}");
    assert!(!text.contains("nobody@example.com"), "{text}");
    promtool_check(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
}
