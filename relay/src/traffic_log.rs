//! Request records for the cloud traffic log: built as an exchange passes the HTTP edge,
//! queued (bounded: the oldest go first when the cloud is unreachable for long), and shipped
//! in batches to `POST /v1/relay/requests`. Records carry an ID made here, so a batch resent
//! after a lost answer is stored once.
//!
//! Only tunnels of cloud-issued tokens are logged (their account is a cloud account). Bodies
//! (up to [`MAX_LOGGED_BODY`] each way) are captured only when the plan allows it and the
//! agent asked for it; sensitive headers are redacted by the cloud before storing.

use crate::cloud_sync::CloudSync;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use fdt_api::traffic::{Header, MAX_LOGGED_BODY, MAX_TRAFFIC_BATCH, TrafficBatch, TrafficReport};
use fdt_api::{AccountId, RequestId, TunnelId};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records kept while the cloud is unreachable.
const MAX_QUEUED: usize = 10_000;
/// Headers kept per record (a request with more is logged with the first ones).
const MAX_HEADERS: usize = 100;
/// Longest header value kept, in bytes.
const MAX_HEADER_VALUE: usize = 4096;

/// The queue of records waiting to be shipped.
#[derive(Debug, Default)]
pub struct TrafficQueue {
    records: Mutex<VecDeque<TrafficReport>>,
    dropped: std::sync::atomic::AtomicU64,
    wake: tokio::sync::Notify,
}

impl TrafficQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<TrafficReport>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record; the oldest is dropped (and counted) when the queue is full.
    pub fn push(&self, r: TrafficReport) {
        let len = {
            let mut q = self.lock();
            if q.len() >= MAX_QUEUED {
                q.pop_front();
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            q.push_back(r);
            q.len()
        };
        if len >= 100 {
            self.wake.notify_one();
        }
    }

    fn take(&self, max: usize) -> Vec<TrafficReport> {
        let mut q = self.lock();
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    fn put_back(&self, batch: Vec<TrafficReport>) {
        let mut q = self.lock();
        for r in batch.into_iter().rev() {
            if q.len() >= MAX_QUEUED {
                break;
            }
            q.push_front(r);
        }
    }

    /// Records queued now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
    /// Starts a record for a request to a tunnel of `account` (a cloud account) with the
    /// cloud's `tunnel_id`. `None` when the account is not a cloud account.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        sync: &CloudSync,
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
            queue: sync.traffic.clone(),
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
                visitor_ip: crate::limits::normalize_ip(visitor_ip).to_string(),
                started_at_ms: now_ms,
                request_body: None,
                response_body: None,
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

/// Ships queued records until shutdown: every second, or at once when 100 are waiting.
pub async fn run_shipper(shared: Arc<crate::server::Shared>, sync: Arc<CloudSync>) {
    let mut failures = 0u32;
    loop {
        let wait = if failures > 0 {
            Duration::from_millis(500)
                .saturating_mul(1 << failures.min(6))
                .min(Duration::from_secs(30))
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = sync.traffic.wake.notified(), if failures == 0 => {}
            _ = shared.shutdown.cancelled() => return,
        }
        loop {
            let batch = sync.traffic.take(MAX_TRAFFIC_BATCH);
            if batch.is_empty() {
                break;
            }
            let body = TrafficBatch {
                relay_id: sync.relay_id().to_owned(),
                requests: batch,
            };
            match sync.post_json("/v1/relay/requests", &body).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(error = %e, queued = sync.traffic.len(), "traffic log upload failed");
                    }
                    sync.traffic.put_back(body.requests);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: u8) -> TrafficReport {
        TrafficReport {
            id: new_request_id().unwrap_or_else(|| unreachable!()),
            account_id: "acc_0123456789abcdefABCDEF"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
            tunnel_id: None,
            method: "GET".into(),
            host: "h".into(),
            name: None,
            path: format!("/{n}"),
            status: Some(200),
            error_code: None,
            request_headers: vec![],
            response_headers: vec![],
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0,
            visitor_ip: "127.0.0.1".into(),
            started_at_ms: 0,
            request_body: None,
            response_body: None,
        }
    }

    #[test]
    fn queue_is_bounded_and_keeps_order_when_batches_come_back() {
        let q = TrafficQueue::default();
        for n in 0..3 {
            q.push(report(n));
        }
        let batch = q.take(2);
        assert_eq!(batch.len(), 2);
        q.put_back(batch);
        let all: Vec<String> = q.take(10).into_iter().map(|r| r.path).collect();
        assert_eq!(all, ["/0", "/1", "/2"]);
        for n in 0..=u8::MAX {
            for _ in 0..40 {
                q.push(report(n));
            }
        }
        assert_eq!(q.len(), MAX_QUEUED);
        assert!(q.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0);
    }

    #[test]
    fn header_values_are_bounded_on_char_boundaries() {
        let mut h = http::HeaderMap::new();
        let long = "é".repeat(MAX_HEADER_VALUE);
        h.insert(
            "x-long",
            http::HeaderValue::from_str(&long).unwrap_or_else(|_| unreachable!()),
        );
        let out = headers_of(&h);
        assert!(out[0].1.len() <= MAX_HEADER_VALUE);
    }
}
