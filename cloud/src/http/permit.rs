//! The route table's permission check. A route a person calls names the permission it needs
//! ([`super::openapi::Auth::User`]); before its handler runs, the caller is authenticated and
//! its role must grant that permission, else 403. The handler's own [`Authenticated`] then
//! reuses this check's result.
//!
//! A caller acts in its own organisation (every account has one, `acc_X` → `org_X`; the
//! resources it owns move under it as organisations grow members), with the permissions of
//! the role it holds there. Only operators hold [`Permission::Operator`], from the admin
//! flag, never from a role.

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fdt_api::{AccountId, Permission, RoleTemplate};

/// Whether `account` holds `needed`.
pub(crate) async fn granted(
    st: &AppState,
    account: &AccountId,
    needed: Permission,
) -> Result<bool, ApiError> {
    if needed == Permission::Operator {
        return Ok(st.store().is_admin(account).await?);
    }
    let role = st
        .store()
        .role_in(&crate::store::own_org(account), account)
        .await?;
    Ok(role.is_some_and(|r: RoleTemplate| r.permissions().contains(&needed)))
}

/// The middleware: authenticates the caller and checks `needed`.
pub(crate) async fn require(
    State((st, needed)): State<(AppState, Permission)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let who = match Authenticated::from_request_parts(&mut parts, &st).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    match granted(&st, &who.account_id, needed).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(account = %who.account_id, permission = needed.as_str(), path = %parts.uri.path(), "permission refused");
            return ApiError::Forbidden(refusal(needed)).into_response();
        }
        Err(e) => return e.into_response(),
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
