//! [`ApiError`]: every way a `/v1` request can fail, each with one status code and one stable
//! error code, rendered as the JSON error body of [`fdt_api::ErrorBody`].
//!
//! Server-side failures become [`ApiError::Internal`]: the detail is logged where it is
//! converted, and the client reads only "an internal error occurred" — never database text.

use crate::auth::password::{BUSY_RETRY_AFTER_SECS, PasswordError};
use crate::store::StoreError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fdt_api::validate::ValidationError;
use fdt_api::{ErrorBody, ErrorCode};

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// The JSON does not fit: unknown field, missing field, wrong type.
    #[error("{0}")]
    InvalidBody(String),
    /// No `Content-Type: application/json`.
    #[error("expected a request with Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body exceeds the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A field's value breaks a rule.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// One field's value breaks a rule (the path names it: `definition.addr`).
    #[error("{field}: {message}")]
    InvalidField {
        /// Path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// One field's value is malformed (400 rather than 422: the value can never be right,
    /// whatever the state; the path names the field).
    #[error("{field}: {message}")]
    BadField {
        /// Path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Missing, malformed, expired or revoked access token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Wrong email or password.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The refresh token cannot be used.
    #[error("refresh token is not valid; log in again")]
    InvalidRefreshToken,
    /// No such resource for this caller.
    #[error("not found")]
    NotFound,
    /// Known path, wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Email already registered.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Too many attempts.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the client may retry (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// Every password-hashing slot stayed taken: the server is busy, not the client at fault.
    #[error("the server is busy; retry in {retry_after_secs} s")]
    Busy {
        /// Seconds until the client may retry (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// No relay can take the agent.
    #[error("no relay is available; retry later")]
    NoRelayAvailable,
    /// The database cannot be reached (down, restarting, every connection busy): nothing was
    /// done, and the same request may succeed shortly.
    #[error("the service is temporarily unavailable; retry in {retry_after_secs} s")]
    Unavailable {
        /// Seconds until the client may retry (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// A live tunnel holds the name.
    #[error("{0}")]
    NameInUse(String),
    /// Another account reserved the name.
    #[error("{0}")]
    NameReserved(String),
    /// A plan limit was hit.
    #[error("{message}")]
    LimitExceeded {
        /// The limit's name (`online_tunnels`, …).
        limit: &'static str,
        /// What to tell the person.
        message: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The account is suspended.
    #[error("this account is suspended; contact support")]
    AccountSuspended,
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// Nothing left to allocate (all reservable ports taken).
    #[error("{0}")]
    Exhausted(String),
    /// A payment provider (or another service the request needed) refused or could not be
    /// reached; the message says which and what it answered.
    #[error("{0}")]
    Upstream(String),
    /// A server-side failure, already logged.
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    /// Logs `detail` as the cause of a server-side failure and returns [`ApiError::Internal`].
    pub fn internal(context: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "{context}");
        Self::Internal
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::InvalidBody(_) | Self::BadField { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) | Self::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) | Self::InvalidCredentials | Self::InvalidRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::RateLimited { .. } | Self::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NoRelayAvailable | Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::NameInUse(_) | Self::NameReserved(_) | Self::Exhausted(_) | Self::Conflict(_) => {
                StatusCode::CONFLICT
            }
            Self::LimitExceeded { .. } | Self::Forbidden(_) | Self::AccountSuspended => {
                StatusCode::FORBIDDEN
            }
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::InvalidBody(_) => ErrorCode::InvalidBody,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::Validation(_) | Self::InvalidField { .. } | Self::BadField { .. } => {
                ErrorCode::ValidationFailed
            }
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::EmailTaken => ErrorCode::EmailTaken,
            // No code of its own: to a client both mean "wait, then retry".
            Self::RateLimited { .. } | Self::Busy { .. } => ErrorCode::RateLimited,
            Self::NoRelayAvailable => ErrorCode::NoRelayAvailable,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::NameInUse(_) => ErrorCode::NameInUse,
            Self::NameReserved(_) => ErrorCode::NameReserved,
            Self::LimitExceeded { .. } => ErrorCode::LimitExceeded,
            Self::Exhausted(_) => ErrorCode::Exhausted,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::AccountSuspended => ErrorCode::AccountSuspended,
            Self::Upstream(_) => ErrorCode::Upstream,
            Self::Internal => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = ErrorBody::new(self.code(), self.to_string());
        match &self {
            Self::LimitExceeded { limit, .. } => body.error.limit = Some((*limit).to_owned()),
            Self::InvalidField { field, .. } | Self::BadField { field, .. } => {
                body.error.field = Some(field.clone())
            }
            _ => {}
        }
        let mut resp = (self.status(), Json(body)).into_response();
        let headers = resp.headers_mut();
        match &self {
            Self::RateLimited { retry_after_secs }
            | Self::Busy { retry_after_secs }
            | Self::Unavailable { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // RFC 6750: a 401 for a bearer-protected resource names the scheme.
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        resp
    }
}

/// `Retry-After` when the database cannot be reached: about how long a pool takes to find a
/// restarted server again.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => Self::EmailTaken,
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable: request refused with 503");
                Self::Unavailable {
                    retry_after_secs: UNAVAILABLE_RETRY_AFTER_SECS,
                }
            }
            other => Self::internal("storage failure", &other),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => {
                tracing::warn!("password hashing saturated: request refused");
                Self::Busy {
                    retry_after_secs: BUSY_RETRY_AFTER_SECS,
                }
            }
            other => Self::internal("password hashing failure", &other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => Self::InvalidJson(e.body_text()),
            JsonRejection::JsonDataError(e) => Self::InvalidBody(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge
            }
            // Other body failures are the client's connection breaking off mid-body.
            other => Self::InvalidBody(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A path segment that does not even decode names nothing we have.
        Self::NotFound
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn body_of(resp: Response) -> serde_json::Value {
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let e = ApiError::from(StoreError::Corrupt("SELECT secret FROM x".into()));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(resp).await;
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "internal", "message": "an internal error occurred"}})
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_is_503_with_retry_after() {
        let e = ApiError::from(StoreError::Database(sqlx::Error::PoolTimedOut));
        let resp = e.into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        assert_eq!(body_of(resp).await["error"]["code"], "unavailable");
        // A failing statement is still the server's fault, not an outage.
        let e = ApiError::from(StoreError::Database(sqlx::Error::RowNotFound));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn busy_hashing_is_429_with_retry_after() {
        let resp = ApiError::from(PasswordError::Busy).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers()[header::RETRY_AFTER],
            BUSY_RETRY_AFTER_SECS.to_string().as_str()
        );
        assert_eq!(body_of(resp).await["error"]["code"], "rate_limited");
    }

    #[tokio::test]
    async fn rate_limited_carries_retry_after() {
        let resp = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        assert_eq!(body_of(resp).await["error"]["code"], "rate_limited");
    }
}
