//! A single sign-on, from the start (a redirect to the organisation's provider with `state`,
//! `nonce` and a PKCE challenge) to the callback (the code traded, the id_token checked, the
//! person's account found or made just in time, its membership and role set from its groups).
//!
//! Which account an identity signs into is the heart of it: the one already linked to that
//! `(issuer, sub)`, or one this organisation's provisioning made (SCIM or an earlier sign-in),
//! or a new one. An existing account the organisation did not make is never signed into by
//! the organisation's provider, whatever email the provider asserts: otherwise any
//! organisation could configure a provider that says `ceo@victim.example` and take that
//! account.

use super::id_token::{Expect, IdTokenError, Identity, verify};
use super::provider::{Exchange, ProviderError, exchange, pkce_challenge};
use crate::audit;
use crate::http::extract::Client;
use crate::random::{new_account_id, random_base62, secret_hash};
use crate::scim::provision::{is_active, parse_doc, role_for};
use crate::state::AppState;
use crate::store::{SsoConfigRow, StoreError, org_owner, parse_role, role_name};
use fdt_api::{AccountId, OrgId, Password, RoleTemplate};
use std::collections::BTreeMap;

/// How long a started sign-in may take to come back.
const LOGIN_TTL_MINUTES: i64 = 10;

/// Why a sign-in did not happen; [`SsoError::code`] is what the sign-in page is told.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The organisation has no single sign-on.
    #[error("no single sign-on for this organisation")]
    NotConfigured,
    /// The callback's `state` is unknown, spent or expired (a replayed or forged callback).
    #[error("sign-in expired or already used")]
    Expired,
    /// The person said no at the provider, or the provider refused.
    #[error("the provider did not sign in: {0}")]
    Denied(String),
    /// The provider could not be reached or answered badly (a replayed code among them).
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// The id_token did not check.
    #[error("id_token: {0}")]
    Token(#[from] IdTokenError),
    /// No verified email, or one outside the allowed domains.
    #[error("email {0:?} is not allowed to sign in here")]
    Domain(String),
    /// The email belongs to an account the organisation did not make.
    #[error("an account with this email exists outside the organisation's sign-on")]
    AccountExists,
    /// The person was deprovisioned (SCIM), or the account is suspended.
    #[error("this account may not sign in")]
    Blocked,
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Something else of ours failed (hashing, the audit log).
    #[error("internal: {0}")]
    Internal(String),
}

impl SsoError {
    /// The sign-in page's error code (`/login?error=…`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "sso_unknown",
            Self::Expired => "sso_expired",
            Self::Denied(_) => "sso_denied",
            Self::Domain(_) => "sso_domain",
            Self::AccountExists => "sso_account_exists",
            Self::Blocked => "account_suspended",
            Self::Provider(_) | Self::Token(_) | Self::Store(_) | Self::Internal(_) => "sso_failed",
        }
    }
}

/// A parsed provider configuration.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The stored row.
    pub row: SsoConfigRow,
    /// Allowed email domains, lowercased.
    pub domains: Vec<String>,
    /// Group name → role.
    pub group_roles: BTreeMap<String, RoleTemplate>,
    /// The role outside mapped groups.
    pub default_role: RoleTemplate,
}

/// `org`'s provider.
pub async fn provider(st: &AppState, org: &OrgId) -> Result<Provider, SsoError> {
    let mut row = st
        .store()
        .sso_config(org)
        .await?
        .ok_or(SsoError::NotConfigured)?;
    row.client_secret = row
        .client_secret
        .map(|s| super::client_secret::open(st.sealer(), org, &s))
        .transpose()
        .map_err(|e| SsoError::Internal(e.to_string()))?;
    let domains: Vec<String> = serde_json::from_str(&row.allowed_domains).unwrap_or_default();
    let roles: BTreeMap<String, String> =
        serde_json::from_str(&row.group_roles).unwrap_or_default();
    Ok(Provider {
        domains,
        group_roles: roles
            .into_iter()
            .filter_map(|(g, r)| Some((g, parse_role(&r)?)))
            .collect(),
        default_role: parse_role(&row.default_role).unwrap_or(RoleTemplate::Viewer),
        row,
    })
}

/// Starts a sign-in to `org`: where to send the browser.
pub async fn start(
    st: &AppState,
    org: &OrgId,
    next: &str,
    redirect_uri: &str,
) -> Result<String, SsoError> {
    let p = provider(st, org).await?;
    let insecure = st.sso().allow_insecure_issuers;
    let (meta, _) = st
        .sso_providers()
        .get(&p.row.issuer, insecure, false)
        .await?;
    let state = random_base62(43);
    let nonce = random_base62(32);
    let verifier = random_base62(64);
    let now = st.clock().now();
    st.store()
        .create_sso_login(
            &secret_hash(&state),
            org,
            &nonce,
            &verifier,
            next,
            now,
            now + time::Duration::minutes(LOGIN_TTL_MINUTES),
        )
        .await?;
    let mut url = reqwest::Url::parse(&meta.authorization_endpoint)
        .map_err(|e| ProviderError::Url(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p.row.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    /// The sign-in's state.
    #[serde(default)]
    pub state: String,
    /// The code, on success.
    pub code: Option<String>,
    /// The OAuth error, on failure.
    pub error: Option<String>,
}

/// Finishes a sign-in: the account signed in and where to go next.
pub async fn finish(
    st: &AppState,
    client: &Client,
    cb: &Callback,
    redirect_uri: &str,
) -> Result<(AccountId, String), SsoError> {
    let now = st.clock().now();
    // The state is spent here, before anything else: a replayed callback stops at once.
    let login = st
        .store()
        .take_sso_login(&secret_hash(&cb.state), now)
        .await?
        .ok_or(SsoError::Expired)?;
    let result = finish_login(st, &login, cb, redirect_uri).await;
    let scope = org_owner(&login.org);
    let (action, target, detail) = match &result {
        Ok((account, email)) => (
            "sso.login",
            account.to_string(),
            serde_json::json!({"email": email}),
        ),
        Err(e) => (
            "sso.login_failed",
            login.org.to_string(),
            serde_json::json!({"reason": e.to_string()}),
        ),
    };
    let actor = match &result {
        Ok((account, _)) => account.to_string(),
        Err(_) => "anonymous".to_owned(),
    };
    let a = audit::Action {
        scope: scope.as_str(),
        actor: &actor,
        action,
        target: &target,
        detail,
    };
    if let Err(e) = audit::action(st, client, a).await {
        tracing::error!(error = %e, "sso: audit");
        return Err(SsoError::Internal("audit log".into()));
    }
    result.map(|(account, _)| (account, login.return_to))
}

async fn finish_login(
    st: &AppState,
    login: &crate::store::SsoLogin,
    cb: &Callback,
    redirect_uri: &str,
) -> Result<(AccountId, String), SsoError> {
    if let Some(e) = &cb.error {
        return Err(SsoError::Denied(e.chars().take(64).collect()));
    }
    let code = cb
        .code
        .as_deref()
        .ok_or_else(|| SsoError::Denied("no code".into()))?;
    let p = provider(st, &login.org).await?;
    let insecure = st.sso().allow_insecure_issuers;
    let (meta, keys) = st
        .sso_providers()
        .get(&p.row.issuer, insecure, false)
        .await?;
    let answer = exchange(
        &meta,
        &Exchange {
            code,
            redirect_uri,
            verifier: &login.pkce_verifier,
            client_id: &p.row.client_id,
            client_secret: p.row.client_secret.as_deref(),
        },
        insecure,
    )
    .await?;
    let expect = Expect {
        issuer: &p.row.issuer,
        client_id: &p.row.client_id,
        nonce: &login.nonce,
        groups_claim: &p.row.groups_claim,
        now: st.clock().now(),
    };
    let identity = match verify(&answer.id_token, &keys, &expect) {
        // The provider may have rolled its keys since they were cached.
        Err(IdTokenError::UnknownKey(_)) => {
            let (_, keys) = st
                .sso_providers()
                .get(&p.row.issuer, insecure, true)
                .await?;
            verify(&answer.id_token, &keys, &expect)?
        }
        other => other?,
    };
    let email = identity
        .email
        .clone()
        .ok_or_else(|| SsoError::Domain(String::new()))?;
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !p.domains.iter().any(|d| d == domain) {
        return Err(SsoError::Domain(email));
    }
    let account = account_for(st, &login.org, &p.row.issuer, &identity, &email).await?;
    if st.store().is_suspended(&account).await? {
        return Err(SsoError::Blocked);
    }
    // Deprovisioned through SCIM: single sign-on does not bring the membership back.
    if let Some(user) = st.store().scim_user_of(&login.org, &account).await?
        && parse_doc(&user).is_ok_and(|d| !is_active(&d))
    {
        return Err(SsoError::Blocked);
    }
    let role = role_for(
        p.default_role,
        &p.group_roles,
        identity.groups.iter().map(String::as_str),
    );
    st.store()
        .provision_member(&login.org, &account, &role_name(role), st.clock().now())
        .await?;
    Ok((account, email))
}

/// The account `identity` signs into (see the module's docs).
async fn account_for(
    st: &AppState,
    org: &OrgId,
    issuer: &str,
    identity: &Identity,
    email: &str,
) -> Result<AccountId, SsoError> {
    let now = st.clock().now();
    if let Some((account, linked_by)) = st.store().sso_identity(issuer, &identity.sub).await? {
        if &linked_by != org {
            return Err(SsoError::AccountExists);
        }
        return Ok(account);
    }
    let account = match st.store().account_by_email(email).await? {
        Some(found) => {
            if st.store().provisioned_by(&found.id).await?.as_ref() != Some(org) {
                return Err(SsoError::AccountExists);
            }
            found.id
        }
        None => {
            let hash = st
                .passwords()
                .hash(Password::new(random_base62(32)))
                .await
                .map_err(|e| SsoError::Internal(e.to_string()))?;
            let id = new_account_id();
            st.store().create_account(&id, email, &hash, now).await?;
            st.store().set_provisioned_by(&id, org).await?;
            id
        }
    };
    st.store()
        .link_sso_identity(issuer, &identity.sub, &account, org, now)
        .await?;
    Ok(account)
}
