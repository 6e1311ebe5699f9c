//! OpenID Connect single sign-on, per organisation (authorization code flow with PKCE and a
//! nonce). An organisation's owners set its provider (`PUT /v1/sso`); its people start at
//! `/sso/start?org=…` and come back to `/sso/callback`, signed in to the console, made members
//! just in time with the role their groups map to.
//!
//! Built on `jsonwebtoken` (already ours for access tokens, with its RSA/ECDSA/EdDSA
//! verifiers) and a small discovery client on reqwest, rather than the `openidconnect`
//! crate: the id_token checks are a page of code here, tested against fixed keys, and the
//! control plane gains no new dependency tree.

pub mod client_secret;
pub mod id_token;
pub mod provider;
pub mod signin;

/// Where a sign-in starts.
pub const START_PATH: &str = "/sso/start";
/// Where the provider sends the browser back (the redirect URI to register).
pub const CALLBACK_PATH: &str = "/sso/callback";
