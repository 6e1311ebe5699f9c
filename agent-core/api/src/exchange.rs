//! The records inspection keeps: HTTP exchanges (with the WebSocket or SSE timeline of the
//! exchange) and raw TCP/TLS connections, serialised as the local API shows them and as the
//! agent's store keeps them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Identifies one captured exchange or connection; shown as `ex_<n>`. Ids grow with start
/// time, so "newest first" is "highest id first" and an id is a stable paging cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub u64);

impl fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ex_{}", self.0)
    }
}

/// An id string that is not `ex_<n>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an exchange id (expected ex_<number>)")]
pub struct BadExchangeId(pub String);

impl FromStr for ExchangeId {
    type Err = BadExchangeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("ex_")
            .and_then(|n| n.parse().ok())
            .map(ExchangeId)
            .ok_or_else(|| BadExchangeId(s.to_string()))
    }
}

impl Serialize for ExchangeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExchangeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A body (or message payload) as captured: the first `cap` bytes, and the full size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedBody {
    /// The captured bytes (at most the configured cap).
    pub data: Vec<u8>,
    /// Bytes that actually went through, captured or not.
    pub size: u64,
    /// Whether `data` is shorter than `size`.
    pub truncated: bool,
}

impl CapturedBody {
    /// Counts `chunk` and keeps what fits under `cap`.
    pub fn push(&mut self, chunk: &[u8], cap: usize) {
        self.size = self.size.saturating_add(chunk.len() as u64);
        let room = cap.saturating_sub(self.data.len());
        let take = room.min(chunk.len());
        self.data.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            self.truncated = true;
        }
    }

    /// The captured bytes as text, when they are valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// Whether the bytes are not UTF-8 text (JSON carries them as base64).
    pub fn is_binary(&self) -> bool {
        self.text().is_none()
    }
}

/// How [`CapturedBody`] looks in JSON: text when it is UTF-8, base64 otherwise.
#[derive(Serialize, Deserialize)]
struct BodyJson {
    size: u64,
    truncated: bool,
    /// `text` or `base64`.
    encoding: String,
    data: String,
}

impl Serialize for CapturedBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (encoding, data) = match self.text() {
            Some(t) => ("text", t.to_string()),
            None => ("base64", B64.encode(&self.data)),
        };
        BodyJson {
            size: self.size,
            truncated: self.truncated,
            encoding: encoding.into(),
            data,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for CapturedBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = BodyJson::deserialize(d)?;
        let data = match j.encoding.as_str() {
            "base64" => B64.decode(j.data).map_err(serde::de::Error::custom)?,
            _ => j.data.into_bytes(),
        };
        Ok(Self {
            data,
            size: j.size,
            truncated: j.truncated,
        })
    }
}

/// Which way a message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the visitor to the local service.
    ToLocal,
    /// From the local service to the visitor.
    ToVisitor,
}

/// What a timeline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// WebSocket text frame.
    Text,
    /// WebSocket binary frame.
    Binary,
    /// WebSocket continuation frame of a fragmented message.
    Continuation,
    /// WebSocket close frame.
    Close,
    /// WebSocket ping.
    Ping,
    /// WebSocket pong.
    Pong,
    /// A server-sent event.
    SseEvent,
}

impl TimelineKind {
    /// The name JSON uses (`sse_event`, `text`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Continuation => "continuation",
            Self::Close => "close",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::SseEvent => "sse_event",
        }
    }
}

/// One server-sent event's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SseFields {
    /// `event:` (absent means "message").
    pub event: Option<String>,
    /// `id:`.
    pub id: Option<String>,
    /// `data:` lines joined with `\n` (capped).
    pub data: String,
}

/// One WebSocket message or SSE event in an exchange's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds since the exchange started.
    pub at_ms: f64,
    /// Which way it went.
    pub direction: Direction,
    /// What it is.
    pub kind: TimelineKind,
    /// Payload size on the wire (WebSocket frame payload, or the SSE event's bytes).
    pub size: u64,
    /// The payload, up to the cap (WebSocket only; not stored once the exchange's timeline
    /// budget is spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<CapturedBody>,
    /// The event's fields (SSE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseFields>,
}

/// When an exchange happened and how long its parts took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// Start, in milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Milliseconds from start until the local service's response head arrived.
    pub ttfb_ms: Option<f64>,
    /// Milliseconds from start until the response (or upgraded connection) ended.
    pub total_ms: Option<f64>,
}

/// One HTTP exchange through a tunnel (`GET /api/requests/http/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpExchange {
    /// Its id.
    pub id: ExchangeId,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// The exchange this one replays, if it is a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<ExchangeId>,
    /// Visitor address as the relay reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// Request method.
    pub method: String,
    /// Host the visitor asked for (the `Host` header as it reached the agent).
    pub host: String,
    /// Path and query as the visitor sent them.
    pub uri: String,
    /// `HTTP/1.1` etc.
    pub http_version: String,
    /// Request headers, in order.
    pub request_headers: Vec<(String, String)>,
    /// Request body.
    pub request_body: CapturedBody,
    /// Response status (the agent's own 502 when the local service was unreachable).
    pub status: Option<u16>,
    /// Response headers, in order.
    pub response_headers: Vec<(String, String)>,
    /// Response body.
    pub response_body: CapturedBody,
    /// Timings.
    pub timings: Timings,
    /// WebSocket messages or SSE events, in order.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
    /// Timeline entries not kept because the exchange's limit was reached.
    #[serde(default)]
    pub timeline_dropped: u64,
    /// Why forwarding failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HttpExchange {
    /// The first value of request header `name`.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        header(&self.request_headers, name)
    }

    /// The first value of response header `name`.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        header(&self.response_headers, name)
    }

    /// The URL the visitor used (scheme from `X-Forwarded-Proto`, https when absent).
    pub fn public_url(&self) -> String {
        let scheme = self
            .request_header("x-forwarded-proto")
            .filter(|p| matches!(*p, "http" | "https"))
            .unwrap_or("https");
        format!("{scheme}://{}{}", self.host, self.uri)
    }

    /// The list view: everything but bodies and the timeline's payloads.
    pub fn summary(&self) -> ExchangeSummary {
        ExchangeSummary {
            id: self.id,
            tunnel_name: self.tunnel_name.clone(),
            replay_of: self.replay_of,
            remote_addr: self.remote_addr.clone(),
            method: self.method.clone(),
            host: self.host.clone(),
            uri: self.uri.clone(),
            status: self.status,
            timings: self.timings.clone(),
            request_size: self.request_body.size,
            response_size: self.response_body.size,
            timeline_len: self.timeline.len(),
            error: self.error.clone(),
        }
    }
}

/// One row of `GET /api/requests/http`: an exchange without bodies and timeline. Every field
/// is written, absent ones as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExchangeSummary {
    /// Its id.
    pub id: ExchangeId,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// The exchange this one replays, if it is a replay.
    pub replay_of: Option<ExchangeId>,
    /// Visitor address as the relay reported it.
    pub remote_addr: Option<String>,
    /// Request method.
    pub method: String,
    /// Host the visitor asked for.
    pub host: String,
    /// Path and query as the visitor sent them.
    pub uri: String,
    /// Response status, if one came.
    pub status: Option<u16>,
    /// Timings.
    pub timings: Timings,
    /// Request body size in bytes, captured or not.
    pub request_size: u64,
    /// Response body size in bytes, captured or not.
    pub response_size: u64,
    /// WebSocket messages or SSE events kept.
    pub timeline_len: usize,
    /// Why forwarding failed, if it did.
    pub error: Option<String>,
}

/// First value of `name` in `headers` (names compared case-insensitively).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One raw TCP or TLS connection through a tunnel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpConnection {
    /// Its id.
    pub id: ExchangeId,
    /// The tunnel it came through.
    pub tunnel_name: String,
    /// `tcp` or `tls`.
    pub proto: String,
    /// Opened, in milliseconds since the Unix epoch.
    pub opened_at_ms: i64,
    /// Closed, in milliseconds since the Unix epoch; absent while open.
    pub closed_at_ms: Option<i64>,
    /// Milliseconds it stayed open; absent while open.
    pub duration_ms: Option<f64>,
    /// Bytes from the visitor to the local service.
    pub bytes_to_local: u64,
    /// Bytes from the local service to the visitor.
    pub bytes_to_visitor: u64,
    /// Why it ended badly, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests;
