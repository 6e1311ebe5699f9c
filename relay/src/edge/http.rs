//! The HTTP edge: serves visitor connections with hyper (HTTP/1.1 and HTTP/2), decides the
//! tunnel per request from Host / `:authority`, enforces the tunnel's policy and forwards the
//! exchange as HTTP/1.1 over its own QUIC stream to the agent, streaming bodies both ways and
//! splicing upgraded connections (WebSocket) once the agent answers 101. Requests for a name
//! whose agent is reconnecting are first held until it is back (see [`crate::edge::hold`]).

use crate::agents::streams::OpenError;
use crate::edge::body::{PermitBody, RequestTap, UpstreamBody};
use crate::edge::context::Edge;
use crate::edge::error::{Body, EdgeError, full, wants_html};
use crate::edge::io::{SlowHeaderFlag, SlowHeaderIo, splice};
use crate::registry::{HostLookup, Tunnel};
use fdt_proto::Proto;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Either};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long the agent has to send response headers before the visitor gets 504.
const RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(300);

pub use fdt_proto::wire::VISITOR_HEADER;

/// What the edge knows about a visitor connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// Socket peer (the only address policy trusts).
    pub peer: SocketAddr,
    /// Whether the connection arrived over TLS terminated here.
    pub tls: bool,
    /// SNI of that TLS connection.
    pub sni: Option<String>,
}

/// Serves one visitor connection until it closes or the relay drains.
pub async fn serve_conn<I>(edge: Arc<Edge>, io: I, ctx: ConnCtx, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &edge.cfg.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(250)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let svc_edge = edge.clone();
    let peer = ctx.peer;
    let flag = SlowHeaderFlag::default();
    let svc_flag = flag.clone();
    let svc = service_fn(move |req| {
        svc_flag.progress();
        let edge = svc_edge.clone();
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(&edge, &ctx, req).await) }
    });
    let io = SlowHeaderIo::new(io, flag.clone());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    // Keep the finished connection (and with it the socket) alive until the flag is set, so a
    // visitor cut off mid-headers gets a 408 when it is dropped.
    let conn = watcher.watch(conn.into_owned());
    tokio::pin!(conn);
    tokio::select! {
        r = &mut conn => if let Err(e) = r {
            if e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
            {
                flag.set();
            }
            tracing::debug!(error = %e, "visitor connection ended with error");
        },
        () = no_request_by(&flag, limits.header_read_timeout()) => {
            // hyper-util's auto builder has no timer while it reads enough bytes to tell
            // HTTP/1 from HTTP/2: a visitor that sends nothing (or a bit of the h2 preface)
            // would hold the socket for ever. Dropping `conn` closes it.
            flag.set();
            tracing::debug!(%peer, "visitor sent no request in time: closed");
        }
    }
}

/// Completes when `timeout` has passed without a request head being read or any byte being
/// written on the connection (an HTTP/2 server writes its SETTINGS first); never otherwise.
async fn no_request_by(flag: &SlowHeaderFlag, timeout: Duration) {
    tokio::time::sleep(timeout).await;
    if flag.made_progress() {
        std::future::pending::<()>().await;
    }
}

async fn handle(edge: &Edge, ctx: &ConnCtx, req: Request<Incoming>) -> Response<Body> {
    let html = wants_html(req.headers());
    if let Err(e) = check_framing(&req) {
        // The body's end is ambiguous, so nothing after it on this connection can be trusted
        // to be a new request: answer and close.
        tracing::debug!(peer = %ctx.peer, "ambiguous request framing: {e}");
        let mut resp = e.into_response(html);
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    match route(edge, ctx, req).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(peer = %ctx.peer, code = e.code(), "edge answered {}", e.status());
            e.into_response(html)
        }
    }
}

/// Refuses HTTP/1 requests whose body length two parties could read differently (request
/// smuggling, RFC 9112 §6.3): `Content-Length` with `Transfer-Encoding`, several or signed
/// `Content-Length`s, and any transfer coding but a lone `chunked`.
fn check_framing<B>(req: &Request<B>) -> Result<(), EdgeError> {
    if req.version() >= Version::HTTP_2 {
        return Ok(());
    }
    // Looked at without collecting: this runs on every HTTP/1 request.
    let h = req.headers();
    let mut lengths = h.get_all(header::CONTENT_LENGTH).iter();
    let mut codings = h.get_all(header::TRANSFER_ENCODING).iter();
    let (length, coding) = (lengths.next(), codings.next());
    if length.is_some() && coding.is_some() {
        return Err(EdgeError::BadRequest(
            "Content-Length and Transfer-Encoding together",
        ));
    }
    if lengths.next().is_some() {
        return Err(EdgeError::BadRequest("more than one Content-Length"));
    }
    if length.is_some_and(|v| v.is_empty() || !v.as_bytes().iter().all(u8::is_ascii_digit)) {
        return Err(EdgeError::BadRequest("invalid Content-Length"));
    }
    let chunked = coding.is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    if !chunked || codings.next().is_some() {
        return Err(EdgeError::BadRequest(
            "unsupported Transfer-Encoding (only chunked is accepted)",
        ));
    }
    Ok(())
}

/// The request's target host, lower-case, without port or trailing dot: from `:authority`
/// over HTTP/2, else from the one `Host` header.
///
/// Two names for one request are refused rather than reconciled: routing and policy would use
/// one and the service behind the tunnel could read the other. So an HTTP/2 request whose
/// `host` header names another host than its `:authority`, and an HTTP/1 request with more
/// than one `Host`, are errors.
pub fn request_host<B>(req: &Request<B>) -> Result<String, EdgeError> {
    let invalid = || EdgeError::BadRequest("missing or invalid Host header");
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header_host = match (hosts.next(), hosts.next()) {
        (None, _) => None,
        (Some(h), None) => Some(
            h.to_str()
                .ok()
                .and_then(|h| h.parse::<http::uri::Authority>().ok())
                // `user@host` parses as an authority, but a Host header has no userinfo.
                .filter(|a| !a.as_str().contains('@'))
                .map(|a| normalize_host(a.host()))
                .ok_or_else(invalid)?,
        ),
        (Some(_), Some(_)) => return Err(EdgeError::BadRequest("more than one Host header")),
    };
    let authority_host = match req.version() {
        Version::HTTP_2 | Version::HTTP_3 => match req.uri().authority() {
            Some(a) if a.as_str().contains('@') => return Err(invalid()),
            a => a.map(|a| normalize_host(a.host())),
        },
        _ => None,
    };
    let host = match (authority_host, header_host) {
        (Some(a), Some(h)) if a != h => {
            return Err(EdgeError::BadRequest(
                "the Host header and :authority name different hosts",
            ));
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(invalid()),
    };
    if host.is_empty() {
        Err(invalid())
    } else {
        Ok(host)
    }
}

fn normalize_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

async fn route(
    edge: &Edge,
    ctx: &ConnCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, EdgeError> {
    if req.method() == Method::CONNECT {
        return Err(EdgeError::MethodNotAllowed);
    }
    // HTTP/1 absolute-form (`GET http://other/ HTTP/1.1`) is how forward proxies are used.
    if req.version() < Version::HTTP_2 && req.uri().authority().is_some() {
        return Err(EdgeError::BadRequest(
            "absolute-form request targets are not accepted: this is not a forward proxy",
        ));
    }
    let host = request_host(&req)?;
    if let Some(sni) = &ctx.sni
        && *sni != host
    {
        return Err(EdgeError::Misdirected);
    }
    let (tunnel, mut req) = match edge.registry.lookup_host(&host) {
        HostLookup::Online(t) => (t, req.map(|b| Either::Left(RequestTap::new(b, None)))),
        HostLookup::Offline => match edge.cfg.limits.hold_window() {
            // Holding disabled, or the agent left long ago (it is not reconnecting).
            None => return Err(EdgeError::TunnelOffline(host)),
            Some(_)
                if edge
                    .registry
                    .offline_owner(&host)
                    .is_none_or(|(_, age)| age > crate::edge::hold::HOLD_RECENT) =>
            {
                return Err(EdgeError::TunnelOffline(host));
            }
            Some(window) => {
                let (t, held) =
                    crate::edge::hold::hold(edge, &host, req, window, ctx.peer.ip()).await?;
                (t, held.map(Either::Right))
            }
        },
        HostLookup::Unknown => return Err(EdgeError::UnknownHost(host)),
    };
    if tunnel.proto != Proto::Http {
        return Err(EdgeError::BadRequest(
            "this name is a TLS passthrough tunnel; connect with TLS",
        ));
    }
    // Policy order: IP allow/deny → basic auth → header rewrites.
    if tunnel.policy.check_ip(ctx.peer.ip()).is_err() {
        return Err(EdgeError::Forbidden);
    }
    if tunnel.policy.has_basic_auth() {
        if !tunnel
            .policy
            .check_basic_auth(req.headers().get(header::AUTHORIZATION))
        {
            return Err(EdgeError::Unauthorized);
        }
        // The credentials belong to the edge, not to the service behind it.
        req.headers_mut().remove(header::AUTHORIZATION);
    }
    // Free-plan tunnels show browsers a warning first (after policy: a visitor who may not
    // reach the site learns nothing from it).
    if let Some(page) = crate::edge::interstitial::gate(
        tunnel.browser_warning,
        &mut req,
        &host,
        &edge.consent_key,
        ctx.tls,
    ) {
        return Ok(page);
    }
    let mut log = exchange_log(edge, ctx, &tunnel, &host, &mut req);
    let visitor_upgrade = upgrade_protocol(&req).map(|proto| (proto, hyper::upgrade::on(&mut req)));
    let upstream = build_upstream_request(
        &tunnel,
        ctx,
        &host,
        req,
        visitor_upgrade.as_ref().map(|u| &u.0),
    )?;
    let result = forward(tunnel, upstream, visitor_upgrade.map(|u| u.1), &mut log).await;
    if let (Err(e), Some(log)) = (&result, log.as_mut()) {
        log.edge_error(e.status().as_u16(), e.code());
    }
    result
}

/// Starts the traffic-log record of a request to a cloud tunnel (others are not logged) and,
/// when the tunnel logs bodies, taps the request body into it.
fn exchange_log(
    edge: &Edge,
    ctx: &ConnCtx,
    tunnel: &Tunnel,
    host: &str,
    req: &mut Request<UpstreamBody>,
) -> Option<crate::control::traffic_log::ExchangeLog> {
    let (queue, cloud_id) = (edge.traffic.as_ref()?, tunnel.cloud_id.as_ref()?);
    let label = host.strip_suffix(&format!(".{}", edge.cfg.base_domain));
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut log = crate::control::traffic_log::ExchangeLog::start(
        queue,
        &tunnel.account,
        Some(cloud_id),
        label,
        req.method().as_str(),
        host,
        path,
        req.headers(),
        ctx.peer.ip(),
        tunnel.log_bodies,
    )?;
    if let Some(v) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        log.request_bytes(v);
    }
    if let (Some(sink), Either::Left(tap)) = (log.request_sink(), req.body_mut()) {
        tap.set_sink(sink);
    }
    Some(log)
}

/// The `Upgrade` protocol asked for by an HTTP/1.1 request, if it asks for one.
fn upgrade_protocol<B>(req: &Request<B>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 {
        return None;
    }
    let wants = connection_tokens(req.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"));
    wants
        .then(|| req.headers().get(header::UPGRADE).cloned())
        .flatten()
}

fn connection_tokens(h: &HeaderMap) -> impl Iterator<Item = &str> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), including those named in `Connection`.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(h)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        h.remove(n);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
}

fn build_upstream_request(
    tunnel: &Tunnel,
    ctx: &ConnCtx,
    host: &str,
    req: Request<UpstreamBody>,
    upgrade: Option<&HeaderValue>,
) -> Result<Request<UpstreamBody>, EdgeError> {
    let (mut parts, body) = req.into_parts();
    // The one authority routing and policy used: `:authority` over HTTP/2 (a `host` header
    // there named the same host, or the request was refused), else `Host`.
    let original_host = parts
        .uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| parts.headers.get(header::HOST).cloned())
        .ok_or(EdgeError::BadRequest("missing Host"))?;
    strip_hop_by_hop(&mut parts.headers);
    let h = &mut parts.headers;
    if let Some(proto) = upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, proto.clone());
    }
    // Append the socket peer to any chain the visitor sent: upstreams read the right-most entry.
    let peer_ip = crate::edge::conn_limit::normalize_ip(ctx.peer.ip()).to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if ctx.tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert("x-forwarded-host", v);
    }
    // Requests share pooled agent streams, so the visitor's socket address travels per
    // request; a value sent by the visitor is replaced, never trusted.
    if let Ok(v) = HeaderValue::from_str(&ctx.peer.to_string()) {
        h.insert(VISITOR_HEADER, v);
    }
    tunnel.policy.apply_request_headers(h);
    let host_value = tunnel
        .policy
        .host_rewrite()
        .cloned()
        .unwrap_or(original_host);
    h.insert(header::HOST, host_value);
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    // The pooled client wants an absolute URI; the authority only keys its pool (one pool per
    // tunnel) and never reaches the agent, which sees the Host header set above.
    parts.uri = Uri::try_from(format!("http://{}.agent{pq}", tunnel.id))
        .map_err(|_| EdgeError::BadRequest("invalid request target"))?;
    parts.version = Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

async fn forward(
    tunnel: Arc<Tunnel>,
    req: Request<UpstreamBody>,
    visitor_upgrade: Option<hyper::upgrade::OnUpgrade>,
    log: &mut Option<crate::control::traffic_log::ExchangeLog>,
) -> Result<Response<Body>, EdgeError> {
    let offline = || EdgeError::TunnelOffline(tunnel.host.clone().unwrap_or_default());
    let client = tunnel.http.as_ref().ok_or_else(offline)?;
    // The slot is per exchange (not per pooled stream) and lives as long as the response
    // body, or the upgraded connection.
    if let Some(rate) = &tunnel.rate
        && rate.check().is_err()
    {
        return Err(EdgeError::RateLimited);
    }
    let permit = Arc::new(tunnel.try_request_slot().map_err(|_| EdgeError::Busy)?);
    tunnel.usage.request();
    // Request bodies are counted by their declared length (chunked uploads are not counted:
    // the agent hop's body type is hyper's own).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    tunnel.usage.bytes(declared, 0);
    let mut resp = tokio::time::timeout(RESPONSE_HEAD_TIMEOUT, client.request(req))
        .await
        .map_err(|_| EdgeError::Timeout)?
        .map_err(|e| {
            let busy = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<OpenError>())
                .is_some_and(|o| matches!(o, OpenError::Busy));
            tracing::debug!(error = %e, url = %tunnel.public_url, "agent exchange failed");
            if busy { EdgeError::Busy } else { offline() }
        })?;
    if let Some(err) = resp.headers().get(fdt_proto::wire::ERROR_HEADER) {
        let detail = err.to_str().unwrap_or("error").to_string();
        return Err(EdgeError::UpstreamUnreachable(detail));
    }
    if let Some(log) = log.as_mut() {
        log.response(resp.status().as_u16(), resp.headers());
    }
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(visitor) = visitor_upgrade else {
            return Err(EdgeError::UpstreamUnreachable(
                "upstream switched protocols without being asked".into(),
            ));
        };
        let agent = hyper::upgrade::on(&mut resp);
        let usage = tunnel.usage.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::try_join!(visitor, agent) {
                Ok((v, a)) => {
                    if let Ok((inbound, outbound)) =
                        splice(&mut TokioIo::new(v), &mut TokioIo::new(a)).await
                    {
                        usage.bytes(inbound, outbound);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "upgrade failed"),
            }
        });
        let (mut parts, _) = resp.into_parts();
        // The agent hop's own connection tokens (e.g. `close`) must not reach the visitor;
        // keep exactly the upgrade the visitor asked for.
        let proto = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(p) = proto {
            parts.headers.insert(header::UPGRADE, p);
        }
        let mut out = Response::from_parts(parts, full(bytes::Bytes::new()));
        tunnel.policy.apply_response_headers(out.headers_mut());
        return Ok(out);
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    tunnel.policy.apply_response_headers(&mut parts.headers);
    Ok(Response::from_parts(
        parts,
        PermitBody::new(body, permit, tunnel.usage.clone(), log.take()).boxed(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_listed_ones_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }
}
