//! Whole-system test harness for FlyingDarkDevTunnel.
//!
//! A [`Stack`] runs a real relay in-process on loopback ports chosen by the OS, with a fresh
//! data directory (dev CA, token signing key); [`Stack::agent`] spawns real agents against it.
//! The [`origin`] module provides the local services the tunnels point at (an HTTP origin with
//! echo, bulk, SSE, WebSocket and "hold" routes, a TCP echo and a TLS echo server), and
//! [`client`] the visitors: the `curl` binary, raw TCP requests and rustls clients.
//! [`cloud`] runs the control plane in-process, and [`relay_process`] runs real `fdt-relay`
//! processes for stories where a relay has to die without a goodbye.
//!
//! Nothing here waits by sleeping for something to start: listeners are bound before their
//! address is handed out and agents are awaited with `wait_bound`. Every wait is bounded, so a
//! broken feature fails a test instead of hanging it.

pub mod balancer;
pub mod browser;
pub mod client;
pub mod cloud;
pub mod cloud_process;
pub mod desktop;
pub mod fleet;
pub mod impair;
pub mod inspect;
pub mod netns;
pub mod origin;
pub mod pattern;
pub mod pg_server;
pub mod procfs;
pub mod prom;
pub mod regions;
pub mod relay_process;
pub mod stack;

pub use client::{Curl, CurlResponse, RawResponse, raw_request};
pub use cloud::{Cloud, CloudAccount};
pub use origin::{HttpOrigin, OriginStats, TcpEcho, TlsEcho};
pub use pattern::{Pattern, pattern_sha256};
pub use relay_process::{RelayProcess, RelayProcessOptions, TlsFiles};
pub use stack::{Agent, Stack, StackOptions};

use std::future::Future;
use std::time::Duration;

/// Installs the ring crypto provider as the process default (once; later calls do nothing).
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another component may have installed one already; either way a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Sends relay and agent logs to the test output when `FDT_LOG` is set (e.g. `FDT_LOG=debug`).
pub fn init_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("FDT_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Runs `fut` with a deadline; the error names `what` so a hung step is easy to find.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {limit:?}: {what}"))
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("condition not reached within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lower-case hexadecimal form of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `target/<profile>/NAME`, a binary of this workspace next to the directory holding the test
/// executable (`target/<profile>/deps/<test>-<hash>`): build it with the same
/// `CARGO_TARGET_DIR` and profile as the tests (the test command builds every binary).
pub fn workspace_binary(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    // `FDT_E2E_BIN_DIR` picks other builds (e.g. `target/release`, to measure the relays as
    // they ship while the tests stay in the dev profile).
    let chosen = std::env::var_os("FDT_E2E_BIN_DIR").map(std::path::PathBuf::from);
    let dir = chosen
        .as_deref()
        .or_else(|| exe.parent().and_then(std::path::Path::parent))
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build --bins` (same CARGO_TARGET_DIR and \
         profile as the tests)",
        bin.display()
    );
    Ok(bin)
}
