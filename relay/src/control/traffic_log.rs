//! Request records for the cloud traffic log: built as an exchange passes the HTTP edge,
//! queued (bounded in count and bytes: the oldest go first when the cloud is unreachable for
//! long), and shipped in batches to `POST /v1/relay/requests`, each built to fit the cloud's
//! body limit. Records carry an ID made here, so a batch resent after a lost answer is stored
//! once. A record is itself capped at [`MAX_RECORD_BYTES`]: a larger one is trimmed and
//! marked `truncated`, so no visitor can make a record the cloud refuses.
//!
//! Only tunnels of cloud-issued tokens are logged (their account is a cloud account). Bodies
//! (up to [`MAX_LOGGED_BODY`] each way) are captured only when the plan allows it and the
//! agent asked for it; sensitive headers are redacted by the cloud before storing.

use crate::control::client::{ControlClient, is_final};
use crate::control::report_queue::{ReportQueue, json_len};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use fdt_api::traffic::{
    Header, MAX_LOGGED_BODY, MAX_TRAFFIC_BATCH, MAX_TRAFFIC_BATCH_BYTES, TrafficBatch,
    TrafficReport,
};
use fdt_api::{AccountId, RequestId, TunnelId};
use fdt_proto::Backoff;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Records kept while the cloud is unreachable.
const MAX_QUEUED: usize = 10_000;
/// Bytes (of JSON) of records kept while the cloud is unreachable.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Largest record, as JSON. Two full bodies (base64) and ordinary headers fit well inside.
pub const MAX_RECORD_BYTES: usize = 512 << 10;
/// Room kept in a batch for its envelope (`relay_id`, brackets) on top of the records.
const BATCH_ENVELOPE: usize = 1024;
/// Header values of a record over [`MAX_RECORD_BYTES`] are cut to this many bytes first.
const TRIMMED_HEADER_VALUE: usize = 256;
/// Then only this many headers each way are kept.
const TRIMMED_HEADERS: usize = 32;
/// Headers kept per record (a request with more is logged with the first ones).
const MAX_HEADERS: usize = 100;
/// Longest header value kept, in bytes.
const MAX_HEADER_VALUE: usize = 4096;

/// The queue of records waiting to be shipped.
#[derive(Debug)]
pub struct TrafficQueue {
    records: Mutex<ReportQueue<TrafficReport>>,
    wake: tokio::sync::Notify,
}

impl Default for TrafficQueue {
    fn default() -> Self {
        Self::new(MAX_QUEUED, MAX_QUEUED_BYTES)
    }
}

impl TrafficQueue {
    fn new(max: usize, max_bytes: usize) -> Self {
        Self {
            records: Mutex::new(ReportQueue::new(max, max_bytes)),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReportQueue<TrafficReport>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record (trimmed to [`MAX_RECORD_BYTES`]); the oldest are dropped (and
    /// counted) when the queue is full.
    pub fn push(&self, mut r: TrafficReport) {
        let bytes = cap_record(&mut r);
        let len = {
            let mut q = self.lock();
            q.push_measured(r, bytes);
            q.len()
        };
        if len >= 100 {
            self.wake.notify_one();
        }
    }

    /// The next batch's records: at most [`MAX_TRAFFIC_BATCH`], and `max` (halved after a
    /// refusal), within the cloud's body limit.
    fn take(&self, max: usize) -> Vec<TrafficReport> {
        let budget = MAX_TRAFFIC_BATCH_BYTES - BATCH_ENVELOPE;
        self.lock().take(budget, max.min(MAX_TRAFFIC_BATCH)).0
    }

    fn put_back(&self, batch: Vec<TrafficReport>) {
        self.lock().put_back(batch);
    }

    /// Records queued now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Bytes queued now (each record's JSON length).
    pub fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    #[cfg(test)]
    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped()
    }
}

/// Trims `r` to at most [`MAX_RECORD_BYTES`] of JSON, marking it `truncated` when it had to:
/// header values are cut first, then headers dropped, then bodies, then the path. Returns its
/// JSON length (measured once for an ordinary record).
fn cap_record(r: &mut TrafficReport) -> usize {
    let mut len = json_len(r);
    if len <= MAX_RECORD_BYTES {
        return len;
    }
    r.truncated = true;
    let steps: [fn(&mut TrafficReport); 4] = [
        |r| {
            for (_, v) in r.request_headers.iter_mut().chain(&mut r.response_headers) {
                let n = fdt_api::validate::cut(v, TRIMMED_HEADER_VALUE).len();
                v.truncate(n);
            }
        },
        |r| {
            r.request_headers.truncate(TRIMMED_HEADERS);
            r.response_headers.truncate(TRIMMED_HEADERS);
        },
        |r| {
            r.request_body = None;
            r.response_body = None;
        },
        |r| {
            let n = fdt_api::validate::cut(&r.path, 1024).len();
            r.path.truncate(n);
        },
    ];
    for step in steps {
        step(r);
        len = json_len(r);
        if len <= MAX_RECORD_BYTES {
            break;
        }
    }
    len
}

/// A new record ID: `req_` and 22 random base62 characters.
fn new_request_id() -> Option<RequestId> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let suffix: String = (0..fdt_api::ids::ID_SUFFIX_LEN)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    RequestId::from_suffix(&suffix).ok()
}

/// Headers as logged: lossy UTF-8, bounded in count and length.
pub fn headers_of(h: &http::HeaderMap) -> Vec<Header> {
    h.iter()
        .take(MAX_HEADERS)
        .map(|(k, v)| {
            let mut value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            if value.len() > MAX_HEADER_VALUE {
                let mut cut = MAX_HEADER_VALUE;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                value.truncate(cut);
            }
            (k.as_str().to_owned(), value)
        })
        .collect()
}

/// Where a request body is copied on its way to the agent (at most [`MAX_LOGGED_BODY`]).
#[derive(Debug, Clone, Default)]
pub struct BodySink(Arc<Mutex<Vec<u8>>>);

impl BodySink {
    /// Copies what still fits of `data`.
    pub fn append(&self, data: &Bytes) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_LOGGED_BODY.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One exchange being logged; finished (and queued) when dropped, which is when the response
/// body is done or abandoned.
#[derive(Debug)]
pub struct ExchangeLog {
    queue: Arc<TrafficQueue>,
    /// Taken when the record is queued.
    report: Option<TrafficReport>,
    started: Instant,
    response_body: Option<Vec<u8>>,
    request_sink: Option<BodySink>,
}

impl ExchangeLog {
    /// Starts a record, to be queued on `queue`, for a request to a tunnel of `account` (a
    /// cloud account) with the cloud's `tunnel_id`. `None` when the account is not a cloud account.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        queue: &Arc<TrafficQueue>,
        account: &str,
        tunnel_id: Option<&TunnelId>,
        name: Option<&str>,
        method: &str,
        host: &str,
        path: &str,
        request_headers: &http::HeaderMap,
        visitor_ip: std::net::IpAddr,
        log_bodies: bool,
    ) -> Option<Self> {
        let account_id: AccountId = account.parse().ok()?;
        let now_ms =
            i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                .unwrap_or(0);
        Some(Self {
            queue: queue.clone(),
            report: Some(TrafficReport {
                id: new_request_id()?,
                account_id,
                tunnel_id: tunnel_id.cloned(),
                method: method.chars().take(32).collect(),
                host: host.chars().take(255).collect(),
                name: name.map(str::to_owned),
                path: path.chars().take(8192).collect(),
                status: None,
                error_code: None,
                request_headers: headers_of(request_headers),
                response_headers: Vec::new(),
                bytes_in: 0,
                bytes_out: 0,
                duration_ms: 0,
                visitor_ip: crate::edge::conn_limit::normalize_ip(visitor_ip).to_string(),
                started_at_ms: now_ms,
                request_body: None,
                response_body: None,
                truncated: false,
            }),
            started: Instant::now(),
            response_body: log_bodies.then(Vec::new),
            request_sink: log_bodies.then(BodySink::default),
        })
    }

    /// The response head arrived.
    pub fn response(&mut self, status: u16, headers: &http::HeaderMap) {
        if let Some(r) = &mut self.report {
            r.status = Some(status);
            r.response_headers = headers_of(headers);
        }
    }

    /// The edge answered itself with `code`.
    pub fn edge_error(&mut self, status: u16, code: &str) {
        if let Some(r) = &mut self.report {
            r.status = Some(status);
            r.error_code = Some(code.to_owned());
        }
    }

    /// Bytes of the request body as declared (see the usage counters for why).
    pub fn request_bytes(&mut self, n: u64) {
        if let Some(r) = &mut self.report {
            r.bytes_in = n;
        }
    }

    /// Where the request body is to be copied, when bodies are logged.
    pub fn request_sink(&self) -> Option<BodySink> {
        self.request_sink.clone()
    }

    /// `n` bytes of the response body went to the visitor, `chunk` being (a prefix of) them.
    pub fn response_data(&mut self, chunk: &[u8], n: usize) {
        if let Some(r) = &mut self.report {
            r.bytes_out += n as u64;
        }
        if let Some(buf) = &mut self.response_body {
            let room = MAX_LOGGED_BODY.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }
}

impl Drop for ExchangeLog {
    fn drop(&mut self) {
        let Some(mut report) = self.report.take() else {
            return;
        };
        report.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(body) = self.response_body.take()
            && !body.is_empty()
        {
            report.response_body = Some(B64.encode(&body));
        }
        if let Some(sink) = self.request_sink.take() {
            let body = sink.take();
            if !body.is_empty() {
                report.request_body = Some(B64.encode(&body));
            }
        }
        self.queue.push(report);
    }
}

/// Ships queued records until `shutdown`: every second, or at once when 100 are waiting.
///
/// A batch the cloud refused as malformed or too large (a final 4xx) is never resent as it
/// is: its records go back and are sent in halves, and a single record still refused is
/// dropped and logged. Before, one such batch stalled the traffic log of the whole relay.
pub async fn run_shipper(
    client: ControlClient,
    queue: Arc<TrafficQueue>,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut max = MAX_TRAFFIC_BATCH;
    loop {
        let wait = if failures > 0 {
            backoff.next_delay(rand::random())
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = queue.wake.notified(), if failures == 0 => {}
            _ = shutdown.cancelled() => return,
        }
        loop {
            let batch = queue.take(max);
            if batch.is_empty() {
                break;
            }
            let body = TrafficBatch {
                relay_id: client.relay_id().to_owned(),
                requests: batch,
            };
            match client.ship_traffic(&body).await {
                Ok(_) => {
                    failures = 0;
                    backoff.reset();
                    max = MAX_TRAFFIC_BATCH;
                }
                Err(e) if is_final(&e) => {
                    let n = body.requests.len();
                    if n <= 1 {
                        tracing::error!(error = %e, "control plane refused a traffic record; it is dropped");
                        max = MAX_TRAFFIC_BATCH;
                    } else {
                        max = n / 2;
                        tracing::warn!(error = %e, records = n, next = max, "control plane refused a traffic batch; sending it in smaller parts");
                        queue.put_back(body.requests);
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, queued = queue.len(), "traffic log upload failed");
                    }
                    queue.put_back(body.requests);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
