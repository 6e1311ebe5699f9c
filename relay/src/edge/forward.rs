//! The forwarding relay's side of relay-to-relay forwarding (see [`crate::peer`]): a request
//! for a name this relay does not hold goes, as HTTP/1.1 on its own stream, to a relay that
//! does; a TLS passthrough connection or a TCP connection goes there byte for byte, once the
//! holder has answered that it takes it.
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
use crate::peer::wire::{Answer, Kind, StreamHead};
use fdt_api::{PlacedRelay, TunnelProto};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long the holder has to send response headers (as for an agent).
const RESPONSE_HEAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Time a holder has to answer a forwarded TLS or TCP visitor.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Holders tried for one TLS or TCP visitor (a stale placement, then the relay holding the
/// name now).
const BYTE_STREAM_ATTEMPTS: usize = 2;

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
    relay: PlacedRelay,
    sock: S,
    visitor: std::net::SocketAddr,
    (host, label): (&str, &str),
    hello: &[u8],
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let head = StreamHead {
        kind: Kind::Tls,
        visitor,
        tls: false,
        host: host.to_owned(),
    };
    forward_bytes(edge, sock, &head, Name::Label(label), hello, Some(relay)).await;
}

/// Passes a visitor's byte stream `sock` — a TLS connection whose first bytes (its
/// ClientHello) were already read into `first`, or a TCP connection — to a relay holding
/// `name`: `relay` when one was already found, else one placement names; then, when that one
/// no longer holds it or cannot be reached, to the relay holding it now. Nothing reaches the
/// visitor before a holder's [`Answer::Accepted`], so trying another one is always safe.
pub(crate) async fn forward_bytes<S>(
    edge: &Edge,
    mut sock: S,
    head: &StreamHead,
    name: Name<'_>,
    first: &[u8],
    mut relay: Option<PlacedRelay>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(peers) = edge.peers.as_ref() else {
        return;
    };
    let proto = match head.kind {
        Kind::Tls => TunnelProto::Tls,
        Kind::Tcp => TunnelProto::Tcp,
        Kind::Http => return,
    };
    let mut tried: Option<String> = None;
    for _ in 0..BYTE_STREAM_ATTEMPTS {
        let relay = match relay.take() {
            Some(r) => r,
            None => match peers.holder(name, proto, tried.as_deref()).await {
                Some(r) => r,
                None => {
                    tracing::debug!(%name, visitor = %head.visitor, "no relay holds the name: closed");
                    return;
                }
            },
        };
        // Long-lived connections must not take every stream to the peer: HTTP keeps a share.
        let Some(_slot) = peers.client.byte_stream_slot(&relay.relay_id) else {
            tracing::debug!(peer = %relay.relay_id, "byte streams to the peer all in use");
            edge.metrics.forwarded(head.kind, "failed");
            tried = Some(relay.relay_id);
            continue;
        };
        match try_holder(peers, &relay, head, first).await {
            Ok((send, recv, Answer::Accepted)) => {
                edge.metrics.forwarded(head.kind, "sent");
                let mut peer = tokio::io::join(recv, send);
                let _ = splice(&mut sock, &mut peer).await;
                return;
            }
            Ok((_, _, Answer::Refused)) => {
                // The holder's policy (or its agent's stream limit) said no: as if the
                // visitor had reached the holder.
                edge.metrics.forwarded(head.kind, "refused");
                let _ = sock.shutdown().await;
                return;
            }
            Ok((_, _, Answer::NotHere)) => {
                tracing::debug!(peer = %relay.relay_id, %name, "peer no longer holds the name");
                edge.metrics.forwarded(head.kind, "miss");
            }
            Err(e) => {
                tracing::debug!(peer = %relay.relay_id, %name, error = %e, "forwarding failed");
                edge.metrics.forwarded(head.kind, "failed");
            }
        }
        peers.placement.forget(name);
        tried = Some(relay.relay_id);
    }
}

/// Opens a stream to `relay` with `head` and `first`, and reads the holder's answer.
async fn try_holder(
    peers: &crate::peer::Peers,
    relay: &PlacedRelay,
    head: &StreamHead,
    first: &[u8],
) -> Result<(quinn::SendStream, quinn::RecvStream, Answer), String> {
    let (mut send, mut recv) = peers
        .client
        .open(relay, head)
        .await
        .map_err(|e| e.to_string())?;
    if !first.is_empty() {
        send.write_all(first).await.map_err(|e| e.to_string())?;
    }
    let mut answer = [0u8; 1];
    tokio::time::timeout(ANSWER_TIMEOUT, recv.read_exact(&mut answer))
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
    let answer = Answer::from_byte(answer[0]).ok_or_else(|| format!("answer {:#x}", answer[0]))?;
    Ok((send, recv, answer))
}
