//! The control plane's Prometheus metrics. The `metrics` facade has one recorder per process,
//! installed on first use ([`handle`]) and rendered by `GET /metrics`
//! ([`crate::http`]). Every label value comes from a fixed set: route templates (never the
//! path a client sent), methods, status codes, provider names, outcomes; nothing a client
//! writes becomes a label.

use crate::store::RelayRecord;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use time::OffsetDateTime;

/// Requests served, by method, route template and status code.
pub const HTTP_REQUESTS: &str = "fdt_cloud_http_requests_total";
/// Time to the response head, by method and route template.
pub const HTTP_DURATION: &str = "fdt_cloud_http_request_duration_seconds";
/// Logins refused (wrong password, unknown account, rate limited).
pub const LOGIN_FAILURES: &str = "fdt_cloud_login_failures_total";
/// Billing webhook deliveries, by provider and outcome.
pub const BILLING_WEBHOOKS: &str = "fdt_cloud_billing_webhooks_total";
/// Database pool connections, by state (`in_use`, `idle`).
pub const DB_CONNECTIONS: &str = "fdt_cloud_db_pool_connections";
/// The most connections the database pool opens.
pub const DB_MAX_CONNECTIONS: &str = "fdt_cloud_db_pool_max_connections";

/// Relays by state (`healthy`, `stale`: no heartbeat within `unhealthy_after_secs`,
/// `draining`).
pub const RELAYS: &str = "fdt_cloud_relays";
/// Seconds since each relay's last heartbeat, by relay ID (the fleet's own names).
pub const RELAY_HEARTBEAT_AGE: &str = "fdt_cloud_relay_heartbeat_age_seconds";
/// Replay jobs by state (`queued`, `sent`, `done`, `failed`).
pub const REPLAY_JOBS: &str = "fdt_cloud_replay_jobs";
/// Custom-domain incidents open now, by kind (`renewal_failed`, `expiring`,
/// `validation_lost`).
pub const DOMAIN_INCIDENTS: &str = "fdt_cloud_domain_incidents_open";
/// How late billing webhooks arrive: from the provider creating the event to its verified
/// delivery here, by provider. Providers retry failed deliveries for days, so a backlog at
/// theirs (this cloud was down, or refused them) shows as lag.
pub const WEBHOOK_LAG: &str = "fdt_cloud_billing_webhook_lag_seconds";
/// Store operations (a statement, or a transaction's statements) that completed, by backend
/// (`sqlite`, `postgres`), and how long each took.
pub const DB_OPERATION_DURATION: &str = "fdt_cloud_db_operation_duration_seconds";
/// Rounds of the background jobs (`retention`, `audit_checkpoint`, `domains`, `dunning`,
/// `mailer`), by outcome (`ok`, `error`).
pub const JOB_RUNS: &str = "fdt_cloud_job_runs_total";
/// When each background job last finished a round without error (Unix seconds).
pub const JOB_LAST_SUCCESS: &str = "fdt_cloud_job_last_success_timestamp_seconds";

/// Change events shared with the other replicas through PostgreSQL, by outcome (`sent`,
/// `received`, `dropped`: the outgoing queue was full, `failed`: the database refused them).
pub const EVENTS_FANOUT: &str = "fdt_cloud_events_fanout_total";

/// Webhook lag buckets (seconds): a second to a day.
const LAG_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3_600.0, 21_600.0, 86_400.0,
];

/// Latency buckets (seconds): 1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; `None` when another recorder was installed
/// first (an embedding program's), whose own exporter then has these metrics.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                // More specific than the suffix: it wins for this histogram.
                .set_buckets_for_metric(Matcher::Full(WEBHOOK_LAG.into()), LAG_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histogram samples wait in buckets until upkeep folds them in: without it they
            // would pile up for as long as nobody scrapes (no token set, Prometheus down).
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// HELP lines (Prometheus' linter wants one per metric).
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by method, route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request to its response head, by method and route"
    );
    describe_counter!(LOGIN_FAILURES, "Logins refused");
    describe_counter!(
        BILLING_WEBHOOKS,
        "Billing webhook deliveries, by provider and outcome"
    );
    describe_gauge!(DB_CONNECTIONS, "Database pool connections, by state");
    describe_gauge!(
        DB_MAX_CONNECTIONS,
        "The most connections the database pool opens"
    );
    describe_gauge!(RELAYS, "Registered relays, by state");
    describe_gauge!(
        RELAY_HEARTBEAT_AGE,
        Unit::Seconds,
        "Seconds since the relay's last heartbeat"
    );
    describe_gauge!(REPLAY_JOBS, "Replay jobs, by state");
    describe_gauge!(
        DOMAIN_INCIDENTS,
        "Custom-domain incidents open now, by kind"
    );
    describe_histogram!(
        WEBHOOK_LAG,
        Unit::Seconds,
        "From a billing event's creation at the provider to its verified delivery, by provider"
    );
    describe_histogram!(
        DB_OPERATION_DURATION,
        Unit::Seconds,
        "Time a store operation took to complete, by backend"
    );
    describe_counter!(JOB_RUNS, "Background job rounds, by job and outcome");
    describe_counter!(
        EVENTS_FANOUT,
        "Change events shared with other replicas through PostgreSQL, by outcome"
    );
    describe_gauge!(
        JOB_LAST_SUCCESS,
        Unit::Seconds,
        "When the background job last finished a round without error (Unix time)"
    );
}

/// The method as a label: one of a fixed set.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by its route template (`unmatched` for the
/// fallback: a scanner's random paths are one series).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "method" => method, "route" => route.clone())
        .record(start.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// Counts a refused login.
pub fn login_failed() {
    counter!(LOGIN_FAILURES).increment(1);
}

/// Counts a billing webhook delivery: `provider` and `outcome` are from fixed sets.
pub fn billing_webhook(provider: &'static str, outcome: &'static str) {
    counter!(BILLING_WEBHOOKS, "provider" => provider, "outcome" => outcome).increment(1);
}

/// Records how long after its creation (`created`, Unix seconds) a verified billing event
/// from `provider` arrived; a clock ahead of ours counts as no lag.
pub fn billing_webhook_lag(provider: &'static str, created: i64) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // Seconds since an event's creation stay far below 2^53, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let lag = now.saturating_sub(created).max(0) as f64;
    histogram!(WEBHOOK_LAG, "provider" => provider).record(lag);
}

/// Sets the open domain incident gauges from `(kind, count)` rows (at scrape time); a kind
/// with no row is 0, and only the worker's kinds are labels.
pub fn domain_incidents(counts: &[(String, i64)]) {
    for kind in crate::store::incident_kind::ALL {
        let n = counts
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n);
        // Counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        gauge!(DOMAIN_INCIDENTS, "kind" => kind).set(n as f64);
    }
}

/// Times a completed store operation that began at `started`; `backend` is `sqlite` or
/// `postgres`.
pub fn db_operation(backend: &'static str, started: Instant) {
    histogram!(DB_OPERATION_DURATION, "backend" => backend).record(started.elapsed().as_secs_f64());
}

/// Counts `n` change events shared with (or from) other replicas, by outcome.
pub fn events_fanout(outcome: &'static str, n: usize) {
    counter!(EVENTS_FANOUT, "outcome" => outcome).increment(u64::try_from(n).unwrap_or(u64::MAX));
}

/// Counts a round of the background job `job` (a fixed name), and when it last succeeded.
/// Rounds another replica ran (this one had no lease) are not counted here.
pub fn job_run(job: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!(JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
    if ok {
        // Unix seconds stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        gauge!(JOB_LAST_SUCCESS, "job" => job)
            .set(OffsetDateTime::now_utc().unix_timestamp() as f64);
    }
}

/// Sets the database pool gauges (at scrape time).
pub fn db_pool(in_use: u32, idle: u32, max: u32) {
    gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_MAX_CONNECTIONS).set(f64::from(max));
}

/// Sets the fleet gauges from the registered relays (at scrape time): a relay not heard from
/// since `healthy_cutoff` is stale, whether or not it was draining.
pub fn relays(list: &[RelayRecord], healthy_cutoff: OffsetDateTime, now: OffsetDateTime) {
    let (mut healthy, mut stale, mut draining) = (0u32, 0u32, 0u32);
    for r in list {
        if !r.heard_since(healthy_cutoff) {
            stale += 1;
        } else if r.draining {
            draining += 1;
        } else {
            healthy += 1;
        }
        let age = (now - r.last_seen_at).as_seconds_f64().max(0.0);
        gauge!(RELAY_HEARTBEAT_AGE, "relay" => r.id.clone()).set(age);
    }
    gauge!(RELAYS, "state" => "healthy").set(f64::from(healthy));
    gauge!(RELAYS, "state" => "stale").set(f64::from(stale));
    gauge!(RELAYS, "state" => "draining").set(f64::from(draining));
}

/// Sets the replay job gauges from `(state, count)` rows (at scrape time); a state with no
/// row is 0, and only the schema's states are labels.
pub fn replay_jobs(counts: &[(String, i64)]) {
    for state in ["queued", "sent", "done", "failed"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        // Counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        gauge!(REPLAY_JOBS, "state" => state).set(n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_rounds_are_counted_by_outcome_and_success_is_stamped() {
        let Some(handle) = handle() else {
            panic!("another recorder was installed in this test process");
        };
        job_run("retention", true);
        job_run("retention", false);
        job_run("mailer", false);
        let text = handle.render();
        for want in [
            r#"fdt_cloud_job_runs_total{job="retention",outcome="ok"} 1"#,
            r#"fdt_cloud_job_runs_total{job="retention",outcome="error"} 1"#,
            r#"fdt_cloud_job_runs_total{job="mailer",outcome="error"} 1"#,
            r#"fdt_cloud_job_last_success_timestamp_seconds{job="retention"} "#,
        ] {
            assert!(text.contains(want), "no {want:?} in\n{text}");
        }
        // A job that never succeeded has no stamp (not a 1970 one).
        assert!(!text.contains(r#"fdt_cloud_job_last_success_timestamp_seconds{job="mailer"}"#));
    }

    #[test]
    fn methods_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").ok();
        assert_eq!(odd.as_ref().map(method_label), Some("other"));
    }
}
