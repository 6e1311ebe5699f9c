//! [`AppState`]: what every handler shares — storage, token issuers, password hasher, login
//! and registration limiters, relay list and clock — built once from the configuration.

use crate::auth::agent_keys::AgentKeyring;
use crate::auth::agent_tokens::AgentTokens;
use crate::auth::jwt::{AccessTokens, SigningKey};
use crate::auth::limiter::{LoginLimiter, RegisterLimiter};
use crate::auth::password::{PasswordError, PasswordHasher};
use crate::clock::Clock;
use crate::config::{Config, FleetConfig, RelayEntry, TrustedProxies};
use crate::store::Store;
use std::sync::Arc;
use time::Duration;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The password hasher's parameters are invalid.
    #[error(transparent)]
    Password(PasswordError),
    /// The traffic log's body store could not be opened.
    #[error(transparent)]
    BodyStore(crate::bodies::BodyError),
    /// The key that seals certificate private keys could not be loaded.
    #[error(transparent)]
    DomainKey(crate::domains::seal::SealError),
    /// PayPal's verifier could not be set up (its roots, its certificate name).
    #[error("billing.paypal: {0}")]
    Paypal(String),
    /// A checkout adapter could not be set up.
    #[error("billing: {0}")]
    Checkout(crate::billing::checkout::CheckoutError),
}

/// Shared state of the HTTP app. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// Device sign-in codes plus decisions one client address may make in 10 minutes: a person
/// signing in a few machines needs a handful; guessing user codes needs millions.
const DEVICE_ATTEMPTS_PER_IP: u32 = 30;
/// Single sign-on starts per client address per 10 minutes.
const SSO_STARTS_PER_IP: u32 = 60;

#[derive(Debug)]
struct Inner {
    store: Store,
    access_tokens: AccessTokens,
    agent_tokens: AgentTokens,
    configured_relays: Vec<RelayEntry>,
    fleet: FleetConfig,
    traffic: crate::config::TrafficConfig,
    bodies: crate::bodies::BodyStore,
    passwords: PasswordHasher,
    login_limiter: LoginLimiter,
    register_limiter: RegisterLimiter,
    /// Device sign-in codes and decisions, per client address.
    device_limiter: RegisterLimiter,
    /// Single sign-on starts per client address (each stores a sign-in in flight).
    sso_limiter: RegisterLimiter,
    billing_limiter: crate::billing::limit::ProviderCallLimiter,
    trusted_proxies: TrustedProxies,
    clock: Arc<dyn Clock>,
    events: crate::events::Events,
    console: crate::config::ConsoleConfig,
    refresh_ttl: Duration,
    max_body_bytes: usize,
    /// SHA-256 of each configured relay secret.
    relay_secret_hashes: Vec<Vec<u8>>,
    /// Maximum ages of the signing keys and relay secrets.
    secret_rotation: crate::config::SecretRotationConfig,
    /// Single sign-on options.
    sso: crate::config::SsoOptions,
    /// Audit log options.
    audit: crate::config::AuditConfig,
    /// Providers' discovery documents and keys, cached.
    sso_providers: crate::sso::provider::Providers,
    /// Custom domains options.
    domains: crate::config::DomainsConfig,
    /// Seals certificate private keys and the ACME account at rest.
    sealer: crate::domains::seal::Sealer,
    /// Certificate events refused, by reason.
    cert_event_refusals: crate::domains::refusals::Refusals,
    /// Payment providers.
    billing: crate::config::BillingConfig,
    /// Webhook deliveries refused for their signature.
    webhook_rejections: crate::billing::rejections::Rejections,
    /// PayPal's signature checks and certificate cache, when PayPal is configured.
    paypal: Option<crate::billing::paypal::PaypalVerifier>,
    /// Checkout at the providers that have API keys.
    checkouts: crate::billing::checkout::Checkouts,
    /// Where the outbox is sent.
    smtp: Option<crate::config::SmtpConfig>,
    metrics: crate::config::MetricsConfig,
}

impl AppState {
    /// Builds the state from a validated configuration, an open (migrated) store, the
    /// access-token signing key, the agent-token keyring and a clock.
    pub fn new(
        config: &Config,
        store: Store,
        key: Arc<SigningKey>,
        agent_keys: AgentKeyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StateError> {
        let auth = &config.auth;
        let location = if config.traffic.body_store.is_empty() {
            config
                .data_dir
                .join("bodies")
                .to_string_lossy()
                .into_owned()
        } else {
            config.traffic.body_store.clone()
        };
        let bodies = crate::bodies::BodyStore::open(&location).map_err(StateError::BodyStore)?;
        let key_file = config.domains.key_file.clone().or_else(|| {
            (!config.data_dir.as_os_str().is_empty())
                .then(|| config.data_dir.join("domain-keys.key"))
        });
        let sealer = match key_file {
            Some(path) => crate::domains::seal::Sealer::load_or_create(&path)
                .map_err(StateError::DomainKey)?,
            // No data directory (an in-memory test state): keys sealed now cannot be opened
            // after a restart, which such a state does not have.
            None => crate::domains::seal::Sealer::ephemeral().map_err(StateError::DomainKey)?,
        };
        let paypal = match &config.billing.paypal {
            Some(c) => {
                Some(crate::billing::paypal::PaypalVerifier::new(c).map_err(StateError::Paypal)?)
            }
            None => None,
        };
        let checkouts = crate::billing::checkout::Checkouts::from_config(&config.billing)
            .map_err(StateError::Checkout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                access_tokens: AccessTokens::new(key, auth),
                agent_tokens: AgentTokens::new(agent_keys, &auth.issuer, &config.agent_tokens),
                configured_relays: config.relays.clone(),
                fleet: config.fleet.clone(),
                traffic: config.traffic.clone(),
                bodies,
                passwords: PasswordHasher::new(&auth.argon2, &auth.password_hashing)
                    .map_err(StateError::Password)?,
                login_limiter: LoginLimiter::new(&auth.login_limit, store.clone()),
                register_limiter: RegisterLimiter::new(
                    "register",
                    &auth.register_limit,
                    store.clone(),
                ),
                device_limiter: RegisterLimiter::new(
                    "device",
                    &crate::config::RegisterLimitConfig {
                        window_secs: 600,
                        max_per_ip: DEVICE_ATTEMPTS_PER_IP,
                    },
                    store.clone(),
                ),
                sso_limiter: RegisterLimiter::new(
                    "sso",
                    &crate::config::RegisterLimitConfig {
                        window_secs: 600,
                        max_per_ip: SSO_STARTS_PER_IP,
                    },
                    store.clone(),
                ),
                billing_limiter: crate::billing::limit::ProviderCallLimiter::new(store.clone()),
                trusted_proxies: config.trusted_proxies.clone(),
                clock,
                events: crate::events::Events::default(),
                console: config.console.clone(),
                refresh_ttl: Duration::seconds(
                    i64::try_from(auth.refresh_ttl_secs).unwrap_or(i64::MAX / 2),
                ),
                max_body_bytes: config.max_body_bytes,
                relay_secret_hashes: config
                    .relay_secrets
                    .iter()
                    .map(|s| crate::random::secret_hash(s.expose()))
                    .collect(),
                secret_rotation: config.secret_rotation.clone(),
                sso: config.sso.clone(),
                audit: config.audit.clone(),
                sso_providers: crate::sso::provider::Providers::default(),
                domains: config.domains.clone(),
                sealer,
                cert_event_refusals: Default::default(),
                billing: config.billing.clone(),
                webhook_rejections: Default::default(),
                paypal,
                checkouts,
                smtp: config.smtp.clone(),
                metrics: config.metrics.clone(),
            }),
        })
    }

    /// Change events for live pages.
    pub fn events(&self) -> &crate::events::Events {
        &self.inner.events
    }

    /// Web console settings.
    pub fn console(&self) -> &crate::config::ConsoleConfig {
        &self.inner.console
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The access token issuer and verifier.
    pub fn access_tokens(&self) -> &AccessTokens {
        &self.inner.access_tokens
    }

    /// The agent-token issuer and its keyring.
    pub fn agent_tokens(&self) -> &AgentTokens {
        &self.inner.agent_tokens
    }

    /// The relays configured by `[[relays]]`, in configured order (relays that register by
    /// heartbeat are in the store).
    pub fn configured_relays(&self) -> &[RelayEntry] {
        &self.inner.configured_relays
    }

    /// Relay health and assignment settings.
    pub fn fleet(&self) -> &FleetConfig {
        &self.inner.fleet
    }

    /// Relays last heard from before this instant are unhealthy.
    pub fn healthy_cutoff(&self) -> time::OffsetDateTime {
        let window = i64::try_from(self.inner.fleet.unhealthy_after_secs).unwrap_or(i64::MAX / 2);
        self.clock().now() - Duration::seconds(window)
    }

    /// Traffic log settings.
    pub fn traffic(&self) -> &crate::config::TrafficConfig {
        &self.inner.traffic
    }

    /// Where traffic-log bodies live.
    pub fn bodies(&self) -> &crate::bodies::BodyStore {
        &self.inner.bodies
    }

    /// The password hasher.
    pub fn passwords(&self) -> &PasswordHasher {
        &self.inner.passwords
    }

    /// The login limiter.
    pub fn login_limiter(&self) -> &LoginLimiter {
        &self.inner.login_limiter
    }

    /// The registration limiter.
    pub fn register_limiter(&self) -> &RegisterLimiter {
        &self.inner.register_limiter
    }

    /// Single sign-on starts per client address.
    pub fn sso_limiter(&self) -> &RegisterLimiter {
        &self.inner.sso_limiter
    }

    /// Requests that call a payment provider, per account.
    pub fn billing_limiter(&self) -> &crate::billing::limit::ProviderCallLimiter {
        &self.inner.billing_limiter
    }

    /// The device sign-in limiter: new codes and decisions per client address.
    pub fn device_limiter(&self) -> &RegisterLimiter {
        &self.inner.device_limiter
    }

    /// The proxies whose `X-Forwarded-For` names the client.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.trusted_proxies
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// Lifetime of refresh tokens.
    pub fn refresh_ttl(&self) -> Duration {
        self.inner.refresh_ttl
    }

    /// Largest request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Maximum ages of the signing keys and relay secrets.
    pub fn secret_rotation(&self) -> &crate::config::SecretRotationConfig {
        &self.inner.secret_rotation
    }

    /// Audit log options.
    pub fn audit(&self) -> &crate::config::AuditConfig {
        &self.inner.audit
    }

    /// Custom domains options.
    pub fn domains(&self) -> &crate::config::DomainsConfig {
        &self.inner.domains
    }

    /// Payment providers.
    pub fn billing(&self) -> &crate::config::BillingConfig {
        &self.inner.billing
    }

    /// PayPal's webhook verifier, when PayPal is configured.
    pub fn paypal(&self) -> Option<&crate::billing::paypal::PaypalVerifier> {
        self.inner.paypal.as_ref()
    }

    /// Where the outbox is sent, when it is.
    pub fn smtp(&self) -> Option<&crate::config::SmtpConfig> {
        self.inner.smtp.as_ref()
    }

    /// Who may read `/metrics`.
    pub fn metrics(&self) -> &crate::config::MetricsConfig {
        &self.inner.metrics
    }

    /// Checkout adapters.
    pub fn checkouts(&self) -> &crate::billing::checkout::Checkouts {
        &self.inner.checkouts
    }

    /// Webhook deliveries refused for their signature since start.
    pub fn webhook_rejections(&self) -> &crate::billing::rejections::Rejections {
        &self.inner.webhook_rejections
    }

    /// Certificate events refused since start, by reason.
    pub fn cert_event_refusals(&self) -> &crate::domains::refusals::Refusals {
        &self.inner.cert_event_refusals
    }

    /// Seals certificate private keys at rest.
    pub fn sealer(&self) -> &crate::domains::seal::Sealer {
        &self.inner.sealer
    }

    /// Single sign-on options.
    pub fn sso(&self) -> &crate::config::SsoOptions {
        &self.inner.sso
    }

    /// Cached identity-provider metadata and keys.
    pub fn sso_providers(&self) -> &crate::sso::provider::Providers {
        &self.inner.sso_providers
    }

    /// Public fingerprints of the configured relay secrets (never the secrets).
    pub fn relay_secret_fingerprints(&self) -> Vec<String> {
        self.inner
            .relay_secret_hashes
            .iter()
            .map(|h| crate::rotation::fingerprint_of_hash(h))
            .collect()
    }

    /// Whether `presented` is one of the configured relay secrets. Compares SHA-256 digests
    /// without an early exit, so the time taken says nothing about the secrets.
    pub fn is_relay_secret(&self, presented: &str) -> bool {
        let digest = crate::random::secret_hash(presented);
        self.inner
            .relay_secret_hashes
            .iter()
            .fold(false, |found, h| {
                let diff = h
                    .iter()
                    .zip(&digest)
                    .fold(u8::from(h.len() != digest.len()), |acc, (a, b)| {
                        acc | (a ^ b)
                    });
                found | (diff == 0)
            })
    }
}
