//! What `/metrics` reads when scraped: live counts kept elsewhere for the relay's own use
//! (sessions, tunnels, held requests, queues, certificates, traffic totals) are copied into
//! the registry's gauges and counters just before it renders, so the data path does no work
//! for them.

use crate::edge::Edge;
use crate::metrics::{RelayMetrics, names, unix_now};
use crate::state::SessionCount;
use crate::usage::UsageMeter;
use metrics::{Counter, Gauge};
use std::sync::{Arc, OnceLock};

/// The relay's state `/metrics` reads, and the series it copies it into.
pub(crate) struct Scrape {
    metrics: Arc<RelayMetrics>,
    edge: Arc<Edge>,
    sessions: Arc<SessionCount>,
    usage: Arc<UsageMeter>,
    /// When the certificate loaded at start expires, and where it came from.
    file_cert_expiry: Option<(&'static str, i64)>,
    /// Unix seconds the relay started: the heartbeat age before any heartbeat was answered.
    started_at: u64,
    series: Series,
}

/// The series filled at scrape time.
struct Series {
    connections_open: Gauge,
    holding: Gauge,
    holding_bytes: Gauge,
    sessions: Gauge,
    tunnels: [Gauge; 3],
    bytes_in: Counter,
    bytes_out: Counter,
    quic_sent: Counter,
    quic_lost: Counter,
    quic_congestion: Counter,
    rtt_mean: Gauge,
    rtt_max: Gauge,
    /// Series that exist only where they mean something: a relay without a certificate
    /// file, custom domains or a control plane has none (a 0 would read "expired in 1970").
    cert_file: Option<Gauge>,
    cert_domains: OnceLock<Gauge>,
    heartbeat_age: Option<Gauge>,
    revocations_age: Option<Gauge>,
    traffic: Option<[Gauge; 2]>,
    traffic_dropped: Option<Counter>,
    draining: Gauge,
    tasks: Gauge,
}

impl Scrape {
    /// Reads `edge`, `sessions` and `usage` into `metrics` on each scrape.
    pub(crate) fn new(
        metrics: Arc<RelayMetrics>,
        edge: Arc<Edge>,
        sessions: Arc<SessionCount>,
        usage: Arc<UsageMeter>,
        file_cert_expiry: Option<(&'static str, i64)>,
    ) -> Self {
        let m = &metrics;
        let series = Series {
            connections_open: m.gauge(names::VISITOR_CONNECTIONS_OPEN, &[]),
            holding: m.gauge(names::HOLDING, &[]),
            holding_bytes: m.gauge(names::HOLDING_BYTES, &[]),
            sessions: m.gauge(names::SESSIONS, &[]),
            tunnels: ["http", "tls", "tcp"].map(|p| m.gauge(names::TUNNELS, &[("proto", p)])),
            bytes_in: m.counter(names::BYTES, &[("direction", "in")]),
            bytes_out: m.counter(names::BYTES, &[("direction", "out")]),
            quic_sent: m.counter(names::QUIC_SENT, &[]),
            quic_lost: m.counter(names::QUIC_LOST, &[]),
            quic_congestion: m.counter(names::QUIC_CONGESTION, &[]),
            rtt_mean: m.gauge(names::QUIC_RTT, &[("stat", "mean")]),
            rtt_max: m.gauge(names::QUIC_RTT, &[("stat", "max")]),
            cert_file: file_cert_expiry
                .map(|(source, _)| m.gauge(names::CERT_EXPIRY, &[("source", source)])),
            cert_domains: OnceLock::new(),
            heartbeat_age: edge
                .control
                .as_ref()
                .map(|_| m.gauge(names::HEARTBEAT_AGE, &[])),
            revocations_age: edge
                .control
                .as_ref()
                .map(|_| m.gauge(names::REVOCATIONS_AGE, &[])),
            traffic: edge.traffic.as_ref().map(|_| {
                [
                    m.gauge(names::TRAFFIC_QUEUE, &[]),
                    m.gauge(names::TRAFFIC_QUEUE_BYTES, &[]),
                ]
            }),
            traffic_dropped: edge
                .traffic
                .as_ref()
                .map(|_| m.counter(names::TRAFFIC_DROPPED, &[])),
            draining: m.gauge(names::DRAINING, &[]),
            tasks: m.gauge(names::RUNTIME_TASKS, &[]),
        };
        Self {
            metrics,
            edge,
            sessions,
            usage,
            file_cert_expiry,
            started_at: unix_now(),
            series,
        }
    }

    /// Copies the live state into the series, then renders every series.
    pub(crate) fn render(&self) -> String {
        let s = &self.series;
        let edge = &self.edge;
        s.connections_open.set(edge.conn_limit.total() as f64);
        let held = edge.holds.total();
        s.holding.set(held.requests as f64);
        s.holding_bytes.set(held.bytes as f64);
        s.sessions.set(self.sessions.get() as f64);
        for (g, n) in s.tunnels.iter().zip(edge.registry.count_by_proto()) {
            g.set(n as f64);
        }
        let [_, bytes_in, bytes_out, _] = self.usage.totals();
        s.bytes_in.absolute(bytes_in);
        s.bytes_out.absolute(bytes_out);
        let quic = self.sessions.quic_totals();
        s.quic_sent.absolute(quic.sent_packets);
        s.quic_lost.absolute(quic.lost_packets);
        s.quic_congestion.absolute(quic.congestion_events);
        s.rtt_mean.set(quic.rtt_mean.as_secs_f64());
        s.rtt_max.set(quic.rtt_max.as_secs_f64());
        if let (Some(g), Some((_, t))) = (&s.cert_file, self.file_cert_expiry) {
            g.set(t as f64);
        }
        match edge.domains.earliest_certificate_expiry() {
            Some(t) => s
                .cert_domains
                .get_or_init(|| {
                    self.metrics
                        .gauge(names::CERT_EXPIRY, &[("source", "custom_domains")])
                })
                .set(t as f64),
            // The last domain went away: nothing of theirs can expire any more.
            None => {
                if let Some(g) = s.cert_domains.get() {
                    g.set(f64::INFINITY);
                }
            }
        }
        if let Some(g) = &s.heartbeat_age {
            let at = self.metrics.heartbeat_ok_at().unwrap_or(self.started_at);
            g.set(unix_now().saturating_sub(at) as f64);
        }
        if let Some(g) = &s.revocations_age {
            let at = self.metrics.revocations_ok_at().unwrap_or(self.started_at);
            g.set(unix_now().saturating_sub(at) as f64);
        }
        if let (Some([records, bytes]), Some(dropped), Some(q)) =
            (&s.traffic, &s.traffic_dropped, &edge.traffic)
        {
            records.set(q.len() as f64);
            bytes.set(q.bytes() as f64);
            dropped.absolute(q.dropped());
        }
        s.draining.set(if edge.lifecycle.shutdown.is_cancelled() {
            1.0
        } else {
            0.0
        });
        // Scrapes are served on the relay's runtime; without one there is nothing to count.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            s.tasks.set(rt.metrics().num_alive_tasks() as f64);
        }
        self.metrics.render()
    }
}
