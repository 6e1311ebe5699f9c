//! Certificate events from other clusters (`POST /v1/cert-events`): relays reporting the
//! certificate version they installed, certificate managers reporting issues, renewals,
//! failures, expiries and revocations.
//!
//! The body is JSON ([`CertEvent`]). Its provenance travels in headers: the cluster, the source
//! inside it, a Unix timestamp, and `v1=<hex HMAC-SHA256>` over
//! `v1:<cluster>:<source>:<timestamp>:<raw body>` under the cluster's key. Cluster and source
//! are restricted to `[A-Za-z0-9._-]{1,64}`, so the `:`-joined prefix cannot be read two ways.
//! The receiver refuses an unknown cluster, a timestamp more than [`TOLERANCE_SECS`] away from
//! its clock, or a signature no key of the cluster makes. Sans-IO: signing and checking only.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Header naming the cluster whose key signed the event.
pub const CLUSTER_HEADER: &str = "fdt-event-cluster";
/// Header naming the component inside the cluster (a relay ID, a certificate manager).
pub const SOURCE_HEADER: &str = "fdt-event-source";
/// Header with the Unix time (seconds) the event was signed at.
pub const TIMESTAMP_HEADER: &str = "fdt-event-timestamp";
/// Header with `v1=<hex>` signatures (several, comma-separated, while a key rolls).
pub const SIGNATURE_HEADER: &str = "fdt-event-signature";
/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Largest gap between the signing time and the receiver's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// Most bytes of an event ID.
pub const MAX_ID_BYTES: usize = 64;
/// Most bytes of an event's detail.
pub const MAX_DETAIL_BYTES: usize = 512;
/// Most bytes of a cluster or source name.
pub const MAX_LABEL_BYTES: usize = 64;

/// What happened to a domain's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CertEventKind {
    /// A relay put `version` in service.
    Installed,
    /// A certificate was issued.
    Issued,
    /// A certificate was renewed.
    Renewed,
    /// Issuing or renewing failed.
    Failed,
    /// The certificate in service expires soon.
    Expiring,
    /// Certificate `version` was revoked.
    Revoked,
}

impl CertEventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Issued => "issued",
            Self::Renewed => "renewed",
            Self::Failed => "failed",
            Self::Expiring => "expiring",
            Self::Revoked => "revoked",
        }
    }
}

/// The signed body of a certificate event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CertEvent {
    /// Unique per cluster (1–64 bytes): a second event with the same ID is a duplicate.
    pub id: String,
    /// The domain (as created).
    pub domain: String,
    /// The domain's ID, when the sender knows it (relays do): the event is refused unless that
    /// row is the verified one, so a report about a deleted and re-created domain cannot land
    /// on the new owner's row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<crate::DomainId>,
    /// What happened.
    pub kind: CertEventKind,
    /// The certificate version it is about (required for `installed` and `revoked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Free text, at most 512 bytes.
    #[serde(default)]
    pub detail: String,
}

/// Where an event comes from and when it was signed: the headers' content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The cluster whose key signed it.
    pub cluster: String,
    /// The component inside the cluster.
    pub source: String,
    /// Unix seconds at signing.
    pub timestamp: i64,
}

/// Why an event's provenance is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProvenanceError {
    /// A header is missing or malformed.
    #[error("missing or malformed provenance header {0}")]
    Malformed(&'static str),
    /// The cluster has no key here.
    #[error("unknown cluster")]
    UnknownCluster,
    /// Signed too long ago (or too far ahead).
    #[error("timestamp outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    /// No signature matches.
    #[error("bad signature")]
    BadSignature,
}

impl ProvenanceError {
    /// A short stable name (for counters and error bodies).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownCluster => "unknown_cluster",
            Self::Stale => "stale",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// Whether `s` may be a cluster or source name.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Provenance {
    /// Reads the three header values; `None` for a missing header.
    pub fn parse(
        cluster: Option<&str>,
        source: Option<&str>,
        timestamp: Option<&str>,
    ) -> Result<Self, ProvenanceError> {
        let cluster = cluster
            .filter(|c| is_label(c))
            .ok_or(ProvenanceError::Malformed(CLUSTER_HEADER))?;
        let source = source
            .filter(|s| is_label(s))
            .ok_or(ProvenanceError::Malformed(SOURCE_HEADER))?;
        let timestamp = timestamp
            .filter(|t| !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or(ProvenanceError::Malformed(TIMESTAMP_HEADER))?;
        Ok(Self {
            cluster: cluster.to_owned(),
            source: source.to_owned(),
            timestamp,
        })
    }

    fn mac(&self, key: &[u8], body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(format!("v1:{}:{}:{}:", self.cluster, self.source, self.timestamp).as_bytes());
        mac.update(body);
        mac
    }

    /// The signature header's value for `body` under `key`: `v1=<hex>`.
    pub fn sign(&self, key: &[u8], body: &[u8]) -> String {
        let tag = self.mac(key, body).finalize().into_bytes();
        format!("v1={}", crate::hex::encode(&tag))
    }

    /// Whether the timestamp is within [`TOLERANCE_SECS`] of `now` (Unix seconds).
    pub fn is_fresh(&self, now: i64) -> bool {
        (now - self.timestamp).abs() <= TOLERANCE_SECS
    }

    /// Whether some `v1=` signature in `header` is the HMAC of `body` under one of `keys`
    /// (compared in constant time).
    pub fn verify<K: AsRef<[u8]>>(&self, keys: &[K], body: &[u8], header: &str) -> bool {
        // A header of a few signatures is plenty; more is noise or an attempt to make us work.
        let tags: Vec<Vec<u8>> = header
            .split(',')
            .take(4)
            .filter_map(|p| p.trim().strip_prefix("v1="))
            .filter_map(crate::hex::decode_sha256)
            .collect();
        keys.iter().any(|key| {
            tags.iter()
                .any(|tag| self.mac(key.as_ref(), body).verify_slice(tag).is_ok())
        })
    }
}

impl CertEvent {
    /// Checks lengths and that `installed` and `revoked` carry a version; the error names the
    /// field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.id.is_empty() || self.id.len() > MAX_ID_BYTES || !is_label(&self.id) {
            return Err(("id", format!("1–{MAX_ID_BYTES} of [A-Za-z0-9._-]")));
        }
        if self.domain.is_empty() || self.domain.len() > super::MAX_DOMAIN_BYTES {
            return Err(("domain", format!("1–{} bytes", super::MAX_DOMAIN_BYTES)));
        }
        if self.detail.len() > MAX_DETAIL_BYTES {
            return Err(("detail", format!("at most {MAX_DETAIL_BYTES} bytes")));
        }
        let needs_version = matches!(self.kind, CertEventKind::Installed | CertEventKind::Revoked);
        match self.version {
            Some(v) if v < 1 => Err(("version", "at least 1".into())),
            None if needs_version => Err(("version", "required for this kind".into())),
            _ => Ok(()),
        }
    }
}

/// `POST /v1/cert-events` → 200: what became of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertEventReceipt {
    /// Its number here (the first delivery's, for a duplicate).
    pub id: Option<i64>,
    /// Whether the cluster had already sent an event with this ID (nothing was done again).
    pub duplicate: bool,
    /// What applying it did (`replica_updated`, `incident_opened`, …).
    pub outcome: String,
}

/// A received certificate event, with its provenance, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StoredCertEvent {
    /// Number (for replay).
    pub id: i64,
    /// The cluster whose key signed it.
    pub cluster: String,
    /// The component inside the cluster.
    pub source: String,
    /// Its own ID.
    pub event_id: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub signed_at: time::OffsetDateTime,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub received_at: time::OffsetDateTime,
    /// The domain row it was matched to (none once that domain is deleted).
    pub domain_id: Option<crate::DomainId>,
    /// The domain's name.
    pub domain: String,
    /// What happened.
    pub kind: String,
    /// The certificate version it is about.
    pub version: Option<i64>,
    /// What applying it (last) did.
    pub outcome: String,
    /// Times an operator replayed it.
    pub replays: i64,
}

/// `GET /v1/admin/cert-events`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertEventList {
    /// The events.
    pub events: Vec<StoredCertEvent>,
}

/// `GET /v1/admin/cert-events?domain_id&limit`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CertEventQuery {
    /// Only this domain's events.
    #[serde(default)]
    pub domain_id: Option<crate::DomainId>,
    /// Most rows (1–500, default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/admin/cert-events/refusals`: events refused by this control-plane process since it
/// started, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertEventRefusals {
    /// Provenance headers missing or malformed.
    pub malformed: u64,
    /// A cluster with no key here.
    pub unknown_cluster: u64,
    /// A timestamp outside the tolerance (a replayed or delayed event).
    pub stale: u64,
    /// No key of the cluster makes the signature.
    pub bad_signature: u64,
    /// Signed correctly, but about a domain that is not verified here (or not that row).
    pub unknown_domain: u64,
}

/// One relay's copy of a domain's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertReplica {
    /// Its cluster (region).
    pub cluster: String,
    /// The relay.
    pub source: String,
    /// The version it has in service.
    pub version: i64,
    /// When it reported that.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::date_time"))]
    pub installed_at: time::OffsetDateTime,
    /// Whether that is the newest version.
    pub current: bool,
}

/// `GET /v1/domains/{id}/replication`: where the domain's certificate is in service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DomainReplication {
    /// The newest certificate version (none: no certificate yet).
    pub certificate_version: Option<i64>,
    /// Relays that reported a version, by cluster and relay.
    pub replicas: Vec<CertReplica>,
    /// Clusters where every reporting relay has the newest version.
    pub current_clusters: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn prov() -> Provenance {
        Provenance::parse(Some("eu"), Some("relay-eu-1"), Some("1765000000")).unwrap()
    }

    #[test]
    fn a_signature_verifies_under_its_key_only() {
        let p = prov();
        let body = br#"{"id":"e1","domain":"app.example.com","kind":"issued"}"#;
        let sig = p.sign(b"cluster key one", body);
        assert!(p.verify(&[b"cluster key one"], body, &sig));
        assert!(!p.verify(&[b"cluster key two"], body, &sig));
        // Any key of the cluster, any signature in the header (keys roll).
        let both = format!("v1={},{sig}", "00".repeat(32));
        assert!(p.verify(&[&b"other"[..], &b"cluster key one"[..]], body, &both));
        // The body, the source, the cluster and the time are all covered.
        assert!(!p.verify(&[b"cluster key one"], b"{}", &sig));
        for changed in [
            Provenance {
                source: "relay-eu-2".into(),
                ..p.clone()
            },
            Provenance {
                cluster: "us".into(),
                ..p.clone()
            },
            Provenance {
                timestamp: p.timestamp + 1,
                ..p.clone()
            },
        ] {
            assert!(!changed.verify(&[b"cluster key one"], body, &sig));
        }
        for bad in ["", "v1=", "v2=00", "v1=zz", &sig[..sig.len() - 1]] {
            assert!(!p.verify(&[b"cluster key one"], body, bad), "{bad}");
        }
    }

    #[test]
    fn a_known_answer() {
        // HMAC-SHA256(key "key", "v1:eu:relay-eu-1:1765000000:{}"), computed with
        // `printf 'v1:eu:relay-eu-1:1765000000:{}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            prov().sign(b"key", b"{}"),
            "v1=42d7155ada97654143696b8f9392d23e2d8b84fc41c988ffaf3c59eded5e70c6"
        );
    }

    #[test]
    fn freshness_and_header_shapes() {
        let p = prov();
        assert!(p.is_fresh(p.timestamp + TOLERANCE_SECS));
        assert!(p.is_fresh(p.timestamp - TOLERANCE_SECS));
        assert!(!p.is_fresh(p.timestamp + TOLERANCE_SECS + 1));
        assert!(!p.is_fresh(p.timestamp - TOLERANCE_SECS - 1));
        let e = |c, s, t| Provenance::parse(c, s, t).unwrap_err();
        assert_eq!(
            e(None, Some("a"), Some("1")),
            ProvenanceError::Malformed(CLUSTER_HEADER)
        );
        assert_eq!(
            e(Some("a:b"), Some("a"), Some("1")),
            ProvenanceError::Malformed(CLUSTER_HEADER)
        );
        assert_eq!(
            e(Some("a"), Some(""), Some("1")),
            ProvenanceError::Malformed(SOURCE_HEADER)
        );
        let long = "a".repeat(65);
        assert_eq!(
            e(Some("a"), Some(&long), Some("1")),
            ProvenanceError::Malformed(SOURCE_HEADER)
        );
        for t in ["-1", "1.5", "", "9999999999999", "１"] {
            assert_eq!(
                e(Some("a"), Some("b"), Some(t)),
                ProvenanceError::Malformed(TIMESTAMP_HEADER),
                "{t}"
            );
        }
    }

    #[test]
    fn events_are_checked_field_by_field() {
        let ok = CertEvent {
            id: "e1".into(),
            domain: "app.example.com".into(),
            domain_id: None,
            kind: CertEventKind::Installed,
            version: Some(1),
            detail: String::new(),
        };
        assert!(ok.check().is_ok());
        let field = |e: CertEvent| e.check().unwrap_err().0;
        assert_eq!(
            field(CertEvent {
                version: None,
                ..ok.clone()
            }),
            "version"
        );
        assert_eq!(
            field(CertEvent {
                version: Some(0),
                ..ok.clone()
            }),
            "version"
        );
        assert_eq!(
            field(CertEvent {
                id: "é".into(),
                ..ok.clone()
            }),
            "id"
        );
        assert_eq!(
            field(CertEvent {
                domain: "a".repeat(254),
                ..ok.clone()
            }),
            "domain"
        );
        assert_eq!(
            field(CertEvent {
                detail: "é".repeat(257),
                ..ok.clone()
            }),
            "detail"
        );
        let issued = CertEvent {
            kind: CertEventKind::Issued,
            version: None,
            ..ok
        };
        assert!(issued.check().is_ok());
    }
}
