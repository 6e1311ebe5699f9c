//! Shutting down on Ctrl+C or SIGTERM: the one signal watcher `serve` and `dev` share, below
//! both so neither imports the other.

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first Ctrl+C or SIGTERM, which logs `message` (saying what
/// stops). Must be called inside a tokio runtime: it spawns the watcher.
pub(crate) fn cancel_on_signal(message: &'static str) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("{message}");
        on_signal.cancel();
    });
    shutdown
}

/// Resolves on Ctrl+C or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
