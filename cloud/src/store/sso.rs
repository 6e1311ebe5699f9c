//! Single sign-on state: each organisation's OpenID Connect provider, the sign-ins in flight
//! (single use, expiring, found by the hash of their `state`), and the provider identities
//! linked to accounts.

use super::{Store, StoreError, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, OrgId};
use time::OffsetDateTime;

/// An organisation's provider, as stored (lists as JSON text).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SsoConfigRow {
    /// Its issuer URL.
    pub issuer: String,
    /// Our client id there.
    pub client_id: String,
    /// Our client secret there (absent: a public client, PKCE only).
    pub client_secret: Option<String>,
    /// JSON list of email domains allowed to sign in.
    pub allowed_domains: String,
    /// The claim holding group names.
    pub groups_claim: String,
    /// JSON object: group name → role.
    pub group_roles: String,
    /// The role of someone in no mapped group.
    pub default_role: String,
}

/// A sign-in in flight, as taken back at the callback.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    /// The organisation signing in.
    pub org: OrgId,
    /// The nonce the id_token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// Where to go after.
    pub return_to: String,
}

impl Store {
    /// `org`'s provider.
    pub async fn sso_config(&self, org: &OrgId) -> Result<Option<SsoConfigRow>, StoreError> {
        const SQL: &str = "SELECT issuer, client_id, client_secret, allowed_domains, groups_claim, \
                           group_roles, default_role FROM sso_configs WHERE org_id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .fetch_optional(pool)
            .await?))
    }

    /// Sets `org`'s provider.
    pub async fn set_sso_config(
        &self,
        org: &OrgId,
        c: &SsoConfigRow,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO sso_configs (org_id, issuer, client_id, client_secret, \
                           allowed_domains, groups_claim, group_roles, default_role, updated_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (org_id) DO UPDATE \
                           SET issuer = excluded.issuer, client_id = excluded.client_id, \
                           client_secret = excluded.client_secret, \
                           allowed_domains = excluded.allowed_domains, \
                           groups_claim = excluded.groups_claim, group_roles = excluded.group_roles, \
                           default_role = excluded.default_role, updated_at = excluded.updated_at";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(org.as_str())
            .bind(&c.issuer)
            .bind(&c.client_id)
            .bind(&c.client_secret)
            .bind(&c.allowed_domains)
            .bind(&c.groups_claim)
            .bind(&c.group_roles)
            .bind(&c.default_role)
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Removes `org`'s provider (and its sign-ins in flight); `false` if it had none.
    pub async fn delete_sso_config(&self, org: &OrgId) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM sso_configs WHERE org_id = $1";
        const LOGINS: &str = "DELETE FROM sso_logins WHERE org_id = $1";
        let n = on_pool!(self, pool => {
            sqlx::query(LOGINS).bind(org.as_str()).execute(pool).await?;
            sqlx::query(SQL).bind(org.as_str()).execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Records a sign-in in flight (and forgets expired ones).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_sso_login(
        &self,
        state_hash: &[u8],
        org: &OrgId,
        nonce: &str,
        pkce_verifier: &str,
        return_to: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SWEEP: &str = "DELETE FROM sso_logins WHERE expires_at < $1";
        const SQL: &str = "INSERT INTO sso_logins (state_hash, org_id, nonce, pkce_verifier, \
                           return_to, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, pool => {
            sqlx::query(SWEEP).bind(to_millis(now)).execute(pool).await?;
            sqlx::query(SQL)
                .bind(state_hash)
                .bind(org.as_str())
                .bind(nonce)
                .bind(pkce_verifier)
                .bind(return_to)
                .bind(to_millis(now))
                .bind(to_millis(expires_at))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Takes the sign-in whose state hashes to `state_hash`: once, before it expires.
    pub async fn take_sso_login(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<SsoLogin>, StoreError> {
        const SQL: &str = "UPDATE sso_logins SET used_at = $1 WHERE state_hash = $2 \
                           AND used_at IS NULL AND expires_at > $1 \
                           RETURNING org_id, nonce, pkce_verifier, return_to";
        let row: Option<(String, String, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(to_millis(now))
            .bind(state_hash)
            .fetch_optional(pool)
            .await?);
        row.map(|(org, nonce, pkce_verifier, return_to)| {
            Ok(SsoLogin {
                org: parse_id(&org)?,
                nonce,
                pkce_verifier,
                return_to,
            })
        })
        .transpose()
    }

    /// The account linked to `(issuer, subject)`, with the organisation that linked it.
    pub async fn sso_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<(AccountId, OrgId)>, StoreError> {
        const SQL: &str =
            "SELECT account_id, org_id FROM sso_identities WHERE issuer = $1 AND subject = $2";
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(pool)
            .await?);
        row.map(|(a, o)| Ok((parse_id(&a)?, parse_id(&o)?)))
            .transpose()
    }

    /// Links `(issuer, subject)` to `account` for `org`.
    pub async fn link_sso_identity(
        &self,
        issuer: &str,
        subject: &str,
        account: &AccountId,
        org: &OrgId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO sso_identities (issuer, subject, account_id, org_id, created_at) \
                           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, subject) DO NOTHING";
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(issuer)
            .bind(subject)
            .bind(account.as_str())
            .bind(org.as_str())
            .bind(to_millis(now))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }
}
