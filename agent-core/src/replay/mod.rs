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
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
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

/// Edits to a captured request before replaying it (the `modify` object of the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayModify {
    /// New method.
    pub method: Option<String>,
    /// New origin-form path and query.
    pub path: Option<String>,
    /// Header edits.
    pub headers: Option<HeaderEdits>,
    /// New body.
    pub body: Option<BodyEdit>,
}

/// Header edits: `set` replaces (or adds) a header, `remove` deletes every value of one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEdits {
    /// Headers to set, replacing existing values.
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, String>,
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A replacement body, as text or base64.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyEdit {
    /// UTF-8 text.
    Text(String),
    /// Base64 of arbitrary bytes.
    Base64(String),
}

/// What a replay produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplayOutcome {
    /// Status the local service answered with.
    pub status: u16,
    /// Id of the captured replay (absent when inspection is off).
    pub id: Option<ExchangeId>,
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

impl crate::agent::AgentHandle {
    /// Replays `spec` to the configured local upstream of http tunnel `tunnel_name` (and
    /// nowhere else: see [`crate::replay`] for what is refused), capturing the replay when
    /// inspection is on. This is the entry point for replays the control plane asks for as
    /// well as the local API's. `original_host` is the Host the visitor sent, which the spec
    /// may keep; any other Host is refused unless it is the upstream's own.
    pub async fn replay(
        &self,
        tunnel_name: &str,
        spec: ReplaySpec,
        original_host: Option<&str>,
    ) -> Result<ReplayOutcome, ReplayError> {
        let target = self
            .replays
            .get(tunnel_name)
            .ok_or_else(|| ReplayError::UnknownTunnel(tunnel_name.to_string()))?;
        target
            .send(&spec, original_host, self.inspector.as_ref())
            .await
    }

    /// Replays captured exchange `id`, as is or with `modify` applied, through its tunnel
    /// (`tunnel_name`, when given, must be that tunnel).
    pub async fn replay_captured(
        &self,
        id: crate::inspect::model::ExchangeId,
        tunnel_name: Option<&str>,
        modify: Option<&ReplayModify>,
    ) -> Result<ReplayOutcome, ReplayError> {
        let inspector = self.inspector.as_ref().ok_or(ReplayError::InspectionOff)?;
        let ex = inspector
            .store()
            .get(id)
            .await?
            .ok_or(ReplayError::NotFound(id))?;
        if let Some(t) = tunnel_name
            && t != ex.tunnel_name
        {
            return Err(ReplayError::Refused(format!(
                "exchange {id} came through tunnel {:?}, not {t:?}",
                ex.tunnel_name
            )));
        }
        let spec = match modify {
            Some(m) => ReplaySpec::modified(&ex, m)?,
            None => ReplaySpec::from_exchange(&ex)?,
        };
        self.replay(&ex.tunnel_name, spec, Some(&ex.host)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TunnelConfig;
    use fdt_proto::Proto;

    fn target() -> ReplayTarget {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let t = TunnelConfig::new(Proto::Http, "127.0.0.1:3000")
            .resolve("web")
            .expect("valid tunnel");
        ReplayTarget::new(&t).expect("client")
    }

    fn captured() -> HttpExchange {
        HttpExchange {
            id: ExchangeId(9),
            method: "POST".into(),
            host: "web.example.com".into(),
            uri: "/orders?id=1".into(),
            request_headers: vec![
                ("host".into(), "web.example.com".into()),
                ("content-length".into(), "2".into()),
            ],
            request_body: crate::inspect::store::body("{}"),
            ..Default::default()
        }
    }

    fn try_modify(m: ReplayModify) -> Result<Request<Full<Bytes>>, ReplayError> {
        let ex = captured();
        let spec = ReplaySpec::modified(&ex, &m)?;
        target().request(&spec, Some(&ex.host))
    }

    fn path(p: &str) -> ReplayModify {
        ReplayModify {
            path: Some(p.into()),
            ..Default::default()
        }
    }

    #[test]
    fn as_is_replay_goes_to_the_upstream() {
        let req = try_modify(ReplayModify::default()).expect("allowed");
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:3000/orders?id=1");
        assert_eq!(req.headers()["host"], "web.example.com");
        assert!(!req.headers().contains_key("content-length"));
    }

    #[test]
    fn path_only_edit_is_allowed() {
        let req = try_modify(path("/orders/2?x=%2F")).expect("allowed");
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:3000/orders/2?x=%2F"
        );
    }

    /// Asserts every path in `paths` is refused.
    fn assert_paths_refused(paths: &[&str]) {
        for p in paths {
            assert!(
                matches!(try_modify(path(p)), Err(ReplayError::Refused(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn metadata_address_is_refused() {
        assert_paths_refused(&[
            "http://169.254.169.254/latest/meta-data/",
            "//169.254.169.254/latest/meta-data/",
            "169.254.169.254/latest",
        ]);
    }

    #[test]
    fn another_local_port_is_refused() {
        assert_paths_refused(&[
            "http://127.0.0.1:22/",
            "//localhost:6379/",
            "/\\\\localhost:6379/",
        ]);
    }

    #[test]
    fn dot_segments_are_refused() {
        assert_paths_refused(&["/a/../b", "/a/%2E%2e/b", "/./x"]);
    }

    #[test]
    fn host_change_is_refused_but_original_or_upstream_host_is_not() {
        let host = |h: &str| ReplayModify {
            headers: Some(HeaderEdits {
                set: [("Host".to_string(), h.to_string())].into(),
                remove: vec![],
            }),
            ..Default::default()
        };
        assert!(matches!(
            try_modify(host("169.254.169.254")),
            Err(ReplayError::Refused(_))
        ));
        assert!(matches!(
            try_modify(host("127.0.0.1:22")),
            Err(ReplayError::Refused(_))
        ));
        assert!(try_modify(host("WEB.example.com")).is_ok());
        assert!(try_modify(host("web.example.com:8443")).is_ok());
        assert!(try_modify(host("127.0.0.1:3000")).is_ok());
    }

    #[test]
    fn connect_is_refused() {
        let m = ReplayModify {
            method: Some("CONNECT".into()),
            ..Default::default()
        };
        assert!(matches!(try_modify(m), Err(ReplayError::Refused(_))));
    }

    #[test]
    fn truncated_body_needs_a_new_body() {
        let mut ex = captured();
        ex.request_body.truncated = true;
        assert!(matches!(
            ReplaySpec::from_exchange(&ex),
            Err(ReplayError::BodyTruncated(_))
        ));
        let m = ReplayModify {
            body: Some(BodyEdit::Base64("aGk=".into())),
            ..Default::default()
        };
        assert_eq!(
            ReplaySpec::modified(&ex, &m).map(|s| s.body).ok(),
            Some(Bytes::from("hi"))
        );
    }
}
