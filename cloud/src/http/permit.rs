//! The route table's permission check. A route a person calls names the permission it needs
//! ([`super::openapi::Auth::User`]); before its handler runs, the caller is authenticated and
//! its role must grant that permission, else 403. The handler's own [`Authenticated`] then
//! reuses this check's result.
//!
//! A caller acts in its own organisation (every account has one, `acc_X` → `org_X`), or in
//! the one it names in `X-FDT-Org` if it is a member there (else 404), with the permissions of
//! the role it holds there. An organisation's resources are those of its founding account
//! (`org_X` → `acc_X`) until they move to organisation IDs, so the handlers act on
//! [`Authenticated::account_id`] = that account and record [`Authenticated::person`] as actor. Only operators hold [`Permission::Operator`], from the admin
//! flag, never from a role.

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fdt_api::{AccountId, OrgId, Permission};

/// The header naming the organisation a call acts in (default: the caller's own).
pub const ORG_HEADER: &str = "x-fdt-org";

/// Whether `person` holds `needed` in `org`; `None` when it is not a member.
pub(crate) async fn granted(
    st: &AppState,
    person: &AccountId,
    org: &OrgId,
    needed: Permission,
) -> Result<Option<bool>, ApiError> {
    if needed == Permission::Operator {
        return Ok(Some(st.store().is_admin(person).await?));
    }
    let Some(role) = st.store().member_role(org, person).await? else {
        return Ok(None);
    };
    // A built-in template's permissions, or the organisation's own role's (a custom role
    // the organisation no longer has grants nothing).
    Ok(Some(
        st.store()
            .role_permissions(org, &role)
            .await?
            .contains(&needed),
    ))
}

/// The organisation a request names in [`ORG_HEADER`]: `Ok(None)` without the header, and
/// `Err` (404, as for any ID that is not the caller's) when it is not an organisation ID.
fn named_org(parts: &axum::http::request::Parts) -> Result<Option<OrgId>, ApiError> {
    let Some(v) = parts.headers.get(ORG_HEADER) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or(ApiError::NotFound)
}

/// The organisation a console page acts in: the one its organisation cookie names, for calls
/// the browser makes with its sign-in cookie (no `Authorization`), while the person is a
/// member there; else the person's own. A stale cookie (the person left) is ignored rather
/// than turning every page into a 404.
async fn console_org(
    st: &AppState,
    parts: &axum::http::request::Parts,
    person: &AccountId,
) -> Result<OrgId, ApiError> {
    let own = crate::store::own_org(person);
    if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        return Ok(own);
    }
    let cookie = crate::console::session::SessionCookie::of(st.console());
    match cookie.org(&parts.headers) {
        Some(org) if st.store().member_role(&org, person).await?.is_some() => Ok(org),
        _ => Ok(own),
    }
}

/// The middleware: authenticates the caller and checks `needed`.
pub(crate) async fn require(
    State((st, needed)): State<(AppState, Permission)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut who = match Authenticated::from_request_parts(&mut parts, &st).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let named = match named_org(&parts) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let org = match &named {
        Some(o) => o.clone(),
        None => match console_org(&st, &parts, &who.person).await {
            Ok(o) => o,
            Err(e) => return e.into_response(),
        },
    };
    match granted(&st, &who.person, &org, needed).await {
        Ok(Some(true)) => {}
        // Not a member of the organisation named: as if it did not exist.
        Ok(None) if named.is_some() => return ApiError::NotFound.into_response(),
        Ok(_) => {
            tracing::warn!(account = %who.person, %org, permission = needed.as_str(), path = %parts.uri.path(), "permission refused");
            return ApiError::Forbidden(refusal(needed)).into_response();
        }
        Err(e) => return e.into_response(),
    }
    if needed != Permission::Operator {
        who.account_id = crate::store::org_owner(&org);
    }
    parts.extensions.insert(who);
    next.run(Request::from_parts(parts, body)).await
}

/// The 403's message.
fn refusal(needed: Permission) -> &'static str {
    match needed {
        Permission::Operator => "operators only",
        p if p.is_read() => "your role cannot see this",
        _ => "your role cannot change this",
    }
}
