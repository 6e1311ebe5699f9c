//! The local inspector's web page at `/` (and `/inspect/http`, as ngrok has it), its static
//! files (`/assets/fdt.css`, the wasm bundle under `/pkg/`) and the change events it listens
//! to (`/api/events`).
//!
//! The page is a plain HTML shell written here as a string: the wasm bundle renders the whole
//! inspector in the browser (`fdt_ui::inspector::InspectorApp`), so the agent needs no
//! server-side rendering. Without a built bundle the shell says so and points at the JSON API.

use crate::agent::AgentHandle;
use crate::status::AgentStatus;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fdt_ui::boot::{BOOT_ELEMENT_ID, Boot, Theme};
use fdt_ui::shell::{Assets, loader_script};
use fdt_ui::site::Site;
use futures_util::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Where the page listens for change events.
pub const EVENTS_PATH: &str = "/api/events";
/// Least time between two change events: a burst of captures becomes a few refetches a
/// second instead of one per exchange.
pub const MIN_EVENT_GAP: Duration = Duration::from_millis(250);
/// How often an idle event stream carries a comment, so proxies and browsers keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the page allows itself: its own scripts plus the inline loader carrying `nonce`,
/// wasm compilation, its own styles and API.
fn csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    )
}

/// A fresh nonce for one response (128 random bits, base64).
fn new_nonce() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

/// The inspector's HTML document, in `theme`, its loader script carrying `nonce`.
pub fn document(assets: &Assets, theme: Theme, nonce: &str) -> String {
    let boot = Boot {
        path: "/".into(),
        theme,
        live_url: Some(EVENTS_PATH.into()),
        ..Boot::default()
    };
    let (script, body) = match &assets.bundle_version {
        Some(v) => (
            format!(
                "<script type=\"module\" nonce=\"{nonce}\">{}</script>",
                loader_script(v, "mount_inspector")
            ),
            String::new(),
        ),
        None => (
            String::new(),
            "<main id=\"main\" class=\"center-card\"><h1>Inspector</h1>\
             <p>The inspector's UI bundle is not built: run <code>scripts/build-ui.sh</code> \
             (or set <code>FDT_UI_SITE</code> to a built site) and restart the agent.</p>\
             <p>Captured requests are available as JSON at \
             <a href=\"/api/requests/http\">/api/requests/http</a>.</p></main>"
                .to_owned(),
        ),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\" data-theme=\"{theme}\"><head>\
         <meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>Inspector · FlyingDarkDevTunnel</title>\
         <link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/assets/fdt.css?v={css}\">\
         <script id=\"{BOOT_ELEMENT_ID}\" type=\"application/json\">{boot}</script>\
         {script}</head><body>{body}</body></html>",
        theme = theme.as_str(),
        css = assets.css_version,
        boot = boot.to_script_json(),
    )
}

fn page(assets: &Assets, headers: &HeaderMap) -> Response {
    let nonce = new_nonce();
    let mut resp = document(assets, fdt_ui::site::cookie_theme(headers), &nonce).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(&nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// Routes for the page (`/`, `/inspect/http`) and the UI's static files of `site`.
pub fn router<S: Clone + Send + Sync + 'static>(site: &Site) -> Router<S> {
    let assets = Arc::new(site.assets());
    let handler = move |headers: HeaderMap| {
        let assets = assets.clone();
        async move { page(&assets, &headers) }
    };
    Router::new()
        .route("/", get(handler.clone()))
        .route("/inspect/http", get(handler))
        .merge(site.router())
}

/// What a change event says changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Exchanges or connections were captured (or cleared).
    Exchanges,
    /// A tunnel came online or went offline.
    Tunnels,
}

impl Topic {
    /// The event's data: `{"topic":"…"}`, as `fdt_ui::platform::connect_live` reads it.
    pub fn data(self) -> &'static str {
        match self {
            Self::Exchanges => r#"{"topic":"exchanges"}"#,
            Self::Tunnels => r#"{"topic":"tunnels"}"#,
        }
    }
}

/// What the event stream waits on.
struct Watching {
    exchanges: Option<watch::Receiver<u64>>,
    tunnels: Option<watch::Receiver<AgentStatus>>,
    shutdown: CancellationToken,
    last: Option<tokio::time::Instant>,
}

/// Waits for a change of `rx`; never returns when there is no receiver, and drops the
/// receiver (then never returns) once its sender is gone.
async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) {
    let ended = match rx {
        Some(r) => r.changed().await.is_err(),
        None => std::future::pending().await,
    };
    if ended {
        *rx = None;
        std::future::pending::<()>().await;
    }
}

impl Watching {
    /// The next topic that changed, at least [`MIN_EVENT_GAP`] after the previous one;
    /// `None` when the agent shuts down (which ends the stream, so the server can stop).
    async fn next(&mut self) -> Option<Topic> {
        let shutdown = self.shutdown.clone();
        if let Some(last) = self.last {
            tokio::select! {
                () = tokio::time::sleep_until(last + MIN_EVENT_GAP) => {}
                () = shutdown.cancelled() => return None,
            }
        }
        let topic = tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            () = changed(&mut self.exchanges) => Topic::Exchanges,
            () = changed(&mut self.tunnels) => Topic::Tunnels,
        };
        self.last = Some(tokio::time::Instant::now());
        Some(topic)
    }
}

/// The change events of `agent`: one per topic that changed, coalesced to at most one every
/// [`MIN_EVENT_GAP`]; ends when the agent shuts down.
pub fn change_events(agent: &AgentHandle) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let mut exchanges = agent.inspector.as_ref().map(crate::Inspector::subscribe);
    let mut tunnels = agent.status.clone();
    // Only changes from now on.
    if let Some(rx) = exchanges.as_mut() {
        rx.mark_unchanged();
    }
    tunnels.mark_unchanged();
    let watching = Watching {
        exchanges,
        tunnels: Some(tunnels),
        shutdown: agent.shutdown.clone(),
        last: None,
    };
    futures_util::stream::unfold(watching, |mut w| async move {
        let topic = w.next().await?;
        Some((Ok(Event::default().data(topic.data())), w))
    })
}

/// `GET /api/events`: [`change_events`] as Server-Sent Events, with a keep-alive comment.
pub fn events_response(agent: &AgentHandle) -> Response {
    let mut resp = Sse::new(change_events(agent))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
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
}
