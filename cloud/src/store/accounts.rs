//! Accounts: create, look up by email (login) and by ID.

use super::{Store, StoreError, from_millis, is_unique_violation, on_pool, parse_id, to_millis};
use fdt_api::AccountId;
use time::OffsetDateTime;

/// A stored account.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Account ID.
    pub id: AccountId,
    /// Normalized email.
    pub email: String,
    /// Argon2id hash of the password (PHC string).
    pub password_hash: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

// The hash is not a secret in the strict sense, but it has no business in logs either.
impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl AccountRecord {
    /// The account as the API shows it to its owner.
    pub fn to_api(&self) -> fdt_api::Account {
        fdt_api::Account {
            id: self.id.clone(),
            email: self.email.clone(),
            created_at: self.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    email: String,
    password_hash: String,
    created_at: i64,
}

impl TryFrom<AccountRow> for AccountRecord {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            email: r.email,
            password_hash: r.password_hash,
            created_at: from_millis(r.created_at)?,
        })
    }
}

impl Store {
    /// Stores a new account; [`StoreError::EmailTaken`] if the (normalized) email exists.
    pub async fn create_account(
        &self,
        id: &AccountId,
        email: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<AccountRecord, StoreError> {
        const SQL: &str = "INSERT INTO accounts (id, email, password_hash, created_at) \
                           VALUES ($1, $2, $3, $4)";
        // The account and its own organisation (it is the owner) come into being together.
        const ORG: &str = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
        const OWNER: &str = "INSERT INTO memberships (org_id, account_id, role, created_at) \
                             VALUES ($1, $2, 'owner', $3)";
        let org = super::orgs::own_org(id);
        let result = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(SQL)
                .bind(id.as_str())
                .bind(email)
                .bind(password_hash)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(ORG)
                .bind(org.as_str())
                .bind(email)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(OWNER)
                .bind(org.as_str())
                .bind(id.as_str())
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await);
        match result {
            Ok(_) => Ok(AccountRecord {
                id: id.clone(),
                email: email.to_owned(),
                password_hash: password_hash.to_owned(),
                created_at: from_millis(to_millis(now))?,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The account with this normalized email.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<AccountRecord>, StoreError> {
        const SQL: &str =
            "SELECT id, email, password_hash, created_at FROM accounts WHERE email = $1";
        let row: Option<AccountRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(email)
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }

    /// The account with this ID.
    pub async fn account_by_id(&self, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        const SQL: &str = "SELECT id, email, password_hash, created_at FROM accounts WHERE id = $1";
        let row: Option<AccountRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?);
        row.map(TryInto::try_into).transpose()
    }
}
