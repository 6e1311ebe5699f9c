//! The agent's local API as the inspector reads it: small, tolerant copies of the JSON that
//! `fdt-agent-core` writes (`HttpExchange`, its `summary()`, `TcpConnection`, replay
//! answers). Fields the agent may leave out default, so an older or newer agent still shows.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When an exchange happened and how long its parts took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// Start, in milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Milliseconds until the local service's response head arrived.
    pub ttfb_ms: Option<f64>,
    /// Milliseconds until the response ended.
    pub total_ms: Option<f64>,
}

/// One row of `GET /api/requests/http`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExchangeSummary {
    /// `ex_<n>`.
    pub id: String,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// The exchange this one replays.
    pub replay_of: Option<String>,
    /// The visitor's address.
    pub remote_addr: Option<String>,
    /// Request method.
    pub method: String,
    /// Host the visitor asked for.
    pub host: String,
    /// Path and query.
    pub uri: String,
    /// Response status, if one came.
    pub status: Option<u16>,
    /// Timings.
    pub timings: Timings,
    /// Request body size in bytes.
    pub request_size: u64,
    /// Response body size in bytes.
    pub response_size: u64,
    /// WebSocket messages or SSE events captured.
    pub timeline_len: usize,
    /// Why forwarding failed, if it did.
    pub error: Option<String>,
}

/// `GET /api/requests/http`: a page, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExchangeList {
    /// The exchanges.
    pub requests: Vec<ExchangeSummary>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
}

/// A captured body: text, or base64 when it is not UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Body {
    /// Bytes that went through.
    pub size: u64,
    /// Whether `data` holds less than `size`.
    pub truncated: bool,
    /// `text` or `base64`.
    pub encoding: String,
    /// The captured bytes, as `encoding` says.
    pub data: String,
}

impl Body {
    /// Whether the body is binary (sent as base64).
    pub fn is_binary(&self) -> bool {
        self.encoding == "base64"
    }
}

/// One server-sent event's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SseFields {
    /// `event:` (absent means "message").
    pub event: Option<String>,
    /// `id:`.
    pub id: Option<String>,
    /// `data:` lines.
    pub data: String,
}

/// One WebSocket message or SSE event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimelineEvent {
    /// Milliseconds since the exchange started.
    pub at_ms: f64,
    /// `to_local` or `to_visitor`.
    pub direction: String,
    /// `text`, `binary`, `close`, `ping`, `pong`, `continuation` or `sse_event`.
    pub kind: String,
    /// Payload size on the wire.
    pub size: u64,
    /// The payload, when kept (WebSocket).
    pub payload: Option<Body>,
    /// The event's fields (SSE).
    pub sse: Option<SseFields>,
}

/// `GET /api/requests/http/{id}`: one exchange with its bodies and timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exchange {
    /// `ex_<n>`.
    pub id: String,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// The exchange this one replays.
    pub replay_of: Option<String>,
    /// The visitor's address.
    pub remote_addr: Option<String>,
    /// Request method.
    pub method: String,
    /// Host the visitor asked for.
    pub host: String,
    /// Path and query.
    pub uri: String,
    /// `HTTP/1.1` etc.
    pub http_version: String,
    /// Request headers in order.
    pub request_headers: Vec<(String, String)>,
    /// Request body.
    pub request_body: Body,
    /// Response status.
    pub status: Option<u16>,
    /// Response headers in order.
    pub response_headers: Vec<(String, String)>,
    /// Response body.
    pub response_body: Body,
    /// Timings.
    pub timings: Timings,
    /// WebSocket messages or SSE events.
    pub timeline: Vec<TimelineEvent>,
    /// Timeline entries not kept.
    pub timeline_dropped: u64,
    /// Why forwarding failed.
    pub error: Option<String>,
}

/// First value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One raw TCP or TLS connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpConnection {
    /// `ex_<n>`.
    pub id: String,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// `tcp` or `tls`.
    pub proto: String,
    /// Opened, in milliseconds since the Unix epoch.
    pub opened_at_ms: i64,
    /// Closed, in milliseconds since the epoch; absent while open.
    pub closed_at_ms: Option<i64>,
    /// How long it stayed open.
    pub duration_ms: Option<f64>,
    /// Bytes from the visitor to the local service.
    pub bytes_to_local: u64,
    /// Bytes from the local service to the visitor.
    pub bytes_to_visitor: u64,
    /// Why it ended badly.
    pub error: Option<String>,
}

/// `GET /api/requests/tcp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpList {
    /// Newest first.
    pub connections: Vec<TcpConnection>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Header edits of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeaderEdits {
    /// Headers to set (replacing existing values).
    pub set: BTreeMap<String, String>,
    /// Headers to remove.
    pub remove: Vec<String>,
}

/// A replacement body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEdit {
    /// UTF-8 text.
    Text(String),
}

/// Edits to a captured request before it is replayed (the agent refuses unknown fields, so
/// absent edits are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayModify {
    /// New method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// New path and query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Header edits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeaderEdits>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyEdit>,
}

/// `POST /api/requests/http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayRequest {
    /// The exchange to replay.
    pub id: String,
    /// Edits, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify: Option<ReplayModify>,
}

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayResult {
    /// Status the local service answered with.
    pub status: u16,
    /// Id of the captured replay.
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped exactly as `HttpExchange` serialises (a WebSocket exchange with a binary
    /// response body).
    fn exchange_json() -> serde_json::Value {
        json!({
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
    fn full_exchanges_deserialize() {
        let ex: Exchange = serde_json::from_value(exchange_json()).expect("exchange");
        assert_eq!(ex.id, "ex_7");
        assert_eq!(ex.status, Some(101));
        assert_eq!(
            ex.request_headers[1],
            ("Upgrade".into(), "websocket".into())
        );
        assert!(ex.response_body.is_binary());
        assert_eq!(ex.response_body.size, 3);
        assert_eq!(ex.timings.total_ms, None);
        assert_eq!(ex.timeline.len(), 2);
        assert_eq!(
            ex.timeline[0].payload.as_ref().map(|p| p.data.as_str()),
            Some("hello")
        );
        assert_eq!(
            ex.timeline[1].sse.as_ref().map(|s| s.data.as_str()),
            Some("tick")
        );
        assert_eq!(ex.error, None);
        assert_eq!(
            header(&ex.response_headers, "content-type"),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn summaries_deserialize() {
        // As `HttpExchange::summary()` writes it, inside the list's envelope.
        let list: ExchangeList = serde_json::from_value(json!({
            "uri": "/api/requests/http",
            "requests": [{
                "id": "ex_2", "tunnel_name": "web", "replay_of": null, "remote_addr": null,
                "method": "POST", "host": "web.example.com", "uri": "/hook", "status": null,
                "timings": {"started_at_ms": 5, "ttfb_ms": null, "total_ms": 12.25},
                "request_size": 10, "response_size": 0, "timeline_len": 0,
                "error": "connection refused"
            }],
            "next": "ex_1"
        }))
        .expect("list");
        assert_eq!(list.next.as_deref(), Some("ex_1"));
        let s = &list.requests[0];
        assert_eq!(
            (s.method.as_str(), s.status, s.request_size),
            ("POST", None, 10)
        );
        assert_eq!(s.timings.total_ms, Some(12.25));
        assert_eq!(s.error.as_deref(), Some("connection refused"));
        // Missing fields default instead of failing the page.
        let sparse: ExchangeSummary =
            serde_json::from_value(json!({"id": "ex_9"})).expect("sparse");
        assert_eq!(sparse.method, "");
    }

    #[test]
    fn replay_requests_leave_out_absent_edits() {
        let plain = ReplayRequest {
            id: "ex_1".into(),
            modify: None,
        };
        assert_eq!(
            serde_json::to_value(&plain).expect("json"),
            json!({"id": "ex_1"})
        );
        let edited = ReplayRequest {
            id: "ex_1".into(),
            modify: Some(ReplayModify {
                method: Some("PUT".into()),
                body: Some(BodyEdit::Text("{}".into())),
                ..ReplayModify::default()
            }),
        };
        assert_eq!(
            serde_json::to_value(&edited).expect("json"),
            json!({"id": "ex_1", "modify": {"method": "PUT", "body": {"text": "{}"}}})
        );
        let tcp: TcpList = serde_json::from_value(json!({"connections": [{
            "id": "ex_4", "tunnel_name": "db", "proto": "tcp", "opened_at_ms": 1,
            "closed_at_ms": null, "duration_ms": null, "bytes_to_local": 2, "bytes_to_visitor": 3
        }], "next": null}))
        .expect("tcp");
        assert_eq!(tcp.connections[0].bytes_to_visitor, 3);
    }
}
