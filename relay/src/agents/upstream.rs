//! Keep-alive HTTP/1.1 connections to an agent, each one a QUIC stream.
//!
//! Opening a stream, writing its header and doing an HTTP/1 handshake for every request costs
//! more than the request itself on a fast path. Instead each HTTP tunnel owns a hyper pooled
//! client whose "connector" opens a QUIC stream to the agent: idle streams are reused for the
//! next request exactly as a reverse proxy reuses upstream TCP connections, and a stream that
//! turned into a WebSocket is simply not returned to the pool.

use crate::agents::streams::StreamOpener;
use crate::edge::body::UpstreamBody;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Idle agent streams kept per tunnel.
const MAX_IDLE_STREAMS: usize = 64;
/// Idle agent streams are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Pooled HTTP/1.1 client whose connections are QUIC streams to one tunnel's agent.
pub type AgentClient = Client<AgentConnector, UpstreamBody>;

/// Builds the pooled client of a tunnel whose streams `opener` opens.
pub fn client_for(opener: StreamOpener, max_header_bytes: usize) -> AgentClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_STREAMS)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .http1_max_buf_size(max_header_bytes.max(8192))
        .build(AgentConnector { opener })
}

/// Opens data streams to a tunnel's agent on behalf of the pooled client.
#[derive(Debug, Clone)]
pub struct AgentConnector {
    opener: StreamOpener,
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
        let opener = self.opener.clone();
        Box::pin(async move {
            let s = opener.open_http().await?;
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
