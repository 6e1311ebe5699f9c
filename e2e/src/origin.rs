//! Local services the tunnels point at: an HTTP origin, a TCP echo and a TLS echo server.
//!
//! Each binds 127.0.0.1:0 before it returns, so its address is ready to use, and stops
//! accepting when dropped.

use crate::pattern::{CHUNK, Pattern};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

type OBody = BoxBody<Bytes, Infallible>;

/// Method, path and query, and headers of a request to `/echo`.
pub type EchoedRequest = (String, String, Vec<(String, String)>);

/// What the HTTP origin has seen, for tests that assert on the origin's side of an exchange.
#[derive(Debug, Default)]
pub struct OriginStats {
    /// Requests received (any route).
    pub requests: AtomicUsize,
    /// SSE events handed to the connection so far (all `/sse` requests together).
    pub sse_sent: AtomicUsize,
    /// `/hold` requests currently being held open.
    pub holds_active: AtomicUsize,
    /// Method, path and headers of every `/echo` request, in arrival order.
    pub echoed: std::sync::Mutex<Vec<EchoedRequest>>,
    changed: Notify,
}

impl OriginStats {
    /// Waits (at most `limit`) until `holds_active` reaches `n`.
    pub async fn wait_holds(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        crate::within(limit, "origin /hold requests in flight", async {
            loop {
                let notified = self.changed.notified();
                if self.holds_active.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
    }
}

/// Decrements `holds_active` when a held request ends, however it ends.
struct HoldGuard(Arc<OriginStats>);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.holds_active.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// An HTTP/1.1 origin with test routes:
///
/// - `/echo`: method, path, headers and body as JSON;
/// - `/bytes?n=N&seed=S`: N pattern bytes, streamed in 64 KiB chunks;
/// - `/upload`: SHA-256 and length of the streamed request body, as JSON;
/// - `/sse?n=N&ms=M`: N server-sent events M ms apart;
/// - `/ws`: WebSocket echo;
/// - `/hold?ms=M`: answers after M ms (counted in [`OriginStats::holds_active`]).
#[derive(Debug)]
pub struct HttpOrigin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it has seen.
    pub stats: Arc<OriginStats>,
    stop: CancellationToken,
}

impl HttpOrigin {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start() -> std::io::Result<Self> {
        Self::serve(None).await
    }

    /// Like [`HttpOrigin::start`] but over TLS, with a certificate for `names` issued by `ca`
    /// (an `https://` upstream that public roots do not trust).
    pub async fn start_tls(ca: &fdt_relay::tls::DevCa, names: &[String]) -> anyhow::Result<Self> {
        let (acceptor, _) = tls_acceptor(ca, names, vec![b"http/1.1".to_vec()])?;
        Ok(Self::serve(Some(acceptor)).await?)
    }

    /// Accepts on 127.0.0.1:0 until dropped, over TLS when `tls` is given.
    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> std::io::Result<Self> {
        let stats = Arc::new(OriginStats::default());
        let s = stats.clone();
        let (addr, stop) = accept_loop(move |sock| {
            let (tls, stats) = (tls.clone(), s.clone());
            async move {
                match tls {
                    None => serve_http(sock, stats).await,
                    Some(acceptor) => {
                        if let Some(tls) = tls_handshake(&acceptor, sock).await {
                            serve_http(tls, stats).await;
                        }
                    }
                }
            }
        })
        .await?;
        Ok(Self { addr, stats, stop })
    }
}

/// Binds 127.0.0.1:0 and runs `handler` on every accepted connection (each in its own task)
/// until the returned token is cancelled.
async fn accept_loop<F, Fut>(handler: F) -> std::io::Result<(SocketAddr, CancellationToken)>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let st = stop.clone();
    tokio::spawn(async move {
        loop {
            let sock = tokio::select! {
                r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                _ = st.cancelled() => return,
            };
            tokio::spawn(handler(sock));
        }
    });
    Ok((addr, stop))
}

/// A TLS acceptor with a certificate for `names` issued by `ca`, and that leaf certificate.
fn tls_acceptor(
    ca: &fdt_relay::tls::DevCa,
    names: &[String],
    alpn: Vec<Vec<u8>>,
) -> anyhow::Result<(tokio_rustls::TlsAcceptor, CertificateDer<'static>)> {
    crate::install_crypto();
    let (chain, key) = ca.issue(names)?;
    let leaf = chain[0].clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = alpn;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(cfg)), leaf))
}

/// Completes a TLS handshake within a bounded time.
async fn tls_handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    sock: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(sock)).await {
        Ok(Ok(tls)) => Some(tls),
        _ => None,
    }
}

impl Drop for HttpOrigin {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve_http<S>(sock: S, stats: Arc<OriginStats>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let stats = stats.clone();
        async move { Ok::<_, Infallible>(route(req, stats).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(sock), svc)
        .with_upgrades()
        .await;
}

fn full(b: impl Into<Bytes>) -> OBody {
    Full::new(b.into()).boxed()
}

fn respond(status: StatusCode, ctype: &'static str, body: OBody) -> Response<OBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn query_u64(req: &Request<Incoming>, key: &str, default: u64) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

async fn route(req: Request<Incoming>, stats: Arc<OriginStats>) -> Response<OBody> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let json = "application/json";
    match req.uri().path() {
        "/echo" => {
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let target = req
                .uri()
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default();
            if let Ok(mut seen) = stats.echoed.lock() {
                seen.push((req.method().to_string(), target, headers));
            }
            echo(req).await
        }
        "/bytes" => {
            let n = query_u64(&req, "n", 0);
            let body = PatternBody {
                pattern: Pattern::new(query_u64(&req, "seed", 0)),
                remaining: n,
            };
            respond(StatusCode::OK, "application/octet-stream", body.boxed())
        }
        "/upload" => {
            let mut body = req.into_body();
            let (mut h, mut len) = (Sha256::new(), 0u64);
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return respond(StatusCode::BAD_REQUEST, json, full("body error"));
                };
                if let Ok(d) = frame.into_data() {
                    h.update(&d);
                    len += d.len() as u64;
                }
            }
            let v = serde_json::json!({ "sha256": crate::hex(&h.finalize()), "len": len });
            respond(StatusCode::OK, json, full(v.to_string()))
        }
        "/sse" => {
            let n = query_u64(&req, "n", 3);
            let ms = query_u64(&req, "ms", 100);
            let (tx, rx) = mpsc::channel(1);
            tokio::spawn(async move {
                for i in 1..=n {
                    if i > 1 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    // Counted before it is handed over, so a reader that sees event i knows
                    // the count is at least i.
                    stats.sse_sent.fetch_add(1, Ordering::SeqCst);
                    let ev = format!("id: {i}\ndata: event {i}\n\n");
                    if tx.send(Bytes::from(ev)).await.is_err() {
                        return;
                    }
                }
            });
            let mut r = respond(StatusCode::OK, "text/event-stream", ChannelBody(rx).boxed());
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        "/hold" => {
            let ms = query_u64(&req, "ms", 10_000);
            stats.holds_active.fetch_add(1, Ordering::SeqCst);
            stats.changed.notify_waiters();
            let _guard = HoldGuard(stats.clone());
            tokio::time::sleep(Duration::from_millis(ms)).await;
            respond(StatusCode::OK, "text/plain", full("held"))
        }
        "/ws" => websocket(req),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", full("no such route")),
    }
}

async fn echo(req: Request<Incoming>) -> Response<OBody> {
    let (parts, body) = req.into_parts();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<serde_json::Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        headers.insert(name.as_str().to_string(), values.into());
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let v = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    respond(StatusCode::OK, "application/json", full(v.to_string()))
}

fn websocket(mut req: Request<Incoming>) -> Response<OBody> {
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            full("not a websocket"),
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// A response body generated chunk by chunk from a [`Pattern`]; never buffered whole.
struct PatternBody {
    pattern: Pattern,
    remaining: u64,
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(this.remaining.min(CHUNK as u64)).unwrap_or(CHUNK);
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(this.pattern.take(n))))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A response body fed by a channel (chunks are sent as soon as they are produced).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A TCP server that echoes every byte back and closes its write side at EOF.
#[derive(Debug)]
pub struct TcpEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl TcpEcho {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start() -> std::io::Result<Self> {
        let (addr, stop) = accept_loop(|sock| async move {
            let (mut r, mut w) = sock.into_split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        })
        .await?;
        Ok(Self { addr, stop })
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A TLS server (certificate from the stack's dev CA) that echoes the decrypted bytes.
#[derive(Debug)]
pub struct TlsEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its leaf certificate, to tell it apart from one the relay would present.
    pub leaf: CertificateDer<'static>,
    stop: CancellationToken,
}

impl TlsEcho {
    /// Issues a certificate for `names` from `ca`, binds 127.0.0.1:0 and starts serving.
    pub async fn start(ca: &fdt_relay::tls::DevCa, names: &[String]) -> anyhow::Result<Self> {
        let (acceptor, leaf) = tls_acceptor(ca, names, Vec::new())?;
        let (addr, stop) = accept_loop(move |sock| {
            let acceptor = acceptor.clone();
            async move {
                let Some(tls) = tls_handshake(&acceptor, sock).await else {
                    return;
                };
                let (mut r, mut w) = tokio::io::split(tls);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            }
        })
        .await?;
        Ok(Self { addr, leaf, stop })
    }
}

impl Drop for TlsEcho {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
