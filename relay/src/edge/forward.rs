//! The forwarding relay's side of relay-to-relay forwarding (see [`crate::peer`]): a request
//! for a name this relay does not hold goes, as HTTP/1.1 on its own stream, to a relay that
//! does; a TLS passthrough connection goes there byte for byte.
//!
//! The request is sent as the visitor sent it (origin-form target, its Host, its body
//! streamed), without the hop's own headers, so the holder's edge serves it exactly as if the
//! visitor had come to it. A holder that no longer has the name answers
//! [`EdgeError::NotHere`]; the placement is then forgotten and a request without a body is
//! sent once more to wherever the name is now.

use crate::edge::context::Edge;
use crate::edge::error::{Body, EdgeError, NOT_HERE, full};
use crate::edge::headers::{keep_only_upgrade, strip_hop_by_hop, upgrade_protocol};
use crate::edge::http::ConnCtx;
use crate::edge::io::splice;
use crate::peer::placement::Name;
use crate::peer::wire::{Kind, StreamHead};
use fdt_api::{PlacedRelay, TunnelProto};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// How long the holder has to send response headers (as for an agent).
const RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The label of `host` when it is a single label under this relay's base domain (the names
/// placement knows).
pub(crate) fn label_of<'a>(edge: &Edge, host: &'a str) -> Option<&'a str> {
    let label = host
        .strip_suffix(edge.cfg.base_domain.as_str())?
        .strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// A relay other than this one holding `label` for `proto`, when forwarding is on. Callers
/// never ask for a visitor a peer forwarded here (one hop at most).
pub(crate) async fn holder(edge: &Edge, label: &str, proto: TunnelProto) -> Option<PlacedRelay> {
    edge.peers
        .as_ref()?
        .holder(Name::Label(label), proto, None)
        .await
}

/// Sends `req` (for `host`, whose label `label` is held by `relay`) through the peer and
/// answers with what the holder answers.
pub(crate) async fn forward_http(
    edge: &Edge,
    ctx: &ConnCtx,
    host: &str,
    label: &str,
    relay: PlacedRelay,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, EdgeError> {
    let visitor_upgrade = upgrade_protocol(&req).map(|p| (p, hyper::upgrade::on(&mut req)));
    let (mut parts, body) = req.into_parts();
    // Sent as HTTP/1.1 in origin form whatever the visitor spoke; an HTTP/2 visitor's
    // `:authority` becomes the Host.
    if !parts.headers.contains_key(header::HOST)
        && let Some(a) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|_| EdgeError::BadRequest("invalid request target"))?;
    parts.uri = target;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    if let Some((proto, _)) = &visitor_upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, proto.clone());
    }
    // A request without a body (and no upgrade) can be sent again if the holder moved; one
    // that may be repeated (GET, HEAD, OPTIONS) also when the holder died under it.
    let again = (visitor_upgrade.is_none() && body.is_end_stream()).then(|| parts.clone());
    let safe =
        again.is_some() && matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let head = StreamHead {
        kind: Kind::Http,
        visitor: ctx.peer,
        tls: ctx.tls,
        host: host.to_owned(),
    };
    let first = exchange(
        edge,
        (&relay, &head, label, safe),
        Request::from_parts(parts, body.boxed()),
    )
    .await;
    let resp = match (first, again) {
        (Err(Missed), Some(parts)) => {
            let peers = edge.peers.as_ref().ok_or_else(|| offline(host))?;
            let next = peers
                .holder(Name::Label(label), TunnelProto::Http, Some(&relay.relay_id))
                .await
                .ok_or_else(|| offline(host))?;
            let empty = Empty::new().map_err(|never| match never {}).boxed();
            exchange(
                edge,
                (&next, &head, label, false),
                Request::from_parts(parts, empty),
            )
            .await
            .map_err(|_| offline(host))?
        }
        (Err(Missed), None) => return Err(offline(host)),
        (Ok(resp), _) => resp,
    }?;
    finish(edge, resp, visitor_upgrade.map(|(_, u)| u))
}

/// The holder no longer had the name, or could not be reached.
struct Missed;

fn offline(host: &str) -> EdgeError {
    EdgeError::TunnelOffline(host.to_owned())
}

/// One exchange with `relay`: `Err(Missed)` when it cannot be reached, no longer holds the
/// name (its placement is then forgotten), or — for a request that may be repeated (`safe`) —
/// failed before an answer; else its answer.
async fn exchange(
    edge: &Edge,
    (relay, head, label, safe): (&PlacedRelay, &StreamHead, &str, bool),
    req: Request<Body>,
) -> Result<Result<Response<Incoming>, EdgeError>, Missed> {
    let peers = edge.peers.as_ref().ok_or(Missed)?;
    let (send, recv) = match peers.client.open(relay, head).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(peer = %relay.relay_id, error = %e, "forwarding failed");
            edge.metrics.forwarded(Kind::Http, "failed");
            peers.placement.forget(Name::Label(label));
            return Err(Missed);
        }
    };
    let io = TokioIo::new(tokio::io::join(recv, send));
    let handshake = hyper::client::conn::http1::Builder::new()
        .max_buf_size(edge.cfg.limits.max_header_bytes.max(8192))
        .handshake::<_, Body>(io)
        .await;
    let (mut sender, conn) = match handshake {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(peer = %relay.relay_id, error = %e, "forwarded exchange failed");
            edge.metrics.forwarded(Kind::Http, "failed");
            return Err(Missed);
        }
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "forwarded connection ended with error");
        }
    });
    let asked = std::time::Instant::now();
    let resp = match tokio::time::timeout(RESPONSE_HEAD_TIMEOUT, sender.send_request(req)).await {
        Err(_) => return Ok(Err(EdgeError::Timeout)),
        Ok(Err(e)) => {
            tracing::debug!(peer = %relay.relay_id, error = %e, "forwarded exchange failed");
            edge.metrics.forwarded(Kind::Http, "failed");
            if safe {
                return Err(Missed);
            }
            return Ok(Err(offline(&head.host)));
        }
        Ok(Ok(resp)) => resp,
    };
    let not_here = resp
        .headers()
        .get(fdt_proto::wire::ERROR_HEADER)
        .is_some_and(|v| v.as_bytes() == NOT_HERE.as_bytes());
    if not_here {
        tracing::debug!(peer = %relay.relay_id, host = %head.host, "peer no longer holds the name");
        edge.metrics.forwarded(Kind::Http, "miss");
        peers.placement.forget(Name::Label(label));
        return Err(Missed);
    }
    edge.metrics.upstream_latency(asked.elapsed());
    edge.metrics.forwarded(Kind::Http, "sent");
    Ok(Ok(resp))
}

/// The holder's answer as the visitor gets it: without the hop's own headers, an upgrade
/// spliced through.
fn finish(
    edge: &Edge,
    mut resp: Response<Incoming>,
    visitor_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response<Body>, EdgeError> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(visitor) = visitor_upgrade else {
            return Err(EdgeError::UpstreamUnreachable(
                "upstream switched protocols without being asked".into(),
            ));
        };
        let peer = hyper::upgrade::on(&mut resp);
        let tasks = edge.lifecycle.tasks.clone();
        tasks.spawn(async move {
            match tokio::try_join!(visitor, peer) {
                Ok((v, p)) => {
                    let _ = splice(&mut TokioIo::new(v), &mut TokioIo::new(p)).await;
                }
                Err(e) => tracing::debug!(error = %e, "forwarded upgrade failed"),
            }
        });
        let (mut parts, _) = resp.into_parts();
        keep_only_upgrade(&mut parts.headers);
        return Ok(Response::from_parts(parts, full(bytes::Bytes::new())));
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Passes a TLS connection (its ClientHello already read into `hello`) through to `relay`,
/// which holds `host` (label `label`) as a `tls` tunnel.
pub(crate) async fn forward_tls<S>(
    edge: &Edge,
    relay: &PlacedRelay,
    mut sock: S,
    visitor: std::net::SocketAddr,
    (host, label): (&str, &str),
    hello: &[u8],
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(peers) = edge.peers.as_ref() else {
        return;
    };
    let head = StreamHead {
        kind: Kind::Tls,
        visitor,
        tls: false,
        host: host.to_owned(),
    };
    let (mut send, recv) = match peers.client.open(relay, &head).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(peer = %relay.relay_id, error = %e, "passthrough forwarding failed");
            edge.metrics.forwarded(Kind::Tls, "failed");
            peers.placement.forget(Name::Label(label));
            return;
        }
    };
    if send.write_all(hello).await.is_err() {
        edge.metrics.forwarded(Kind::Tls, "failed");
        return;
    }
    edge.metrics.forwarded(Kind::Tls, "sent");
    let mut peer = tokio::io::join(recv, send);
    let _ = splice(&mut sock, &mut peer).await;
}
