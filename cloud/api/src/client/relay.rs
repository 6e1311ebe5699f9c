//! The calls relays make to the control plane, authenticated by a relay secret (not by the
//! client's access token), and the signed certificate events they send.

use super::{ClientError, FdtClient};
use crate::domains::cert_event::{
    CLUSTER_HEADER, CertEvent, CertEventReceipt, Provenance, SIGNATURE_HEADER, SOURCE_HEADER,
    TIMESTAMP_HEADER,
};
use crate::relays::{
    BindingGranted, BindingRequest, Placement, PlacementChanges, PlacementChangesQuery,
    PlacementQuery, RelayHeartbeat, RelayHeartbeatAck, RevocationList,
};
use crate::traffic::{TrafficAck, TrafficBatch};
use reqwest::Method;

impl FdtClient {
    /// `GET /v1/relay/placement`: the healthy relays holding the name `query` names now.
    /// Authenticated by a relay secret.
    pub async fn relay_placement(
        &self,
        relay_secret: &str,
        query: &PlacementQuery,
    ) -> Result<Placement, ClientError> {
        let rb = self
            .request_as::<()>(Method::GET, "v1/relay/placement", None, Some(relay_secret))?
            .query(query);
        self.decode(rb).await
    }

    /// `GET /v1/relay/placement/changes`: the names bound since `query.after`, waiting up
    /// to `query.wait_secs` for one (this request's own timeout is that wait plus 10 s).
    /// Authenticated by a relay secret.
    pub async fn relay_placement_changes(
        &self,
        relay_secret: &str,
        query: &PlacementChangesQuery,
    ) -> Result<PlacementChanges, ClientError> {
        let wait = query
            .wait_secs
            .unwrap_or(crate::relays::MAX_PLACEMENT_WAIT_SECS)
            .min(crate::relays::MAX_PLACEMENT_WAIT_SECS);
        let query = PlacementChangesQuery {
            wait_secs: Some(wait),
            ..query.clone()
        };
        let path = "v1/relay/placement/changes";
        let rb = self
            .request_as::<()>(Method::GET, path, None, Some(relay_secret))?
            .query(&query)
            .timeout(std::time::Duration::from_secs(wait + 10));
        self.decode(rb).await
    }

    /// `GET /v1/relay/revocations?after=<after>`: authtokens revoked after the cursor.
    /// Authenticated by a relay secret, not by this client's access token.
    pub async fn relay_revocations(
        &self,
        relay_secret: &str,
        after: i64,
    ) -> Result<RevocationList, ClientError> {
        let path = format!("v1/relay/revocations?after={after}");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/tunnel-configs?account_id=…`: an account's cloud-managed tunnel
    /// definitions and their version. Authenticated by a relay secret.
    pub async fn relay_tunnel_configs(
        &self,
        relay_secret: &str,
        account: &crate::AccountId,
    ) -> Result<crate::RelayTunnelConfigs, ClientError> {
        // An account ID is a prefix and base62: nothing to escape in a query.
        let path = format!("v1/relay/tunnel-configs?account_id={account}");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/tunnel-config-changes?after=<cursor>`: accounts whose definitions
    /// changed after the cursor. Authenticated by a relay secret.
    pub async fn relay_tunnel_config_changes(
        &self,
        relay_secret: &str,
        after: i64,
    ) -> Result<crate::TunnelConfigChanges, ClientError> {
        let path = format!("v1/relay/tunnel-config-changes?after={after}");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/domains[?known=<version>]`: every verified custom domain, or
    /// `unchanged` when `known` is current. Authenticated by a relay secret.
    pub async fn relay_domains(
        &self,
        relay_secret: &str,
        known: Option<i64>,
    ) -> Result<crate::RelayDomains, ClientError> {
        let path = match known {
            Some(v) => format!("v1/relay/domains?known={v}"),
            None => "v1/relay/domains".to_owned(),
        };
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/domains/{id}/certificate`: a verified domain's newest certificate and
    /// key. Authenticated by a relay secret.
    pub async fn relay_domain_certificate(
        &self,
        relay_secret: &str,
        id: &crate::DomainId,
    ) -> Result<crate::RelayCertificate, ClientError> {
        let path = format!("v1/relay/domains/{id}/certificate");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/acme-challenge/{token}`: the answer to a pending ACME HTTP-01 challenge.
    /// The caller passes a token of base64url characters only. Authenticated by a relay secret.
    pub async fn relay_acme_challenge(
        &self,
        relay_secret: &str,
        token: &str,
    ) -> Result<crate::AcmeHttpChallenge, ClientError> {
        let path = format!("v1/relay/acme-challenge/{token}");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `POST /v1/relay/bindings`: asks whether an agent may bind a name on this relay.
    /// Authenticated by a relay secret.
    pub async fn relay_binding(
        &self,
        relay_secret: &str,
        req: &BindingRequest,
    ) -> Result<BindingGranted, ClientError> {
        let rb = self.request_as(
            Method::POST,
            "v1/relay/bindings",
            Some(req),
            Some(relay_secret),
        )?;
        self.decode(rb).await
    }

    /// `POST /v1/relay/heartbeat`: registers the relay and reports its load and lists.
    /// Authenticated by a relay secret.
    pub async fn relay_heartbeat(
        &self,
        relay_secret: &str,
        hb: &RelayHeartbeat,
    ) -> Result<RelayHeartbeatAck, ClientError> {
        let rb = self.request_as(
            Method::POST,
            "v1/relay/heartbeat",
            Some(hb),
            Some(relay_secret),
        )?;
        self.decode(rb).await
    }

    /// `POST /v1/relay/requests`: ships a batch of traffic-log records. Authenticated by a
    /// relay secret.
    pub async fn relay_requests(
        &self,
        relay_secret: &str,
        batch: &TrafficBatch,
    ) -> Result<TrafficAck, ClientError> {
        let rb = self.request_as(
            Method::POST,
            "v1/relay/requests",
            Some(batch),
            Some(relay_secret),
        )?;
        self.decode(rb).await
    }

    /// `GET /v1/relay/acme-tls-alpn/{domain}`: the challenge certificate for a pending
    /// TLS-ALPN-01 challenge. The caller passes a checked DNS name. Authenticated by a relay
    /// secret.
    pub async fn relay_acme_tls_alpn(
        &self,
        relay_secret: &str,
        domain: &str,
    ) -> Result<crate::AcmeTlsAlpnCertificate, ClientError> {
        let path = format!("v1/relay/acme-tls-alpn/{domain}");
        let rb = self.request_as::<()>(Method::GET, &path, None, Some(relay_secret))?;
        self.decode(rb).await
    }

    /// `POST /v1/cert-events`: `event`, signed for `provenance` with the cluster's `key`.
    pub async fn send_cert_event(
        &self,
        provenance: &Provenance,
        key: &[u8],
        event: &CertEvent,
    ) -> Result<CertEventReceipt, ClientError> {
        let body = serde_json::to_vec(event)?;
        let signature = provenance.sign(key, &body);
        let rb = self
            .request_as::<()>(Method::POST, "v1/cert-events", None, None)?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(CLUSTER_HEADER, &provenance.cluster)
            .header(SOURCE_HEADER, &provenance.source)
            .header(TIMESTAMP_HEADER, provenance.timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        self.decode(rb).await
    }
}
