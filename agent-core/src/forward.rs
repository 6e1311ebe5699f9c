//! Serving relay-opened data streams: HTTP exchanges go through a pooled hyper client to the
//! local service; TCP and TLS streams are spliced to a local socket. With inspection on, each
//! exchange and connection is captured on the way ([`crate::inspect::tap`]) without holding
//! any byte back.

use crate::config::{ResolvedTunnel, Upstream};
use crate::inspect::Inspector;
use crate::inspect::model::{Direction, Record, TcpConnection};
use crate::inspect::tap::{ExchangeCapture, Side, TapBody, TapIo, now_unix_ms};
use crate::status::Counters;
use bytes::Bytes;
use fdt_proto::TunnelId;
use fdt_proto::frame::{FrameKind, HEADER_LEN, MAX_FRAME_LEN};
use fdt_proto::wire::{COPY_BUF, ERROR_HEADER, VISITOR_HEADER};
use fdt_proto::{Frame, Proto, StreamHeader};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;

type Body = BoxBody<Bytes, hyper::Error>;
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, TapBody<Incoming>>;

/// Time to connect to the local service.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound tunnels' local sides, by the id the relay gave each: written by the control
/// session, read by every data stream.
pub(crate) type Targets = Arc<RwLock<HashMap<TunnelId, Arc<LocalTarget>>>>;

/// A bound tunnel's local side.
#[derive(Debug)]
pub struct LocalTarget {
    /// The tunnel definition.
    pub tunnel: ResolvedTunnel,
    client: HttpsClient,
    inspector: Option<Inspector>,
}

impl LocalTarget {
    /// Prepares the pooled client for `tunnel`.
    pub fn new(tunnel: ResolvedTunnel) -> Result<Self, rustls::Error> {
        let client = build_client(tunnel.upstream_insecure)?;
        Ok(Self {
            tunnel,
            client,
            inspector: None,
        })
    }

    /// Captures this tunnel's traffic into `inspector` (`None`: no capture at all).
    pub fn with_inspector(mut self, inspector: Option<Inspector>) -> Self {
        self.inspector = inspector;
        self
    }
}

/// Accepts the data streams the relay opens on `conn` and serves each with its tunnel's
/// target, until the connection ends.
pub(crate) async fn accept_streams(
    conn: quinn::Connection,
    targets: Targets,
    bound: Arc<Notify>,
    counters: Arc<Counters>,
) {
    while let Ok((send, mut recv)) = conn.accept_bi().await {
        let targets = targets.clone();
        let bound = bound.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let header =
                match tokio::time::timeout(Duration::from_secs(10), read_header(&mut recv)).await {
                    Ok(Ok(h)) => h,
                    _ => return,
                };
            // A visitor can reach the relay between it registering a tunnel and us processing
            // `Bound`; give the control stream a moment to catch up.
            let deadline = Instant::now() + Duration::from_secs(2);
            let target = loop {
                let notified = bound.notified();
                if let Some(t) = targets
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&header.tunnel)
                {
                    break t.clone();
                }
                if tokio::time::timeout_at(deadline.into(), notified)
                    .await
                    .is_err()
                {
                    tracing::debug!(tunnel = %header.tunnel, "stream for unknown tunnel");
                    return;
                }
            };
            serve_stream(target, header, send, recv, counters).await;
        });
    }
}

/// A pooled client to local services sending bodies of type `B`.
pub(crate) fn build_client<B>(
    insecure: bool,
) -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, B>, rustls::Error>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let tls = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::insecure::NoVerify::new()))
            .with_no_client_auth()
    } else {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(LOCAL_CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https))
}

/// Reads the stream header without consuming bytes past it.
pub async fn read_header(recv: &mut quinn::RecvStream) -> anyhow::Result<StreamHeader> {
    let mut head = [0u8; HEADER_LEN];
    recv.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
    if len > MAX_FRAME_LEN {
        anyhow::bail!("stream header of {len} bytes is too large");
    }
    let mut buf = bytes::BytesMut::with_capacity(HEADER_LEN + len);
    buf.extend_from_slice(&head);
    buf.resize(HEADER_LEN + len, 0);
    recv.read_exact(&mut buf[HEADER_LEN..]).await?;
    let frame =
        Frame::decode(&mut buf)?.ok_or_else(|| anyhow::anyhow!("incomplete stream header"))?;
    Ok(frame.parse(FrameKind::StreamHeader)?)
}

/// Serves one data stream for `target`.
pub async fn serve_stream(
    target: Arc<LocalTarget>,
    header: StreamHeader,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    counters: Arc<Counters>,
) {
    let _open = counters.open();
    match header.proto {
        Proto::Http => serve_http(target, send, recv, counters.clone()).await,
        Proto::Tcp | Proto::Tls => serve_raw(&target, header.proto, send, recv, &counters).await,
    }
}

async fn serve_raw(
    target: &LocalTarget,
    proto: Proto,
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
    counters: &Counters,
) {
    let started = std::time::Instant::now();
    let mut record = target.inspector.as_ref().map(|i| {
        let c = TcpConnection {
            id: i.next_id(),
            tunnel_name: target.tunnel.spec.name.clone(),
            proto: proto.as_str().to_string(),
            opened_at_ms: now_unix_ms(),
            ..Default::default()
        };
        i.submit(Record::Tcp(c.clone()));
        (i, c)
    });
    let mut close = |to_local: u64, to_visitor: u64, error: Option<String>| {
        if let Some((i, mut c)) = record.take() {
            c.closed_at_ms = Some(now_unix_ms());
            c.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            c.bytes_to_local = to_local;
            c.bytes_to_visitor = to_visitor;
            c.error = error;
            i.submit(Record::Tcp(c));
        }
    };
    let addr = target.tunnel.upstream.authority().to_string();
    let mut local =
        match tokio::time::timeout(LOCAL_CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                counters.upstream_error();
                tracing::warn!(%addr, error = %e, "local service unreachable");
                close(0, 0, Some(format!("local service unreachable: {e}")));
                let _ = send.reset(1u32.into());
                return;
            }
            Err(_) => {
                counters.upstream_error();
                tracing::warn!(%addr, "local connect timed out");
                close(0, 0, Some("local connect timed out".into()));
                let _ = send.reset(1u32.into());
                return;
            }
        };
    let _ = local.set_nodelay(true);
    let mut quic = tokio::io::join(recv, send);
    match tokio::io::copy_bidirectional_with_sizes(&mut quic, &mut local, COPY_BUF, COPY_BUF).await
    {
        Ok((a, b)) => {
            use std::sync::atomic::Ordering::Relaxed;
            counters.bytes_in.fetch_add(a, Relaxed);
            counters.bytes_out.fetch_add(b, Relaxed);
            close(a, b, None);
        }
        // The copy does not report how far it got when one side breaks off.
        Err(e) => close(0, 0, Some(e.to_string())),
    }
}

async fn serve_http(
    target: Arc<LocalTarget>,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    counters: Arc<Counters>,
) {
    let io = TokioIo::new(tokio::io::join(recv, send));
    let svc = hyper::service::service_fn(move |req| {
        let target = target.clone();
        let counters = counters.clone();
        async move { Ok::<_, std::convert::Infallible>(proxy(&target, &counters, req).await) }
    });
    // The relay pools these streams and sends many requests on each.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "tunnel stream ended with error");
    }
}

fn error_response(detail: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).map_err(|n| match n {}).boxed());
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r.headers_mut()
        .insert(ERROR_HEADER, HeaderValue::from_static(detail));
    r
}

async fn proxy(
    target: &LocalTarget,
    counters: &Counters,
    req: Request<Incoming>,
) -> Response<Body> {
    let (scheme, authority) = match &target.tunnel.upstream {
        Upstream::Https(a) => ("https", a.as_str()),
        Upstream::Http(a) | Upstream::Tcp(a) => ("http", a.as_str()),
    };
    let (mut parts, body) = req.into_parts();
    // Relay-to-agent metadata; the local service never sees it.
    let visitor_addr = parts
        .headers
        .remove(VISITOR_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // Captured before the URI is rewritten, so the record shows what the visitor sent.
    let capture = target
        .inspector
        .as_ref()
        .map(|i| ExchangeCapture::start(i, &target.tunnel.spec.name, &parts, visitor_addr, None));
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = Uri::try_from(format!("{scheme}://{authority}{pq}")) else {
        if let Some(c) = &capture {
            c.failed(502, "bad_request_target");
        }
        return error_response("bad_request_target");
    };
    parts.uri = uri;
    let tap = |side| capture.clone().map(|c| (c, side));
    let mut req = Request::from_parts(parts, TapBody::new(body, tap(Side::Request)));
    let upgrade = req
        .headers()
        .contains_key(http::header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let resp = match target.client.request(req).await {
        Ok(r) => r,
        Err(e) => {
            counters.upstream_error();
            tracing::warn!(upstream = %target.tunnel.upstream.display(), error = %e, "local service unreachable");
            if let Some(c) = &capture {
                c.failed(502, &format!("upstream_unreachable: {e}"));
            }
            return error_response("upstream_unreachable");
        }
    };
    let (mut head, body) = resp.into_parts();
    // The marker header belongs to the agent↔relay contract; never let a service forge it.
    head.headers.remove(ERROR_HEADER);
    if let Some(c) = &capture {
        c.response_head(&head);
    }
    let mut resp = Response::from_parts(head, body);
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(visitor) = upgrade
    {
        let local = hyper::upgrade::on(&mut resp);
        let capture = capture.clone();
        tokio::spawn(async move {
            if let Ok((v, l)) = tokio::try_join!(visitor, local) {
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut TapIo::new(TokioIo::new(v), capture.clone(), Direction::ToLocal),
                    &mut TapIo::new(TokioIo::new(l), capture, Direction::ToVisitor),
                    COPY_BUF,
                    COPY_BUF,
                )
                .await;
            }
        });
    }
    resp.map(|b| TapBody::new(b, tap(Side::Response)).boxed())
}
