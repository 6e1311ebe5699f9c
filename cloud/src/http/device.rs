//! `/v1/device/*`: OAuth 2.0 device authorization (RFC 8628) for `fdt login` and the desktop
//! app. The device asks for a code pair (`code`), shows the user code and polls (`token`);
//! a signed-in user approves or denies the code in the console (`approve`, or the console's
//! `/device` form); the approved poll gets a new authtoken of that user's account, once.
//!
//! Codes expire after [`CODE_TTL_SECS`]; polls faster than the interval get `slow_down` and
//! a longer interval; new codes, decisions, lookups of a pending code (`pending`, which shows
//! the approver which device asks) and polls with unknown codes are rate limited per client
//! address. The device
//! code is stored hashed; the user code (34.6 bits, minutes long) is only useful to a
//! signed-in user, who could only attach the device to their own account with it.

use super::authtokens;
use super::extract::{ApiJson, Authenticated, Client, ClientIp};
use super::no_store;
use crate::error::ApiError;
use crate::random::{random_base62, secret_hash};
use crate::state::AppState;
use crate::store::{DevicePoll, NewDeviceCode};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fdt_api::device::{
    MAX_CLIENT_NAME, USER_CODE_ALPHABET, USER_CODE_LEN, display_user_code, normalize_user_code,
};
use fdt_api::{
    AccountId, DeviceCodeRequest, DeviceCodeResponse, DeviceDecision, DevicePending,
    DevicePendingQuery, DevicePollError, DevicePollErrorBody, DeviceTokenRequest,
};
use rand::Rng;

/// How long a code pair lives.
pub const CODE_TTL_SECS: u64 = 600;
/// Seconds a device waits between polls, at first.
pub const INTERVAL_SECS: u64 = 5;
/// The console page where codes are approved.
pub const VERIFY_PATH: &str = "/device";
/// Prefix of device codes.
const DEVICE_CODE_PREFIX: &str = "fdd_";
/// User codes drawn before giving up on finding a free one (a collision is rare: 20^8 codes).
const USER_CODE_DRAWS: usize = 5;

/// `POST /v1/device/code` → a code pair and where to approve it.
pub async fn code(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DeviceCodeRequest>,
) -> Result<Response, ApiError> {
    let client_name = client_name(req.client_name.as_deref())?;
    let now = st.clock().now();
    count_attempt(&st, ip, now).await?;
    let device_code = format!("{DEVICE_CODE_PREFIX}{}", random_base62(43));
    let device_hash = secret_hash(&device_code);
    let expires_at = now + time::Duration::seconds(CODE_TTL_SECS.cast_signed());
    let mut user_code = None;
    for _ in 0..USER_CODE_DRAWS {
        let candidate = new_user_code();
        let stored = st
            .store()
            .create_device_code(NewDeviceCode {
                device_hash: &device_hash,
                user_code: &candidate,
                client_name: &client_name,
                created_at: now,
                expires_at,
                interval_secs: INTERVAL_SECS,
            })
            .await?;
        if stored {
            user_code = Some(candidate);
            break;
        }
    }
    let user_code = user_code.ok_or_else(|| {
        ApiError::internal("device code", &"no free user code after several draws")
    })?;
    let base = console_base(&st, &headers);
    let shown = display_user_code(&user_code);
    let body = DeviceCodeResponse {
        device_code,
        verification_uri: format!("{base}{VERIFY_PATH}"),
        verification_uri_complete: format!("{base}{VERIFY_PATH}?code={shown}"),
        user_code: shown,
        expires_in: CODE_TTL_SECS,
        interval: INTERVAL_SECS,
    };
    tracing::info!(client = %client_name, "device sign-in started");
    Ok(no_store(Json(body).into_response()))
}

/// `POST /v1/device/token` → 200 with a new authtoken once approved, else 400 with
/// `authorization_pending`, `slow_down`, `access_denied` or `expired_token`.
pub async fn token(
    State(st): State<AppState>,
    client: Client,
    ApiJson(req): ApiJson<DeviceTokenRequest>,
) -> Result<Response, ApiError> {
    let hash = secret_hash(&req.device_code);
    let now = st.clock().now();
    let poll = st.store().poll_device_code(&hash, now).await?;
    if poll == DevicePoll::Expired {
        // Unknown or spent codes count against the address like new codes and decisions:
        // a client cycling through made-up codes is slowed down (a real device sees this
        // once, when its code expires).
        count_attempt(&st, client.ip, now).await?;
    }
    let error = match poll {
        DevicePoll::Approved {
            account_id,
            approved_by,
            client_name,
        } => {
            let description = format!("fdt login on {client_name}");
            let created =
                authtokens::issue(&st, &client, &account_id, &approved_by, Some(&description))
                    .await?;
            tracing::info!(account = %account_id, client = %client_name, "device signed in");
            return Ok(no_store(Json(created).into_response()));
        }
        DevicePoll::Pending => DevicePollError::AuthorizationPending,
        DevicePoll::SlowDown => DevicePollError::SlowDown,
        DevicePoll::Denied => DevicePollError::AccessDenied,
        DevicePoll::Expired => DevicePollError::ExpiredToken,
    };
    let body = DevicePollErrorBody {
        error,
        error_description: None,
    };
    Ok(no_store(
        (StatusCode::BAD_REQUEST, Json(body)).into_response(),
    ))
}

/// `GET /v1/device/pending?user_code=…` → the device waiting for that code; 404 when none
/// is. Counted with decisions per client address, so it cannot be used to scan codes.
pub async fn pending(
    State(st): State<AppState>,
    _who: Authenticated,
    ClientIp(ip): ClientIp,
    query: Result<Query<DevicePendingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DevicePending>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::InvalidBody(e.body_text()))?;
    let now = st.clock().now();
    count_attempt(&st, ip, now).await?;
    let code = normalize_user_code(&q.user_code).ok_or(ApiError::NotFound)?;
    let (client_name, created_at, expires_at) = st
        .store()
        .device_code_pending(&code, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(DevicePending {
        client_name,
        created_at,
        expires_at,
    }))
}

/// `POST /v1/device/approve` → 204 once the caller approved or denied the code; 404 when
/// there is no such pending code.
pub async fn approve(
    State(st): State<AppState>,
    who: Authenticated,
    client: Client,
    ApiJson(req): ApiJson<DeviceDecision>,
) -> Result<StatusCode, ApiError> {
    decide(
        &st,
        (&who.account_id, &who.person),
        &client,
        &req.user_code,
        req.approve,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approves or denies `typed` (a user code as typed) for `(account, person)`: the account the
/// sign-in is for and the person deciding (the API's and the console form's decision).
/// [`ApiError::NotFound`] when no pending code matches.
pub(crate) async fn decide(
    st: &AppState,
    (account, person): (&AccountId, &AccountId),
    client: &Client,
    typed: &str,
    approve: bool,
) -> Result<(), ApiError> {
    let now = st.clock().now();
    // Counted before the lookup, so guessing codes is bounded per address.
    count_attempt(st, client.ip, now).await?;
    let code = normalize_user_code(typed).ok_or(ApiError::NotFound)?;
    let approver = approve.then_some((account, person));
    if !st.store().decide_device_code(&code, approver, now).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(%account, %person, approve, "device sign-in decided");
    let (acc, by) = (account.to_string(), person.to_string());
    let a = crate::audit::Action {
        scope: &acc,
        actor: &by,
        action: if approve {
            "device.approve"
        } else {
            "device.deny"
        },
        target: &code,
        detail: serde_json::json!({}),
    };
    crate::audit::action(st, client, a).await?;
    Ok(())
}

/// Counts a new code or a decision against the client address; 429 past the limit.
async fn count_attempt(
    st: &AppState,
    ip: Option<std::net::IpAddr>,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    st.device_limiter()
        .attempt(ip, now)
        .await
        .inspect_err(|e| tracing::warn!(?ip, error = %e, "device sign-in refused"))?;
    Ok(())
}

/// A fresh user code: [`USER_CODE_LEN`] letters of [`USER_CODE_ALPHABET`].
fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())]))
        .collect()
}

/// The device's name: trimmed, at most [`MAX_CLIENT_NAME`] characters, printable ASCII
/// (it ends up in an authtoken's description and in logs); `device` when absent.
fn client_name(given: Option<&str>) -> Result<String, ApiError> {
    let name = given
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("device");
    if name.len() > MAX_CLIENT_NAME || !name.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(ApiError::InvalidBody(format!(
            "client_name: up to {MAX_CLIENT_NAME} printable ASCII characters"
        )));
    }
    Ok(name.to_owned())
}

/// Where people reach the console: `console.public_url` when set, else this request's
/// `Host` (https when the console's cookies are marked secure).
pub(crate) fn console_base(st: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &st.console().public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
        .unwrap_or("localhost");
    let scheme = if st.console().secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_and_client_names() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(normalize_user_code(&c).as_deref(), Some(c.as_str()));
        }
        assert_eq!(client_name(None).ok().as_deref(), Some("device"));
        assert_eq!(
            client_name(Some("  laptop ")).ok().as_deref(),
            Some("laptop")
        );
        assert!(client_name(Some(&"x".repeat(65))).is_err());
        assert!(client_name(Some("bad\nname")).is_err());
        assert!(client_name(Some("naïve")).is_err());
    }
}
