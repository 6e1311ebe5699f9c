//! `[domains]`: custom domains, their verification and certificates (ACME challenges, the
//! DNS-01 provider), and the clusters whose certificate events are accepted.

use crate::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Custom domains and their certificates (`[domains]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainsConfig {
    /// Zone under which each domain gets its own CNAME target (`<random>.<random>.<zone>`). It
    /// must resolve to the relays (a wildcard record), and is never itself a tunnel's name.
    pub cname_zone: String,
    /// The base domain tunnels are named under: custom domains inside it are refused.
    pub base_domain: String,
    /// DNS servers (`ip:port`) asked for TXT records; empty: the system's resolver.
    pub nameservers: Vec<std::net::SocketAddr>,
    /// First wait between checks of a pending domain; doubled per miss up to an hour.
    pub pending_check_secs: u64,
    /// Wait between re-checks of a verified domain.
    pub recheck_secs: u64,
    /// Misses in a row after which a verified domain is no longer served.
    pub lost_after_misses: u32,
    /// How often the worker looks for due checks and certificate orders.
    pub worker_interval_secs: u64,
    /// File with the 32-byte key (hex) that seals certificate private keys at rest; created in
    /// the data directory when unset.
    pub key_file: Option<PathBuf>,
    /// ACME directory URL; none: no certificates are ordered (uploads only).
    pub acme_directory: Option<String>,
    /// Contact for the ACME account (`mailto:…`).
    pub acme_contact: Option<String>,
    /// Extra PEM roots trusted for the ACME directory (a test CA such as pebble's).
    pub acme_roots: Option<PathBuf>,
    /// How relays prove control for non-wildcard names: `http-01` (port 80) or
    /// `tls-alpn-01` (port 443, for relays without a public port 80).
    pub acme_challenge: AcmeChallenge,
    /// Clusters whose certificate events (`POST /v1/cert-events`) are accepted, each with the
    /// keys its events may be signed with; events of any other cluster are refused.
    pub clusters: Vec<EventCluster>,
    /// A DNS provider for ACME DNS-01 (`[domains.dns01]`): wildcards need it.
    pub dns01: Option<Dns01Config>,
}

/// ACME DNS-01 through a DNS provider's API (`[domains.dns01]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns01Config {
    /// The provider: `cloudflare` (API v4).
    pub provider: Dns01Provider,
    /// The API's base URL (https; plain http only on loopback, for a local test server).
    #[serde(default = "cloudflare_api")]
    pub api_base: String,
    /// API token allowed to edit the zones' DNS records.
    pub api_token: Secret<String>,
    /// Use DNS-01 for every order, not only wildcards.
    #[serde(default)]
    pub for_all: bool,
    /// Seconds to wait after placing the records before the CA is asked to look (the
    /// provider's name servers must have them).
    #[serde(default = "propagation_secs")]
    pub propagation_secs: u64,
}

fn propagation_secs() -> u64 {
    10
}

fn cloudflare_api() -> String {
    "https://api.cloudflare.com/client/v4".into()
}

/// DNS providers with an API the control plane speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dns01Provider {
    /// Cloudflare's API v4.
    Cloudflare,
}

/// The ACME challenge relays answer for non-wildcard names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AcmeChallenge {
    /// A file under `/.well-known/acme-challenge/` on the HTTP port.
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A challenge certificate on the HTTPS port for ALPN `acme-tls/1` (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl AcmeChallenge {
    /// The name stored with a pending answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http01 => "http-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// A cluster that sends certificate events (`[[domains.clusters]]`): its relays report the
/// certificate versions they install, its certificate managers what they issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCluster {
    /// Its name (`[A-Za-z0-9._-]{1,64}`), sent in `fdt-event-cluster`; relays use their region.
    pub name: String,
    /// HMAC keys, each at least 32 characters; any of them may sign (a key rolls by adding the
    /// new one, moving the senders, then removing the old one).
    pub keys: Vec<Secret<String>>,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            cname_zone: "cname.localhost".into(),
            base_domain: "localhost".into(),
            nameservers: Vec::new(),
            pending_check_secs: 30,
            recheck_secs: 6 * 3600,
            lost_after_misses: 3,
            worker_interval_secs: 10,
            key_file: None,
            acme_directory: None,
            acme_contact: None,
            acme_roots: None,
            acme_challenge: AcmeChallenge::default(),
            clusters: Vec::new(),
            dns01: None,
        }
    }
}
