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
mod tests;
