//! Ordering certificates with ACME (instant-acme): the account is made once per directory and
//! kept sealed in the database; each order answers its HTTP-01 challenges through the relays,
//! which fetch the key authorization from the control plane by token
//! (`GET /v1/relay/acme-challenge/{token}`) for the domain it was issued for.
//!
//! Wildcards (and every order, with `[domains.dns01] for_all`) use DNS-01 instead: the record
//! is placed through the DNS provider's API ([`crate::domains::dns01`]) and removed after.
//!
//! instant-acme retries `badNonce` itself; every other failure ends the order and the worker
//! schedules the next attempt ([`retry_delay`]), longer for the CA's rate limits.

use crate::config::{AcmeChallenge, DomainsConfig};
use crate::domains::dns01::{Dns01, Dns01Error, Placed};
use crate::domains::seal::Sealer;
use crate::store::Store;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use std::time::Duration;
use time::OffsetDateTime;

/// How long an HTTP-01 answer is kept for relays.
const CHALLENGE_TTL: time::Duration = time::Duration::minutes(15);
/// How long one order may wait for the CA's validation and issuance.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);
/// Context the account credentials are sealed under.
const ACCOUNT_CONTEXT: &[u8] = b"acme-account";

/// Why an order failed.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with a problem document.
    #[error("the CA refused: {0}")]
    Problem(String),
    /// The CA asks us to slow down (`rateLimited`).
    #[error("the CA's rate limit was hit: {0}")]
    RateLimited(String),
    /// Talking to the CA failed (network, TLS, timeout).
    #[error("talking to the CA failed: {0}")]
    Transport(String),
    /// The domain cannot be ordered this way.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The order ended invalid.
    #[error("the CA could not validate the domain: {0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Sealing or opening the account failed.
    #[error(transparent)]
    Seal(#[from] crate::domains::seal::SealError),
    /// The DNS provider could not place a DNS-01 record.
    #[error(transparent)]
    Dns(#[from] Dns01Error),
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(p) => {
                let text = format!(
                    "{} {}",
                    p.r#type.as_deref().unwrap_or("problem"),
                    p.detail.as_deref().unwrap_or("")
                );
                let text = fdt_api::validate::cut(text.trim(), 300).to_owned();
                if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:rateLimited") {
                    Self::RateLimited(text)
                } else {
                    Self::Problem(text)
                }
            }
            other => Self::Transport(fdt_api::validate::cut(&other.to_string(), 300).to_owned()),
        }
    }
}

/// How long to wait before ordering again after `failures` failed orders in a row.
pub fn retry_delay(error: &AcmeError, failures: u32) -> time::Duration {
    let base = match error {
        // Let's Encrypt's limits reset over hours; asking sooner only burns the allowance.
        AcmeError::RateLimited(_) => 3600,
        _ => 60,
    };
    let secs = base * 2i64.saturating_pow(failures.min(6));
    time::Duration::seconds(secs.min(24 * 3600))
}

/// A certificate chain and its key, as PEM.
#[derive(Debug)]
pub struct Issued {
    /// Chain, leaf first.
    pub chain_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

/// The DNS-01 provider and when to use it.
#[derive(Debug, Clone)]
struct DnsChallenges {
    provider: Dns01,
    for_all: bool,
    propagation: Duration,
}

/// The ACME client for one directory.
#[derive(Debug, Clone)]
pub struct Acme {
    directory: String,
    contact: Option<String>,
    roots: Option<std::path::PathBuf>,
    dns01: Option<DnsChallenges>,
    challenge: AcmeChallenge,
}

impl Acme {
    /// The client `cfg` asks for, if it names a directory.
    pub fn from_config(cfg: &DomainsConfig) -> Option<Self> {
        let dns01 = cfg.dns01.as_ref().and_then(|d| match Dns01::from_config(d) {
            Ok(provider) => Some(DnsChallenges {
                provider,
                for_all: d.for_all,
                propagation: Duration::from_secs(d.propagation_secs),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "DNS-01 provider unusable; wildcards get no certificates");
                None
            }
        });
        Some(Self {
            directory: cfg.acme_directory.clone()?,
            contact: cfg.acme_contact.clone(),
            roots: cfg.acme_roots.clone(),
            dns01,
            challenge: cfg.acme_challenge,
        })
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        match &self.roots {
            Some(path) => Ok(Account::builder_with_root(path)?),
            None => Ok(Account::builder()?),
        }
    }

    /// The account: restored from the store, or made and stored.
    async fn account(&self, store: &Store, sealer: &Sealer) -> Result<Account, AcmeError> {
        if let Some(sealed) = store.acme_account(&self.directory).await? {
            let json = sealer.open(&sealed, ACCOUNT_CONTEXT)?;
            let creds: AccountCredentials = serde_json::from_slice(&json)
                .map_err(|e| AcmeError::Transport(format!("stored ACME account: {e}")))?;
            return Ok(self.builder()?.from_credentials(creds).await?);
        }
        let contact: Vec<&str> = self.contact.iter().map(String::as_str).collect();
        let (account, creds) = self
            .builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                None,
            )
            .await?;
        let json = serde_json::to_vec(&creds)
            .map_err(|e| AcmeError::Transport(format!("ACME account: {e}")))?;
        store
            .put_acme_account(
                &self.directory,
                &sealer.seal(&json, ACCOUNT_CONTEXT)?,
                OffsetDateTime::now_utc(),
            )
            .await?;
        // Another replica may have stored its account first: use the stored one, so all
        // replicas order under one account.
        match store.acme_account(&self.directory).await? {
            Some(stored) if sealer.open(&stored, ACCOUNT_CONTEXT)? != json => {
                let creds: AccountCredentials =
                    serde_json::from_slice(&sealer.open(&stored, ACCOUNT_CONTEXT)?)
                        .map_err(|e| AcmeError::Transport(format!("stored ACME account: {e}")))?;
                Ok(self.builder()?.from_credentials(creds).await?)
            }
            _ => Ok(account),
        }
    }

    /// Orders a certificate for `domain`: HTTP-01 answered through the relays, or DNS-01
    /// through the DNS provider for a wildcard (or for all, if so configured).
    pub async fn order(
        &self,
        store: &Store,
        sealer: &Sealer,
        domain: &str,
    ) -> Result<Issued, AcmeError> {
        let wildcard = domain.starts_with("*.");
        let dns = self.dns01.as_ref().filter(|d| wildcard || d.for_all);
        if wildcard && dns.is_none() {
            return Err(AcmeError::Unsupported(
                "a wildcard needs a DNS-01 provider ([domains.dns01]), which is not configured; upload a certificate instead",
            ));
        }
        let account = self.account(store, sealer).await?;
        let ids = [Identifier::Dns(domain.to_owned())];
        let mut order = account.new_order(&NewOrder::new(&ids)).await?;
        let mut answers = Answers::default();
        let how = match dns {
            Some(dns) => How::Dns(dns),
            None => How::Relays(self.challenge),
        };
        let result = answer_and_finish(store, &mut order, how, &mut answers).await;
        let now = OffsetDateTime::now_utc();
        for token in &answers.tokens {
            if let Err(e) = store.delete_http_challenge(token, now).await {
                tracing::warn!(%domain, error = %e, "could not forget an ACME challenge");
            }
        }
        if let Some(dns) = dns {
            for placed in &answers.records {
                if let Err(e) = dns.provider.remove(placed).await {
                    tracing::warn!(%domain, record = %placed.name, error = %e, "could not remove a DNS-01 record");
                }
            }
        }
        result
    }
}

/// How an order's challenges are answered.
#[derive(Debug, Clone, Copy)]
enum How<'a> {
    /// DNS-01 records at the DNS provider.
    Dns(&'a DnsChallenges),
    /// HTTP-01 or TLS-ALPN-01, by the relays.
    Relays(AcmeChallenge),
}

/// What was put in place to answer challenges, to take away after the order.
#[derive(Debug, Default)]
struct Answers {
    /// HTTP-01 tokens stored for the relays.
    tokens: Vec<String>,
    /// DNS-01 records placed at the provider.
    records: Vec<Placed>,
}

async fn answer_and_finish(
    store: &Store,
    order: &mut instant_acme::Order,
    how: How<'_>,
    answers: &mut Answers,
) -> Result<Issued, AcmeError> {
    let mut authorizations = order.authorizations();
    let mut waiting = Vec::new();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        match authz.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => return Err(AcmeError::Invalid(format!("authorization is {other:?}"))),
        }
        // The name without a wildcard's `*.`: DNS-01 records sit at `_acme-challenge.<it>`.
        let Identifier::Dns(name) = authz.identifier().identifier.clone() else {
            return Err(AcmeError::Unsupported("only DNS names are ordered"));
        };
        match how {
            How::Dns(dns) => {
                let challenge = authz
                    .challenge(ChallengeType::Dns01)
                    .ok_or(AcmeError::Unsupported("the CA offers no DNS-01 challenge"))?;
                let value = challenge.key_authorization().dns_value();
                answers
                    .records
                    .push(dns.provider.place(&name, &value).await?);
                waiting.push(challenge.url.clone());
            }
            How::Relays(kind) => {
                let (ty, missing) = match kind {
                    AcmeChallenge::Http01 => {
                        (ChallengeType::Http01, "the CA offers no HTTP-01 challenge")
                    }
                    AcmeChallenge::TlsAlpn01 => (
                        ChallengeType::TlsAlpn01,
                        "the CA offers no TLS-ALPN-01 challenge",
                    ),
                };
                let mut challenge = authz.challenge(ty).ok_or(AcmeError::Unsupported(missing))?;
                let token = challenge.token.clone();
                let key_authorization = challenge.key_authorization().as_str().to_owned();
                let expires = OffsetDateTime::now_utc() + CHALLENGE_TTL;
                store
                    .put_acme_challenge(kind.as_str(), &token, &name, &key_authorization, expires)
                    .await?;
                answers.tokens.push(token);
                challenge.set_ready().await?;
            }
        }
    }
    if let How::Dns(dns) = how
        && !waiting.is_empty()
    {
        // Every record first, then one wait for the provider's name servers, then the CA.
        tokio::time::sleep(dns.propagation).await;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            if let Some(mut challenge) = authz.challenge(ChallengeType::Dns01)
                && waiting.contains(&challenge.url)
            {
                challenge.set_ready().await?;
            }
        }
    }
    let retries = RetryPolicy::new().timeout(ORDER_TIMEOUT);
    let status = order.poll_ready(&retries).await?;
    if status != OrderStatus::Ready {
        let why = order
            .state()
            .error
            .as_ref()
            .and_then(|p| p.detail.clone())
            .unwrap_or_else(|| format!("order is {status:?}"));
        return Err(AcmeError::Invalid(
            fdt_api::validate::cut(&why, 300).to_owned(),
        ));
    }
    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&retries).await?;
    Ok(Issued { chain_pem, key_pem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_wait_longer_and_every_wait_is_bounded() {
        let limited = AcmeError::RateLimited(String::new());
        let other = AcmeError::Transport(String::new());
        assert_eq!(retry_delay(&other, 0), time::Duration::minutes(1));
        assert_eq!(retry_delay(&limited, 0), time::Duration::hours(1));
        assert!(retry_delay(&other, 3) > retry_delay(&other, 2));
        assert_eq!(retry_delay(&limited, 30), time::Duration::hours(24));
    }
}
