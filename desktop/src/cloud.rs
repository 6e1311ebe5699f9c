//! The control plane, seen from the desktop: checking a pasted authtoken, signing in with an
//! email (which mints an authtoken for this computer), and answering the window's `/v1` calls
//! as the signed-in account (for plan and usage), refreshing the API session when it expires.

use crate::secrets::Credentials;
use fdt_agent_core::CloudLogin;
use fdt_agent_core::cloud::{ExchangeError, Exchanger, http_client};
use fdt_api::{
    AccessToken, ClientError, CreateAuthtokenRequest, FdtClient, LoginRequest, Password,
    RefreshToken,
};
use fdt_desktop_ipc::{ApiAnswer, ApiCall, DesktopError, ErrorKind};

/// Largest body the window may send through `cloud_api`.
const MAX_CALL_BODY: usize = 256 * 1024;

/// Checks a pasted authtoken by exchanging it once, as an agent would.
pub async fn check_authtoken(login: &CloudLogin) -> Result<(), DesktopError> {
    let ex = Exchanger::new(login).map_err(|e| exchange_error(e, &login.api_url))?;
    ex.exchange()
        .await
        .map(|_| ())
        .map_err(|e| exchange_error(e, &login.api_url))
}

fn exchange_error(e: ExchangeError, api_url: &str) -> DesktopError {
    match e {
        ExchangeError::Refused(_) => DesktopError::new(
            ErrorKind::Refused,
            "The control plane refused this authtoken: check that it was copied whole and is not revoked.",
        ),
        ExchangeError::Rejected(m) => DesktopError::new(
            ErrorKind::InvalidInput,
            format!("The control plane at {api_url} rejected the request: {m}."),
        ),
        ExchangeError::Unavailable(m) => DesktopError::new(
            ErrorKind::Unreachable,
            format!("Cannot reach the control plane at {api_url}: {m}."),
        ),
        ExchangeError::Setup(m) => DesktopError::new(
            ErrorKind::InvalidInput,
            format!("Control plane URL {api_url:?} cannot be used: {m}."),
        ),
    }
}

/// A client for `api_url`.
pub fn client(api_url: &str) -> Result<FdtClient, DesktopError> {
    let http = http_client().map_err(|e| DesktopError::new(ErrorKind::Internal, e.to_string()))?;
    FdtClient::with_http_client(api_url, http).map_err(|_| {
        DesktopError::new(
            ErrorKind::InvalidInput,
            format!("Control plane URL {api_url:?} is not an http(s) URL."),
        )
    })
}

/// Words for a failed API call.
fn client_error(e: ClientError, api_url: &str, refused: &str) -> DesktopError {
    match e {
        ClientError::Api { status: 401, .. } => DesktopError::new(ErrorKind::Refused, refused),
        ClientError::Api { status, body } if status < 500 => DesktopError::new(
            if status == 403 {
                ErrorKind::Refused
            } else {
                ErrorKind::InvalidInput
            },
            sentence(&body.error.message),
        ),
        ClientError::InvalidBaseUrl(u) => DesktopError::new(
            ErrorKind::InvalidInput,
            format!("Control plane URL {u:?} is not an http(s) URL."),
        ),
        other => DesktopError::new(
            ErrorKind::Unreachable,
            format!("Cannot reach the control plane at {api_url}: {other}."),
        ),
    }
}

fn sentence(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if let Some(f) = out.get(..1) {
        out = f.to_uppercase() + &out[1..];
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Signs in with email and password, then creates an authtoken named after this computer.
/// Returns the credentials to keep and the API session's access token.
pub async fn sign_in_password(
    api_url: &str,
    email: &str,
    password: &str,
) -> Result<(Credentials, AccessToken), DesktopError> {
    let email = email.trim();
    if email.is_empty() || password.is_empty() {
        return Err(DesktopError::new(
            ErrorKind::InvalidInput,
            "Enter your email and password.",
        ));
    }
    let anon = client(api_url)?;
    let tokens = anon
        .login(&LoginRequest {
            email: email.to_string(),
            password: Password::new(password),
        })
        .await
        .map_err(|e| client_error(e, api_url, "Wrong email or password."))?;
    let authed = anon.with_access_token(tokens.access_token.clone());
    let created = authed
        .create_authtoken(&CreateAuthtokenRequest {
            description: Some(format!("Desktop app on {}", host_name())),
        })
        .await
        .map_err(|e| client_error(e, api_url, "The new session was refused."))?;
    Ok((
        Credentials {
            authtoken: created.token.expose_secret().to_string(),
            email: Some(email.to_string()),
            refresh_token: Some(tokens.refresh_token.expose_secret().to_string()),
        },
        tokens.access_token,
    ))
}

/// This computer's name, for the authtoken's description.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this computer".into())
        .chars()
        .take(60)
        .collect()
}

/// Trades a refresh token for a new access token (and a rotated refresh token).
pub async fn refresh(
    api_url: &str,
    refresh_token: &str,
) -> Result<(AccessToken, String), DesktopError> {
    let tokens = client(api_url)?
        .refresh(&RefreshToken::new(refresh_token))
        .await
        .map_err(|e| {
            client_error(
                e,
                api_url,
                "Your session ended; sign in with your email again to see plan and usage.",
            )
        })?;
    Ok((
        tokens.access_token,
        tokens.refresh_token.expose_secret().to_string(),
    ))
}

/// Checks a window call: a `/v1/` path without tricks, a known method, a bounded body.
pub fn check_call(call: &ApiCall) -> Result<reqwest::Method, DesktopError> {
    let bad = |m: &str| DesktopError::new(ErrorKind::InvalidInput, m.to_string());
    if !call.path.starts_with("/v1/")
        || call.path.contains("..")
        || call.path.contains("//")
        || call.path.contains('#')
        || call.path.chars().any(|c| c.is_control() || c == '\\')
    {
        return Err(bad("Only /v1/ paths of the control plane can be called."));
    }
    if call.body.as_ref().is_some_and(|b| b.len() > MAX_CALL_BODY) {
        return Err(bad("The request body is too large."));
    }
    crate::local_api::http_method(&call.method).ok_or_else(|| bad("Unknown HTTP method."))
}

/// Largest answer read for the window (JSON pages are far smaller).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// One answer of the control plane, read whole.
#[derive(Debug)]
pub struct Fetched {
    /// Its status.
    pub status: u16,
    /// Its `Content-Disposition`, when it names a file.
    pub disposition: Option<String>,
    /// Its body.
    pub body: Vec<u8>,
}

/// Sends one window call to the control plane with `access` as bearer. `Ok(None)` when the
/// access token was refused (the caller refreshes and retries once).
pub async fn call(
    api_url: &str,
    access: &AccessToken,
    call: &ApiCall,
    org: Option<&str>,
) -> Result<Option<ApiAnswer>, DesktopError> {
    let answer = fetch(api_url, access, call, org, "application/json", MAX_ANSWER).await?;
    Ok(answer.map(|f| ApiAnswer {
        status: f.status,
        body: String::from_utf8_lossy(&f.body).into_owned(),
    }))
}

/// As [`call`], for a file of at most `max` bytes of type `accept` (an invoice's PDF).
pub async fn fetch(
    api_url: &str,
    access: &AccessToken,
    call: &ApiCall,
    org: Option<&str>,
    accept: &str,
    max: usize,
) -> Result<Option<Fetched>, DesktopError> {
    let method = check_call(call)?;
    let http = http_client().map_err(|e| DesktopError::new(ErrorKind::Internal, e.to_string()))?;
    let url = format!("{}{}", api_url.trim_end_matches('/'), call.path);
    let mut rb = http
        .request(method, &url)
        .bearer_auth(access.expose_secret())
        .header("accept", accept);
    if let Some(org) = org {
        rb = rb.header("x-fdt-org", org);
    }
    if let Some(body) = &call.body {
        rb = rb
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let mut resp = rb.send().await.map_err(|e| {
        DesktopError::new(
            ErrorKind::Unreachable,
            format!("Cannot reach the control plane at {api_url}: {e}."),
        )
    })?;
    let status = resp.status().as_u16();
    if status == 401 {
        return Ok(None);
    }
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cut = |e: String| {
        DesktopError::new(
            ErrorKind::Unreachable,
            format!("The control plane's answer was cut off: {e}."),
        )
    };
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| cut(e.to_string()))? {
        if body.len() + chunk.len() > max {
            return Err(DesktopError::new(
                ErrorKind::Internal,
                format!("The control plane's answer is larger than {max} bytes."),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(Fetched {
        status,
        disposition,
        body,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn get(path: &str) -> ApiCall {
        ApiCall {
            method: "GET".into(),
            path: path.into(),
            body: None,
        }
    }

    #[test]
    fn only_plain_v1_paths_pass() {
        assert!(check_call(&get("/v1/usage")).is_ok());
        assert!(check_call(&get("/v1/requests?limit=5")).is_ok());
        for bad in [
            "/admin",
            "v1/usage",
            "/v1/../admin",
            "//evil.example/v1/",
            "/v1/x\r\nHost: evil",
            "/v1/a\\b",
        ] {
            let e = check_call(&get(bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{bad}");
        }
        let mut big = get("/v1/tunnels");
        big.method = "POST".into();
        big.body = Some("x".repeat(MAX_CALL_BODY + 1));
        assert!(check_call(&big).is_err());
        let mut odd = get("/v1/tunnels");
        odd.method = "TRACE".into();
        assert!(check_call(&odd).is_err());
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("email is taken"), "Email is taken.");
        assert_eq!(sentence("Done."), "Done.");
    }
}
