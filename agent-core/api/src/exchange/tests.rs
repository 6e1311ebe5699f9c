use super::*;

#[test]
fn body_cap_marks_truncation_and_keeps_full_size() {
    let mut b = CapturedBody::default();
    b.push(b"hello ", 8);
    b.push(b"world", 8);
    assert_eq!(b.data, b"hello wo");
    assert_eq!(b.size, 11);
    assert!(b.truncated);
}

#[test]
fn binary_bodies_round_trip_as_base64() {
    let b = CapturedBody {
        data: vec![0xff, 0, 1],
        size: 3,
        truncated: false,
    };
    let j = serde_json::to_value(&b).unwrap_or_default();
    assert_eq!(j["encoding"], "base64");
    let back: CapturedBody = serde_json::from_value(j).unwrap_or_default();
    assert_eq!(back, b);
}

#[test]
fn ids_parse_back() {
    assert_eq!("ex_42".parse::<ExchangeId>(), Ok(ExchangeId(42)));
    assert!("42".parse::<ExchangeId>().is_err());
}

#[test]
fn timeline_kind_names_are_the_json_names() {
    use TimelineKind::*;
    for k in [Text, Binary, Continuation, Close, Ping, Pong, SseEvent] {
        assert_eq!(
            serde_json::to_value(k).ok(),
            Some(serde_json::Value::from(k.as_str()))
        );
    }
}

#[test]
fn summaries_write_every_field_and_absent_ones_as_null() {
    let ex = HttpExchange {
        id: ExchangeId(2),
        method: "POST".into(),
        request_body: CapturedBody {
            data: b"0123456789".to_vec(),
            size: 10,
            truncated: false,
        },
        ..Default::default()
    };
    let j = serde_json::to_value(ex.summary()).unwrap_or_default();
    assert_eq!(j["id"], "ex_2");
    assert_eq!(j["request_size"], 10);
    for absent in ["replay_of", "remote_addr", "status", "error"] {
        assert_eq!(j.get(absent), Some(&serde_json::Value::Null), "{absent}");
    }
    assert_eq!(j.as_object().map(|o| o.len()), Some(13));
}
/// Shaped exactly as `HttpExchange` serialises (a WebSocket exchange with a binary
/// response body).
fn exchange_json() -> serde_json::Value {
    serde_json::json!({
        "id": "ex_7",
        "tunnel_name": "web",
        "replay_of": "ex_3",
        "remote_addr": "203.0.113.9:51234",
        "method": "GET",
        "host": "web.example.com",
        "uri": "/chat?room=1",
        "http_version": "HTTP/1.1",
        "request_headers": [["Host", "web.example.com"], ["Upgrade", "websocket"]],
        "request_body": {"size": 0, "truncated": false, "encoding": "text", "data": ""},
        "status": 101,
        "response_headers": [["Content-Type", "application/octet-stream"]],
        "response_body": {"size": 3, "truncated": false, "encoding": "base64", "data": "/wAB"},
        "timings": {"started_at_ms": 1_764_000_000_000_i64, "ttfb_ms": 1.5, "total_ms": null},
        "timeline": [
            {"at_ms": 2.0, "direction": "to_local", "kind": "text", "size": 5,
             "payload": {"size": 5, "truncated": false, "encoding": "text", "data": "hello"}},
            {"at_ms": 3.5, "direction": "to_visitor", "kind": "sse_event", "size": 12,
             "sse": {"event": null, "id": "1", "data": "tick"}}
        ],
        "timeline_dropped": 0
    })
}

#[test]
fn full_exchanges_read_and_write_the_same_json() {
    let ex: HttpExchange = serde_json::from_value(exchange_json()).expect("exchange");
    assert_eq!(ex.id, ExchangeId(7));
    assert_eq!(ex.replay_of, Some(ExchangeId(3)));
    assert_eq!(ex.response_body.data, [0xff, 0, 1]);
    assert!(ex.response_body.is_binary());
    assert_eq!(
        ex.timeline[0].payload.as_ref().and_then(|p| p.text()),
        Some("hello")
    );
    assert_eq!(ex.timeline[1].kind, TimelineKind::SseEvent);
    assert_eq!(header(&ex.request_headers, "upgrade"), Some("websocket"));
    // Written back, the JSON is the same (an absent `error` is left out, as here).
    assert_eq!(serde_json::to_value(&ex).ok(), Some(exchange_json()));
}

#[test]
fn sparse_records_default_their_missing_fields() {
    let ex: HttpExchange =
        serde_json::from_value(serde_json::json!({"id": "ex_9"})).expect("sparse");
    assert_eq!((ex.id, ex.method.as_str()), (ExchangeId(9), ""));
    let s: ExchangeSummary =
        serde_json::from_value(serde_json::json!({"id": "ex_9"})).expect("sparse");
    assert_eq!(s.timeline_len, 0);
}
