//! What the edge reads from a visitor's request head and writes into the request it sends to
//! the agent: the framing check (request smuggling), the one host a request is routed by,
//! hop-by-hop headers, the `Upgrade` ask, and the forwarding headers.

use crate::edge::error::EdgeError;
use crate::registry::Tunnel;
use fdt_proto::wire::VISITOR_HEADER;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Uri, Version};
use std::net::SocketAddr;

/// Refuses HTTP/1 requests whose body length two parties could read differently (request
/// smuggling, RFC 9112 §6.3): `Content-Length` with `Transfer-Encoding`, several or signed
/// `Content-Length`s, and any transfer coding but a lone `chunked`.
pub(crate) fn check_framing<B>(req: &Request<B>) -> Result<(), EdgeError> {
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
pub(crate) fn request_host<B>(req: &Request<B>) -> Result<String, EdgeError> {
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
/// The `Upgrade` protocol asked for by an HTTP/1.1 request, if it asks for one.
pub(crate) fn upgrade_protocol<B>(req: &Request<B>) -> Option<HeaderValue> {
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

/// Strips the hop's own headers from a 101 answer but keeps the upgrade it switched to:
/// `Connection: upgrade` and the answer's `Upgrade` (a hop's own tokens, like `close`, must
/// not reach the visitor).
pub(crate) fn keep_only_upgrade(h: &mut HeaderMap) {
    let proto = h.get(header::UPGRADE).cloned();
    strip_hop_by_hop(h);
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Some(p) = proto {
        h.insert(header::UPGRADE, p);
    }
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), including those named in `Connection`.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
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

/// The request the agent gets for a visitor's `req` from `peer` (over TLS or not): hop-by-hop
/// headers gone, the upgrade asked for again if any, `X-Forwarded-*` and the visitor header
/// set by the edge (never trusted from the visitor), the tunnel's header rules applied, and
/// an absolute URI that keys the pooled agent connection of this tunnel.
pub(crate) fn build_upstream_request<B>(
    tunnel: &Tunnel,
    peer: SocketAddr,
    tls: bool,
    host: &str,
    req: Request<B>,
    upgrade: Option<&HeaderValue>,
) -> Result<Request<B>, EdgeError> {
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
    let peer_ip = crate::edge::conn_limit::normalize_ip(peer.ip()).to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert("x-forwarded-host", v);
    }
    // Requests share pooled agent streams, so the visitor's socket address travels per
    // request; a value sent by the visitor is replaced, never trusted.
    if let Ok(v) = HeaderValue::from_str(&peer.to_string()) {
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
