//! Bodies on their way through the HTTP edge: the visitor's request body copied into the
//! traffic log as it streams to the agent, and the agent's response body holding the
//! tunnel's concurrency slot and counting usage until it is done.

use crate::control::traffic_log::{BodySink, ExchangeLog};
use crate::usage::Counters;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Body of a request to the agent: the visitor's, streamed, or one buffered while the request
/// was held for a reconnecting agent (see [`crate::edge::hold`]).
pub type UpstreamBody = http_body_util::Either<RequestTap, http_body_util::Full<bytes::Bytes>>;

/// The visitor's request body on its way to the agent, copied (up to the traffic log's body
/// limit) into `sink` when the tunnel logs bodies. Without a sink it only forwards.
#[derive(Debug)]
pub struct RequestTap {
    inner: hyper::body::Incoming,
    sink: Option<BodySink>,
}

impl RequestTap {
    /// Wraps `inner`, copying into `sink` if given.
    pub fn new(inner: hyper::body::Incoming, sink: Option<BodySink>) -> Self {
        Self { inner, sink }
    }

    /// Starts copying into `sink`.
    pub fn set_sink(&mut self, sink: BodySink) {
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

/// A response body that holds the tunnel's per-request concurrency slot until it is done, and
/// counts the bytes it carries to the visitor in the account's usage.
#[derive(Debug)]
pub struct PermitBody<B> {
    inner: B,
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
    usage: Arc<Counters>,
    /// The exchange's traffic-log record, finished when the body is dropped.
    log: Option<ExchangeLog>,
}

impl<B> PermitBody<B> {
    /// Wraps `inner`, keeping `permit` until the body is dropped, counting into `usage` and
    /// into `log` when the exchange is logged.
    pub fn new(
        inner: B,
        permit: Arc<tokio::sync::OwnedSemaphorePermit>,
        usage: Arc<Counters>,
        log: Option<ExchangeLog>,
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
