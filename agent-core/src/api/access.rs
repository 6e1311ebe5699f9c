//! Who may use the local API. On loopback (the default) any program of this computer may, as
//! with ngrok, and the Host and Origin checks keep web pages out. The API shows captured
//! traffic and replays requests to the user's services, so serving it beyond loopback takes
//! an explicit opt-in (`--api-allow-remote`) and HTTP Basic credentials (`--api-auth`).

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// `user:pass` the local API asks for with HTTP Basic; `Debug` prints `***`.
#[derive(Clone)]
pub struct ApiCredentials {
    /// SHA-256 of `user:pass`: comparing digests takes the same time whatever was sent.
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for ApiCredentials {
    type Err = ApiAccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => Ok(Self {
                digest: Sha256::digest(s.as_bytes()).into(),
            }),
            _ => Err(ApiAccessError::BadCredentials),
        }
    }
}

impl ApiCredentials {
    /// Whether an `Authorization` header carries these credentials.
    pub fn accepts(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(given) = authorization.and_then(decode_basic) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(&given).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// Decodes `Basic <base64>` (scheme case-insensitive) into the raw `user:pass` bytes.
fn decode_basic(value: &HeaderValue) -> Option<Vec<u8>> {
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    STANDARD.decode(token.trim_start()).ok()
}

/// How the local API may be reached, decided before it binds.
#[derive(Debug, Clone, Default)]
pub struct ApiAccess {
    /// Asked of every request when set.
    pub(super) credentials: Option<ApiCredentials>,
    /// Listening beyond loopback: any Host is fine (the credentials keep others out).
    pub(super) remote: bool,
}

/// Why the local API cannot be served as asked; each message names the flag to use.
#[derive(Debug, thiserror::Error)]
pub enum ApiAccessError {
    /// The address is not an IP address and port.
    #[error("--api-addr {0:?} is not an address like 127.0.0.1:4040 (or \"off\")")]
    BadAddr(String),
    /// A non-loopback address without `--api-allow-remote`.
    #[error(
        "--api-addr {0} is not a loopback address; the local API and inspector show your \
         traffic and replay requests, so serving them to other machines needs \
         --api-allow-remote and credentials (--api-auth USER:PASS)"
    )]
    RemoteNotAllowed(SocketAddr),
    /// A non-loopback address with the opt-in but no credentials.
    #[error(
        "--api-addr {0} with --api-allow-remote needs credentials: --api-auth USER:PASS, \
         FDT_API_AUTH or `api_auth` in the config file"
    )]
    NoCredentials(SocketAddr),
    /// Credentials not of the form `user:pass`.
    #[error("--api-auth must be USER:PASS, both non-empty")]
    BadCredentials,
}

impl ApiAccess {
    /// Checks `addr` (or `off`) against the opt-in and the credentials. Loopback needs
    /// neither; credentials given for it are asked all the same.
    pub fn check(
        addr: &str,
        allow_remote: bool,
        credentials: Option<ApiCredentials>,
    ) -> Result<Self, ApiAccessError> {
        if addr == "off" {
            return Ok(Self::default());
        }
        let sa: SocketAddr = addr
            .parse()
            .map_err(|_| ApiAccessError::BadAddr(addr.to_string()))?;
        if sa.ip().to_canonical().is_loopback() {
            return Ok(Self {
                credentials,
                remote: false,
            });
        }
        if !allow_remote {
            return Err(ApiAccessError::RemoteNotAllowed(sa));
        }
        if credentials.is_none() {
            return Err(ApiAccessError::NoCredentials(sa));
        }
        Ok(Self {
            credentials,
            remote: true,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn creds(s: &str) -> ApiCredentials {
        s.parse().unwrap()
    }

    fn basic(user_pass: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(user_pass))).unwrap()
    }

    #[test]
    fn loopback_needs_nothing_and_other_addresses_need_both() {
        assert!(ApiAccess::check("127.0.0.1:4040", false, None).is_ok());
        assert!(ApiAccess::check("[::1]:4040", false, None).is_ok());
        assert!(ApiAccess::check("[::ffff:127.0.0.1]:4040", false, None).is_ok());
        assert!(ApiAccess::check("off", false, None).is_ok());
        for addr in ["0.0.0.0:4040", "[::]:4040", "192.168.1.5:4040"] {
            assert!(matches!(
                ApiAccess::check(addr, false, Some(creds("a:b"))),
                Err(ApiAccessError::RemoteNotAllowed(_))
            ));
            assert!(matches!(
                ApiAccess::check(addr, true, None),
                Err(ApiAccessError::NoCredentials(_))
            ));
            assert!(
                ApiAccess::check(addr, true, Some(creds("a:b")))
                    .unwrap()
                    .remote
            );
        }
        assert!(matches!(
            ApiAccess::check("localhost:4040", false, None),
            Err(ApiAccessError::BadAddr(_))
        ));
    }

    #[test]
    fn credentials_accept_only_their_own_pair() {
        for bad in ["nocolon", ":pass", "user:"] {
            assert!(bad.parse::<ApiCredentials>().is_err(), "{bad}");
        }
        let c = creds("me:s3cret:with:colons");
        assert!(c.accepts(Some(&basic("me:s3cret:with:colons"))));
        assert!(c.accepts(Some(&HeaderValue::from_static(
            "basic bWU6czNjcmV0OndpdGg6Y29sb25z"
        ))));
        assert!(!c.accepts(Some(&basic("me:s3cret"))));
        assert!(!c.accepts(Some(&HeaderValue::from_static("Bearer x"))));
        assert!(!c.accepts(None));
        assert_eq!(format!("{c:?}"), "***");
    }
}
