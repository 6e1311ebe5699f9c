//! Serving the app on a listener the caller bound, until a cancellation token fires.

use crate::http::app;
use crate::state::AppState;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish. Taking a bound listener (rather than an address) lets tests bind `127.0.0.1:0`.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tokio::spawn(crate::retention::run(state.clone(), shutdown.clone()));
    // Requests waiting for changes answer at once when the server stops.
    let (events, stopping) = (state.events().clone(), shutdown.clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        events.close();
    });
    // Replicas on one PostgreSQL database share their change events.
    if let crate::store::Store::Postgres(pool) = state.store() {
        let _listening = state.events().share_through_postgres(pool, &shutdown);
    }
    tokio::spawn(crate::audit::run_checkpoints(
        state.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::domains::worker::run(state.clone(), shutdown.clone()));
    tokio::spawn(crate::billing::dunning::run(
        state.clone(),
        shutdown.clone(),
    ));
    if let Some(cfg) = state.smtp() {
        match crate::mailer::Mailer::new(cfg) {
            Ok(m) => {
                tokio::spawn(crate::mailer::run(state.clone(), m, shutdown.clone()));
            }
            // Validated at start; a transport that still cannot be built leaves the outbox
            // unsent (and listed), not the API down.
            Err(e) => tracing::error!(error = %e, "the outbox will not be sent"),
        }
    }
    // Connect info gives handlers the peer address (per-IP login limits).
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
