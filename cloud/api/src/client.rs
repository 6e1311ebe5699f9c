//! A typed async client for the `/v1` API, over reqwest.
//!
//! On native targets reqwest uses rustls without a built-in crypto provider: the program must
//! install one once before building a client, e.g.
//! `rustls::crypto::ring::default_provider().install_default()`. On wasm32 it uses the
//! browser's `fetch`.

use crate::agent_sessions::{AgentSessionRequest, AgentSessionResponse};
use crate::auth::{
    AccessToken, Account, LoginRequest, RefreshRequest, RefreshToken, RegisterRequest,
    TokenResponse,
};
use crate::authtoken_format::Authtoken;
use crate::authtokens::{AuthtokenInfo, AuthtokenList, CreateAuthtokenRequest, CreatedAuthtoken};
use crate::device::{
    DeviceCodeRequest, DeviceCodeResponse, DeviceDecision, DevicePollError, DevicePollErrorBody,
    DeviceTokenRequest,
};
use crate::error::{ErrorBody, ErrorCode};
use crate::ids::AuthtokenId;
use crate::jwks::Jwks;
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(not(target_arch = "wasm32"))]
pub mod health;
mod relay;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL cannot be used (not absolute, or not http/https).
    #[error("invalid API base URL {0:?}")]
    InvalidBaseUrl(String),
    /// The request could not be sent or the response not read or decoded.
    #[error("request to the FDT API failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an error body.
    #[error("FDT API error {status} {}: {}", body.error.code, body.error.message)]
    Api {
        /// HTTP status code.
        status: u16,
        /// The decoded error body.
        body: ErrorBody,
    },
    /// The answer was larger than this client accepts (see
    /// [`FdtClient::with_max_response_bytes`]).
    #[error("answer from the FDT API larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The answer was not the JSON the endpoint documents.
    #[error("unreadable answer from the FDT API: {0}")]
    Decode(#[from] serde_json::Error),
    /// The server answered with an error status but no error body we understand (a proxy in
    /// the way, or a wrong base URL).
    #[error("unexpected HTTP {status} from the FDT API")]
    UnexpectedStatus {
        /// HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
}

impl ClientError {
    /// The API error code, when the server sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedStatus { status, .. } => Some(*status),
            Self::Transport(e) => e.status().map(|s| s.as_u16()),
            Self::InvalidBaseUrl(_) | Self::TooLarge { .. } | Self::Decode(_) => None,
        }
    }
}

/// A client for one FDT control plane, optionally acting with an access token.
///
/// Cloning is cheap (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct FdtClient {
    http: reqwest::Client,
    base: Url,
    access_token: Option<AccessToken>,
    max_response_bytes: usize,
}

/// Largest answer body read by default. The API's biggest answers (traffic log pages with
/// bodies) stay well under it; a broken or hostile server cannot make a client buffer more.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;

impl FdtClient {
    /// A client for the API at `base_url` (e.g. `https://api.example.com/`) with a default
    /// reqwest client.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::with_http_client(base_url, reqwest::Client::new())
    }

    /// A client for the API at `base_url` using a prepared reqwest client (custom roots,
    /// timeouts, proxies).
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self, ClientError> {
        let mut base =
            Url::parse(base_url).map_err(|_| ClientError::InvalidBaseUrl(base_url.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::InvalidBaseUrl(base_url.to_owned()));
        }
        // Url::join replaces the last path segment unless the path ends with '/', so
        // `https://host/prefix` would lose `prefix`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http,
            base,
            access_token: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// This client refusing answers larger than `limit` bytes ([`ClientError::TooLarge`]).
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// This client acting with `token` on endpoints that need a login.
    pub fn with_access_token(mut self, token: AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// Replaces (or clears) the access token, e.g. after a refresh.
    pub fn set_access_token(&mut self, token: Option<AccessToken>) {
        self.access_token = token;
    }

    /// The API base URL, always ending with `/`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /v1/auth/register`: creates an account.
    pub async fn register(&self, req: &RegisterRequest) -> Result<Account, ClientError> {
        self.send_json(Method::POST, "v1/auth/register", Some(req))
            .await
    }

    /// `POST /v1/auth/login`: exchanges email and password for a token pair.
    pub async fn login(&self, req: &LoginRequest) -> Result<TokenResponse, ClientError> {
        self.send_json(Method::POST, "v1/auth/login", Some(req))
            .await
    }

    /// `POST /v1/auth/refresh`: exchanges a refresh token for a new pair (the old one is spent).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ClientError> {
        let req = RefreshRequest {
            refresh_token: refresh_token.clone(),
        };
        self.send_json(Method::POST, "v1/auth/refresh", Some(&req))
            .await
    }

    /// `POST /v1/auth/logout`: ends the session the refresh token belongs to.
    pub async fn logout(&self, refresh_token: &RefreshToken) -> Result<(), ClientError> {
        let req = RefreshRequest {
            refresh_token: refresh_token.clone(),
        };
        self.send_empty(Method::POST, "v1/auth/logout", Some(&req))
            .await
    }

    /// `GET /v1/auth/me`: the account of the access token.
    pub async fn me(&self) -> Result<Account, ClientError> {
        self.send_json::<(), _>(Method::GET, "v1/auth/me", None)
            .await
    }

    /// `POST /v1/authtokens`: creates an authtoken; the answer holds the secret, once.
    pub async fn create_authtoken(
        &self,
        req: &CreateAuthtokenRequest,
    ) -> Result<CreatedAuthtoken, ClientError> {
        self.send_json(Method::POST, "v1/authtokens", Some(req))
            .await
    }

    /// `GET /v1/authtokens`: the account's live authtokens (display prefixes only).
    pub async fn list_authtokens(&self) -> Result<Vec<AuthtokenInfo>, ClientError> {
        let list: AuthtokenList = self
            .send_json::<(), _>(Method::GET, "v1/authtokens", None)
            .await?;
        Ok(list.authtokens)
    }

    /// `DELETE /v1/authtokens/{id}`: revokes an authtoken.
    pub async fn revoke_authtoken(&self, id: &AuthtokenId) -> Result<(), ClientError> {
        let path = format!("v1/authtokens/{id}");
        self.send_empty::<()>(Method::DELETE, &path, None).await
    }

    /// `POST /v1/agent/sessions`: exchanges an authtoken for a short-lived relay token and the
    /// relays to use it on. Authenticated by `authtoken`, not by this client's access token.
    pub async fn agent_session(
        &self,
        authtoken: &Authtoken,
        req: &AgentSessionRequest,
    ) -> Result<AgentSessionResponse, ClientError> {
        let rb = self.request_as(
            Method::POST,
            "v1/agent/sessions",
            Some(req),
            Some(authtoken.expose_secret()),
        )?;
        self.decode(rb).await
    }

    /// `POST /v1/device/code`: starts a device sign-in (RFC 8628).
    pub async fn device_code(
        &self,
        req: &DeviceCodeRequest,
    ) -> Result<DeviceCodeResponse, ClientError> {
        let rb = self.request_as(Method::POST, "v1/device/code", Some(req), None)?;
        self.decode(rb).await
    }

    /// `POST /v1/device/token`: one poll. `Ok(Err(e))` is the server's RFC 8628 answer that
    /// there is no token yet (or ever: `access_denied`, `expired_token`).
    pub async fn device_token(
        &self,
        device_code: &str,
    ) -> Result<Result<CreatedAuthtoken, DevicePollError>, ClientError> {
        let req = DeviceTokenRequest {
            device_code: device_code.to_owned(),
        };
        let rb = self.request_as(Method::POST, "v1/device/token", Some(&req), None)?;
        let resp = rb.send().await?;
        let status = resp.status();
        let body = read_capped(resp, self.max_response_bytes).await?;
        if status.is_success() {
            return Ok(Ok(serde_json::from_slice(&body)?));
        }
        if status == reqwest::StatusCode::BAD_REQUEST
            && let Ok(poll) = serde_json::from_slice::<DevicePollErrorBody>(&body)
        {
            return Ok(Err(poll.error));
        }
        Err(error_of(status, &body))
    }

    /// `POST /v1/device/approve`: approves or denies a user code for the signed-in account.
    pub async fn device_approve(&self, decision: &DeviceDecision) -> Result<(), ClientError> {
        self.send_empty(Method::POST, "v1/device/approve", Some(decision))
            .await
    }

    /// `GET /v1/jwks`: the public keys agent tokens are signed with.
    pub async fn jwks(&self) -> Result<Jwks, ClientError> {
        let rb = self.request_as::<()>(Method::GET, "v1/jwks", None, None)?;
        self.decode(rb).await
    }

    fn request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<RequestBuilder, ClientError> {
        let bearer = self.access_token.as_ref().map(|t| t.expose_secret());
        self.request_as(method, path, body, bearer)
    }

    fn request_as<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        bearer: Option<&str>,
    ) -> Result<RequestBuilder, ClientError> {
        // Paths are our own constants plus IDs, which are base62: joining cannot fail on them,
        // but report it rather than panic if it ever does.
        let url = self
            .base
            .join(path)
            .map_err(|_| ClientError::InvalidBaseUrl(self.base.to_string()))?;
        let mut rb = self.http.request(method, url);
        if let Some(token) = bearer {
            rb = rb.bearer_auth(token);
        }
        if let Some(body) = body {
            rb = rb.json(body);
        }
        Ok(rb)
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        self.decode(self.request(method, path, body)?).await
    }

    async fn send_empty<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        self.send_checked(self.request(method, path, body)?).await?;
        Ok(())
    }

    /// Sends `rb`; the answer's body (at most the client's limit) on a 2xx.
    async fn send_checked(&self, rb: RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let resp = rb.send().await?;
        let status = resp.status();
        let body = read_capped(resp, self.max_response_bytes).await?;
        if status.is_success() {
            return Ok(body);
        }
        Err(error_of(status, &body))
    }

    /// Sends `rb` and decodes a 2xx answer as `T`.
    async fn decode<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        let body = self.send_checked(rb).await?;
        Ok(serde_json::from_slice(&body)?)
    }
}

/// The error a non-2xx answer stands for: the API's error body, or its first 512 characters.
fn error_of(status: reqwest::StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            body,
        },
        Err(_) => ClientError::UnexpectedStatus {
            status: status.as_u16(),
            body: String::from_utf8_lossy(body).chars().take(512).collect(),
        },
    }
}

/// Reads a whole answer body, refusing one larger than `limit` bytes before buffering it.
pub async fn read_capped(resp: Response, limit: usize) -> Result<Vec<u8>, ClientError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ClientError::TooLarge { limit });
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut resp = resp;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(ClientError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
    // The browser's fetch hands the body over whole.
    #[cfg(target_arch = "wasm32")]
    {
        let body = resp.bytes().await?;
        if body.len() > limit {
            return Err(ClientError::TooLarge { limit });
        }
        Ok(body.to_vec())
    }
}
