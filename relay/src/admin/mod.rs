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
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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

/// Serves the admin listener until `stop` is cancelled (after visitors drained, so
/// `/healthz` says 503 and `/metrics` can be scraped while the relay drains).
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
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!(error = %e, "admin listener failed");
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
