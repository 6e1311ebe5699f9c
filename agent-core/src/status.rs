//! The agent's observable state, shared by the local API, the terminal status view and tests.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Connection state of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Connecting for the first time.
    Connecting,
    /// Connected and authenticated.
    Online,
    /// Lost the relay; waiting to reconnect.
    Reconnecting,
    /// Stopped for good (shutdown or a fatal error).
    Stopped,
}

/// One tunnel as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelStatus {
    /// Name from the config or command line.
    pub name: String,
    /// `http`, `tcp` or `tls`.
    pub proto: String,
    /// Public URL once bound.
    pub public_url: Option<String>,
    /// Local address as given.
    pub addr: String,
    /// Last bind error, if the relay refused it.
    pub error: Option<String>,
    /// The relay's stable code for that error (`name_in_use`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<fdt_proto::ErrorCode>,
    /// The control plane's ID of a cloud-managed tunnel's definition (`tcf_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_id: Option<String>,
}

impl TunnelStatus {
    /// The line of tunnel `t` before it is bound.
    pub fn offline(t: &crate::config::ResolvedTunnel) -> Self {
        Self {
            name: t.spec.name.clone(),
            proto: t.spec.proto.as_str().to_string(),
            public_url: None,
            addr: t.upstream.display(),
            error: None,
            error_code: None,
            managed_id: t.managed_id.clone(),
        }
    }
}

/// Snapshot of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentStatus {
    /// Session state.
    pub state: SessionState,
    /// Relay address.
    pub relay: String,
    /// Relay session id when online.
    pub session: Option<String>,
    /// Tunnels.
    pub tunnels: Vec<TunnelStatus>,
    /// Last fatal or connection error.
    pub last_error: Option<String>,
    /// Number of reconnects so far.
    pub reconnects: u64,
}

/// Live traffic counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Streams handled since start.
    pub conns_total: AtomicU64,
    /// Streams in progress.
    pub conns_open: AtomicU64,
    /// Bytes from visitors to the local service.
    pub bytes_in: AtomicU64,
    /// Bytes from the local service to visitors.
    pub bytes_out: AtomicU64,
    /// Smoothed QUIC round-trip time to the relay, in microseconds.
    pub rtt_us: AtomicU64,
    /// Local services that could not be reached (connect refused or timed out, a broken
    /// HTTP exchange).
    pub upstream_errors: AtomicU64,
}

/// Held while a stream is open; keeps `conns_open` right on every exit path.
#[derive(Debug)]
pub struct OpenGuard<'a>(&'a Counters);

impl Counters {
    /// Counts a new stream.
    pub fn open(&self) -> OpenGuard<'_> {
        self.conns_total.fetch_add(1, Ordering::Relaxed);
        self.conns_open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self)
    }

    /// A local service could not be reached.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A serialisable copy.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "conns_total": self.conns_total.load(Ordering::Relaxed),
            "conns_open": self.conns_open.load(Ordering::Relaxed),
            "bytes_in": self.bytes_in.load(Ordering::Relaxed),
            "bytes_out": self.bytes_out.load(Ordering::Relaxed),
            "rtt_ms": self.rtt_us.load(Ordering::Relaxed) as f64 / 1000.0,
        })
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.conns_open.fetch_sub(1, Ordering::Relaxed);
    }
}
