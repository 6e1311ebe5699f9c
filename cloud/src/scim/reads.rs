//! Reading `/scim/v2/Users` and `/scim/v2/Groups`: list (with `filter`, paging and
//! attribute selection), `.search` (per type and across both), and get, each in the token's
//! organisation only. Resources are rendered here for writes' answers too.

use super::discovery::list_response;
use super::doc::Projection;
use super::filter::parse_filter;
use super::provision::{GroupsOf, groups_of, parse_doc};
use super::schema::{GROUP, MAX_RESULTS, RESOURCES, ResourceSchema, USER, urn};
use super::{ScimCaller, ScimError, parse_body, scim_json};
use crate::state::AppState;
use crate::store::ScimRecord;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The resource type at `/scim/v2/{name}`; unknown ones are 404 (the SCIM error body too).
pub(super) fn resource(name: &str) -> Result<&'static ResourceSchema, ScimError> {
    super::schema::by_endpoint(&format!("/{name}"))
        .ok_or_else(|| ScimError::not_found(format!("{} has no /{name}", super::PREFIX)))
}

/// The query parameters of a list (RFC 7644 §3.4.2).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A stored resource as served: its document, `id`, `schemas`, `meta`, and what the server
/// works out (a User's `groups`, each member's `$ref`).
pub(super) fn render(
    s: &ResourceSchema,
    who: &ScimCaller,
    r: &ScimRecord,
    groups: &GroupsOf,
) -> Result<Value, ScimError> {
    let mut out = parse_doc(r)?;
    let location = format!("{}{}/{}", who.base, s.endpoint, r.id);
    if s.name == USER.name {
        if let Some(gs) = groups.get(&r.id) {
            let list: Vec<Value> = gs
                .iter()
                .map(|(id, name)| {
                    json!({"value": id, "$ref": format!("{}{}/{id}", who.base, GROUP.endpoint), "display": name})
                })
                .collect();
            out.insert("groups".into(), Value::Array(list));
        }
    } else if let Some(Value::Array(members)) = out.get_mut("members") {
        for m in members.iter_mut() {
            if let (Some(id), Value::Object(o)) = (
                m.get("value").and_then(Value::as_str).map(str::to_owned),
                &mut *m,
            ) {
                o.insert(
                    "$ref".into(),
                    format!("{}{}/{id}", who.base, USER.endpoint).into(),
                );
            }
        }
    }
    let mut full = Map::new();
    full.insert("schemas".into(), json!([s.id]));
    full.insert("id".into(), r.id.clone().into());
    full.extend(out);
    full.insert(
        "meta".into(),
        json!({
            "resourceType": s.name,
            "created": rfc3339(r.created_at),
            "lastModified": rfc3339(r.updated_at),
            "location": location,
        }),
    );
    Ok(Value::Object(full))
}

pub(super) fn answer(status: StatusCode, body: &Value, location: Option<&str>) -> Response {
    let mut resp = scim_json(status, body);
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

fn parse_index(v: Option<&str>, name: &str, default: usize) -> Result<usize, ScimError> {
    match v.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => s
            .parse::<i64>()
            .map(|n| usize::try_from(n.max(0)).unwrap_or(0))
            .map_err(|_| ScimError::invalid_value(format!("`{name}` must be an integer"))),
    }
}

async fn search(
    st: &AppState,
    who: &ScimCaller,
    types: &[&'static ResourceSchema],
    p: &ListParams,
) -> Result<Value, ScimError> {
    let filter = match p.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(parse_filter(f).map_err(|e| ScimError::invalid_filter(e.0))?),
    };
    // startIndex is 1-based; less than 1 is 1 (RFC 7644 §3.4.2.4).
    let start = parse_index(p.start_index.as_deref(), "startIndex", 1)?.max(1);
    let count = parse_index(p.count.as_deref(), "count", 100)?.min(MAX_RESULTS);
    let projection = Projection::parse(p.attributes.as_deref(), p.excluded_attributes.as_deref())?;
    let groups = groups_of(st, &who.org).await?;
    let mut hits = Vec::new();
    for s in types {
        let exact = |a: &str, sub: Option<&str>| s.case_exact(a, sub);
        for r in st.store().scim_resources(&who.org, s.name).await? {
            let full = render(s, who, &r, &groups)?;
            if filter.as_ref().is_none_or(|f| f.matches(&full, &exact)) {
                hits.push(full);
            }
        }
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|r| projection.apply(r))
        .collect();
    Ok(list_response(page, total, start))
}

/// `GET /scim/v2/{Users|Groups}`.
pub async fn list(
    State(st): State<AppState>,
    who: ScimCaller,
    Path(name): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    Ok(scim_json(
        StatusCode::OK,
        &search(&st, &who, &[s], &p).await?,
    ))
}

/// `POST /scim/v2/{Users|Groups}/.search`: a list whose parameters come in a SearchRequest.
pub async fn search_post(
    State(st): State<AppState>,
    who: ScimCaller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    search_body(&st, &who, &[s], &headers, &body).await
}

/// `POST /scim/v2/.search`: a search over Users and Groups at once (RFC 7644 §3.4.3).
pub async fn search_all(
    State(st): State<AppState>,
    who: ScimCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    search_body(&st, &who, &RESOURCES, &headers, &body).await
}

async fn search_body(
    st: &AppState,
    who: &ScimCaller,
    types: &[&'static ResourceSchema],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ScimError> {
    let req = parse_body(headers, body)?;
    if !names_schema(&req, urn::SEARCH) {
        return Err(ScimError::invalid_syntax(format!(
            "a search names the schema {}",
            urn::SEARCH
        )));
    }
    let text = |k: &str| match req.get(k) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    let p = ListParams {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    };
    Ok(scim_json(
        StatusCode::OK,
        &search(st, who, types, &p).await?,
    ))
}

pub(super) fn names_schema(body: &Value, urn: &str) -> bool {
    body.get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn)))
        })
}

pub(super) async fn load(
    st: &AppState,
    who: &ScimCaller,
    s: &ResourceSchema,
    id: &str,
) -> Result<ScimRecord, ScimError> {
    st.store()
        .scim_resource(&who.org, s.name, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no {} {id}", s.name)))
}

/// `GET /scim/v2/{Users|Groups}/{id}`.
pub async fn get(
    State(st): State<AppState>,
    who: ScimCaller,
    Path((name, id)): Path<(String, String)>,
    Query(p): Query<ListParams>,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    let projection = Projection::parse(p.attributes.as_deref(), p.excluded_attributes.as_deref())?;
    let r = load(&st, &who, s, &id).await?;
    let full = render(s, &who, &r, &groups_of(&st, &who.org).await?)?;
    Ok(scim_json(StatusCode::OK, &projection.apply(full)))
}
