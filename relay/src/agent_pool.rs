//! Keep-alive HTTP/1.1 connections to an agent, each one a QUIC stream.
//!
//! Opening a stream, writing its header and doing an HTTP/1 handshake for every request costs
//! more than the request itself on a fast path. Instead each HTTP tunnel owns a hyper pooled
//! client whose "connector" opens a QUIC stream to the agent: idle streams are reused for the
//! next request exactly as a reverse proxy reuses upstream TCP connections, and a stream that
//! turned into a WebSocket is simply not returned to the pool.

use crate::registry::{OpenError, Tunnel};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

/// Idle agent streams kept per tunnel.
const MAX_IDLE_STREAMS: usize = 64;
/// Idle agent streams are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Body of a request to the agent: the visitor's, streamed, or one buffered while the request
/// was held for a reconnecting agent (see [`crate::hold`]).
pub type UpstreamBody = http_body_util::Either<RequestTap, http_body_util::Full<bytes::Bytes>>;

/// The visitor's request body on its way to the agent, copied (up to the traffic log's body
/// limit) into `sink` when the tunnel logs bodies. Without a sink it only forwards.
#[derive(Debug)]
pub struct RequestTap {
    inner: hyper::body::Incoming,
    sink: Option<crate::traffic_log::BodySink>,
}

impl RequestTap {
    /// Wraps `inner`, copying into `sink` if given.
    pub fn new(inner: hyper::body::Incoming, sink: Option<crate::traffic_log::BodySink>) -> Self {
        Self { inner, sink }
    }

    /// Starts copying into `sink`.
    pub fn set_sink(&mut self, sink: crate::traffic_log::BodySink) {
        self.sink = Some(sink);
    }
}

impl hyper::body::Body for RequestTap {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(sink)) = (&polled, &self.sink)
            && let Some(data) = frame.data_ref()
        {
            sink.append(data);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::Body::size_hint(&self.inner)
    }
}

/// Pooled HTTP/1.1 client whose connections are QUIC streams to one tunnel's agent.
pub type AgentClient = Client<AgentConnector, UpstreamBody>;

/// Builds the pooled client for `tunnel` (held weakly: the tunnel owns its client).
pub fn client_for(tunnel: Weak<Tunnel>, max_header_bytes: usize) -> AgentClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_STREAMS)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .http1_max_buf_size(max_header_bytes.max(8192))
        .build(AgentConnector { tunnel })
}

/// Opens data streams to a tunnel's agent on behalf of the pooled client.
#[derive(Debug, Clone)]
pub struct AgentConnector {
    tunnel: Weak<Tunnel>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for AgentConnector {
    type Response = AgentStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<AgentStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let tunnel = self.tunnel.clone();
        Box::pin(async move {
            let tunnel = tunnel
                .upgrade()
                .ok_or_else(|| OpenError::Offline("tunnel released".into()))?;
            let s = tunnel.open_http_stream().await?;
            Ok(AgentStream {
                io: TokioIo::new(tokio::io::join(s.recv, s.send)),
                _permit: s.permit,
            })
        })
    }
}

/// One QUIC stream used as an HTTP/1.1 connection to the agent.
#[derive(Debug)]
pub struct AgentStream {
    io: TokioIo<tokio::io::Join<quinn::RecvStream, quinn::SendStream>>,
    /// Session stream slot, released when the stream is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Connection for AgentStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for AgentStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for AgentStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that holds the tunnel's per-request concurrency slot until it is done, and
/// counts the bytes it carries to the visitor in the account's usage.
#[derive(Debug)]
pub struct PermitBody<B> {
    inner: B,
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
    usage: Arc<crate::cloud_sync::Counters>,
    /// The exchange's traffic-log record, finished when the body is dropped.
    log: Option<crate::traffic_log::ExchangeLog>,
}

impl<B> PermitBody<B> {
    /// Wraps `inner`, keeping `permit` until the body is dropped, counting into `usage` and
    /// into `log` when the exchange is logged.
    pub fn new(
        inner: B,
        permit: Arc<tokio::sync::OwnedSemaphorePermit>,
        usage: Arc<crate::cloud_sync::Counters>,
        log: Option<crate::traffic_log::ExchangeLog>,
    ) -> Self {
        Self {
            inner,
            _permit: permit,
            usage,
            log,
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for PermitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let n = bytes::Buf::remaining(data);
            self.usage.bytes(0, n as u64);
            if let Some(log) = &mut self.log {
                log.response_data(bytes::Buf::chunk(data), n);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
