//! Agent tokens: the short-lived EdDSA JWTs an agent presents to a relay, issued in exchange
//! for an authtoken (`POST /v1/agent/sessions`).
//!
//! Their claims are the relay's contract (`fdt_relay::auth::AgentClaims`): `sub` (account),
//! `aud` = [`RELAY_AUDIENCE`], `exp`, `iat`, `names` (empty = any free name), `max_tunnels`
//! (0 = the relay's default) and `atk` (the authtoken exchanged, so revoking it closes sessions). `iss` is added for the logs; relays ignore it. The relay checks
//! them offline against the keys of [`AgentKeyring::jwks`].

use super::agent_keys::AgentKeyring;
use crate::config::AgentTokenConfig;
use fdt_api::{AccountId, AgentToken, AuthtokenId, Plan};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Audience of every agent token: the relays.
pub const RELAY_AUDIENCE: &str = "fdt-relay";

/// Claims of an agent token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTokenClaims {
    /// Issuer (this cloud); relays check it against their `agent_token_issuer`.
    pub iss: String,
    /// Token ID: a relay accepts each token on one connection only, so a captured bind cannot
    /// be replayed on a new connection while the token lives.
    pub jti: String,
    /// The account the agent acts for.
    pub sub: AccountId,
    /// Audience: [`RELAY_AUDIENCE`].
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Subdomains the agent may bind; empty means any free name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Most tunnels one session may hold; 0 leaves it to the relay.
    pub max_tunnels: u32,
    /// The authtoken exchanged for this token: relays close its sessions when it is revoked.
    pub atk: AuthtokenId,
    /// The account's plan, for the relay's logs.
    pub plan: Plan,
    /// HTTP requests per minute per tunnel the relay allows (the plan's entitlement).
    pub rpm: u32,
    /// The plan keeps bodies in the traffic log (for tunnels that ask).
    pub bodies: bool,
    /// The plan shows browsers a warning page first (absent when false, like on self-hosted
    /// tokens).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warn: bool,
}

/// Lifetime of a relay identity token. Relays get a new one in every heartbeat answer (every
/// few seconds) and present it again on their open peer connections, so a relay the fleet
/// stops hearing from is cut off from its peers within this time.
pub const PEER_TOKEN_TTL_SECS: u64 = 120;

/// Claims of a relay identity token: who a relay forwarding visitors to a peer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTokenClaims {
    /// Issuer (this cloud).
    pub iss: String,
    /// The relay's ID.
    pub sub: String,
    /// Audience: [`fdt_api::PEER_AUDIENCE`] (never an agent token's).
    pub aud: String,
    /// The relay's region.
    pub region: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

/// Signing an agent token failed (a server-side fault).
#[derive(Debug, thiserror::Error)]
#[error("agent token signing failed: {0}")]
pub struct AgentTokenError(String);

/// Issues agent tokens with the keyring's newest key.
#[derive(Debug, Clone)]
pub struct AgentTokens {
    keys: AgentKeyring,
    issuer: String,
    ttl_secs: u64,
    max_tunnels: u32,
}

impl AgentTokens {
    /// Tokens signed by `keys`, issued by `issuer`, with the lifetime and limits of `cfg`.
    pub fn new(keys: AgentKeyring, issuer: &str, cfg: &AgentTokenConfig) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            ttl_secs: cfg.ttl_secs,
            max_tunnels: cfg.max_tunnels,
        }
    }

    /// The keyring (its JWKS is what relays verify with).
    pub fn keyring(&self) -> &AgentKeyring {
        &self.keys
    }

    /// Lifetime of new tokens, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// The claims of a token issued now for `account`.
    pub fn claims(
        &self,
        account: &AccountId,
        authtoken: &AuthtokenId,
        plan: Plan,
        now: OffsetDateTime,
    ) -> AgentTokenClaims {
        // Times before 1970 do not occur on a working clock; 0 would only make tokens expired.
        let iat = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        AgentTokenClaims {
            iss: self.issuer.clone(),
            jti: crate::random::random_base62(22),
            sub: account.clone(),
            aud: RELAY_AUDIENCE.to_owned(),
            iat,
            exp: iat.saturating_add(self.ttl_secs),
            names: Vec::new(),
            max_tunnels: self.max_tunnels,
            atk: authtoken.clone(),
            plan,
            rpm: plan.entitlements().requests_per_minute,
            bodies: plan.entitlements().log_bodies,
            warn: plan.entitlements().browser_warning,
        }
    }

    /// Issues the identity token of relay `relay_id` in `region` (see [`PeerTokenClaims`]),
    /// signed by the same ring relays already verify agent tokens with.
    pub fn peer_token(
        &self,
        relay_id: &str,
        region: &str,
        now: OffsetDateTime,
    ) -> Result<String, AgentTokenError> {
        let iat = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        let claims = PeerTokenClaims {
            iss: self.issuer.clone(),
            sub: relay_id.to_owned(),
            aud: fdt_api::PEER_AUDIENCE.to_owned(),
            region: region.to_owned(),
            iat,
            exp: iat.saturating_add(PEER_TOKEN_TTL_SECS),
        };
        self.keys
            .signing_key()
            .sign(&claims)
            .map_err(|e| AgentTokenError(e.to_string()))
    }

    /// Issues a token for `account`, exchanged for `authtoken`.
    pub fn issue(
        &self,
        account: &AccountId,
        authtoken: &AuthtokenId,
        plan: Plan,
        now: OffsetDateTime,
    ) -> Result<AgentToken, AgentTokenError> {
        self.keys
            .signing_key()
            .sign(&self.claims(account, authtoken, plan, now))
            .map(AgentToken::new)
            .map_err(|e| AgentTokenError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn tokens_carry_the_relay_claims_and_the_signing_kid() {
        let ring = AgentKeyring::generate().unwrap();
        let cfg = AgentTokenConfig {
            ttl_secs: 300,
            max_tunnels: 4,
        };
        let tokens = AgentTokens::new(ring.clone(), "fdt-cloud", &cfg);
        let account = crate::random::new_account_id();
        let now = OffsetDateTime::now_utc();
        let atk = crate::random::new_authtoken_id();
        let token = tokens.issue(&account, &atk, Plan::Pro, now).unwrap();

        let header = jsonwebtoken::decode_header(token.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(ring.signing_key().kid()));
        let x = &ring.jwks().keys[0].x;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[RELAY_AUDIENCE]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token.expose_secret(),
            &DecodingKey::from_ed_components(x).unwrap(),
            &v,
        )
        .unwrap();
        let c = data.claims;
        assert_eq!(c["sub"], account.as_str());
        assert_eq!(c["aud"], RELAY_AUDIENCE);
        assert_eq!(c["max_tunnels"], 4);
        assert_eq!(c["atk"], atk.as_str());
        assert_eq!(c["plan"], "pro");
        assert_eq!(c["rpm"], Plan::Pro.entitlements().requests_per_minute);
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
        assert!(c.get("names").is_none(), "empty names means any: {c}");
        assert!(c.get("warn").is_none(), "paid plans do not warn: {c}");

        let free = tokens.claims(&account, &atk, Plan::Free, now);
        let free = serde_json::to_value(&free).unwrap();
        assert_eq!(free["warn"], true, "the free plan warns: {free}");
    }
}
