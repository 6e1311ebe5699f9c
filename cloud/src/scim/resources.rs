//! `/scim/v2/Users` and `/scim/v2/Groups`: list (with `filter`, paging and attribute
//! selection), `.search`, create, get, replace, patch and delete (RFC 7644 §3), each in the
//! token's organisation only: another organisation's ids are 404.

use super::discovery::list_response;
use super::doc::{Projection, normalize, string_attr};
use super::filter::parse_filter;
use super::provision::{
    check_not_owner, deprovision, is_active, link_account, member_ids, parse_doc, sync_members,
    user_key,
};
use super::schema::{GROUP, MAX_RESULTS, RESOURCES, ResourceSchema, USER, urn};
use super::{ScimCaller, ScimError, parse_body, scim_json};
use crate::audit;
use crate::http::extract::Client;
use crate::random::random_base62;
use crate::state::AppState;
use crate::store::{ScimRecord, ScimWrite, ScimWritten, org_owner};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The resource type at `/scim/v2/{name}`; unknown ones are 404 (the SCIM error body too).
fn resource(name: &str) -> Result<&'static ResourceSchema, ScimError> {
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

/// Which groups each User is in: `user id → [(group id, displayName)]`.
type GroupsOf = BTreeMap<String, Vec<(String, String)>>;

async fn groups_of(st: &AppState, who: &ScimCaller) -> Result<GroupsOf, ScimError> {
    let mut out = GroupsOf::new();
    for g in st.store().scim_resources(&who.org, GROUP.name).await? {
        let doc = parse_doc(&g)?;
        let name = string_attr(&doc, "displayName").unwrap_or_default();
        for m in member_ids(&doc) {
            out.entry(m)
                .or_default()
                .push((g.id.clone(), name.to_owned()));
        }
    }
    Ok(out)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A stored resource as served: its document, `id`, `schemas`, `meta`, and what the server
/// works out (a User's `groups`, each member's `$ref`).
fn render(
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

fn answer(status: StatusCode, body: &Value, location: Option<&str>) -> Response {
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
    let groups = groups_of(st, who).await?;
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

fn names_schema(body: &Value, urn: &str) -> bool {
    body.get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn)))
        })
}

async fn load(
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
    let full = render(s, &who, &r, &groups_of(&st, &who).await?)?;
    Ok(scim_json(StatusCode::OK, &projection.apply(full)))
}

/// Stores `doc` as resource `id` (new when `existing` is `None`) and applies what it means
/// to the organisation's memberships.
async fn save(
    st: &AppState,
    who: &ScimCaller,
    s: &'static ResourceSchema,
    id: &str,
    existing: Option<&ScimRecord>,
    mut doc: Map<String, Value>,
) -> Result<(ScimRecord, u64), ScimError> {
    let mut affected: HashSet<String> = HashSet::new();
    let (name_key, account) = if s.name == USER.name {
        let key = user_key(&doc)?;
        let account = link_account(st, &who.org, &key, existing).await?;
        if !is_active(&doc) {
            check_not_owner(st, &who.org, &account).await?;
        }
        affected.insert(id.to_owned());
        (key, Some(account))
    } else {
        check_members(st, who, &mut doc).await?;
        affected.extend(member_ids(&doc));
        if let Some(old) = existing {
            affected.extend(member_ids(&parse_doc(old)?));
        }
        (id.to_owned(), None)
    };
    let text = Value::Object(doc).to_string();
    let w = ScimWrite {
        org: &who.org,
        kind: s.name,
        id,
        name_key: &name_key,
        account_id: account.as_ref(),
        doc: &text,
        now: st.clock().now(),
    };
    let written = match existing {
        None => st.store().insert_scim_resource(&w).await?,
        Some(_) => st.store().update_scim_resource(&w).await?,
    };
    match written {
        ScimWritten::Done => {}
        ScimWritten::Taken => {
            return Err(ScimError::uniqueness(
                "another User of the organisation has this userName or account",
            ));
        }
        ScimWritten::Full => {
            return Err(ScimError::too_many(format!(
                "the organisation holds {} {}s already",
                crate::store::MAX_SCIM_RESOURCES,
                s.name
            )));
        }
        ScimWritten::Missing => return Err(ScimError::not_found(format!("no {} {id}", s.name))),
    }
    let revoked = sync_members(st, &who.org, Some(&affected)).await?;
    Ok((load(st, who, s, id).await?, revoked))
}

/// A group's members must be Users of the same organisation; their `$ref` is the server's
/// to write (dropped here, rendered on the way out).
async fn check_members(
    st: &AppState,
    who: &ScimCaller,
    doc: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(Value::Array(members)) = doc.get_mut("members") else {
        return Ok(());
    };
    let users: HashSet<String> = st
        .store()
        .scim_resources(&who.org, USER.name)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    for m in members.iter_mut() {
        let Some(id) = m.get("value").and_then(Value::as_str) else {
            return Err(ScimError::invalid_value(
                "each member needs a `value` (the User's id)",
            ));
        };
        if !users.contains(id) {
            return Err(ScimError::invalid_value(format!(
                "member {id} is not a User of this organisation"
            )));
        }
        if m.get("type").is_some_and(|t| t.as_str() != Some("User")) {
            return Err(ScimError::invalid_value(
                "members are Users (nested groups are not supported)",
            ));
        }
        if let Value::Object(o) = m {
            o.remove("$ref");
        }
    }
    Ok(())
}

async fn audited(
    st: &AppState,
    client: &Client,
    who: &ScimCaller,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ScimError> {
    let scope = org_owner(&who.org);
    let a = audit::Action {
        scope: scope.as_str(),
        actor: &who.actor(),
        action,
        target,
        detail,
    };
    Ok(audit::action(st, client, a).await?)
}

/// Audits a write (`scim.user.create`, …), then answers with the resource as it now is
/// (and, for a creation, its `Location`).
#[allow(clippy::too_many_arguments)]
async fn written(
    st: &AppState,
    client: &Client,
    who: &ScimCaller,
    s: &ResourceSchema,
    what: &str,
    r: &ScimRecord,
    detail: Value,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let action = format!("scim.{}.{what}", verb(s));
    audited(st, client, who, &action, &r.id, detail).await?;
    let full = render(s, who, r, &groups_of(st, who).await?)?;
    let location = full["meta"]["location"].as_str().map(str::to_owned);
    let location = location.filter(|_| status == StatusCode::CREATED);
    Ok(answer(status, &full, location.as_deref()))
}

fn verb(s: &ResourceSchema) -> &'static str {
    if s.name == USER.name { "user" } else { "group" }
}

fn document(s: &ResourceSchema, body: &Value) -> Result<Map<String, Value>, ScimError> {
    if !names_schema(body, s.id) {
        return Err(ScimError::invalid_syntax(format!(
            "a {} names the schema {}",
            s.name, s.id
        )));
    }
    normalize(s, body)
}

/// `POST /scim/v2/{Users|Groups}` → 201 with the resource and its `Location`.
pub async fn create(
    State(st): State<AppState>,
    who: ScimCaller,
    client: Client,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    let doc = document(s, &parse_body(&headers, &body)?)?;
    let id = random_base62(24);
    let (r, revoked) = save(&st, &who, s, &id, None, doc).await?;
    let detail = json!({"authtokens_revoked": revoked});
    written(
        &st,
        &client,
        &who,
        s,
        "create",
        &r,
        detail,
        StatusCode::CREATED,
    )
    .await
}

/// `PUT /scim/v2/{Users|Groups}/{id}`: the resource becomes the body (read-only attributes
/// ignored).
pub async fn replace(
    State(st): State<AppState>,
    who: ScimCaller,
    client: Client,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    let old = load(&st, &who, s, &id).await?;
    let doc = document(s, &parse_body(&headers, &body)?)?;
    let (r, revoked) = save(&st, &who, s, &id, Some(&old), doc).await?;
    let detail = json!({"authtokens_revoked": revoked});
    written(&st, &client, &who, s, "replace", &r, detail, StatusCode::OK).await
}

/// `PATCH /scim/v2/{Users|Groups}/{id}`: the operations apply in order, all or none.
pub async fn modify(
    State(st): State<AppState>,
    who: ScimCaller,
    client: Client,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let s = resource(&name)?;
    let ops = super::patch::parse(&parse_body(&headers, &body)?)?;
    let old = load(&st, &who, s, &id).await?;
    let mut doc = parse_doc(&old)?;
    super::patch::apply(s, &mut doc, &ops)?;
    // The result is checked as a PUT body would be.
    let doc = normalize(s, &Value::Object(doc))?;
    let (r, revoked) = save(&st, &who, s, &id, Some(&old), doc).await?;
    let paths: Vec<&str> = ops
        .iter()
        .filter_map(|o| o.path.as_deref())
        .take(20)
        .collect();
    let detail = json!({"paths": paths, "authtokens_revoked": revoked});
    written(&st, &client, &who, s, "patch", &r, detail, StatusCode::OK).await
}

/// `DELETE /scim/v2/{Users|Groups}/{id}` → 204. A User's membership ends (as with
/// `active=false`) and it leaves its groups; a Group's members get their roles again without
/// it.
pub async fn delete(
    State(st): State<AppState>,
    who: ScimCaller,
    client: Client,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ScimError> {
    let s = resource(&name)?;
    let old = load(&st, &who, s, &id).await?;
    let mut revoked = 0;
    if s.name == USER.name {
        if let Some(account) = &old.account_id {
            check_not_owner(&st, &who.org, account).await?;
            revoked = deprovision(&st, &who.org, account).await?;
        }
        st.store()
            .delete_scim_resource(&who.org, s.name, &id)
            .await?;
        drop_from_groups(&st, &who, &id).await?;
    } else {
        st.store()
            .delete_scim_resource(&who.org, s.name, &id)
            .await?;
        let affected: HashSet<String> = member_ids(&parse_doc(&old)?).into_iter().collect();
        revoked = sync_members(&st, &who.org, Some(&affected)).await?;
    }
    audited(
        &st,
        &client,
        &who,
        &format!("scim.{}.delete", verb(s)),
        &id,
        json!({"authtokens_revoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a deleted User from every group that lists it.
async fn drop_from_groups(st: &AppState, who: &ScimCaller, user: &str) -> Result<(), ScimError> {
    for g in st.store().scim_resources(&who.org, GROUP.name).await? {
        let mut doc = parse_doc(&g)?;
        let Some(Value::Array(members)) = doc.get_mut("members") else {
            continue;
        };
        let before = members.len();
        members.retain(|m| m.get("value").and_then(Value::as_str) != Some(user));
        if members.len() == before {
            continue;
        }
        if members.is_empty() {
            doc.remove("members");
        }
        let text = Value::Object(doc).to_string();
        st.store()
            .update_scim_resource(&ScimWrite {
                org: &who.org,
                kind: GROUP.name,
                id: &g.id,
                name_key: &g.id,
                account_id: None,
                doc: &text,
                now: st.clock().now(),
            })
            .await?;
    }
    Ok(())
}
