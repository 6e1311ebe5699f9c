//! The cloud traffic log and replays:
//!
//! - `POST /v1/relay/requests` — relays send request metadata in batches (bodies only for
//!   plans with `log_bodies` whose tunnel opted in; the relay decides, the cloud re-checks the
//!   plan). Sensitive headers are redacted here, before anything is stored.
//! - `GET /v1/requests`, `GET /v1/requests/{id}`, `GET /v1/requests/{id}/request-body` and
//!   `/response-body` — the caller's records only (another account's are 404).
//! - `POST /v1/requests/{id}/replay` → a queued job; `GET /v1/replays/{id}` → its state.
//!   Jobs reach the agent through its relay's heartbeat answer (see
//!   [`crate::traffic::replay_orders`]).

use super::extract::{ApiJson, ApiPath, Authenticated, RelayCaller};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{NewRequest, RequestFilter};
use crate::traffic::redact;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use fdt_api::traffic::{MAX_LOGGED_BODY, MAX_TRAFFIC_BATCH};
use fdt_api::{
    ReplayId, ReplayJob, ReplayRequest, RequestId, RequestList, RequestQuery, RequestRecord,
    TrafficAck, TrafficBatch,
};

/// Default and largest page of `GET /v1/requests`.
const PAGE: (u32, u32) = (50, 500);

fn decode_body(b64: &Option<String>) -> Result<Option<Bytes>, ApiError> {
    let Some(text) = b64 else { return Ok(None) };
    let bytes = B64
        .decode(text)
        .map_err(|_| ApiError::InvalidBody("bodies must be base64".into()))?;
    if bytes.len() > MAX_LOGGED_BODY {
        return Err(ApiError::InvalidBody(format!(
            "a logged body is at most {MAX_LOGGED_BODY} bytes"
        )));
    }
    Ok(Some(Bytes::from(bytes)))
}

/// `POST /v1/relay/requests` → how many records were new.
pub async fn ingest(
    State(st): State<AppState>,
    _relay: RelayCaller,
    ApiJson(mut batch): ApiJson<TrafficBatch>,
) -> Result<Json<TrafficAck>, ApiError> {
    fdt_api::validate::check_label("relay_id", &batch.relay_id)?;
    if batch.requests.len() > MAX_TRAFFIC_BATCH {
        return Err(ApiError::InvalidBody(format!(
            "a batch holds at most {MAX_TRAFFIC_BATCH} requests"
        )));
    }
    let extra = &st.traffic().redact_headers;
    // Everything is checked before anything is stored: a batch refused for one bad record
    // leaves no body behind in the object store.
    let mut bodies: Vec<(Option<Bytes>, Option<Bytes>)> = Vec::with_capacity(batch.requests.len());
    for r in &mut batch.requests {
        if r.method.len() > 32 || r.host.len() > 255 || r.path.len() > 8192 {
            return Err(ApiError::InvalidBody(
                "method, host or path too long".into(),
            ));
        }
        if let Some(name) = &r.name {
            fdt_api::validate::check_label("name", name)?;
        }
        redact(&mut r.request_headers, extra);
        redact(&mut r.response_headers, extra);
        bodies.push((
            decode_body(&r.request_body)?,
            decode_body(&r.response_body)?,
        ));
    }
    // Bodies are kept only on plans that include them, whatever the relay sent.
    let mut keeps: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut keys: Vec<(Option<String>, Option<String>)> = Vec::with_capacity(bodies.len());
    for (r, (req, resp)) in batch.requests.iter().zip(bodies) {
        let keep = match keeps.get(r.account_id.as_str()) {
            Some(k) => *k,
            None => {
                let plan = st.store().account_plan(&r.account_id).await?;
                let k = plan.is_some_and(|p| p.entitlements().log_bodies);
                keeps.insert(r.account_id.to_string(), k);
                k
            }
        };
        let mut stored = (None, None);
        for (slot, which, body) in [
            (&mut stored.0, "request", req),
            (&mut stored.1, "response", resp),
        ] {
            if let (true, Some(body)) = (keep, body) {
                let key = st.bodies().key(r.account_id.as_str(), r.id.as_str(), which);
                st.bodies()
                    .put(&key, body)
                    .await
                    .map_err(|e| ApiError::internal("traffic log body store", &e))?;
                *slot = Some(key);
            }
        }
        keys.push(stored);
    }
    let rows: Vec<NewRequest<'_>> = batch
        .requests
        .iter()
        .zip(&keys)
        .map(|(report, (req, resp))| NewRequest {
            report,
            request_body: req.as_deref(),
            response_body: resp.as_deref(),
        })
        .collect();
    let stored = st.store().insert_requests(&batch.relay_id, &rows).await?;
    let mut accounts: Vec<&fdt_api::AccountId> =
        batch.requests.iter().map(|r| &r.account_id).collect();
    accounts.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    accounts.dedup();
    for account in accounts {
        st.events().publish(account, crate::events::Topic::Requests);
    }
    Ok(Json(TrafficAck { stored }))
}

/// `5xx` → (500, 599); `404` → (404, 404).
fn status_range(s: &str) -> Result<(u16, u16), ApiError> {
    let bad = || ApiError::InvalidBody("status is a code (404) or a class (5xx)".into());
    if let Some(class) = s.strip_suffix("xx") {
        let c: u16 = class.parse().map_err(|_| bad())?;
        if (1..=5).contains(&c) {
            return Ok((c * 100, c * 100 + 99));
        }
        return Err(bad());
    }
    let code: u16 = s.parse().map_err(|_| bad())?;
    if (100..=599).contains(&code) {
        Ok((code, code))
    } else {
        Err(bad())
    }
}

/// A page cursor: `<started_at ms>.<id>`.
fn cursor_of(r: &RequestRecord) -> String {
    let ms = r.started_at.unix_timestamp_nanos() / 1_000_000;
    format!("{ms}.{}", r.id)
}

fn parse_cursor(s: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::InvalidBody("before must be the `next` of a previous page".into());
    let (ms, id) = s.split_once('.').ok_or_else(bad)?;
    let id: RequestId = id.parse().map_err(|_| bad())?;
    Ok((ms.parse().map_err(|_| bad())?, id.to_string()))
}

/// `GET /v1/requests?tunnel_id&host&method&status&path&limit&before` → newest first.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
    query: Result<Query<RequestQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let limit = q.limit.unwrap_or(PAGE.0).clamp(1, PAGE.1);
    let filter = RequestFilter {
        tunnel_id: q.tunnel_id,
        host: q.host.map(|h| h.to_ascii_lowercase()),
        method: q.method.map(|m| m.to_ascii_uppercase()),
        status: q.status.as_deref().map(status_range).transpose()?,
        path: q.path,
        limit: limit + 1,
        before: q.before.as_deref().map(parse_cursor).transpose()?,
    };
    let mut rows = st.store().list_requests(&who.account_id, &filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let requests: Vec<RequestRecord> = rows.into_iter().map(|r| r.record).collect();
    let next = if more {
        requests.last().map(cursor_of)
    } else {
        None
    };
    Ok(Json(RequestList { requests, next }))
}

async fn owned(
    st: &AppState,
    who: &Authenticated,
    id: &str,
) -> Result<crate::store::StoredRequest, ApiError> {
    let id: RequestId = id.parse().map_err(|_| ApiError::NotFound)?;
    st.store()
        .request(&who.account_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /v1/requests/{id}`.
pub async fn get(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestRecord>, ApiError> {
    Ok(Json(owned(&st, &who, &id).await?.record))
}

async fn body(st: &AppState, key: Option<String>) -> Result<Response, ApiError> {
    let key = key.ok_or(ApiError::NotFound)?;
    let bytes = st
        .bodies()
        .get(&key)
        .await
        .map_err(|e| ApiError::internal("traffic log body store", &e))?
        .ok_or(ApiError::NotFound)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Bodies are the visitor's data: never let a browser sniff and run them.
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment"),
    );
    Ok(resp)
}

/// `GET /v1/requests/{id}/request-body` → the stored bytes (404 when none).
pub async fn request_body(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = owned(&st, &who, &id).await?;
    body(&st, r.request_body).await
}

/// `GET /v1/requests/{id}/response-body`.
pub async fn response_body(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = owned(&st, &who, &id).await?;
    body(&st, r.response_body).await
}

/// `POST /v1/requests/{id}/replay` → 202 with the job (200 with the same job when the
/// `Idempotency-Key` was used before).
pub async fn replay(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<Response, ApiError> {
    let r = owned(&st, &who, &id).await?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::InvalidBody("Idempotency-Key must be text".into()))?;
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 128) {
        return Err(ApiError::InvalidBody(
            "Idempotency-Key is 1 to 128 characters".into(),
        ));
    }
    let modify = req.modify.unwrap_or_default();
    check_modify(&modify)?;
    if r.name_key.is_none() {
        return Err(ApiError::InvalidBody(
            "this request never reached a tunnel, so there is nothing to replay it to".into(),
        ));
    }
    let job_id = crate::random::new_replay_id();
    let job = st
        .store()
        .create_replay(
            &job_id,
            &who.account_id,
            &r.record.id,
            key.as_deref(),
            &modify,
            st.clock().now(),
        )
        .await?;
    let status = if job.id == job_id {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    tracing::info!(account = %who.account_id, job = %job.id, request = %r.record.id, "replay queued");
    Ok((status, Json(job)).into_response())
}

/// Refuses edits that could aim a replay anywhere but the tunnel's own local service.
fn check_modify(m: &fdt_api::ReplayModify) -> Result<(), ApiError> {
    let bad = |msg: &str| Err(ApiError::InvalidBody(msg.to_owned()));
    if let Some(method) = &m.method
        && (method.is_empty()
            || method.len() > 16
            || !method.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return bad("method is an upper-case token such as GET");
    }
    if let Some(path) = &m.path
        && (!path.starts_with('/')
            || path.starts_with("//")
            || path.len() > 8192
            || path.contains(char::is_whitespace))
    {
        return bad("path must be origin-form (`/…`): replays only reach the tunnel's own service");
    }
    if m.set_headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        return bad(
            "the Host header cannot be changed: replays only reach the tunnel's own service",
        );
    }
    if m.body.as_ref().is_some_and(|b| b.len() > MAX_LOGGED_BODY) {
        return bad("a replayed body is at most 64 KiB");
    }
    Ok(())
}

/// `GET /v1/replays/{id}` → the job and, once done, the status the local service answered.
pub async fn job(
    State(st): State<AppState>,
    who: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReplayJob>, ApiError> {
    let id: ReplayId = id.parse().map_err(|_| ApiError::NotFound)?;
    st.store()
        .replay(&who.account_id, &id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_and_cursors() {
        assert_eq!(status_range("5xx").ok(), Some((500, 599)));
        assert_eq!(status_range("404").ok(), Some((404, 404)));
        for bad in ["6xx", "0xx", "99", "abc", "600"] {
            assert!(status_range(bad).is_err(), "{bad}");
        }
        assert!(parse_cursor("12.req_nope").is_err());
    }
}
