//! The admin listener: `GET /metrics` (Prometheus text) and `GET /healthz` on an address of
//! its own, off the public edge (`admin_listen`). `/metrics` asks for `admin_token` as a
//! bearer token when one is set; the configuration refuses an admin address other than
//! loopback without one. `/healthz` answers 200 while the relay serves and 503 once it drains,
//! so a load balancer or Kubernetes stops sending visitors before it stops.

mod scrape;

pub(crate) use scrape::Scrape;

use crate::config::RelaySecret;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// Admin connections open at once; more are closed on arrival.
const MAX_CONNECTIONS: usize = 64;
/// Time a connection has to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection lives (a scrape of a large relay takes well under a second).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin handlers read.
struct Admin {
    scrape: Scrape,
    /// SHA-256 of the bearer token `/metrics` asks for.
    token: Option<[u8; 32]>,
    /// Cancelled when the relay starts draining.
    shutdown: CancellationToken,
}

/// Serves the admin listener (HTTP/1.1, at most [`MAX_CONNECTIONS`] connections, each with
/// [`HEADER_TIMEOUT`] for its request head and [`CONNECTION_LIFETIME`] in all) until `stop` is
/// cancelled: after visitors drained, so `/healthz` says 503 and `/metrics` can be scraped
/// while the relay drains.
pub(crate) async fn serve(
    listener: TcpListener,
    scrape: Scrape,
    token: Option<RelaySecret>,
    shutdown: CancellationToken,
    stop: CancellationToken,
) {
    let admin = Arc::new(Admin {
        scrape,
        token: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
        shutdown,
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(admin);
    // Not `axum::serve`: it has no limits. Scrapes and probes are short, so each connection
    // gets a bounded time for its request head and a bounded life, and only so many are open
    // at once (the listener is loopback or token-guarded, but whoever reaches it must not be
    // able to hold it).
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        // Over the cap: closed at once rather than queued.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let mut app = app.clone();
                async move { app.call(req.map(axum::body::Body::new)).await }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(sock), svc);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
}

async fn metrics(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    if let Some(want) = &admin.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Sha256::digest(t.as_bytes()));
        if !given.is_some_and(|g| bool::from(g[..].ct_eq(want))) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "the admin token is required\n",
            )
                .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        admin.scrape.render(),
    )
        .into_response()
}

async fn healthz(State(admin): State<Arc<Admin>>) -> Response {
    if admin.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}
