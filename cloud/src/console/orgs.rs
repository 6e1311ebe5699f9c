//! The console's organisation forms: `POST /org` chooses the organisation its pages act in
//! (a cookie, checked against the person's memberships on every call), `POST /join` accepts
//! an invitation with the code from its email and switches to the organisation joined.

use super::{Console, see_other, session, signed_in};
use crate::error::ApiError;
use crate::http::extract::{Authenticated, Client};
use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use fdt_api::OrgId;
use fdt_ui::api::with_query;
use serde::Deserialize;

/// `POST /org`'s form.
#[derive(Debug, Deserialize)]
pub(crate) struct SwitchForm {
    org: String,
}

/// `POST /join`'s form.
#[derive(Debug, Deserialize)]
pub(crate) struct JoinForm {
    #[serde(default)]
    token: String,
}

fn with_org(mut resp: Response, c: &Console, org: Option<&OrgId>) -> Response {
    let cookie = session::SessionCookie::of(c.app.console()).set_org(org);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

fn settings(key: &str, value: &str) -> Response {
    see_other(&with_query("/settings", &[(key, Some(value))]))
}

/// `POST /org`: act in `org` from now on (the person's own: the cookie goes).
pub(crate) async fn switch(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<SwitchForm>,
) -> Response {
    if !super::forms::same_origin(&headers) {
        return settings("error", "bad_origin");
    }
    let who = match signed_in(&c.app, &headers).await {
        Ok(Some(who)) => who,
        Ok(None) => return see_other("/login?next=/settings"),
        Err(_) => return settings("error", "error"),
    };
    let Ok(org) = form.org.trim().parse::<OrgId>() else {
        return settings("error", "unknown_org");
    };
    if org == crate::store::own_org(&who.account) {
        return with_org(see_other("/"), &c, None);
    }
    match c.app.store().member_role(&org, &who.account).await {
        Ok(Some(_)) => {
            tracing::info!(account = %who.account, %org, "console acts in another organisation");
            with_org(see_other("/"), &c, Some(&org))
        }
        Ok(None) => settings("error", "unknown_org"),
        Err(_) => settings("error", "error"),
    }
}

/// `POST /join`: accept an invitation, then act in the organisation joined.
pub(crate) async fn join(
    State(c): State<Console>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<JoinForm>,
) -> Response {
    if !super::forms::same_origin(&headers) {
        return settings("error", "bad_origin");
    }
    let who = match signed_in(&c.app, &headers).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            let next = with_query("/settings", &[("invite", Some(form.token.trim()))]);
            return see_other(&with_query("/login", &[("next", Some(&next))]));
        }
        Err(_) => return settings("error", "error"),
    };
    let person = Authenticated {
        account_id: who.account.clone(),
        person: who.account.clone(),
        session_id: who.session.clone(),
    };
    match crate::http::orgs::join(&c.app, &client, &person, &form.token).await {
        Ok(org) => with_org(see_other("/"), &c, Some(&org)),
        Err(ApiError::NotFound) => settings("error", "invite_invalid"),
        Err(_) => settings("error", "error"),
    }
}
