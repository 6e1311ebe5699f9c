//! Certificates of custom domains (newest two versions kept, keys sealed), the orders still
//! due, and the ACME state the orders need: pending HTTP-01 answers and the sealed account.

use super::domains::{BUMP_EPOCH, COLUMNS, DomainRow};
use super::{DomainRecord, Store, StoreError, from_millis, on_pool, to_millis};
use fdt_api::DomainId;
use time::OffsetDateTime;

/// Failed orders in a row after which a domain is not ordered for again until its owner
/// changes it or a certificate is uploaded (a CA that keeps refusing will not change its mind).
pub const MAX_CERT_FAILURES: i64 = 8;

/// A stored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Version.
    pub version: i64,
    /// `acme` or `upload`.
    pub source: String,
    /// PEM chain.
    pub chain_pem: String,
    /// The sealed private key.
    pub key_sealed: Vec<u8>,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// When to renew.
    pub renew_after: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct CertRow {
    version: i64,
    source: String,
    chain_pem: String,
    key_sealed: Vec<u8>,
    not_before: i64,
    not_after: i64,
    renew_after: i64,
}

impl TryFrom<CertRow> for CertificateRecord {
    type Error = StoreError;

    fn try_from(r: CertRow) -> Result<Self, StoreError> {
        Ok(Self {
            version: r.version,
            source: r.source,
            chain_pem: r.chain_pem,
            key_sealed: r.key_sealed,
            not_before: from_millis(r.not_before)?,
            not_after: from_millis(r.not_after)?,
            renew_after: from_millis(r.renew_after)?,
        })
    }
}

/// A certificate to store.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    /// `acme` or `upload`.
    pub source: &'a str,
    /// PEM chain.
    pub chain_pem: &'a str,
    /// Sealed key.
    pub key_sealed: &'a [u8],
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// When to renew.
    pub renew_after: OffsetDateTime,
}

impl Store {
    /// Stores a new certificate for domain `id` as its next version; clears its order errors.
    pub async fn insert_certificate(
        &self,
        id: &DomainId,
        c: &NewCertificate<'_>,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (next,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM domain_certificates WHERE domain_id = $1",
            )
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO domain_certificates (domain_id, version, source, chain_pem, key_sealed, \
                 not_before, not_after, renew_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_str())
            .bind(next)
            .bind(c.source)
            .bind(c.chain_pem)
            .bind(c.key_sealed)
            .bind(to_millis(c.not_before))
            .bind(to_millis(c.not_after))
            .bind(to_millis(c.renew_after))
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE domains SET cert_error = NULL, cert_failures = 0, cert_next_at = NULL WHERE id = $1",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            // Keep the two newest versions: the one relays serve and the one before it.
            sqlx::query("DELETE FROM domain_certificates WHERE domain_id = $1 AND version < $2 - 1")
                .bind(id.as_str())
                .bind(next)
                .execute(&mut *tx)
                .await?;
            sqlx::query(BUMP_EPOCH).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(next)
        })
    }

    /// The newest certificate of domain `id`.
    pub async fn latest_certificate(
        &self,
        id: &DomainId,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row: Option<CertRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT version, source, chain_pem, key_sealed, not_before, not_after, renew_after \
                 FROM domain_certificates WHERE domain_id = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(TryInto::try_into).transpose()
    }

    /// Verified `terminate` domains that need a certificate at `now`: none yet, or the newest
    /// is due for renewal, no failed order asked to wait past `now`, and fewer than
    /// [`MAX_CERT_FAILURES`] orders failed in a row. At most `limit`.
    pub async fn domains_needing_certificates(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<DomainRecord>, StoreError> {
        let cols = COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM domains d WHERE d.state = 'verified' AND d.mode = 'terminate' \
             AND (d.cert_next_at IS NULL OR d.cert_next_at <= $1) AND d.cert_failures < $3 \
             AND NOT EXISTS (SELECT 1 FROM domain_certificates c WHERE c.domain_id = d.id \
                             AND c.renew_after > $1 AND c.version = (SELECT MAX(version) \
                             FROM domain_certificates WHERE domain_id = d.id)) \
             ORDER BY d.id LIMIT $2"
        );
        let rows: Vec<DomainRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(to_millis(now)).bind(limit).bind(MAX_CERT_FAILURES).fetch_all(pool).await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Records a failed certificate order: the error shown to the owner, and when to try again.
    pub async fn record_certificate_failure(
        &self,
        id: &DomainId,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "UPDATE domains SET cert_error = $1, cert_failures = cert_failures + 1, \
                 cert_next_at = $2 WHERE id = $3",
            )
            .bind(error)
            .bind(to_millis(retry_at))
            .bind(id.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Stores the answer to an ACME challenge of `kind` (`http-01` or `tls-alpn-01`) for
    /// relays, until `expires_at`.
    pub async fn put_acme_challenge(
        &self,
        kind: &str,
        token: &str,
        domain: &str,
        key_authorization: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO acme_http_challenges (token, domain, key_authorization, expires_at, kind) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE SET domain = $2, \
                 key_authorization = $3, expires_at = $4, kind = $5",
            )
            .bind(token)
            .bind(domain)
            .bind(key_authorization)
            .bind(to_millis(expires_at))
            .bind(kind)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The key authorization of the newest unexpired TLS-ALPN-01 challenge of `domain`.
    pub async fn tls_alpn_challenge(
        &self,
        domain: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_authorization FROM acme_http_challenges WHERE domain = $1 \
                 AND kind = 'tls-alpn-01' AND expires_at > $2 ORDER BY expires_at DESC LIMIT 1",
            )
            .bind(domain)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(k,)| k))
    }

    /// The unexpired answer to HTTP-01 challenge `token`: its domain and key authorization.
    pub async fn http_challenge(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT domain, key_authorization FROM acme_http_challenges \
                 WHERE token = $1 AND kind = 'http-01' AND expires_at > $2",
            )
            .bind(token)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Forgets challenge `token`, and every expired one.
    pub async fn delete_http_challenge(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM acme_http_challenges WHERE token = $1 OR expires_at <= $2")
                .bind(token)
                .bind(to_millis(now))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The sealed ACME account credentials for `directory`.
    pub async fn acme_account(&self, directory: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT credentials FROM acme_accounts WHERE directory = $1")
                .bind(directory)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(c,)| c))
    }

    /// Stores the sealed ACME account credentials for `directory` (first writer wins).
    pub async fn put_acme_account(
        &self,
        directory: &str,
        sealed: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO acme_accounts (directory, credentials, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (directory) DO NOTHING",
            )
            .bind(directory)
            .bind(sealed)
            .bind(to_millis(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
