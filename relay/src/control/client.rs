//! The relay's one client of the control plane: `fdt-api`'s typed client, authenticated with
//! the relay secret, over the relay's one rustls client configuration (ring, web PKI roots),
//! with bounded answers and timeouts.

use crate::config::RelayConfig;
use fdt_api::{
    BindingGranted, BindingRequest, ClientError, FdtClient, RelayHeartbeat, RelayHeartbeatAck,
    RevocationList, TrafficAck, TrafficBatch,
};
use std::sync::Arc;
use std::time::Duration;

/// Largest answer the relay reads from the control plane.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Time allowed for one call to the control plane (an agent's bind may be waiting on it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The TLS configuration was refused.
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest could not build its client.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The control plane's URL is not usable.
    #[error("control plane URL: {0}")]
    Url(#[from] ClientError),
}

/// An HTTP client trusting the public web roots, with the ring provider set explicitly (so no
/// process-wide default is needed), and bounded timeouts. Every HTTP call the relay makes goes
/// through one of these.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientBuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()?)
}

/// True when sending the same body again must get the same answer: a 4xx other than 401 (a
/// relay secret being rotated), 408 and 429. Such a body is split, trimmed or dropped, never
/// resent as it is.
pub fn is_final(e: &ClientError) -> bool {
    e.status()
        .is_some_and(|s| (400..500).contains(&s) && !matches!(s, 401 | 408 | 429))
}

/// This relay as the control plane knows it, and the calls it makes there.
#[derive(Clone)]
pub struct ControlClient {
    api: FdtClient,
    secret: Arc<str>,
    relay_id: Arc<str>,
    region: Arc<str>,
    /// Random per process: the cloud tells a restarted relay from a resent heartbeat.
    boot_id: Arc<str>,
    /// The region's key for certificate events, when installs are reported.
    cert_event_key: Option<Arc<str>>,
}

impl ControlClient {
    /// A client for `cfg`'s control plane, or `None` when it has none.
    pub fn from_config(cfg: &RelayConfig) -> Result<Option<Self>, ClientBuildError> {
        let (Some(url), Some(secret)) = (&cfg.cloud_url, &cfg.relay_secret) else {
            return Ok(None);
        };
        let api = FdtClient::with_http_client(url, http_client(REQUEST_TIMEOUT)?)?
            .with_max_response_bytes(MAX_ANSWER_BYTES);
        let boot_id = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        Ok(Some(Self {
            api,
            secret: secret.expose().into(),
            relay_id: cfg.relay_id.as_str().into(),
            region: cfg.region.as_str().into(),
            boot_id: boot_id.into(),
            cert_event_key: cfg.cert_event_key.as_ref().map(|k| k.expose().into()),
        }))
    }

    /// This relay's ID.
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    /// The region this relay registers in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// This process's boot ID.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// `POST /v1/relay/bindings`.
    pub async fn bind(&self, req: &BindingRequest) -> Result<BindingGranted, ClientError> {
        self.api.relay_binding(&self.secret, req).await
    }

    /// `POST /v1/relay/heartbeat`.
    pub async fn heartbeat(&self, hb: &RelayHeartbeat) -> Result<RelayHeartbeatAck, ClientError> {
        self.api.relay_heartbeat(&self.secret, hb).await
    }

    /// `POST /v1/relay/requests`.
    pub async fn ship_traffic(&self, batch: &TrafficBatch) -> Result<TrafficAck, ClientError> {
        self.api.relay_requests(&self.secret, batch).await
    }

    /// `GET /v1/relay/tunnel-configs?account_id=<account>`.
    pub async fn tunnel_configs(
        &self,
        account: &fdt_api::AccountId,
    ) -> Result<fdt_api::RelayTunnelConfigs, ClientError> {
        self.api.relay_tunnel_configs(&self.secret, account).await
    }

    /// `GET /v1/relay/tunnel-config-changes?after=<after>`.
    pub async fn tunnel_config_changes(
        &self,
        after: i64,
    ) -> Result<fdt_api::TunnelConfigChanges, ClientError> {
        self.api
            .relay_tunnel_config_changes(&self.secret, after)
            .await
    }

    /// `GET /v1/relay/domains[?known=<version>]`.
    pub async fn domains(&self, known: Option<i64>) -> Result<fdt_api::RelayDomains, ClientError> {
        self.api.relay_domains(&self.secret, known).await
    }

    /// `GET /v1/relay/domains/{id}/certificate`.
    pub async fn domain_certificate(
        &self,
        id: &fdt_api::DomainId,
    ) -> Result<fdt_api::RelayCertificate, ClientError> {
        self.api.relay_domain_certificate(&self.secret, id).await
    }

    /// `GET /v1/relay/acme-challenge/{token}` (`token` already checked to be base64url).
    pub async fn acme_challenge(
        &self,
        token: &str,
    ) -> Result<fdt_api::AcmeHttpChallenge, ClientError> {
        self.api.relay_acme_challenge(&self.secret, token).await
    }

    /// `GET /v1/relay/acme-tls-alpn/{domain}` (`domain` already checked to be a DNS name).
    pub async fn acme_tls_alpn(
        &self,
        domain: &str,
    ) -> Result<fdt_api::AcmeTlsAlpnCertificate, ClientError> {
        self.api.relay_acme_tls_alpn(&self.secret, domain).await
    }

    /// Whether this relay reports the certificates it installs.
    pub fn reports_installs(&self) -> bool {
        self.cert_event_key.is_some()
    }

    /// `POST /v1/cert-events`: `event` signed as this relay (source) of its region (cluster)
    /// at `unix_now`; `None` when no `cert_event_key` is configured.
    pub async fn cert_event(
        &self,
        event: &fdt_api::CertEvent,
        unix_now: i64,
    ) -> Option<Result<fdt_api::CertEventReceipt, ClientError>> {
        let key = self.cert_event_key.as_deref()?;
        let provenance = fdt_api::domains::cert_event::Provenance {
            cluster: self.region.to_string(),
            source: self.relay_id.to_string(),
            timestamp: unix_now,
        };
        Some(
            self.api
                .send_cert_event(&provenance, key.as_bytes(), event)
                .await,
        )
    }

    /// `GET /v1/relay/placement` with `query` (its fields already checked).
    pub async fn placement(
        &self,
        query: &fdt_api::PlacementQuery,
    ) -> Result<fdt_api::Placement, ClientError> {
        self.api.relay_placement(&self.secret, query).await
    }

    /// `GET /v1/relay/placement/changes`: the names bound since `after` (waiting up to 25 s
    /// for one; without `after`, the cursor at once).
    pub async fn placement_changes(
        &self,
        after: Option<i64>,
    ) -> Result<fdt_api::PlacementChanges, ClientError> {
        let query = fdt_api::PlacementChangesQuery {
            after,
            wait_secs: None,
        };
        self.api.relay_placement_changes(&self.secret, &query).await
    }

    /// `GET /v1/relay/revocations?after=<after>`.
    pub async fn revocations(&self, after: i64) -> Result<RevocationList, ClientError> {
        self.api.relay_revocations(&self.secret, after).await
    }
}

impl std::fmt::Debug for ControlClient {
    // By hand so the relay secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("base", &self.api.base_url().as_str())
            .field("secret", &"***")
            .field("relay_id", &self.relay_id)
            .field("region", &self.region)
            .field("boot_id", &self.boot_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ControlClient {
        let cfg = RelayConfig {
            cloud_url: Some("http://127.0.0.1:9".into()),
            relay_secret: Some(crate::config::RelaySecret::new("s3cret-value")),
            ..RelayConfig::default()
        };
        ControlClient::from_config(&cfg)
            .ok()
            .flatten()
            .unwrap_or_else(|| unreachable!("a cloud config"))
    }

    #[test]
    fn only_final_client_errors_are_never_resent() {
        let status = |status| ClientError::UnexpectedStatus {
            status,
            body: String::new(),
        };
        assert!(is_final(&status(413)));
        assert!(is_final(&status(422)));
        assert!(is_final(&status(400)));
        assert!(!is_final(&status(401)));
        assert!(!is_final(&status(429)));
        assert!(!is_final(&status(503)));
        assert!(!is_final(&ClientError::TooLarge { limit: 1 }));
    }

    #[test]
    fn debug_never_prints_the_relay_secret() {
        assert!(!format!("{:?}", client()).contains("s3cret-value"));
    }
}
