//! The HTTP edge: serves visitor connections with hyper (HTTP/1.1 and HTTP/2), decides the
//! tunnel per request from Host / `:authority`, enforces the tunnel's policy and forwards the
//! exchange as HTTP/1.1 over its own QUIC stream to the agent, streaming bodies both ways and
//! splicing upgraded connections (WebSocket) once the agent answers 101. Requests for a name
//! whose agent is reconnecting are first held until it is back (see [`crate::edge::hold`]).

use crate::agents::streams::OpenError;
use crate::edge::body::{PermitBody, RequestTap, UpstreamBody};
use crate::edge::context::Edge;
use crate::edge::custom;
use crate::edge::error::{Body, EdgeError, full, wants_html};
use crate::edge::forward;
use crate::edge::headers::{
    build_upstream_request, check_framing, keep_only_upgrade, request_host, strip_hop_by_hop,
    upgrade_protocol,
};
use crate::edge::io::{SlowHeaderFlag, SlowHeaderIo, splice};
use crate::registry::{HostLookup, Tunnel};
use fdt_api::TunnelProto;
use fdt_proto::Proto;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
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

/// What the edge knows about a visitor connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// Socket peer (the only address policy trusts).
    pub peer: SocketAddr,
    /// Whether the connection arrived over TLS terminated here.
    pub tls: bool,
    /// SNI of that TLS connection.
    pub sni: Option<String>,
    /// Whether another relay forwarded this visitor here (`peer` is then the visitor's
    /// address as that relay saw it). Such a visitor is never forwarded again.
    pub forwarded: bool,
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
            let hyper_error = e.downcast_ref::<hyper::Error>();
            if hyper_error.is_some_and(hyper::Error::is_timeout) {
                flag.set();
            }
            if hyper_error.is_some_and(hyper::Error::is_parse_too_large) {
                edge.metrics.refused("header_too_large");
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
        edge.metrics.refused("bad_request");
        let mut resp = e.into_response(html);
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        edge.metrics.response(resp.status().as_u16());
        return resp;
    }
    let resp = match route(edge, ctx, req).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(peer = %ctx.peer, code = e.code(), "edge answered {}", e.status());
            edge.metrics.refused(e.code());
            e.into_response(html)
        }
    };
    edge.metrics.response(resp.status().as_u16());
    resp
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
    // ACME HTTP-01 for any name outside the base domain (a domain's first order can come
    // before this relay has polled the domain in): the control plane only answers a token
    // for the domain it was issued for.
    if !ctx.tls
        && !edge.cfg.is_under_base(&host)
        && let Some(resp) = crate::edge::acme::acme_http01(edge, &host, req.uri().path()).await
    {
        return Ok(resp);
    }
    let custom = edge.domains.lookup(&host);
    if custom
        .as_ref()
        .is_some_and(|d| d.mode == fdt_api::DomainMode::Passthrough)
    {
        return Err(EdgeError::BadRequest(
            "this domain is TLS passthrough; connect with TLS",
        ));
    }
    let (tunnel, mut req) = match custom.as_ref().map(|d| (d, custom::online_tunnel(edge, d))) {
        Some((_, Some(t))) => (t, req.map(|b| Either::Left(RequestTap::new(b, None)))),
        Some((_, None)) if ctx.forwarded => return Err(EdgeError::NotHere(host)),
        Some((d, None)) => {
            // The domain's tunnel may be on another relay.
            if let Some(label) = d.target.as_deref()
                && let Some(relay) = forward::holder(edge, label, TunnelProto::Http).await
            {
                return match forward::forward_http(edge, ctx, &host, label, relay, req).await {
                    // Gone by the time it was asked: the domain's own failure policy.
                    Err(EdgeError::TunnelOffline(_)) => custom::failure(d, &host),
                    other => other,
                };
            }
            return custom::failure(d, &host);
        }
        None => match edge.registry.lookup_host(&host) {
            HostLookup::Online(t) => (t, req.map(|b| Either::Left(RequestTap::new(b, None)))),
            // The forwarding relay's placement is stale: it asks again.
            HostLookup::Offline | HostLookup::Unknown if ctx.forwarded => {
                return Err(EdgeError::NotHere(host));
            }
            lookup => {
                // Another relay may hold the name (its agent is there, or moved there while
                // this relay still remembers it offline).
                if let Some(label) = forward::label_of(edge, &host)
                    && let Some(relay) = forward::holder(edge, label, TunnelProto::Http).await
                {
                    return forward::forward_http(edge, ctx, &host, label, relay, req).await;
                }
                match lookup {
                    HostLookup::Online(t) => {
                        (t, req.map(|b| Either::Left(RequestTap::new(b, None))))
                    }
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
                                crate::edge::hold::hold(edge, &host, req, window, ctx.peer.ip())
                                    .await?;
                            (t, held.map(Either::Right))
                        }
                    },
                    HostLookup::Unknown => return Err(EdgeError::UnknownHost(host)),
                }
            }
        },
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
        ctx.peer,
        ctx.tls,
        &host,
        req,
        visitor_upgrade.as_ref().map(|u| &u.0),
    )?;
    let result = forward(
        edge,
        tunnel,
        upstream,
        visitor_upgrade.map(|u| u.1),
        &mut log,
    )
    .await;
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

async fn forward(
    edge: &Edge,
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
    let asked = std::time::Instant::now();
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
    edge.metrics.upstream_latency(asked.elapsed());
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
        keep_only_upgrade(&mut parts.headers);
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
