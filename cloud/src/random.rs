//! Fresh IDs and secrets, and the hash under which secrets are stored.
//!
//! Secrets here (authtokens, refresh tokens) carry 200+ bits of entropy, so a single SHA-256 is
//! enough to store them: unlike passwords there is nothing to brute-force, and a fast hash lets
//! the server look a token up by its hash with an index.

use fdt_api::{
    AccountId, Authtoken, AuthtokenId, RefreshToken, ReplayId, ReservedNameId, SessionId, TunnelId,
};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens, so scanners and people can tell them from authtokens.
pub const REFRESH_TOKEN_PREFIX: &str = "fdr_";
/// Random base62 characters in a refresh token (about 256 bits).
const REFRESH_TOKEN_RANDOM_LEN: usize = 43;

/// `len` characters drawn uniformly from base62 with the OS-seeded thread RNG.
pub fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 of a secret, as stored in the database.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

// `from_suffix` only fails on a malformed suffix, and ours is always ID_SUFFIX_LEN base62
// characters, so the `expect`s below state an invariant rather than handle input.

/// A new account ID.
pub fn new_account_id() -> AccountId {
    AccountId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new session ID.
pub fn new_session_id() -> SessionId {
    SessionId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new authtoken ID.
pub fn new_authtoken_id() -> AuthtokenId {
    AuthtokenId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new tunnel ID.
pub fn new_tunnel_id() -> TunnelId {
    TunnelId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new replay job ID.
pub fn new_replay_id() -> ReplayId {
    ReplayId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new reservation ID.
pub fn new_reserved_name_id() -> ReservedNameId {
    ReservedNameId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new tunnel definition ID.
pub fn new_tunnel_config_id() -> fdt_api::TunnelConfigId {
    fdt_api::TunnelConfigId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .expect("generated suffix is valid")
}

/// A new authtoken secret (prefix, random part, checksum).
pub fn new_authtoken() -> Authtoken {
    Authtoken::from_random_part(&random_base62(
        fdt_api::authtoken_format::AUTHTOKEN_RANDOM_LEN,
    ))
    .expect("generated random part is valid")
}

/// A new refresh token.
pub fn new_refresh_token() -> RefreshToken {
    RefreshToken::new(format!(
        "{REFRESH_TOKEN_PREFIX}{}",
        random_base62(REFRESH_TOKEN_RANDOM_LEN)
    ))
}

/// Whether `s` could be a refresh token we issued; anything else is refused without a
/// database lookup.
pub fn looks_like_refresh_token(s: &str) -> bool {
    s.strip_prefix(REFRESH_TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == REFRESH_TOKEN_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_well_formed_and_distinct() {
        let a = new_refresh_token();
        assert!(looks_like_refresh_token(a.expose_secret()));
        assert_ne!(a, new_refresh_token());
        assert!(!looks_like_refresh_token("fdr_short"));
        let t = new_authtoken();
        assert!(fdt_api::parse_authtoken(t.expose_secret()).is_ok());
        assert_ne!(new_account_id(), new_account_id());
        assert_eq!(secret_hash("x").len(), 32);
    }
}
