//! The cloud traffic log (`/v1/requests`), replay jobs (`/v1/requests/{id}/replay`,
//! `/v1/replays/{id}`), and what relays send and receive for them.

use crate::ids::{AccountId, ReplayId, RequestId, TunnelId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most records in one relay batch.
pub const MAX_TRAFFIC_BATCH: usize = 500;
/// Largest relay batch body, in bytes (bodies travel base64-encoded inside).
pub const MAX_TRAFFIC_BATCH_BYTES: usize = 8 << 20;
/// Largest body kept per direction of one request, in bytes.
pub const MAX_LOGGED_BODY: usize = 64 * 1024;

/// A header as logged: name and value (values of sensitive headers are `[redacted]`).
pub type Header = (String, String);

/// What a relay reports of one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrafficReport {
    /// ID made by the relay (a repeated report is stored once).
    pub id: RequestId,
    /// The tunnel's account.
    pub account_id: AccountId,
    /// The tunnel that served it, if it reached one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<TunnelId>,
    /// Request method.
    pub method: String,
    /// Host name requested.
    pub host: String,
    /// The tunnel's subdomain (where a replay of this request goes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path and query.
    pub path: String,
    /// Response status; absent when the edge answered on its own without one from the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The edge's error code when it answered itself (`tunnel_reconnecting`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Request headers.
    pub request_headers: Vec<Header>,
    /// Response headers.
    #[serde(default)]
    pub response_headers: Vec<Header>,
    /// Bytes from the visitor.
    pub bytes_in: u64,
    /// Bytes to the visitor.
    pub bytes_out: u64,
    /// Milliseconds from request to the end of the response.
    pub duration_ms: u64,
    /// The visitor's IP address.
    pub visitor_ip: String,
    /// When the request arrived (Unix milliseconds).
    pub started_at_ms: i64,
    /// Request body (base64), when the plan and the tunnel log bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Response body (base64), likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// The relay trimmed this record to its size cap (header values, headers or bodies).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// `POST /v1/relay/requests`: a batch of reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrafficBatch {
    /// The reporting relay.
    pub relay_id: String,
    /// The reports, at most [`MAX_TRAFFIC_BATCH`].
    pub requests: Vec<TrafficReport>,
}

/// The answer to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrafficAck {
    /// Reports stored now (repeats of stored ones are not counted).
    pub stored: u32,
}

/// `GET /v1/requests`: filters and paging (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    /// Only this tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<String>,
    /// Only this host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Only this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A status (`404`) or class (`5xx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Path contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Page size (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// A logged request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RequestRecord {
    /// ID.
    pub id: RequestId,
    /// Tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<TunnelId>,
    /// Relay that saw it.
    pub relay_id: String,
    /// Method.
    pub method: String,
    /// Host.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Edge error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Request headers (sensitive values redacted).
    pub request_headers: Vec<Header>,
    /// Response headers (sensitive values redacted).
    pub response_headers: Vec<Header>,
    /// Bytes from the visitor.
    pub bytes_in: u64,
    /// Bytes to the visitor.
    pub bytes_out: u64,
    /// Duration.
    pub duration_ms: u64,
    /// Visitor IP.
    pub visitor_ip: String,
    /// Arrival time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub started_at: OffsetDateTime,
    /// A request body is stored (`GET /v1/requests/{id}/request-body`).
    pub has_request_body: bool,
    /// A response body is stored (`GET /v1/requests/{id}/response-body`).
    pub has_response_body: bool,
    /// The relay trimmed this record to its size cap: headers or bodies are incomplete.
    #[serde(default)]
    pub truncated: bool,
}

/// `GET /v1/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RequestList {
    /// Newest first.
    pub requests: Vec<RequestRecord>,
    /// Pass as `before` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Changes applied to a request before it is replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayModify {
    /// Another method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Another path and query (origin-form, starting with `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers set (replacing any of the same name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_headers: Vec<Header>,
    /// Header names removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_headers: Vec<String>,
    /// Another body (UTF-8 text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// `POST /v1/requests/{id}/replay` (an `Idempotency-Key` header makes a retried call return
/// the same job).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Changes; none replays the request as logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify: Option<ReplayModify>,
}

/// Where a replay job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReplayState {
    /// Waiting for the agent to be online.
    Queued,
    /// Handed to the agent's relay.
    Sent,
    /// The agent replayed it; `result` holds the answer.
    Done,
    /// Gave up (`error` says why).
    Failed,
}

impl ReplayState {
    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Parses [`ReplayState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Sent, Self::Done, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A replay job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplayJob {
    /// Job ID.
    pub id: ReplayId,
    /// The request replayed.
    pub request_id: RequestId,
    /// State.
    pub state: ReplayState,
    /// Deliveries so far.
    pub attempts: u32,
    /// Status the local service answered, when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
}

/// A replay the cloud hands a relay (in a heartbeat answer) for one of its tunnels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReplayOrder {
    /// Job ID (the agent runs each job once).
    pub job_id: ReplayId,
    /// The live tunnel to replay through.
    pub tunnel_id: TunnelId,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers.
    pub headers: Vec<Header>,
    /// Body (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// What a relay reports back of a replay (in a heartbeat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayOutcome {
    /// Job ID.
    pub job_id: ReplayId,
    /// Status the local service answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it could not be replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
