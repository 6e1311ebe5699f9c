//! Writing `/scim/v2/Users` and `/scim/v2/Groups`: create, replace, patch and delete (RFC
//! 7644 §3), each in the token's organisation only (another organisation's ids are 404), each
//! applied to the organisation's memberships and audited.

use super::doc::normalize;
use super::provision::{
    check_not_owner, deprovision, groups_of, is_active, link_account, member_ids, parse_doc,
    sync_members, user_key,
};
use super::reads::{answer, load, names_schema, render, resource};
use super::schema::{GROUP, ResourceSchema, USER};
use super::{ScimCaller, ScimError, parse_body};
use crate::audit;
use crate::http::extract::Client;
use crate::random::random_base62;
use crate::state::AppState;
use crate::store::{ScimRecord, ScimWrite, ScimWritten, org_owner};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::HashSet;

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
    let full = render(s, who, r, &groups_of(st, &who.org).await?)?;
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
