//! Local agent API on 127.0.0.1:4040, shaped like ngrok's where ngrok has the route:
//! `GET /api/tunnels`, `GET /api/status`, and the inspection routes under `/api/requests`
//! (list with filters and cursor paging, one exchange, clear, replay, cURL and HAR export,
//! raw TCP/TLS connections), plus the inspector's web page at `/`, its static files and its
//! change events at `/api/events` ([`crate::inspector_ui`]), and Prometheus text at
//! `/metrics`. Every route checks the Host
//! header and, when credentials are set, HTTP Basic auth (see [`guard`] and [`access`]); every
//! error is `{"error":{"code","message"}}`.

mod access;
mod metrics;
mod tunnels;

pub use access::{ApiAccess, ApiAccessError, ApiCredentials};
pub use tunnels::tunnels_json;

use crate::agent::AgentHandle;
use crate::inspect::model::ExchangeId;
use crate::inspect::query::{BadStatusFilter, Filter};
use crate::inspect::store::StoreError;
use crate::inspect::{Inspector, curl, har};
use crate::replay::{MAX_REPLAY_BODY, ReplayError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fdt_agent_api::{
    ExchangeList, HTTP_LIST_PATH, ReplayAnswer, ReplayRequest, TCP_LIST_PATH, TcpList,
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Largest request body the API accepts: a replay body of [`MAX_REPLAY_BODY`] in base64, plus
/// room for the rest of the JSON.
const MAX_API_BODY: usize = MAX_REPLAY_BODY / 3 * 4 + 64 * 1024;

/// Binds the API's listener: `addr`, or like ngrok the next of 10 ports when another agent
/// holds it; `Ok(None)` for `off` or when no port is free (logged).
pub async fn bind(addr: &str) -> Result<Option<TcpListener>, std::net::AddrParseError> {
    if addr == "off" {
        return Ok(None);
    }
    let sa: std::net::SocketAddr = addr.parse()?;
    for i in 0..10u16 {
        let mut a = sa;
        a.set_port(sa.port().saturating_add(i));
        if let Ok(l) = TcpListener::bind(a).await {
            return Ok(Some(l));
        }
        if sa.port() == 0 {
            break;
        }
    }
    tracing::warn!(%addr, "local API disabled: no free port");
    Ok(None)
}

/// Serves the API of `agent` on `listener` until `shutdown`, to loopback callers.
pub async fn serve(listener: TcpListener, agent: AgentHandle, shutdown: CancellationToken) {
    serve_with(listener, agent, ApiAccess::default(), shutdown).await;
}

/// Serves the API of `agent` on `listener` until `shutdown`, to the callers `access` admits.
pub async fn serve_with(
    listener: TcpListener,
    agent: AgentHandle,
    access: ApiAccess,
    shutdown: CancellationToken,
) {
    let app = app_with_access(agent, &fdt_ui::site::Site::load_default(), access);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::warn!(error = %e, "local API stopped");
    }
}

/// The API router (tests call it directly). Loads the UI's static files once, here.
pub fn app(agent: AgentHandle) -> Router {
    app_with_site(agent, &fdt_ui::site::Site::load_default())
}

/// The API router with the UI's static files already loaded (the desktop app rebuilds the
/// router as tunnels switch on and off, and loads the files once).
pub fn app_with_site(agent: AgentHandle, site: &fdt_ui::site::Site) -> Router {
    app_with_access(agent, site, ApiAccess::default())
}

/// The API router admitting the callers `access` allows.
pub fn app_with_access(agent: AgentHandle, site: &fdt_ui::site::Site, access: ApiAccess) -> Router {
    Router::new()
        .route("/api/events", get(events))
        .route("/api/tunnels", get(tunnels::list).post(tunnels::start))
        .route(
            "/api/tunnels/{name}",
            get(tunnels::get_one).delete(tunnels::stop),
        )
        .route("/api/status", get(status))
        .route("/metrics", get(metrics::metrics))
        .route("/api/requests/http", get(list).delete(clear).post(replay))
        .route("/api/requests/http/har", get(har_list))
        .route("/api/requests/http/{id}", get(one))
        .route("/api/requests/http/{id}/curl", get(one_curl))
        .route("/api/requests/http/{id}/har", get(one_har))
        .route("/api/requests/tcp", get(tcp_list))
        .merge(crate::inspector_ui::router(site))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .layer(from_fn_with_state(access, guard))
        .with_state(agent)
}

/// An API error: status, stable code, a message a person can act on and, for bad input,
/// the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 for the input field `field`.
    fn field(field: &str, message: impl Into<String>) -> Self {
        Self::bad_request(message).with_field(field)
    }

    /// 400 for the input field `field` (empty: the body as a whole).
    fn field_owned(field: String, message: impl Into<String>) -> Self {
        let e = Self::bad_request(message);
        if field.is_empty() {
            e
        } else {
            e.with_field(&field)
        }
    }

    fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            error["field"] = json!(f);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "inspection store");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred",
        )
    }
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        let e = match e {
            ReplayError::Store(s) => return s.into(),
            other => other,
        };
        let (status, code) = match &e {
            ReplayError::Refused(_) => (StatusCode::BAD_REQUEST, "replay_refused"),
            ReplayError::UnknownTunnel(_) => (StatusCode::NOT_FOUND, "unknown_tunnel"),
            ReplayError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ReplayError::BodyTruncated(_) => (StatusCode::CONFLICT, "body_truncated"),
            ReplayError::InspectionOff => (StatusCode::CONFLICT, "inspection_off"),
            ReplayError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ReplayError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            ReplayError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, e.to_string())
    }
}

fn is_loopback_authority(authority: &str) -> bool {
    let host = authority.rsplit_once(':').map_or(authority, |(a, _)| a);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// On loopback a web page in the user's browser could still reach the API: refuse requests
/// whose Host is not loopback (DNS rebinding). Beyond loopback ([`ApiAccess`]) any Host is
/// fine, since every request needs the credentials, which a browser keeps per origin. Always
/// refuse requests a page of another origin sends (a cross-site form POST needs no CORS
/// preflight, and would otherwise let any web page replay edited requests to the user's
/// local services).
async fn guard(State(access): State<ApiAccess>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !access.remote && !is_loopback_authority(&host) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "host not allowed",
        )
        .into_response();
    }
    if let Some(c) = &access.credentials
        && !c.accepts(req.headers().get(header::AUTHORIZATION))
    {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this agent API needs its user name and password",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"fdt agent\", charset=\"UTF-8\""),
        );
        return r;
    }
    let foreign_origin = req.headers().get(header::ORIGIN).is_some_and(|o| {
        let o = o.to_str().unwrap_or("");
        !o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .is_some_and(|a| {
                is_loopback_authority(a) || (access.remote && a.eq_ignore_ascii_case(&host))
            })
    });
    if foreign_origin {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "requests from other web origins are not allowed",
        )
        .into_response();
    }
    next.run(req).await
}

async fn status(State(agent): State<AgentHandle>) -> Json<serde_json::Value> {
    let s = agent.status.borrow().clone();
    // An `--ha` agent's second session (null otherwise); `status` is the primary's.
    let standby = agent.standby.as_ref().map(|s| s.borrow().clone());
    Json(json!({
        "status": s,
        "standby": standby,
        "metrics": agent.counters.snapshot(),
        "version": crate::version::AGENT_VERSION,
        "inspect": {
            "enabled": agent.inspector.is_some(),
            "dropped": agent.inspector.as_ref().map_or(0, Inspector::dropped),
            "not_persisted": agent.inspector.as_ref().map_or(0, Inspector::not_persisted),
        },
    }))
}

fn inspector(agent: &AgentHandle) -> Result<&Inspector, ApiError> {
    agent.inspector.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "inspection_off",
            "inspection is off (started with --inspect=false or inspect = false)",
        )
    })
}

fn parse_id(s: &str) -> Result<ExchangeId, ApiError> {
    s.parse()
        .map_err(|e: crate::inspect::model::BadExchangeId| ApiError::bad_request(e.to_string()))
}

/// Reads the list filters from the query string; unknown keys are ignored.
fn parse_filter(q: Option<&str>) -> Result<Filter, ApiError> {
    let mut f = Filter::default();
    let nonempty = |v: String| (!v.is_empty()).then_some(v);
    for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "tunnel_name" => f.tunnel_name = nonempty(v),
            "method" => f.method = nonempty(v),
            "path" => f.path = nonempty(v),
            "body" => f.body = nonempty(v),
            "status" if !v.is_empty() => {
                f.status = Some(
                    v.parse()
                        .map_err(|e: BadStatusFilter| ApiError::bad_request(e.to_string()))?,
                );
            }
            "limit" if !v.is_empty() => {
                f.limit = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::bad_request(format!("limit {v:?} is not a positive number"))
                })?;
            }
            "before" if !v.is_empty() => f.before = Some(parse_id(&v)?),
            _ => {}
        }
    }
    Ok(f)
}

async fn list(
    State(agent): State<AgentHandle>,
    RawQuery(q): RawQuery,
) -> Result<Json<ExchangeList>, ApiError> {
    let f = parse_filter(q.as_deref())?;
    let page = inspector(&agent)?.store().list(&f, false).await?;
    Ok(Json(ExchangeList {
        uri: HTTP_LIST_PATH.into(),
        requests: page.items.iter().map(|e| e.summary()).collect(),
        next: page.next,
    }))
}

async fn clear(State(agent): State<AgentHandle>) -> Result<StatusCode, ApiError> {
    let inspector = inspector(&agent)?;
    inspector.store().clear().await?;
    inspector.mark_changed();
    Ok(StatusCode::NO_CONTENT)
}

async fn events(State(agent): State<AgentHandle>) -> Response {
    crate::inspector_ui::events_response(&agent)
}

async fn replay(
    State(agent): State<AgentHandle>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReplayAnswer>, ApiError> {
    // JSON only: a browser cannot send this content type cross-site without a preflight,
    // which this API never grants.
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the replay request as Content-Type: application/json",
        ));
    }
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body refused: {e}"),
        )
    })?;
    let r: ReplayRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid replay request: {e}")))?;
    let id = parse_id(&r.id)?;
    let out = agent
        .replay_captured(id, r.tunnel_name.as_deref(), r.modify.as_ref())
        .await?;
    Ok(Json(ReplayAnswer {
        status: out.status,
        id: out.id,
        replay_of: Some(id),
    }))
}

async fn load(
    agent: &AgentHandle,
    id: &str,
) -> Result<crate::inspect::model::HttpExchange, ApiError> {
    let id = parse_id(id)?;
    inspector(agent)?.store().get(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no captured exchange {id}"),
        )
    })
}

async fn one(
    State(agent): State<AgentHandle>,
    Path(id): Path<String>,
) -> Result<Json<crate::inspect::model::HttpExchange>, ApiError> {
    Ok(Json(load(&agent, &id).await?))
}

async fn one_curl(
    State(agent): State<AgentHandle>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ex = load(&agent, &id).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        curl::command(&ex) + "\n",
    )
        .into_response())
}

fn har_response(doc: &serde_json::Value, filename: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        doc.to_string(),
    )
        .into_response()
}

async fn one_har(
    State(agent): State<AgentHandle>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ex = load(&agent, &id).await?;
    Ok(har_response(
        &har::document([&ex].into_iter()),
        &format!("{}.har", ex.id),
    ))
}

async fn har_list(
    State(agent): State<AgentHandle>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let f = parse_filter(q.as_deref())?;
    let page = inspector(&agent)?.store().list(&f, true).await?;
    Ok(har_response(
        &har::document(page.items.iter()),
        "fdt-requests.har",
    ))
}

async fn tcp_list(
    State(agent): State<AgentHandle>,
    RawQuery(q): RawQuery,
) -> Result<Json<TcpList>, ApiError> {
    let f = parse_filter(q.as_deref())?;
    let page = inspector(&agent)?
        .store()
        .list_tcp(f.before, f.limit)
        .await?;
    Ok(Json(TcpList {
        uri: TCP_LIST_PATH.into(),
        connections: page.items,
        next: page.next,
    }))
}
