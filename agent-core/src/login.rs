//! `fdt login`: device sign-in (OAuth 2.0 device authorization, RFC 8628) against the control
//! plane, as `gh auth login` and `cloudflared login` do it. The agent asks for a code pair,
//! shows the user code and the console page where a signed-in user approves it, and polls
//! until then; the answer is a new authtoken of that user's account, saved by the caller.
//!
//! Polling follows the server: the interval it gives, 5 s more after each `slow_down`, and
//! the code's lifetime. An unreachable server or a 5xx is retried until the code expires; any
//! other 4xx ends the login at once (retrying cannot fix it).

use crate::cloud::{ExchangeError, http_client};
use fdt_api::{
    ClientError, CreatedAuthtoken, DeviceCodeRequest, DeviceCodeResponse, DevicePollError,
    FdtClient,
};
use std::path::Path;
use std::time::Duration;

/// Longest wait between polls, whatever the server says (a hostile or broken server must not
/// park the command for hours).
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a login waits for approval, whatever the server says.
const MAX_WAIT: Duration = Duration::from_secs(30 * 60);

/// Why a login ended without an authtoken.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The HTTP client could not be built.
    #[error("{0}")]
    Setup(String),
    /// The user denied the sign-in in the console.
    #[error("the sign-in was denied in the console")]
    Denied,
    /// Nobody approved the code in time.
    #[error("the code expired before it was approved; run `fdt login` again")]
    Expired,
    /// The control plane refused the request (a 4xx other than the device flow's own
    /// answers), or kept failing until the code expired.
    #[error("the control plane refused the sign-in: {0}")]
    Api(#[source] ClientError),
}

impl From<ExchangeError> for LoginError {
    fn from(e: ExchangeError) -> Self {
        Self::Setup(e.to_string())
    }
}

/// Whether a failed call may succeed later: no answer, a 5xx, or 429.
fn is_transient(e: &ClientError) -> bool {
    match e.status() {
        None => matches!(e, ClientError::Transport(_)),
        Some(s) => s >= 500 || s == 429,
    }
}

/// Signs in at `api_url` as device `client_name`: calls `show` with the code pair once, then
/// polls until the code is approved (the new authtoken), denied or expired.
pub async fn login(
    api_url: &str,
    client_name: &str,
    show: impl FnOnce(&DeviceCodeResponse),
) -> Result<CreatedAuthtoken, LoginError> {
    let client = FdtClient::with_http_client(api_url, http_client()?).map_err(LoginError::Api)?;
    let code = client
        .device_code(&DeviceCodeRequest {
            client_name: Some(client_name.to_owned()),
        })
        .await
        .map_err(LoginError::Api)?;
    show(&code);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in).min(MAX_WAIT);
    let mut interval = Duration::from_secs(code.interval.max(1)).min(MAX_INTERVAL);
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() >= deadline {
            return Err(LoginError::Expired);
        }
        match client.device_token(&code.device_code).await {
            Ok(Ok(created)) => return Ok(created),
            Ok(Err(DevicePollError::AuthorizationPending)) => {}
            Ok(Err(DevicePollError::SlowDown)) => {
                interval = (interval + Duration::from_secs(5)).min(MAX_INTERVAL);
            }
            Ok(Err(DevicePollError::AccessDenied)) => return Err(LoginError::Denied),
            Ok(Err(DevicePollError::ExpiredToken)) => return Err(LoginError::Expired),
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "polling the control plane failed; retrying");
            }
            Err(e) => return Err(LoginError::Api(e)),
        }
    }
}

/// `fdt login`: signs this machine in at `api_url` (else the config file's `api_url`),
/// printing the code and (with `browser`) opening the approval page, then saves the new
/// authtoken and the API URL in the config file at `config`.
pub async fn run(api_url: Option<&str>, config: &Path, browser: bool) -> Result<(), LoginRunError> {
    let file = if config.exists() {
        crate::config::ConfigFile::load(config)?
    } else {
        crate::config::ConfigFile::default()
    };
    let api_url = api_url
        .map(str::to_owned)
        .or(file.api_url)
        .ok_or(LoginRunError::NoApiUrl)?;
    let name = machine_name();
    let created = login(&api_url, &name, |code| {
        println!(
            "To sign in this machine ({name}), open {} and enter the code {}",
            code.verification_uri, code.user_code
        );
        println!("or open {}", code.verification_uri_complete);
        if browser {
            open_browser(&code.verification_uri_complete);
        }
        println!("Waiting for approval...");
    })
    .await?;
    crate::config_edit::set_values(
        config,
        &[
            ("authtoken", created.token.expose_secret()),
            ("api_url", &api_url),
        ],
    )?;
    println!(
        "Signed in. Authtoken {}... saved to {}",
        created.info.prefix,
        config.display()
    );
    Ok(())
}

/// Why `fdt login` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginRunError {
    /// No control plane to sign in at.
    #[error(
        "no control plane to sign in at: pass --api-url URL (or set api_url in the config file)"
    )]
    NoApiUrl,
    /// The existing config file cannot be read.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The sign-in itself.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// Saving the authtoken.
    #[error("signed in, but the authtoken could not be saved: {0}")]
    Save(#[from] crate::config_edit::ConfigEditError),
}

/// Opens `url` in the desktop's browser, if there is a desktop; failures are ignored (the
/// URL is printed anyway).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        "xdg-open"
    } else {
        return;
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        tracing::debug!(error = %e, opener, "could not open a browser");
    }
}

/// This machine's name, for the authtoken's description: the kernel's host name, else
/// `$HOSTNAME`, else `fdt`; printable ASCII, at most 64 characters.
pub fn machine_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(fdt_api::device::MAX_CLIENT_NAME)
        .collect();
    if name.is_empty() { "fdt".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_are_bounded_and_printable() {
        let n = machine_name();
        assert!(
            !n.is_empty() && n.len() <= fdt_api::device::MAX_CLIENT_NAME,
            "{n:?}"
        );
        assert!(
            n.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
            "{n:?}"
        );
    }

    #[test]
    fn only_unanswered_5xx_and_429_are_retried() {
        let status = |s: u16| ClientError::UnexpectedStatus {
            status: s,
            body: String::new(),
        };
        assert!(is_transient(&status(502)));
        assert!(is_transient(&status(429)));
        assert!(!is_transient(&status(400)));
        assert!(!is_transient(&status(404)));
        assert!(!is_transient(&ClientError::InvalidBaseUrl("x".into())));
    }
}
