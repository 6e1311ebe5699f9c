use super::*;

/// The value of the series `line_start` (name and labels) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn records_into_fixed_series_and_ignores_values_outside_them() {
    let m = RelayMetrics::new();
    m.connection(Listener::Https);
    m.connection(Listener::Tcp);
    m.connection(Listener::Tcp);
    m.response(200);
    m.response(204);
    m.response(503);
    // Not a status class: ignored rather than becoming a series.
    m.response(99);
    m.response(600);
    m.refused("tunnel_busy");
    m.refused("conn_limit");
    m.refused("a reason nobody registered");
    m.hold_ended("forwarded");
    m.hold_ended("expired");
    m.hold_ended("made up");
    m.upstream_latency(Duration::from_millis(3));
    m.session_started();
    m.heartbeat_failed();
    m.upkeep();
    let text = m.render();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v(r#"fdt_relay_visitor_connections_total{listener="https"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_visitor_connections_total{listener="tcp"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"fdt_relay_visitor_connections_total{listener="http"}"#),
        Some(0.0)
    );
    assert_eq!(
        v(r#"fdt_relay_http_requests_total{class="2xx"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"fdt_relay_http_requests_total{class="5xx"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_refusals_total{reason="tunnel_busy"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_refusals_total{reason="conn_limit"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_held_requests_total{outcome="forwarded"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_held_requests_total{outcome="expired"}"#),
        Some(1.0)
    );
    assert_eq!(v("fdt_relay_upstream_response_seconds_count"), Some(1.0));
    assert_eq!(
        v(r#"fdt_relay_upstream_response_seconds_bucket{le="0.005"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"fdt_relay_upstream_response_seconds_bucket{le="0.0025"}"#),
        Some(0.0)
    );
    assert_eq!(v("fdt_relay_agent_sessions_started_total"), Some(1.0));
    assert_eq!(v("fdt_relay_control_heartbeat_failures_total"), Some(1.0));
    // Only registered label values appear.
    assert!(!text.contains("nobody"), "{text}");
    assert!(!text.contains("made up"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("fdt_relay_http_requests_total{"))
            .count(),
        5
    );
}

#[test]
fn heartbeat_time_is_unset_until_one_is_answered() {
    let m = RelayMetrics::new();
    assert_eq!(m.heartbeat_ok_at(), None);
    m.heartbeat_ok();
    let at = m.heartbeat_ok_at().expect("set");
    assert!(at.abs_diff(unix_now()) <= 1);
}

#[test]
fn registries_of_two_relays_are_apart() {
    let a = RelayMetrics::new();
    let b = RelayMetrics::new();
    a.session_started();
    a.upkeep();
    b.upkeep();
    assert_eq!(
        value(&a.render(), "fdt_relay_agent_sessions_started_total"),
        Some(1.0)
    );
    assert_eq!(
        value(&b.render(), "fdt_relay_agent_sessions_started_total"),
        Some(0.0)
    );
}
