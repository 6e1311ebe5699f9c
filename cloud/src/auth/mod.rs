//! Authentication machinery: password hashing, access tokens, the login and registration
//! limiters, and the agent-token keyring and issuer. The HTTP handlers in [`crate::http`] put
//! these together.

pub mod agent_keys;
pub mod agent_tokens;
pub mod jwt;
pub(crate) mod limiter;
pub(crate) mod password;
pub(crate) mod window;
