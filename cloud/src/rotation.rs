//! Secret rotation health: how old each of the control plane's secrets is against its
//! configured maximum — the access-token signing key, the agent-token signing keys and the
//! relay secrets (webhook secrets join when billing lands) — and the rotations, which the
//! `fdt-cloud rotate-…` commands do and the audit log records.
//!
//! Keys are aged from their file's time; relay secrets, which live in the config, from when
//! the control plane first saw them (kept in the database by a public fingerprint).

use crate::auth::jwt::SigningKey;
use crate::store::{Store, StoreError};
use fdt_api::{SecretAge, SecretAgeList, SecretHealth};
use time::OffsetDateTime;

/// `access_token_key`.
pub const ACCESS_TOKEN_KEY: &str = "access_token_key";
/// `agent_token_key`.
pub const AGENT_TOKEN_KEY: &str = "agent_token_key";
/// `relay_secret`.
pub const RELAY_SECRET: &str = "relay_secret";

/// How a secret of `age_days` stands against `max_days`: red past it, amber from four fifths
/// of it, green before.
pub fn health(age_days: u32, max_days: u32) -> SecretHealth {
    if age_days > max_days {
        SecretHealth::Red
    } else if u64::from(age_days) * 5 >= u64::from(max_days) * 4 {
        SecretHealth::Amber
    } else {
        SecretHealth::Green
    }
}

/// A relay secret's public fingerprint from its SHA-256: `sha256:` and 12 hex digits.
pub fn fingerprint_of_hash(hash: &[u8]) -> String {
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A relay secret's public fingerprint.
pub fn fingerprint(secret: &str) -> String {
    fingerprint_of_hash(&crate::random::secret_hash(secret))
}

/// The secrets to age.
#[derive(Debug)]
pub struct Secrets<'a> {
    /// The access-token signing key.
    pub access_key: &'a SigningKey,
    /// The agent-token keyring, oldest first (the last one signs).
    pub agent_keys: Vec<&'a SigningKey>,
    /// Fingerprints of the configured relay secrets.
    pub relay_secrets: Vec<String>,
    /// Maximum ages.
    pub max: &'a crate::config::SecretRotationConfig,
}

/// Every secret with its age and health, worst first.
pub async fn report(
    store: &Store,
    s: &Secrets<'_>,
    now: OffsetDateTime,
) -> Result<SecretAgeList, StoreError> {
    let mut out = Vec::new();
    let signing = s.max.signing_key_max_days;
    let last_agent = s.agent_keys.len().saturating_sub(1);
    let keys = std::iter::once((ACCESS_TOKEN_KEY, s.access_key, true)).chain(
        s.agent_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (AGENT_TOKEN_KEY, *k, i == last_agent)),
    );
    for (kind, key, current) in keys {
        let since = store
            .secret_since(kind, key.kid(), key.created().unwrap_or(now))
            .await?;
        out.push(entry(
            kind,
            key.kid().to_owned(),
            current,
            since,
            now,
            signing,
        ));
    }
    for fp in &s.relay_secrets {
        let since = store.secret_since(RELAY_SECRET, fp, now).await?;
        out.push(entry(
            RELAY_SECRET,
            fp.clone(),
            true,
            since,
            now,
            s.max.relay_secret_max_days,
        ));
    }
    // Worst first; among equals, the oldest.
    out.sort_by(|a, b| {
        rank(b.health)
            .cmp(&rank(a.health))
            .then(b.age_days.cmp(&a.age_days))
    });
    Ok(SecretAgeList { secrets: out })
}

fn rank(h: SecretHealth) -> u8 {
    match h {
        SecretHealth::Green => 0,
        SecretHealth::Amber => 1,
        SecretHealth::Red => 2,
    }
}

fn entry(
    kind: &str,
    id: String,
    current: bool,
    since: OffsetDateTime,
    now: OffsetDateTime,
    max_age_days: u32,
) -> SecretAge {
    let age_days = u32::try_from((now - since).whole_days().max(0)).unwrap_or(u32::MAX);
    let rotate_with = match kind {
        ACCESS_TOKEN_KEY => "fdt-cloud rotate-access-key",
        AGENT_TOKEN_KEY => "fdt-cloud rotate-agent-key",
        _ => "fdt-cloud rotate-relay-secret",
    };
    SecretAge {
        kind: kind.to_owned(),
        id,
        current,
        age_days,
        max_age_days,
        health: health(age_days, max_age_days),
        rotate_with: rotate_with.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_turns_amber_at_four_fifths_and_red_past_the_maximum() {
        assert_eq!(health(0, 90), SecretHealth::Green);
        assert_eq!(health(71, 90), SecretHealth::Green);
        assert_eq!(health(72, 90), SecretHealth::Amber);
        assert_eq!(health(90, 90), SecretHealth::Amber);
        assert_eq!(health(91, 90), SecretHealth::Red);
        assert_eq!(health(u32::MAX, u32::MAX), SecretHealth::Amber);
    }

    #[test]
    fn fingerprints_are_short_public_and_stable() {
        let f = fingerprint("a relay secret of some length");
        assert_eq!(f.len(), "sha256:".len() + 12);
        assert_eq!(f, fingerprint("a relay secret of some length"));
        assert!(!f.contains("relay"));
    }
}
