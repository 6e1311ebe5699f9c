//! `/v1/domains`: custom domains an account proves it controls (a TXT record) and routes to one
//! of its names, and the relays' view of them (`/v1/relay/domains`).

use crate::ids::{DomainId, ReservedNameId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most bytes a domain name may have (RFC 1035's 255 on the wire, less the length octets).
pub const MAX_DOMAIN_BYTES: usize = 253;
/// Most bytes one label may have (RFC 1035).
pub const MAX_LABEL_BYTES: usize = 63;
/// Name of the TXT record that proves control, prefixed to the domain (its parent for a
/// wildcard).
pub const CHALLENGE_LABEL: &str = "_fdt-challenge";
/// Most bytes of a redirect URL in a failure policy.
pub const MAX_REDIRECT_BYTES: usize = 2048;

/// Where the relay terminates TLS for a domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum DomainMode {
    /// The relay holds the certificate and serves HTTP to an `http` tunnel.
    #[default]
    Terminate,
    /// The relay routes on SNI and passes the TLS bytes to a `tls` tunnel's own server.
    Passthrough,
}

impl DomainMode {
    /// The name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminate => "terminate",
            Self::Passthrough => "passthrough",
        }
    }

    /// Parses [`DomainMode::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Terminate, Self::Passthrough]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Which of the account's names a domain serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DomainRoute {
    /// One of the account's reserved subdomains (and whichever of its tunnels holds it).
    ReservedName(ReservedNameId),
    /// A subdomain the account's tunnels bind (`myapp` for `myapp.<base domain>`); the relay
    /// serves it only while the tunnel on it is the account's.
    Subdomain(String),
}

/// What visitors see while the domain's tunnel is offline (or it has no route).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailurePolicy {
    /// The relay's own "tunnel offline" page (502).
    #[default]
    ErrorPage,
    /// An empty answer with this status (400–599).
    Status {
        /// The status code.
        status: u16,
    },
    /// A `302` to this `https://` or `http://` URL.
    Redirect {
        /// Where to send visitors.
        url: String,
    },
}

/// `POST /v1/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    /// `app.example.com`, or `*.example.com` for every name one label under it.
    pub domain: String,
    /// Where TLS ends (default `terminate`).
    #[serde(default)]
    pub mode: DomainMode,
    /// The name it serves; none until set.
    #[serde(default)]
    pub route: Option<DomainRoute>,
    /// What visitors see while that name is offline.
    #[serde(default)]
    pub failure: FailurePolicy,
}

/// `PATCH /v1/domains/{id}`: fields left out keep their value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDomain {
    /// New mode.
    #[serde(default)]
    pub mode: Option<DomainMode>,
    /// New route; `null` is "leave as is" (send the route to change it).
    #[serde(default)]
    pub route: Option<DomainRoute>,
    /// New failure policy.
    #[serde(default)]
    pub failure: Option<FailurePolicy>,
}

/// Whether the account has proven control of the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    /// The TXT record has not been seen yet; checked again with backoff.
    Pending,
    /// The TXT record carries this domain's token: the relays serve it.
    Verified,
    /// It was verified, but the record has gone for several checks: no longer served.
    Lost,
}

/// A DNS record the owner must create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DnsRecord {
    /// `TXT` or `CNAME`.
    pub kind: String,
    /// Fully qualified name of the record.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The certificate a relay serves for a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertificateInfo {
    /// Increases with every new certificate of the domain.
    pub version: i64,
    /// `acme` or `upload`.
    pub source: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub not_after: OffsetDateTime,
    /// When the next renewal is due.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub renew_after: OffsetDateTime,
}

/// A custom domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Domain {
    /// ID.
    pub id: DomainId,
    /// The name, lower case (`*.example.com` for a wildcard).
    pub domain: String,
    /// Where TLS ends.
    pub mode: DomainMode,
    /// The name it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<DomainRoute>,
    /// What visitors see while it is offline.
    pub failure: FailurePolicy,
    /// Verification state.
    pub state: VerificationState,
    /// The TXT record that proves control (`_fdt-challenge.<domain>`).
    pub txt: DnsRecord,
    /// The CNAME to point the domain at: unique to this domain, never the shared base domain.
    pub cname: DnsRecord,
    /// Why the last check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was verified.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub verified_at: Option<OffsetDateTime>,
    /// When DNS is read next.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub next_check_at: OffsetDateTime,
    /// The certificate served (terminate mode), once issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    /// Why the last certificate order failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_error: Option<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub created_at: OffsetDateTime,
}

/// `GET /v1/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainList {
    /// The caller's domains, oldest first.
    pub domains: Vec<Domain>,
}

/// One verified domain as relays route it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayDomain {
    /// ID (to fetch its certificate).
    pub id: DomainId,
    /// The name, lower case; `*.example.com` covers one label under `example.com`.
    pub domain: String,
    /// The owning account: the tunnel serving it must be this account's.
    pub account: crate::AccountId,
    /// Where TLS ends.
    pub mode: DomainMode,
    /// The subdomain (under the relay's base domain) it serves, if routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What visitors see while it is offline.
    pub failure: FailurePolicy,
    /// Version of its certificate (terminate mode), if one is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_version: Option<i64>,
}

/// `GET /v1/relay/domains`: every verified domain, with a version that changes whenever any
/// of them does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayDomains {
    /// Changes whenever the set does.
    pub version: i64,
    /// The relay already has `version` (it sent `?known=version`): `domains` is empty and the
    /// relay keeps what it has.
    #[serde(default)]
    pub unchanged: bool,
    /// The domains.
    pub domains: Vec<RelayDomain>,
}

/// `GET /v1/relay/domains?known=<version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RelayDomainsQuery {
    /// The version the relay has; when it is current, the answer says `unchanged`.
    #[serde(default)]
    pub known: Option<i64>,
}

/// `GET /v1/relay/domains/{id}/certificate`: the certificate and key a relay installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RelayCertificate {
    /// Version (matches [`RelayDomain::cert_version`]).
    pub version: i64,
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key (PKCS#8).
    pub key_pem: String,
}

/// `GET /v1/relay/acme-challenge/{token}`: the key authorization a relay answers an ACME
/// HTTP-01 request with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AcmeHttpChallenge {
    /// The domain it was issued for (the relay checks the request's Host).
    pub domain: String,
    /// The body to answer with.
    pub key_authorization: String,
}

/// `GET /v1/relay/acme-tls-alpn/{domain}`: the certificate a relay presents to the CA for
/// ALPN `acme-tls/1` (RFC 8737).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AcmeTlsAlpnCertificate {
    /// The self-signed challenge certificate.
    pub chain_pem: String,
    /// Its key (made for this one answer).
    pub key_pem: String,
}

/// Something that happened to a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub at: OffsetDateTime,
    /// `verified`, `lost`, `issued`, `renewed`, `uploaded` or `failed`.
    pub kind: String,
    /// Details (the certificate version and expiry, or why it failed).
    pub detail: String,
}

/// `GET /v1/domains/{id}/events`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainEventList {
    /// The events.
    pub events: Vec<DomainEvent>,
}

/// Something wrong with a domain that its owner should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainIncident {
    /// Number (for ack and resolve).
    pub id: i64,
    /// `renewal_failed`, `expiring` (under 7 days left, or expired) or `validation_lost`.
    pub kind: String,
    /// What was seen.
    pub detail: String,
    /// When it was opened.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub opened_at: OffsetDateTime,
    /// When it was acknowledged.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub acked_at: Option<OffsetDateTime>,
    /// Who acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    /// When it was resolved (by the owner, or because its cause went away).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub resolved_at: Option<OffsetDateTime>,
}

/// `GET /v1/domains/{id}/incidents`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainIncidentList {
    /// The incidents.
    pub incidents: Vec<DomainIncident>,
}

/// `GET /v1/admin/domains?q&limit`: query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AdminDomainQuery {
    /// Part of the domain name to look for.
    #[serde(default)]
    pub q: Option<String>,
    /// Most rows (1–500, default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A domain as operators see it: any account's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminDomain {
    /// The owning account.
    pub account: crate::AccountId,
    /// Incidents open now.
    pub open_incidents: i64,
    /// The domain.
    pub domain: Domain,
}

/// `GET /v1/admin/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdminDomainList {
    /// Domains, by name.
    pub domains: Vec<AdminDomain>,
}

/// `PUT /v1/domains/{id}/certificate`: a certificate the owner brings (instead of ACME).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadCertificate {
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key of the leaf.
    pub key_pem: String,
}

pub mod cert_event;
mod name;

pub use name::{
    DomainNameError, challenge_name, challenge_value, domain_matches, normalize_domain,
};
