//! `GET /metrics` on the local API: the agent's own state in Prometheus text, for a
//! Prometheus (or `curl`) on the same machine. Everything is read when scraped from what the
//! agent keeps anyway (status, traffic counters, the inspector's drop count); the data path
//! records nothing more for it. Label values come from fixed sets only.

use crate::agent::AgentHandle;
use crate::status::SessionState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{Key, KeyName, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use std::sync::atomic::Ordering::Relaxed;

static METADATA: Metadata<'static> =
    Metadata::new("fdt_agent", metrics::Level::INFO, Some(module_path!()));

/// `GET /metrics`.
pub(super) async fn metrics(State(agent): State<AgentHandle>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&agent),
    )
}

/// The agent's metrics as Prometheus text. A fresh registry per scrape: every value is a
/// reading of state the agent keeps, so nothing has to persist between scrapes.
pub fn render(agent: &AgentHandle) -> String {
    let r = PrometheusBuilder::new().build_recorder();
    let status = agent.status.borrow().clone();
    let c = &agent.counters;
    counter(
        &r,
        "fdt_agent_reconnects_total",
        "Sessions re-established after losing the relay",
        &[],
        status.reconnects,
    );
    gauge(
        &r,
        "fdt_agent_connected",
        None,
        "1 while the agent has a session with a relay, else 0",
        &[],
        if status.state == SessionState::Online {
            1.0
        } else {
            0.0
        },
    );
    gauge(
        &r,
        "fdt_agent_rtt_seconds",
        Some(Unit::Seconds),
        "Smoothed QUIC round-trip time to the relay",
        &[],
        c.rtt_us.load(Relaxed) as f64 / 1e6,
    );
    counter(
        &r,
        "fdt_agent_streams_total",
        "Streams (HTTP exchanges' connections, TCP and TLS connections) handled",
        &[],
        c.conns_total.load(Relaxed),
    );
    gauge(
        &r,
        "fdt_agent_streams",
        None,
        "Streams open now",
        &[],
        c.conns_open.load(Relaxed) as f64,
    );
    for (direction, v) in [("in", &c.bytes_in), ("out", &c.bytes_out)] {
        counter(
            &r,
            "fdt_agent_raw_bytes_total",
            "Bytes of TCP and TLS tunnels, to the local service (in) and to visitors (out)",
            &[("direction", direction)],
            v.load(Relaxed),
        );
    }
    counter(
        &r,
        "fdt_agent_upstream_errors_total",
        "Local services that could not be reached",
        &[],
        c.upstream_errors.load(Relaxed),
    );
    let bound = status
        .tunnels
        .iter()
        .filter(|t| t.public_url.is_some())
        .count();
    let failed = status.tunnels.iter().filter(|t| t.error.is_some()).count();
    let pending = status.tunnels.len().saturating_sub(bound + failed);
    for (state, n) in [("bound", bound), ("failed", failed), ("pending", pending)] {
        gauge(
            &r,
            "fdt_agent_tunnels",
            None,
            "Tunnels, by state",
            &[("state", state)],
            n as f64,
        );
    }
    if let Some(i) = &agent.inspector {
        counter(
            &r,
            "fdt_agent_capture_dropped_total",
            "Captured exchanges dropped because the inspector's writer fell behind",
            &[],
            i.dropped(),
        );
    }
    r.handle().render()
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, *v))
            .collect::<Vec<_>>(),
    )
}

fn counter(
    r: &PrometheusRecorder,
    name: &'static str,
    help: &'static str,
    labels: &[(&'static str, &'static str)],
    value: u64,
) {
    r.describe_counter(KeyName::from_const_str(name), None, help.into());
    r.register_counter(&key(name, labels), &METADATA)
        .absolute(value);
}

fn gauge(
    r: &PrometheusRecorder,
    name: &'static str,
    unit: Option<Unit>,
    help: &'static str,
    labels: &[(&'static str, &'static str)],
    value: f64,
) {
    r.describe_gauge(KeyName::from_const_str(name), unit, help.into());
    r.register_gauge(&key(name, labels), &METADATA).set(value);
}
