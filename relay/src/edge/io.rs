//! Small I/O adapters shared by the edges.

use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Replays bytes that were already read from a stream (e.g. a peeked TLS ClientHello) before
/// reading from the stream itself.
#[derive(Debug)]
pub struct PrefixedIo<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> PrefixedIo<S> {
    /// Wraps `inner`, serving `prefix` first.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PrefixedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PrefixedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Answers `408 Request Timeout` to a visitor that started a request but did not finish its
/// headers in time. hyper only closes such connections; this wrapper remembers whether request
/// bytes arrived since the last response bytes went out and, if the connection is dropped after
/// [`SlowHeaderFlag::set`], makes one best-effort non-blocking write of a 408 first. An idle
/// keep-alive connection (nothing read since the last response) is closed silently, as a 408
/// there could be mistaken for the answer to the client's next request.
#[derive(Debug)]
pub struct SlowHeaderIo<S: AsyncWrite + Unpin> {
    inner: S,
    flag: SlowHeaderFlag,
    read_since_write: bool,
}

/// Shared switch telling a [`SlowHeaderIo`] that its connection hit the header timeout, and
/// telling the connection's owner whether it ever made progress (a request head read, or a
/// byte written).
#[derive(Debug, Clone, Default)]
pub struct SlowHeaderFlag(std::sync::Arc<FlagState>);

/// What a [`SlowHeaderFlag`] shares.
#[derive(Debug, Default)]
pub struct FlagState {
    timed_out: std::sync::atomic::AtomicBool,
    progress: std::sync::atomic::AtomicBool,
}

impl SlowHeaderFlag {
    /// Marks the connection as timed out while reading request headers.
    pub fn set(&self) {
        self.0
            .timed_out
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Marks the connection as having made progress (a request head was read, or a byte
    /// written). Stored once: later calls only read, so writes on the hot path do not keep
    /// dirtying a shared cache line.
    pub fn progress(&self) {
        if !self.made_progress() {
            self.0
                .progress
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether a request head was read or a byte written on the connection.
    pub fn made_progress(&self) -> bool {
        self.0.progress.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn timed_out(&self) -> bool {
        self.0.timed_out.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<S: AsyncWrite + Unpin> SlowHeaderIo<S> {
    /// Wraps `inner`; `flag` is set by whoever learns about the timeout.
    pub fn new(inner: S, flag: SlowHeaderFlag) -> Self {
        Self {
            inner,
            flag,
            read_since_write: false,
        }
    }
}

const REQUEST_TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\
Content-Type: application/json\r\nContent-Length: 78\r\n\r\n\
{\"error\":{\"code\":\"request_timeout\",\"status\":408,\"message\":\"headers too slow\"}}";

impl<S: AsyncWrite + Unpin> Drop for SlowHeaderIo<S> {
    fn drop(&mut self) {
        if self.read_since_write && self.flag.timed_out() {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let _ = Pin::new(&mut self.inner).poll_write(&mut cx, REQUEST_TIMEOUT_RESPONSE);
            let _ = Pin::new(&mut self.inner).poll_flush(&mut cx);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SlowHeaderIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.read_since_write = true;
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SlowHeaderIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.read_since_write = false;
        self.flag.progress();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.read_since_write = false;
        self.flag.progress();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Copies both ways until both sides are done; returns bytes (visitor→agent, agent→visitor).
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    tokio::io::copy_bidirectional_with_sizes(
        a,
        b,
        fdt_proto::wire::COPY_BUF,
        fdt_proto::wire::COPY_BUF,
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn timeout_body_length_matches_header() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }

    #[tokio::test]
    async fn slow_header_answers_408_only_mid_request() {
        use tokio::io::AsyncWriteExt;
        for (send_partial, expect) in [(true, true), (false, false)] {
            let (mut client, server) = tokio::io::duplex(4096);
            let flag = SlowHeaderFlag::default();
            let mut io = SlowHeaderIo::new(server, flag.clone());
            if send_partial {
                client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
                let mut b = [0u8; 64];
                let _ = io.read(&mut b).await.unwrap();
            }
            flag.set();
            drop(io);
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.unwrap();
            assert_eq!(
                out.starts_with(b"HTTP/1.1 408"),
                expect,
                "partial={send_partial}"
            );
        }
    }

    #[tokio::test]
    async fn prefix_is_read_before_inner() {
        let (mut w, r) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut w, b" world")
            .await
            .unwrap();
        drop(w);
        let mut p = PrefixedIo::new(Bytes::from_static(b"hello"), r);
        let mut s = String::new();
        p.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello world");
    }
}
