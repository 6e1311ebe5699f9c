//! The inspector page and its change events.

use super::*;
use crate::inspect::model::{HttpExchange, Record};
use crate::inspect::{InspectConfig, Inspector};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn handle() -> AgentHandle {
    let inspector = Inspector::open(&InspectConfig::default())
        .await
        .expect("in-memory store");
    let (_tx, status) = watch::channel(AgentStatus {
        state: crate::status::SessionState::Online,
        relay: "relay.test:443".into(),
        session: None,
        tunnels: Vec::new(),
        last_error: None,
        reconnects: 0,
    });
    AgentHandle {
        status,
        counters: Arc::default(),
        shutdown: CancellationToken::new(),
        inspector: Some(inspector),
        replays: Arc::default(),
        tunnels: None,
        standby: None,
    }
}

fn get(path: &str, host: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, host)
        .body(Body::empty())
        .expect("request")
}

async fn text(resp: Response) -> String {
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn document_without_bundle_says_how_to_build_it() {
    let assets = Assets {
        css_version: "abc".into(),
        bundle_version: None,
    };
    let html = document(&assets, Theme::Dark, "n0nce");
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\" data-theme=\"dark\">"));
    assert!(html.contains("href=\"/assets/fdt.css?v=abc\""));
    assert!(html.contains("scripts/build-ui.sh"));
    assert!(!html.contains("type=\"module\""));
    let with = document(
        &Assets {
            bundle_version: Some("v1".into()),
            ..assets
        },
        Theme::Light,
        "n0nce",
    );
    assert!(with.contains("mount_inspector"));
    assert!(with.contains("<script type=\"module\" nonce=\"n0nce\">"));
    assert_ne!(new_nonce(), new_nonce());
    assert!(with.contains("/pkg/fdt_ui.js?v=v1"));
    assert!(!with.contains("build-ui.sh"));
}

#[test]
fn theme_comes_from_the_cookie() {
    let mut h = HeaderMap::new();
    assert_eq!(fdt_ui::site::cookie_theme(&h), Theme::Light);
    h.insert(
        header::COOKIE,
        HeaderValue::from_static("a=1; fdt_theme=dark"),
    );
    assert_eq!(fdt_ui::site::cookie_theme(&h), Theme::Dark);
}

#[tokio::test]
async fn page_and_stylesheet_are_served_to_loopback_only() {
    let app = crate::api::app(handle().await);
    for path in ["/", "/inspect/http"] {
        let resp = app
            .clone()
            .oneshot(get(path, "127.0.0.1:4040"))
            .await
            .expect("call");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or("");
        assert!(
            csp.contains("'wasm-unsafe-eval'") && csp.contains("'nonce-"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = text(resp).await;
        assert!(
            html.contains("<script id=\"fdt-boot\" type=\"application/json\">"),
            "{html}"
        );
        assert!(html.contains("\"live_url\":\"/api/events\""), "{html}");
        assert!(
            html.contains("<link rel=\"stylesheet\" href=\"/assets/fdt.css?v="),
            "{html}"
        );
    }
    let css = app
        .clone()
        .oneshot(get("/assets/fdt.css", "localhost:4040"))
        .await
        .expect("call");
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/css")
    );
    for path in ["/", "/assets/fdt.css", "/api/events"] {
        let foreign = app
            .clone()
            .oneshot(get(path, "evil.example:4040"))
            .await
            .expect("call");
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(text(foreign).await.contains("host_not_allowed"));
    }
}

#[tokio::test]
async fn events_announce_captured_exchanges() {
    let agent = handle().await;
    let inspector = agent.inspector.clone().expect("inspector");
    let app = crate::api::app(agent.clone());
    let resp = app
        .oneshot(get("/api/events", "127.0.0.1"))
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let mut body = resp.into_body();
    inspector.submit(Record::Http(Box::new(HttpExchange {
        id: inspector.next_id(),
        tunnel_name: "web".into(),
        method: "GET".into(),
        uri: "/".into(),
        ..HttpExchange::default()
    })));
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .expect("a frame")
        .expect("no error");
    let data = frame.into_data().expect("data frame");
    assert_eq!(
        String::from_utf8_lossy(&data),
        "data: {\"topic\":\"exchanges\"}\n\n"
    );
    // Shutting the agent down ends the stream (so the server can stop gracefully).
    agent.shutdown.cancel();
    let end = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the stream ends");
    assert!(end.is_none());
}
