//! Replaying a request to a tunnel's own local upstream, as captured or edited.
//!
//! The guard is the point of this module: a replay may change the method, the path, headers
//! and the body, but never where the request goes. The destination is always the tunnel's
//! configured upstream (scheme and authority come from the tunnel, not from the request); the
//! path must be origin-form (`/…`) without dot segments, and a `Host` header may only be the
//! one the visitor sent or the upstream's own authority. Everything else is refused with
//! [`ReplayError::Refused`] before any byte leaves the agent.

use crate::config::Upstream;
use crate::inspect::Inspector;
use crate::inspect::model::{ExchangeId, HttpExchange, header};
use crate::inspect::tap::{ExchangeCapture, Side, TapBody};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use fdt_agent_api::BodyEdit;
pub use fdt_agent_api::{ReplayModify, ReplayOutcome};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::time::Duration;

/// Largest body a replay may send.
pub const MAX_REPLAY_BODY: usize = 4 * 1024 * 1024;
/// Time a replay may take, from sending until the response body ends.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers that describe the original connection, not the request; never replayed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// A request to replay: what to send; where it goes is fixed by the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySpec {
    /// Method.
    pub method: String,
    /// Origin-form path and query (`/a?b=c`).
    pub path: String,
    /// Headers, in order (hop-by-hop ones are dropped, `Content-Length` is recomputed).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// The captured exchange this replays, if any (the new capture points back to it).
    pub replay_of: Option<ExchangeId>,
}

/// Why a replay did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The request would leave the tunnel's upstream, or is malformed (caller's fault).
    #[error("replay refused: {0}")]
    Refused(String),
    /// No http tunnel of that name in this agent.
    #[error("no http tunnel named {0:?}")]
    UnknownTunnel(String),
    /// No captured exchange with that id.
    #[error("no captured exchange {0}")]
    NotFound(ExchangeId),
    /// The captured body was truncated, so replaying it as is would send something else.
    #[error("the captured request body of {0} was truncated; pass modify.body to replay it")]
    BodyTruncated(ExchangeId),
    /// Inspection is off, so there is nothing captured to replay.
    #[error("inspection is off")]
    InspectionOff,
    /// The local service could not be reached or broke off (retrying may help).
    #[error("local service: {0}")]
    Upstream(String),
    /// The local service did not answer in time.
    #[error("local service did not answer within {0:?}")]
    Timeout(Duration),
    /// The inspection store failed.
    #[error(transparent)]
    Store(#[from] crate::inspect::store::StoreError),
}

pub(crate) fn refused(msg: impl Into<String>) -> ReplayError {
    ReplayError::Refused(msg.into())
}

impl ReplaySpec {
    /// The request of a captured exchange, as the visitor sent it.
    pub fn from_exchange(ex: &HttpExchange) -> Result<Self, ReplayError> {
        if ex.request_body.truncated {
            return Err(ReplayError::BodyTruncated(ex.id));
        }
        Ok(Self {
            method: ex.method.clone(),
            path: ex.uri.clone(),
            headers: ex.request_headers.clone(),
            body: Bytes::from(ex.request_body.data.clone()),
            replay_of: Some(ex.id),
        })
    }

    /// Applies `m`; a new body lifts the truncation refusal of [`Self::from_exchange`].
    pub fn modified(ex: &HttpExchange, m: &ReplayModify) -> Result<Self, ReplayError> {
        let mut spec = match Self::from_exchange(ex) {
            Err(ReplayError::BodyTruncated(_)) if m.body.is_some() => Self {
                method: ex.method.clone(),
                path: ex.uri.clone(),
                headers: ex.request_headers.clone(),
                body: Bytes::new(),
                replay_of: Some(ex.id),
            },
            other => other?,
        };
        if let Some(method) = &m.method {
            spec.method = method.clone();
        }
        if let Some(path) = &m.path {
            spec.path = path.clone();
        }
        if let Some(h) = &m.headers {
            spec.headers.retain(|(k, _)| {
                !h.remove.iter().any(|r| r.eq_ignore_ascii_case(k))
                    && !h.set.keys().any(|s| s.eq_ignore_ascii_case(k))
            });
            spec.headers
                .extend(h.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        match &m.body {
            Some(BodyEdit::Text(t)) => spec.body = Bytes::from(t.clone()),
            Some(BodyEdit::Base64(b)) => {
                spec.body = B64
                    .decode(b)
                    .map(Bytes::from)
                    .map_err(|e| refused(format!("modify.body.base64 is not base64: {e}")))?;
            }
            None => {}
        }
        Ok(spec)
    }
}

/// Checks the path is origin-form and cannot escape: no scheme, no authority (`//host`), no
/// backslashes, fragments, whitespace or controls, no `.`/`..` segments (even encoded).
fn check_path(path: &str) -> Result<PathAndQuery, ReplayError> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(refused(format!(
            "path {path:?} must be origin-form (start with a single /); a replay always goes to the tunnel's local upstream"
        )));
    }
    if path
        .chars()
        .any(|c| c == '\\' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(refused(format!(
            "path {path:?} contains a backslash, #, whitespace or a control character"
        )));
    }
    let only_path = path.split_once('?').map_or(path, |(p, _)| p);
    for seg in only_path.split('/') {
        let decoded = seg.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(refused(format!("path {path:?} contains a dot segment")));
        }
    }
    path.parse::<PathAndQuery>()
        .map_err(|e| refused(format!("path {path:?} is not valid: {e}")))
}

pub(crate) use jobs::{JobResult, ReplayJobs};

mod jobs;

/// The pooled client replays use for one tunnel.
pub(crate) type ReplayClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One http tunnel's replay destination: its configured upstream, nothing else.
#[derive(Debug)]
pub struct ReplayTarget {
    tunnel_name: String,
    upstream: Upstream,
    client: ReplayClient,
}

impl ReplayTarget {
    /// The replay destination of `tunnel` (an http tunnel).
    pub fn new(tunnel: &crate::config::ResolvedTunnel) -> Result<Self, rustls::Error> {
        Ok(Self {
            tunnel_name: tunnel.spec.name.clone(),
            upstream: tunnel.upstream.clone(),
            client: crate::forward::build_client(tunnel.upstream_insecure)?,
        })
    }

    /// Builds the request `spec` describes, aimed at the upstream; refuses anything that
    /// would go elsewhere. `original_host` is the Host the visitor sent, which may be kept.
    pub fn request(
        &self,
        spec: &ReplaySpec,
        original_host: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, ReplayError> {
        let method = Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| refused(format!("method {:?} is not valid", spec.method)))?;
        if method == Method::CONNECT {
            return Err(refused(
                "CONNECT cannot be replayed: it opens a tunnel elsewhere",
            ));
        }
        let pq = check_path(&spec.path)?;
        if spec.body.len() > MAX_REPLAY_BODY {
            return Err(refused(format!(
                "body of {} bytes is over the {MAX_REPLAY_BODY}-byte replay limit",
                spec.body.len()
            )));
        }
        let authority = self.upstream.authority();
        if let Some(h) = header(&spec.headers, "host") {
            // The visitor's Host may come with or without the edge's port.
            let hostname = |a: &str| {
                a.rsplit_once(':')
                    .map_or(a, |(n, _)| n)
                    .to_ascii_lowercase()
            };
            let visitor_host = original_host.is_some_and(|o| {
                h.eq_ignore_ascii_case(o) || (!o.starts_with('[') && hostname(h) == hostname(o))
            });
            if !(visitor_host || h.eq_ignore_ascii_case(authority)) {
                return Err(refused(format!(
                    "Host {h:?} would change the destination; a replay keeps the original Host or uses the upstream's ({authority})"
                )));
            }
        }
        let scheme = match self.upstream {
            Upstream::Https(_) => Scheme::HTTPS,
            Upstream::Http(_) | Upstream::Tcp(_) => Scheme::HTTP,
        };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(pq)
            .build()
            .map_err(|e| ReplayError::Upstream(format!("upstream address: {e}")))?;
        let mut req = Request::new(Full::new(spec.body.clone()));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        for (k, v) in &spec.headers {
            if HOP_BY_HOP.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| refused(format!("header name {k:?} is not valid")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| refused(format!("value of header {k} is not valid")))?;
            req.headers_mut().append(name, value);
        }
        Ok(req)
    }

    /// Sends `spec` to the upstream, capturing the replay when `inspector` is given.
    pub async fn send(
        &self,
        spec: &ReplaySpec,
        original_host: Option<&str>,
        inspector: Option<&Inspector>,
    ) -> Result<ReplayOutcome, ReplayError> {
        let req = self.request(spec, original_host)?;
        let (parts, body) = req.into_parts();
        let capture = inspector.map(|i| {
            let mut shown = parts.clone();
            // Show the request as the visitor-side path, like captured exchanges.
            shown.uri = parts
                .uri
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
            let c = ExchangeCapture::start(i, &self.tunnel_name, &shown, None, spec.replay_of);
            c.data(Side::Request, &spec.body);
            c
        });
        let id = capture.as_ref().map(|c| c.id());
        let run = async {
            let resp = self
                .client
                .request(Request::from_parts(parts, body))
                .await
                .map_err(|e| ReplayError::Upstream(e.to_string()))?;
            let (head, body) = resp.into_parts();
            if let Some(c) = &capture {
                c.response_head(&head);
            }
            // Drain the body through the tap so the capture sees it; nothing is kept here.
            let mut body = TapBody::new(body, capture.clone().map(|c| (c, Side::Response)));
            while let Some(frame) = body.frame().await {
                frame.map_err(|e| ReplayError::Upstream(e.to_string()))?;
            }
            Ok::<_, ReplayError>(head.status.as_u16())
        };
        let status = match tokio::time::timeout(REPLAY_TIMEOUT, run).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                if let Some(c) = &capture {
                    c.failed(502, &e.to_string());
                }
                return Err(e);
            }
            Err(_) => return Err(ReplayError::Timeout(REPLAY_TIMEOUT)),
        };
        Ok(ReplayOutcome { status, id })
    }
}

#[cfg(test)]
mod tests;
