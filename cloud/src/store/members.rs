//! Members of organisations: invitations (single-use, hashed, for one email and role, with
//! their email in the outbox), acceptance, role changes, and removal — which revokes the
//! authtokens the member made for the organisation (through the relays' revocation feed) and
//! ends the member's sessions, in one transaction.

use super::orgs::{org_owner, parse_role};
use super::{Store, StoreError, on_pool, parse_id, to_millis};
use fdt_api::{AccountId, Member, OrgId};
use time::OffsetDateTime;

/// An invitation to store, with its email.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// Its ID.
    pub id: &'a str,
    /// The organisation.
    pub org: &'a OrgId,
    /// The (normalized) address invited.
    pub email: &'a str,
    /// The role on accepting.
    pub role: &'a fdt_api::Role,
    /// SHA-256 of the token.
    pub token_hash: &'a [u8],
    /// Who invited.
    pub created_by: &'a AccountId,
    /// Now.
    pub now: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// The email's subject and body (with the token).
    pub mail: (&'a str, &'a str),
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The caller is now a member of `org` with `role` (or was already, keeping its role).
    Joined {
        /// The organisation.
        org: OrgId,
        /// The role held now.
        role: String,
    },
    /// No live invitation for this address has that token.
    Invalid,
}

impl Store {
    /// The members of `org`, by email.
    pub async fn members(&self, org: &OrgId) -> Result<Vec<Member>, StoreError> {
        const SQL: &str = "SELECT a.id, a.email, m.role FROM memberships m \
                           JOIN accounts a ON a.id = m.account_id \
                           WHERE m.org_id = $1 ORDER BY a.email";
        let rows: Vec<(String, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(org.as_str())
            .fetch_all(pool)
            .await?);
        rows.into_iter()
            .map(|(id, email, role)| {
                Ok(Member {
                    account_id: parse_id(&id)?,
                    email,
                    role: parse_role(&role),
                    role_name: role,
                })
            })
            .collect()
    }

    /// Stores an invitation and its email, together.
    pub async fn create_invitation(&self, inv: &NewInvitation<'_>) -> Result<(), StoreError> {
        const INV: &str = "INSERT INTO invitations (id, org_id, email, role, token_hash, created_by, \
                           created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        const MAIL: &str = "INSERT INTO email_outbox (recipient, subject, body, created_at) \
                            VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(INV)
                .bind(inv.id)
                .bind(inv.org.as_str())
                .bind(inv.email)
                .bind(inv.role.name())
                .bind(inv.token_hash)
                .bind(inv.created_by.as_str())
                .bind(to_millis(inv.now))
                .bind(to_millis(inv.expires_at))
                .execute(&mut *tx)
                .await?;
            sqlx::query(MAIL)
                .bind(inv.email)
                .bind(inv.mail.0)
                .bind(inv.mail.1)
                .bind(to_millis(inv.now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Accepts the invitation whose token hashes to `token_hash` for `person` signed in as
    /// `email`: once, before it expires, and only for the address it was sent to.
    pub async fn accept_invitation(
        &self,
        token_hash: &[u8],
        person: &AccountId,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Accepted, StoreError> {
        const TAKE: &str = "UPDATE invitations SET accepted_at = $1 \
                            WHERE token_hash = $2 AND email = $3 AND accepted_at IS NULL \
                            AND expires_at > $1 RETURNING org_id, role";
        const JOIN: &str = "INSERT INTO memberships (org_id, account_id, role, created_at) \
                            VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, account_id) DO NOTHING";
        const ROLE: &str = "SELECT role FROM memberships WHERE org_id = $1 AND account_id = $2";
        let now_ms = to_millis(now);
        let joined: Option<(String, String)> = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let taken: Option<(String, String)> = sqlx::query_as(TAKE)
                .bind(now_ms)
                .bind(token_hash)
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((org, role)) = taken else {
                return Ok(Accepted::Invalid);
            };
            sqlx::query(JOIN)
                .bind(&org)
                .bind(person.as_str())
                .bind(&role)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let (held,): (String,) = sqlx::query_as(ROLE)
                .bind(&org)
                .bind(person.as_str())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Some((org, held))
        });
        Ok(match joined {
            Some((org, role)) => Accepted::Joined {
                org: parse_id(&org)?,
                role,
            },
            None => Accepted::Invalid,
        })
    }

    /// Removes `account` from `org`: the membership, the live authtokens it made for the
    /// organisation (revoked, into the relays' feed), and its sessions. Returns how many
    /// authtokens were revoked; `None` when it was not a member. The founder cannot be
    /// removed (its account holds the organisation's resources): the caller checks.
    pub async fn remove_member(
        &self,
        org: &OrgId,
        account: &AccountId,
        now: OffsetDateTime,
    ) -> Result<Option<u64>, StoreError> {
        const LEAVE: &str = "DELETE FROM memberships WHERE org_id = $1 AND account_id = $2";
        const TOKENS: &str = "UPDATE authtokens SET revoked_at = $1 \
                              WHERE account_id = $2 AND created_by = $3 AND revoked_at IS NULL \
                              RETURNING id";
        const SESSIONS: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = 'removed' \
                                WHERE account_id = $2 AND revoked_at IS NULL";
        let owner = org_owner(org);
        let now_ms = to_millis(now);
        let lock = super::authtokens::feed_lock(self);
        let revoked = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let left = sqlx::query(LEAVE)
                .bind(org.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if left == 0 {
                return Ok(None);
            }
            let tokens: Vec<(String,)> = sqlx::query_as(TOKENS)
                .bind(now_ms)
                .bind(owner.as_str())
                .bind(account.as_str())
                .fetch_all(&mut *tx)
                .await?;
            if let (Some((sql, key)), false) = (lock, tokens.is_empty()) {
                sqlx::query(sql).bind(key).execute(&mut *tx).await?;
            }
            for (id,) in &tokens {
                sqlx::query(super::authtokens::FEED_INSERT)
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(SESSIONS)
                .bind(now_ms)
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tokens.len() as u64
        });
        Ok(Some(revoked))
    }

    /// The emails waiting in the outbox for `recipient`, oldest first: `(subject, body)`.
    pub async fn outbox_for(&self, recipient: &str) -> Result<Vec<(String, String)>, StoreError> {
        const SQL: &str = "SELECT subject, body FROM email_outbox WHERE recipient = $1 AND sent_at IS NULL ORDER BY id";
        Ok(on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(recipient)
            .fetch_all(pool)
            .await?))
    }
}
