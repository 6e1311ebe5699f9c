//! The relay's Prometheus metrics: the handles the data path records into.
//!
//! Each relay has its own registry (not the process-wide `metrics` recorder): `fdt-cloud dev`
//! and the tests run a relay inside another program, whose metrics stay apart. Every series is
//! registered when the relay starts, for a fixed set of label values, so recording on the hot
//! path is one atomic add on a handle the task already holds: no key is built, hashed or
//! looked up per request, and no label value ever comes from a visitor or an agent.
//!
//! What only needs reading when scraped (sessions, tunnels, queues, certificates) is not
//! recorded here but read by the admin listener at scrape time (`crate::admin`).

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latency buckets (seconds): 1 ms to 60 s (agents answer slow services too).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Which listener a visitor connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The plain-HTTP edge.
    Http,
    /// The HTTPS / TLS-passthrough edge.
    Https,
    /// A TCP tunnel's own port.
    Tcp,
}

/// Why the edge answered a request itself or refused a connection: the edge's stable error
/// codes (`EdgeError::code`), plus refusals made before there is a request.
pub const REFUSAL_REASONS: &[&str] = &[
    "tunnel_not_found",
    "tunnel_offline",
    "tunnel_reconnecting",
    "upstream_unreachable",
    "tunnel_busy",
    "tunnel_rate_limited",
    "ip_forbidden",
    "auth_required",
    "misdirected_request",
    "bad_request",
    "method_not_allowed",
    "tunnel_timeout",
    // The visitor's address has `max_conns_per_ip` connections open already.
    "conn_limit",
    // A request head over `max_header_bytes` (hyper answers 431).
    "header_too_large",
    // A stream to the agent could not be opened for a TLS or TCP connection.
    "stream_refused",
];

/// How a held request ended: forwarded, or one of the hold refusals (`HoldRefusal::as_str`).
pub const HOLD_OUTCOMES: &[&str] = &[
    "forwarded",
    "name_requests",
    "name_bytes",
    "relay_full",
    "expired",
    "forgotten",
    "relay_stopping",
    "other_owner",
];

/// How a visitor forwarded to (or from) a peer relay fared: `sent` (served through a peer),
/// `miss` (the peer no longer held the name), `failed` (no stream to the peer), `refused` (the
/// holder's tunnel turned a TLS or TCP visitor away: its address policy, or no free stream),
/// `received` (forwarded here by a peer). One visitor may count a `miss` or `failed`, then
/// the outcome of its second try.
pub const FORWARD_OUTCOMES: &[&str] = &["sent", "miss", "failed", "refused", "received"];

/// Metric names, with `fdt_relay_` before each.
pub mod names {
    /// Visitor connections accepted, by listener.
    pub const VISITOR_CONNECTIONS: &str = "fdt_relay_visitor_connections_total";
    /// Visitor connections open now.
    pub const VISITOR_CONNECTIONS_OPEN: &str = "fdt_relay_visitor_connections";
    /// HTTP requests answered, by status class.
    pub const REQUESTS: &str = "fdt_relay_http_requests_total";
    /// Time from a request's arrival at the edge to the agent's response head.
    pub const UPSTREAM_LATENCY: &str = "fdt_relay_upstream_response_seconds";
    /// Requests and connections the edge answered or refused itself, by reason.
    pub const REFUSALS: &str = "fdt_relay_refusals_total";
    /// Held requests that ended, by outcome.
    pub const HELD: &str = "fdt_relay_held_requests_total";
    /// Visitors (requests, passthrough connections) forwarded between relays.
    pub const FORWARDED: &str = "fdt_relay_forwarded_total";
    /// Requests held now, and their bytes.
    pub const HOLDING: &str = "fdt_relay_held_requests";
    /// Bytes held now.
    pub const HOLDING_BYTES: &str = "fdt_relay_held_bytes";
    /// Visitor bytes, by direction.
    pub const BYTES: &str = "fdt_relay_visitor_bytes_total";
    /// Agent sessions started.
    pub const SESSIONS_STARTED: &str = "fdt_relay_agent_sessions_started_total";
    /// Agent sessions live now.
    pub const SESSIONS: &str = "fdt_relay_agent_sessions";
    /// Tunnels bound now, by protocol.
    pub const TUNNELS: &str = "fdt_relay_tunnels";
    /// QUIC packets sent to agents.
    pub const QUIC_SENT: &str = "fdt_relay_quic_sent_packets_total";
    /// QUIC packets to agents declared lost.
    pub const QUIC_LOST: &str = "fdt_relay_quic_lost_packets_total";
    /// QUIC congestion events on agent connections.
    pub const QUIC_CONGESTION: &str = "fdt_relay_quic_congestion_events_total";
    /// Round-trip time to agents now (mean and max over live sessions).
    pub const QUIC_RTT: &str = "fdt_relay_quic_rtt_seconds";
    /// When a certificate the relay serves expires (Unix seconds), by source.
    pub const CERT_EXPIRY: &str = "fdt_relay_certificate_expiry_timestamp_seconds";
    /// Seconds since the control plane last answered a heartbeat.
    pub const HEARTBEAT_AGE: &str = "fdt_relay_control_heartbeat_age_seconds";
    /// Seconds since the control plane's revocation feed last answered: how stale this
    /// relay's knowledge of revoked authtokens may be.
    pub const REVOCATIONS_AGE: &str = "fdt_relay_control_revocations_age_seconds";
    /// Heartbeats that failed.
    pub const HEARTBEAT_FAILURES: &str = "fdt_relay_control_heartbeat_failures_total";
    /// Placement answers dropped because the control plane's feed said the name was bound.
    pub const PLACEMENTS_INVALIDATED: &str = "fdt_relay_placements_invalidated_total";
    /// Traffic-log records waiting for the control plane, and their bytes.
    pub const TRAFFIC_QUEUE: &str = "fdt_relay_traffic_log_queued_records";
    /// Bytes of the traffic-log records waiting.
    pub const TRAFFIC_QUEUE_BYTES: &str = "fdt_relay_traffic_log_queued_bytes";
    /// Traffic-log records dropped because the queue was full.
    pub const TRAFFIC_DROPPED: &str = "fdt_relay_traffic_log_dropped_total";
    /// Whether the relay is draining (1) or serving (0).
    pub const DRAINING: &str = "fdt_relay_draining";
    /// Tasks alive in the relay's async runtime: each session, connection and worker is one,
    /// so growth with nothing else growing is a leak (the chaos drill compares it).
    pub const RUNTIME_TASKS: &str = "fdt_relay_runtime_tasks";
}

/// The relay's registry and the handles of every series recorded on the data path.
pub struct RelayMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    connections: [Counter; 3],
    requests: [Counter; 5],
    refusals: Vec<Counter>,
    held: Vec<Counter>,
    /// By kind (`http`, `tls`, `tcp`), then outcome ([`FORWARD_OUTCOMES`]).
    forwarded: [Vec<Counter>; 3],
    upstream_latency: Histogram,
    sessions_started: Counter,
    heartbeat_failures: Counter,
    placements_invalidated: Counter,
    /// Unix seconds of the last answered heartbeat (0: none yet).
    heartbeat_ok_at: AtomicU64,
    /// Unix seconds of the revocation feed's last answer (0: none yet).
    revocations_ok_at: AtomicU64,
}

impl std::fmt::Debug for RelayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMetrics").finish_non_exhaustive()
    }
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

static METADATA: Metadata<'static> =
    Metadata::new("fdt_relay", metrics::Level::INFO, Some(module_path!()));

impl RelayMetrics {
    /// A registry with every series registered at zero.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let counter = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            recorder.register_counter(&key(name, labels), &METADATA)
        };
        let connections = [Listener::Http, Listener::Https, Listener::Tcp]
            .map(|l| counter(names::VISITOR_CONNECTIONS, &[("listener", l.as_str())]));
        let requests =
            ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|c| counter(names::REQUESTS, &[("class", c)]));
        let refusals = REFUSAL_REASONS
            .iter()
            .map(|r| counter(names::REFUSALS, &[("reason", r)]))
            .collect();
        let held = HOLD_OUTCOMES
            .iter()
            .map(|o| counter(names::HELD, &[("outcome", o)]))
            .collect();
        let forwarded = ["http", "tls", "tcp"].map(|kind| {
            FORWARD_OUTCOMES
                .iter()
                .map(|o| counter(names::FORWARDED, &[("kind", kind), ("outcome", o)]))
                .collect()
        });
        let upstream_latency =
            recorder.register_histogram(&key(names::UPSTREAM_LATENCY, &[]), &METADATA);
        let sessions_started = counter(names::SESSIONS_STARTED, &[]);
        let heartbeat_failures = counter(names::HEARTBEAT_FAILURES, &[]);
        let placements_invalidated = counter(names::PLACEMENTS_INVALIDATED, &[]);
        Self {
            recorder,
            handle,
            connections,
            requests,
            refusals,
            held,
            forwarded,
            upstream_latency,
            sessions_started,
            heartbeat_failures,
            placements_invalidated,
            heartbeat_ok_at: AtomicU64::new(0),
            revocations_ok_at: AtomicU64::new(0),
        }
    }

    /// A visitor connection accepted on `listener`.
    pub fn connection(&self, listener: Listener) {
        self.connections[listener as usize].increment(1);
    }

    /// An HTTP response sent to a visitor with `status`.
    pub fn response(&self, status: u16) {
        if let Some(c) = (status / 100)
            .checked_sub(1)
            .and_then(|i| self.requests.get(usize::from(i)))
        {
            c.increment(1);
        }
    }

    /// The edge answered or refused for `reason`, one of [`REFUSAL_REASONS`] (others are not
    /// counted: the set is fixed).
    pub fn refused(&self, reason: &str) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refusals[i].increment(1);
        }
    }

    /// A visitor of `kind` was forwarded with `outcome`, one of [`FORWARD_OUTCOMES`].
    pub fn forwarded(&self, kind: crate::peer::wire::Kind, outcome: &str) {
        use crate::peer::wire::Kind;
        let k = match kind {
            Kind::Http => 0,
            Kind::Tls => 1,
            Kind::Tcp => 2,
        };
        if let Some(i) = FORWARD_OUTCOMES.iter().position(|o| *o == outcome) {
            self.forwarded[k][i].increment(1);
        }
    }

    /// A held request ended with `outcome`, one of [`HOLD_OUTCOMES`].
    pub fn hold_ended(&self, outcome: &str) {
        if let Some(i) = HOLD_OUTCOMES.iter().position(|o| *o == outcome) {
            self.held[i].increment(1);
        }
    }

    /// The agent's response head came `elapsed` after the request reached the edge.
    pub fn upstream_latency(&self, elapsed: Duration) {
        self.upstream_latency.record(elapsed.as_secs_f64());
    }

    /// An agent session started.
    pub fn session_started(&self) {
        self.sessions_started.increment(1);
    }

    /// The control plane answered a heartbeat.
    pub fn heartbeat_ok(&self) {
        self.heartbeat_ok_at.store(unix_now(), Ordering::Relaxed);
    }

    /// A heartbeat got no answer or an error.
    pub fn heartbeat_failed(&self) {
        self.heartbeat_failures.increment(1);
    }

    /// The placement feed dropped `n` cached answers.
    pub fn placements_invalidated(&self, n: u64) {
        self.placements_invalidated.increment(n);
    }

    /// Unix seconds of the last answered heartbeat, if any.
    pub fn heartbeat_ok_at(&self) -> Option<u64> {
        Some(self.heartbeat_ok_at.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// The revocation feed answered.
    pub fn revocations_ok(&self) {
        self.revocations_ok_at.store(unix_now(), Ordering::Relaxed);
    }

    /// Unix seconds of the revocation feed's last answer, if any.
    pub fn revocations_ok_at(&self) -> Option<u64> {
        Some(self.revocations_ok_at.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// A gauge of this registry, for values read at scrape time.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Gauge {
        self.recorder.register_gauge(&key(name, labels), &METADATA)
    }

    /// A counter of this registry, for totals read at scrape time (set with `absolute`).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &'static str)]) -> Counter {
        self.recorder
            .register_counter(&key(name, labels), &METADATA)
    }

    /// Folds the histogram samples recorded since the last call into their buckets. Without
    /// it samples pile up for as long as nobody scrapes; the relay calls it every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The Prometheus text of every series.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Listener {
    fn as_str(self) -> &'static str {
        match self {
            Listener::Http => "http",
            Listener::Https => "https",
            Listener::Tcp => "tcp",
        }
    }
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// HELP lines (Prometheus' linter wants one per metric).
fn describe(r: &PrometheusRecorder) {
    use names::*;
    let counters: &[(&'static str, &'static str)] = &[
        (
            VISITOR_CONNECTIONS,
            "Visitor connections accepted, by listener",
        ),
        (REQUESTS, "HTTP responses sent to visitors, by status class"),
        (
            REFUSALS,
            "Requests and connections the edge answered or refused itself, by reason",
        ),
        (HELD, "Held requests that ended, by outcome"),
        (
            FORWARDED,
            "Visitors forwarded between relays, by kind and outcome",
        ),
        (BYTES, "Bytes from visitors (in) and to them (out)"),
        (SESSIONS_STARTED, "Agent sessions started"),
        (QUIC_SENT, "QUIC packets sent to agents"),
        (QUIC_LOST, "QUIC packets to agents declared lost"),
        (
            QUIC_CONGESTION,
            "QUIC congestion events on agent connections",
        ),
        (
            HEARTBEAT_FAILURES,
            "Heartbeats to the control plane that failed",
        ),
        (
            PLACEMENTS_INVALIDATED,
            "Placement answers dropped because the control plane's feed said the name was bound",
        ),
        (
            TRAFFIC_DROPPED,
            "Traffic-log records dropped because the queue was full",
        ),
    ];
    for (name, help) in counters {
        r.describe_counter(KeyName::from_const_str(name), None, (*help).into());
    }
    let gauges: &[(&'static str, Option<Unit>, &'static str)] = &[
        (
            VISITOR_CONNECTIONS_OPEN,
            None,
            "Visitor connections open now",
        ),
        (HOLDING, None, "Requests held now for reconnecting names"),
        (
            HOLDING_BYTES,
            Some(Unit::Bytes),
            "Bytes of the requests held now",
        ),
        (SESSIONS, None, "Agent sessions live now"),
        (TUNNELS, None, "Tunnels bound now, by protocol"),
        (
            QUIC_RTT,
            Some(Unit::Seconds),
            "Round-trip time to agents now, mean and max over live sessions",
        ),
        (
            CERT_EXPIRY,
            Some(Unit::Seconds),
            "When a certificate the relay serves expires (Unix time), by source",
        ),
        (
            HEARTBEAT_AGE,
            Some(Unit::Seconds),
            "Seconds since the control plane last answered a heartbeat",
        ),
        (
            REVOCATIONS_AGE,
            Some(Unit::Seconds),
            "Seconds since the control plane's revocation feed last answered",
        ),
        (
            TRAFFIC_QUEUE,
            None,
            "Traffic-log records waiting to be shipped",
        ),
        (
            TRAFFIC_QUEUE_BYTES,
            Some(Unit::Bytes),
            "Bytes of the traffic-log records waiting to be shipped",
        ),
        (DRAINING, None, "1 while the relay drains, else 0"),
        (
            RUNTIME_TASKS,
            None,
            "Tasks alive in the relay's async runtime",
        ),
    ];
    for (name, unit, help) in gauges {
        r.describe_gauge(KeyName::from_const_str(name), *unit, (*help).into());
    }
    r.describe_histogram(
        KeyName::from_const_str(UPSTREAM_LATENCY),
        Some(Unit::Seconds),
        "Time from a request's arrival at the edge to the agent's response head".into(),
    );
}

#[cfg(test)]
mod tests;
