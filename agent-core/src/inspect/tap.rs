//! Capture on the forwarding path. Bodies are wrapped in [`TapBody`], which copies each frame
//! (up to the cap) into the exchange's record as it passes and never holds a frame back;
//! upgraded connections are wrapped in [`TapIo`], which feeds the WebSocket reader as bytes
//! are read. The record is handed to the writer task when the last part of the exchange lets
//! go of it (request body sent, response body finished, upgraded connection closed).

use super::Inspector;
use super::model::{
    CapturedBody, Direction, ExchangeId, HttpExchange, Record, TimelineEvent, TimelineKind,
};
use super::sse::SseReader;
use super::ws::WsReader;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Timeline entries kept per exchange; later ones are counted in `timeline_dropped`.
const MAX_TIMELINE: usize = 10_000;
/// Payload bytes kept across one exchange's timeline; later entries keep only their size.
const TIMELINE_PAYLOAD_BUDGET: usize = 4 * 1024 * 1024;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn headers_of(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

struct State {
    ex: HttpExchange,
    sse: Option<SseReader>,
    ws: [WsReader; 2],
    timeline_bytes: usize,
    upgraded: bool,
}

impl State {
    fn push_event(&mut self, mut ev: TimelineEvent) {
        if self.ex.timeline.len() >= MAX_TIMELINE {
            self.ex.timeline_dropped += 1;
            return;
        }
        if let Some(p) = &ev.payload {
            if self.timeline_bytes + p.data.len() > TIMELINE_PAYLOAD_BUDGET {
                ev.payload = Some(CapturedBody {
                    data: Vec::new(),
                    size: p.size,
                    truncated: true,
                });
            } else {
                self.timeline_bytes += p.data.len();
            }
        }
        self.ex.timeline.push(ev);
    }
}

/// One exchange being captured; shared by the parts of the exchange that see its bytes.
pub struct ExchangeCapture {
    state: Mutex<State>,
    start: Instant,
    cap: usize,
    inspector: Inspector,
}

impl std::fmt::Debug for ExchangeCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeCapture").finish_non_exhaustive()
    }
}

/// Which body a [`TapBody`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Visitor to local service.
    Request,
    /// Local service to visitor.
    Response,
}

impl ExchangeCapture {
    /// Starts capturing a request as it arrived (before any rewrite by the agent).
    pub fn start(
        inspector: &Inspector,
        tunnel_name: &str,
        parts: &http::request::Parts,
        remote_addr: Option<String>,
        replay_of: Option<ExchangeId>,
    ) -> Arc<Self> {
        let host = parts
            .headers
            .get(http::header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let ex = HttpExchange {
            id: inspector.next_id(),
            tunnel_name: tunnel_name.to_string(),
            replay_of,
            remote_addr,
            method: parts.method.to_string(),
            host,
            uri: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.to_string()),
            http_version: format!("{:?}", parts.version),
            request_headers: headers_of(&parts.headers),
            timings: super::model::Timings {
                started_at_ms: now_unix_ms(),
                ..Default::default()
            },
            ..Default::default()
        };
        Arc::new(Self {
            state: Mutex::new(State {
                ex,
                sse: None,
                ws: Default::default(),
                timeline_bytes: 0,
                upgraded: false,
            }),
            start: Instant::now(),
            cap: inspector.body_cap(),
            inspector: inspector.clone(),
        })
    }

    /// The id the exchange is stored under.
    pub fn id(&self) -> ExchangeId {
        self.lock().ex.id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data; keep capturing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn elapsed_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// Records the response head from the local service.
    pub fn response_head(&self, parts: &http::response::Parts) {
        let ttfb = self.elapsed_ms();
        let mut s = self.lock();
        s.ex.status = Some(parts.status.as_u16());
        s.ex.response_headers = headers_of(&parts.headers);
        s.ex.timings.ttfb_ms = Some(ttfb);
        s.upgraded = parts.status == http::StatusCode::SWITCHING_PROTOCOLS;
        let sse = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if sse {
            s.sse = Some(SseReader::default());
        }
        // WebSocket and SSE exchanges can last for hours: show them while they are open. The
        // final record replaces this one (same id).
        if sse || s.upgraded {
            let mut open = s.ex.clone();
            open.timeline.clear();
            drop(s);
            self.inspector.submit(Record::Http(Box::new(open)));
        }
    }

    /// Records that the agent answered itself because forwarding failed.
    pub fn failed(&self, status: u16, error: &str) {
        let ttfb = self.elapsed_ms();
        let mut s = self.lock();
        s.ex.status = Some(status);
        s.ex.error = Some(error.to_string());
        s.ex.timings.ttfb_ms = Some(ttfb);
    }

    /// Records body bytes of `side` as they pass.
    pub fn data(&self, side: Side, d: &[u8]) {
        let at_ms = self.elapsed_ms();
        let cap = self.cap;
        let mut s = self.lock();
        match side {
            Side::Request => s.ex.request_body.push(d, cap),
            Side::Response => {
                s.ex.response_body.push(d, cap);
                if let Some(mut sse) = s.sse.take() {
                    let mut events = Vec::new();
                    sse.feed(d, cap, &mut |f, size| events.push((f, size)));
                    s.sse = Some(sse);
                    for (f, size) in events {
                        s.push_event(TimelineEvent {
                            at_ms,
                            direction: Direction::ToVisitor,
                            kind: TimelineKind::SseEvent,
                            size,
                            payload: None,
                            sse: Some(f),
                        });
                    }
                }
            }
        }
    }

    /// Records that the body of `side` ended.
    pub fn end(&self, side: Side) {
        let total = self.elapsed_ms();
        let mut s = self.lock();
        if side == Side::Response && !s.upgraded {
            s.ex.timings.total_ms = Some(total);
        }
    }

    /// Feeds bytes of an upgraded connection to the WebSocket reader of `dir`.
    pub fn ws_data(&self, dir: Direction, d: &[u8]) {
        let at_ms = self.elapsed_ms();
        let cap = self.cap;
        let mut s = self.lock();
        let i = usize::from(dir == Direction::ToVisitor);
        let mut frames = Vec::new();
        s.ws[i].feed(d, cap, &mut |f| frames.push(f));
        for f in frames {
            s.push_event(TimelineEvent {
                at_ms,
                direction: dir,
                kind: f.kind,
                size: f.payload.size,
                payload: Some(f.payload),
                sse: None,
            });
        }
    }
}

impl Drop for ExchangeCapture {
    fn drop(&mut self) {
        let total = self.elapsed_ms();
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut ex = std::mem::take(&mut state.ex);
        if ex.timings.total_ms.is_none() {
            ex.timings.total_ms = Some(total);
        }
        self.inspector.submit(Record::Http(Box::new(ex)));
    }
}

/// A body that copies what passes through it into an [`ExchangeCapture`]; a plain
/// pass-through when inspection is off.
#[derive(Debug)]
pub struct TapBody<B> {
    inner: B,
    tap: Option<(Arc<ExchangeCapture>, Side)>,
}

impl<B> TapBody<B> {
    /// Wraps `inner`; `tap` of `None` captures nothing.
    pub fn new(inner: B, tap: Option<(Arc<ExchangeCapture>, Side)>) -> Self {
        Self { inner, tap }
    }
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(d), Some((cap, side))) = (frame.data_ref(), &self.tap) {
                    cap.data(*side, d);
                }
            }
            Poll::Ready(None) => {
                // Let go of the record as soon as this side is done.
                if let Some((cap, side)) = self.tap.take() {
                    cap.end(side);
                }
            }
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An upgraded connection whose reads are shown to the WebSocket reader of one direction; a
/// plain pass-through when inspection is off.
#[derive(Debug)]
pub struct TapIo<T> {
    inner: T,
    capture: Option<Arc<ExchangeCapture>>,
    dir: Direction,
}

impl<T> TapIo<T> {
    /// Wraps `inner`; bytes read from it travel in direction `dir`.
    pub fn new(inner: T, capture: Option<Arc<ExchangeCapture>>, dir: Direction) -> Self {
        Self {
            inner,
            capture,
            dir,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TapIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let new = &buf.filled()[before..];
            if let Some(c) = &self.capture
                && !new.is_empty()
            {
                c.ws_data(self.dir, new);
            }
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TapIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
