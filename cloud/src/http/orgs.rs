//! Organisations and their members: `GET /v1/orgs` (the caller's, with its role and
//! permissions in each), and in the organisation the call acts in (`X-FDT-Org`, else the
//! caller's own): `GET /v1/members`, `POST /v1/invitations`, `PUT /v1/members/{id}/role`,
//! `DELETE /v1/members/{id}`; and `POST /v1/invitations/accept` for the invited person.

use super::extract::{ApiJson, ApiPath, Authenticated, Client};
use crate::audit;
use crate::error::ApiError;
use crate::events::Topic;
use crate::random::{random_base62, secret_hash};
use crate::state::AppState;
use crate::store::{Accepted, NewInvitation, org_owner, own_org, parse_role};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fdt_api::validate::{check_email, normalize_email};
use fdt_api::{
    AcceptInvitation, AccountId, CreateInvitation, Invitation, MemberList, OrgId, OrgList,
    OrgMembership, Role, RoleTemplate, SetMemberRole,
};
use serde_json::json;

/// `GET /v1/orgs` → the caller's organisations by name.
pub async fn list(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<OrgList>, ApiError> {
    let mut orgs = Vec::new();
    for m in st.store().memberships(&who.person).await? {
        // A custom role's permissions are its organisation's to say.
        let permissions = st.store().role_permissions(&m.org_id, &m.role_name).await?;
        orgs.push(OrgMembership {
            permissions,
            id: m.org_id,
            name: m.name,
            role: m.role,
            role_name: m.role_name,
        });
    }
    Ok(Json(OrgList {
        orgs,
        acting: acting_org(&who),
    }))
}

/// How long an invitation can be accepted.
const INVITATION_DAYS: i64 = 7;

/// The organisation the call acts in (its resources are those of `who.account_id`).
pub(crate) fn acting_org(who: &Authenticated) -> OrgId {
    own_org(&who.account_id)
}

/// Member `id` of `org` and its stored role; 404 when it is not one.
async fn member_of(st: &AppState, org: &OrgId, id: &str) -> Result<(AccountId, String), ApiError> {
    let member: AccountId = id.parse().map_err(|_| ApiError::NotFound)?;
    let role = st
        .store()
        .member_role(org, &member)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((member, role))
}

/// Whether the caller is an owner of `org` (only owners make or unmake owners).
pub(crate) async fn caller_is_owner(
    st: &AppState,
    org: &OrgId,
    who: &Authenticated,
) -> Result<bool, ApiError> {
    let role = st.store().member_role(org, &who.person).await?;
    Ok(role.as_deref().and_then(parse_role) == Some(RoleTemplate::Owner))
}

/// Records `action` by the signed-in person, in the acting organisation's chain.
pub(crate) async fn audited(
    st: &AppState,
    client: &Client,
    who: &Authenticated,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let (scope, actor) = (who.account_id.to_string(), who.person.to_string());
    let a = audit::Action {
        scope: &scope,
        actor: &actor,
        action,
        target,
        detail,
    };
    audit::action(st, client, a).await
}

/// Refuses a custom role the organisation does not have.
async fn known_role(st: &AppState, org: &OrgId, role: &Role) -> Result<(), ApiError> {
    if let Role::Custom(name) = role
        && st.store().custom_role(org, name).await?.is_none()
    {
        return Err(ApiError::InvalidField {
            field: "role".into(),
            message: format!("the organisation has no role {}", role.name()),
        });
    }
    Ok(())
}

/// `GET /v1/members` → the members of the organisation the call acts in.
pub async fn members(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<MemberList>, ApiError> {
    let members = st.store().members(&acting_org(&who)).await?;
    Ok(Json(MemberList { members }))
}

/// `POST /v1/invitations` → 201; the token goes to the address by email (the outbox), never
/// in the answer. Only owners invite owners.
pub async fn invite(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<CreateInvitation>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    let org = acting_org(&who);
    let email = normalize_email(&req.email);
    check_email(&email)?;
    if req.role.builtin() == Some(RoleTemplate::Owner) && !caller_is_owner(&st, &org, &who).await? {
        return Err(ApiError::Forbidden("only owners can invite owners"));
    }
    known_role(&st, &org, &req.role).await?;
    let now = st.clock().now();
    let expires_at = now + time::Duration::days(INVITATION_DAYS);
    let token = format!("fdi_{}", random_base62(32));
    let role = req.role.name();
    let link = format!(
        "{}/settings?invite={token}",
        super::device::console_base(&st, &headers)
    );
    let body = format!(
        "You are invited to join the organisation {org} on FlyingDarkDevTunnel as {role}.\n\n\
         Sign in as {email} and accept within {INVITATION_DAYS} days:\n\n    {link}\n\n\
         or with this code in Settings, \"Join an organisation\":\n\n    {token}\n\n\
         (POST /v1/invitations/accept {{\"token\": \"…\"}})\n"
    );
    let id = format!("inv_{}", random_base62(fdt_api::ids::ID_SUFFIX_LEN));
    st.store()
        .create_invitation(&NewInvitation {
            id: &id,
            org: &org,
            email: &email,
            role: &req.role,
            token_hash: &secret_hash(&token),
            created_by: &who.person,
            now,
            expires_at,
            mail: ("Your invitation to FlyingDarkDevTunnel", &body),
        })
        .await?;
    audited(
        &st,
        &client,
        &who,
        "member.invite",
        &email,
        json!({"role": role}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            org_id: org,
            email,
            role: req.role,
            expires_at,
        }),
    ))
}

/// `POST /v1/invitations/accept` → the caller's organisations, now with the new one; 404
/// when no live invitation to the caller's address has that token.
pub async fn accept(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> Result<Json<OrgList>, ApiError> {
    join(&st, &client, &who, &req.token).await?;
    list(State(st), who).await
}

/// Accepts the invitation `token` for the signed-in person (the API's and the console's
/// way): the organisation joined; 404 when no live invitation to the person's address has
/// that token.
pub(crate) async fn join(
    st: &AppState,
    client: &Client,
    who: &Authenticated,
    token: &str,
) -> Result<OrgId, ApiError> {
    let account = st
        .store()
        .account_by_id(&who.person)
        .await?
        .ok_or(ApiError::Unauthorized("session has ended; log in again"))?;
    let outcome = st
        .store()
        .accept_invitation(
            &secret_hash(token.trim()),
            &who.person,
            &account.email,
            st.clock().now(),
        )
        .await?;
    let Accepted::Joined { org, role } = outcome else {
        return Err(ApiError::NotFound);
    };
    let in_org = Authenticated {
        account_id: org_owner(&org),
        ..who.clone()
    };
    audited(
        st,
        client,
        &in_org,
        "member.join",
        who.person.as_str(),
        json!({"role": role}),
    )
    .await?;
    Ok(org)
}

/// `PUT /v1/members/{id}/role` → the member list. The founder stays an owner; only owners
/// make or unmake owners.
pub async fn set_role(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetMemberRole>,
) -> Result<Json<MemberList>, ApiError> {
    let org = acting_org(&who);
    let (member, current) = member_of(&st, &org, &id).await?;
    let to_owner = req.role.builtin() == Some(RoleTemplate::Owner);
    if member == org_owner(&org) && !to_owner {
        return Err(ApiError::Conflict(
            "the organisation's founder stays an owner".into(),
        ));
    }
    let touches_owner = to_owner || parse_role(&current) == Some(RoleTemplate::Owner);
    if touches_owner && !caller_is_owner(&st, &org, &who).await? {
        return Err(ApiError::Forbidden("only owners can make or unmake owners"));
    }
    known_role(&st, &org, &req.role).await?;
    st.store().set_role(&org, &member, req.role.clone()).await?;
    audited(
        &st,
        &client,
        &who,
        "member.role",
        member.as_str(),
        json!({"from": current, "to": req.role.name()}),
    )
    .await?;
    members(State(st), who).await
}

/// `DELETE /v1/members/{id}` → 204: the member leaves, its authtokens for the organisation
/// are revoked (its agents are closed within seconds) and its sessions end. The founder
/// cannot be removed; only owners remove owners.
pub async fn remove(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let org = acting_org(&who);
    let (member, current) = member_of(&st, &org, &id).await?;
    if member == org_owner(&org) {
        return Err(ApiError::Conflict(
            "the organisation's founder cannot be removed".into(),
        ));
    }
    if parse_role(&current) == Some(RoleTemplate::Owner)
        && !caller_is_owner(&st, &org, &who).await?
    {
        return Err(ApiError::Forbidden("only owners can remove owners"));
    }
    let revoked = st
        .store()
        .remove_member(&org, &member, st.clock().now())
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(%org, %member, revoked, "member removed");
    st.events().publish(&who.account_id, Topic::Authtokens);
    audited(
        &st,
        &client,
        &who,
        "member.remove",
        member.as_str(),
        json!({"authtokens_revoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
