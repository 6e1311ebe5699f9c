//! The control-plane path: before each connect the agent trades its authtoken for a
//! short-lived relay token and a ranked list of relays (`POST /v1/agent/sessions`).
//!
//! Relay tokens expire within minutes, so the exchange is repeated on every reconnect; the
//! authtoken itself never reaches a relay.

use crate::dial::RelayTarget;
use crate::version::AGENT_VERSION;
use fdt_api::{AgentSessionRequest, Authtoken, ClientError, FdtClient};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach the control plane.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudLogin {
    /// Base URL of the API (`https://api.example.com`).
    pub api_url: String,
    /// The account's authtoken (`fdt_…`).
    pub authtoken: String,
    /// Preferred relay region.
    pub region: Option<String>,
    /// Extra CA (PEM) trusted for the relays, e.g. a dev relay's CA.
    pub relay_ca: Option<PathBuf>,
}

impl std::fmt::Debug for CloudLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudLogin")
            .field("api_url", &self.api_url)
            .field("authtoken", &"***")
            .field("region", &self.region)
            .field("relay_ca", &self.relay_ca)
            .finish()
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The authtoken is malformed, or the cloud refused it (unknown or revoked); retrying
    /// cannot help.
    #[error("authtoken refused: {0}")]
    Refused(String),
    /// The cloud answered that this request cannot succeed as sent (4xx other than the
    /// authtoken's refusal: a region it does not know, an endpoint this cloud lacks); retrying
    /// the same request cannot help.
    #[error("the cloud rejected the agent's request: {0}")]
    Rejected(String),
    /// The cloud could not be reached or could not serve the exchange now; retry later.
    #[error("cannot get a relay token from the cloud: {0}")]
    Unavailable(String),
    /// The local set-up is unusable (bad API URL, TLS client).
    #[error("cloud client set-up: {0}")]
    Setup(String),
}

/// A relay token and where to use it. `Debug` hides the token.
#[derive(Clone)]
pub struct Exchanged {
    /// The relay token.
    pub token: String,
    /// Relays to try, best first.
    pub relays: Vec<RelayTarget>,
}

impl std::fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanged")
            .field("token", &"***")
            .field("relays", &self.relays)
            .finish()
    }
}

/// Performs exchanges for one authtoken against one control plane.
#[derive(Debug, Clone)]
pub struct Exchanger {
    client: FdtClient,
    authtoken: Authtoken,
    request: AgentSessionRequest,
    relay_ca: Option<PathBuf>,
}

impl Exchanger {
    /// Checks the authtoken's format offline and prepares the HTTP client.
    pub fn new(login: &CloudLogin) -> Result<Self, ExchangeError> {
        let authtoken = fdt_api::parse_authtoken(login.authtoken.trim())
            .map_err(|e| ExchangeError::Refused(e.to_string()))?;
        let client = FdtClient::with_http_client(&login.api_url, http_client()?)
            .map_err(|e| ExchangeError::Setup(e.to_string()))?;
        Ok(Self {
            client,
            authtoken,
            request: AgentSessionRequest {
                region: login.region.clone(),
                agent_version: Some(AGENT_VERSION.to_owned()),
            },
            relay_ca: login.relay_ca.clone(),
        })
    }

    /// Trades the authtoken for a relay token and relay list.
    pub async fn exchange(&self) -> Result<Exchanged, ExchangeError> {
        let resp = self
            .client
            .agent_session(&self.authtoken, &self.request)
            .await
            .map_err(classify)?;
        if resp.relays.is_empty() {
            return Err(ExchangeError::Unavailable(
                "the cloud listed no relay".into(),
            ));
        }
        let relays = resp
            .relays
            .into_iter()
            .map(|r| RelayTarget {
                addr: r.addr,
                server_name: Some(r.server_name),
                ca_file: self.relay_ca.clone(),
            })
            .collect();
        Ok(Exchanged {
            token: resp.token.expose_secret().to_owned(),
            relays,
        })
    }
}

/// 401 and 403 refuse the authtoken and other 4xx the request, both for good: retrying the
/// same request would be refused the same way, for ever. A timeout (408), a rate limit (429),
/// 5xx and network failures pass.
fn classify(e: ClientError) -> ExchangeError {
    match e.status() {
        Some(401 | 403) => ExchangeError::Refused(e.to_string()),
        Some(408 | 429) => ExchangeError::Unavailable(e.to_string()),
        Some(s) if (400..500).contains(&s) => ExchangeError::Rejected(e.to_string()),
        _ => ExchangeError::Unavailable(e.to_string()),
    }
}

/// A reqwest client on rustls with the ring provider chosen here, so the agent library works
/// without a process-wide default provider. The desktop app's control-plane calls use it too.
pub fn http_client() -> Result<reqwest::Client, ExchangeError> {
    let setup = |e: String| ExchangeError::Setup(e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| setup(e.to_string()))
}

#[cfg(test)]
mod tests;
