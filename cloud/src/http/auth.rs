//! `/v1/auth`: register, login, refresh, logout, me.

use super::extract::{ApiJson, Authenticated, Client, ClientIp};
use super::no_store;
use crate::audit;
use crate::error::ApiError;
use crate::random::{
    looks_like_refresh_token, new_account_id, new_refresh_token, new_session_id, secret_hash,
};
use crate::state::AppState;
use crate::store::{RefreshOutcome, RevokeReason};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fdt_api::validate::{check_email, check_password, normalize_email};
use fdt_api::{
    Account, AccountId, LoginRequest, RefreshRequest, RegisterRequest, SessionId, TokenResponse,
    TokenType,
};
use std::net::IpAddr;
use time::OffsetDateTime;

/// `POST /v1/auth/register` → 201 with the account; 429 when the client address has
/// registered too often.
pub async fn register(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let account = create_account(&st, ip, &req.email, req.password).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Creates an account (the API's register and the console's sign-up form), rate limited per
/// client address.
pub(crate) async fn create_account(
    st: &AppState,
    ip: Option<IpAddr>,
    email: &str,
    password: fdt_api::Password,
) -> Result<Account, ApiError> {
    let email = normalize_email(email);
    check_email(&email)?;
    check_password(password.expose_secret())?;
    // Counted before hashing: the hash is the expensive part, and the answer (created, or
    // taken) tells whether an email has an account.
    st.register_limiter()
        .attempt(ip, st.clock().now())
        .await
        .inspect_err(|e| tracing::warn!(?ip, error = %e, "registration refused"))?;
    let hash = st.passwords().hash(password).await?;
    let account = st
        .store()
        .create_account(&new_account_id(), &email, &hash, st.clock().now())
        .await?;
    tracing::info!(account = %account.id, "account registered");
    Ok(account.to_api())
}

/// `POST /v1/auth/login` → 200 with a token pair; 401 on a wrong email or password; 429 when
/// the client address has failed too often, for any email or for this one.
pub async fn login(
    State(st): State<AppState>,
    client: Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = st.clock().now();
    let account = check_login(&st, &client, &req.email, req.password).await?;
    let (session_id, refresh) = open_session(&st, &account, now).await?;
    token_response(&st, &account, session_id, refresh, now)
}

/// Checks an email and password (throttled as [`crate::auth::limiter`] explains; suspended
/// accounts refused once the password is proven). The API's login and the console's sign-in
/// form.
pub(crate) async fn check_login(
    st: &AppState,
    client: &Client,
    email: &str,
    password: fdt_api::Password,
) -> Result<AccountId, ApiError> {
    let ip = client.ip;
    let email = normalize_email(email);
    let now = st.clock().now();
    let delay = st
        .login_limiter()
        .begin_attempt(&email, ip, now)
        .await
        .inspect_err(|e| tracing::warn!(%email, ?ip, error = %e, "login refused"))?;
    if !delay.is_zero() {
        tracing::debug!(%email, ?ip, ?delay, "login slowed: many failures for this email");
        tokio::time::sleep(delay).await;
    }
    let account = st.store().account_by_email(&email).await?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    // Unknown email and wrong password take the same time and get the same answer.
    let proven = st.passwords().verify(password, hash).await?;
    let (Some(account), true) = (account.as_ref(), proven) else {
        // In the account's chain when there is one: its owner can see attempts on it.
        let scope = account
            .as_ref()
            .map(|a| a.id.to_string())
            .unwrap_or_default();
        let a = audit::Action {
            scope: &scope,
            actor: "anonymous",
            action: "auth.login_failed",
            target: &email,
            detail: serde_json::json!({"reason": "wrong email or password"}),
        };
        audit::action(st, client, a).await?;
        crate::metrics::login_failed();
        return Err(ApiError::InvalidCredentials);
    };
    // Giving the attempt back is bookkeeping: a proven password is not refused for it (the
    // window then simply ends with the attempt still counted).
    if let Err(e) = st.login_limiter().succeeded(&email, ip, now).await {
        tracing::warn!(%email, error = %e, "login limiter: attempt not given back");
    }
    let id = account.id.to_string();
    // Told only to someone who proved the password: suspension is not an oracle for emails.
    if st.store().is_suspended(&account.id).await? {
        let a = audit::Action {
            scope: &id,
            actor: &id,
            action: "auth.login_failed",
            target: &email,
            detail: serde_json::json!({"reason": "suspended"}),
        };
        audit::action(st, client, a).await?;
        return Err(ApiError::AccountSuspended);
    }
    let a = audit::Action {
        scope: &id,
        actor: &id,
        action: "auth.login",
        target: &email,
        detail: serde_json::json!({}),
    };
    audit::action(st, client, a).await?;
    Ok(account.id.clone())
}

/// Opens a session for `account`: its ID and first refresh token.
pub(crate) async fn open_session(
    st: &AppState,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<(SessionId, fdt_api::RefreshToken), ApiError> {
    let session_id = new_session_id();
    let refresh = new_refresh_token();
    st.store()
        .create_session(
            &session_id,
            account,
            &secret_hash(refresh.expose_secret()),
            now,
            now + st.refresh_ttl(),
        )
        .await?;
    tracing::info!(account = %account, session = %session_id, "logged in");
    Ok((session_id, refresh))
}

/// `POST /v1/auth/refresh` → 200 with a new token pair; the presented refresh token is spent.
/// Presenting a spent token revokes its whole session.
pub async fn refresh(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let presented = req.refresh_token.expose_secret();
    if !looks_like_refresh_token(presented) {
        return Err(ApiError::InvalidRefreshToken);
    }
    let now = st.clock().now();
    let next = new_refresh_token();
    let outcome = st
        .store()
        .rotate_refresh_token(
            &secret_hash(presented),
            &secret_hash(next.expose_secret()),
            now,
            now + st.refresh_ttl(),
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated {
            account_id,
            session_id,
        } => token_response(&st, &account_id, session_id, next, now),
        RefreshOutcome::ReuseDetected { session_id } => {
            tracing::warn!(session = %session_id, "spent refresh token presented again: session revoked");
            Err(ApiError::InvalidRefreshToken)
        }
        RefreshOutcome::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// `POST /v1/auth/logout` → 204; revokes the refresh token's session (all its refresh and
/// access tokens). Idempotent: an unknown or already revoked token also gets 204.
pub async fn logout(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let presented = req.refresh_token.expose_secret();
    if looks_like_refresh_token(presented) {
        let revoked = st
            .store()
            .revoke_session_by_refresh_token(
                &secret_hash(presented),
                st.clock().now(),
                RevokeReason::Logout,
            )
            .await?;
        if let Some(session) = revoked {
            tracing::info!(%session, "logged out");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/auth/me` → the caller's account.
pub async fn me(State(st): State<AppState>, who: Authenticated) -> Result<Json<Account>, ApiError> {
    match st.store().account_by_id(&who.person).await? {
        Some(account) => Ok(Json(account.to_api())),
        // The account was deleted under a live token.
        None => Err(ApiError::Unauthorized("account no longer exists")),
    }
}

fn token_response(
    st: &AppState,
    account_id: &AccountId,
    session_id: SessionId,
    refresh_token: fdt_api::RefreshToken,
    now: OffsetDateTime,
) -> Result<Response, ApiError> {
    let access_token = st
        .access_tokens()
        .issue(account_id, &session_id, now)
        .map_err(|e| ApiError::internal("access token signing failure", &e))?;
    let body = TokenResponse {
        access_token,
        token_type: TokenType::Bearer,
        expires_in: st.access_tokens().ttl_secs(),
        refresh_token,
        refresh_expires_in: u64::try_from(st.refresh_ttl().whole_seconds()).unwrap_or(0),
        session_id,
    };
    Ok(no_store(Json(body).into_response()))
}
