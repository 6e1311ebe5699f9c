//! Edge policy enforcement: IP allow/deny lists, HTTP basic auth and header rewriting.
//!
//! An agent sends an [`EdgePolicy`] of strings with each tunnel; [`CompiledPolicy::compile`]
//! validates it once, at bind time, into typed values (networks, header names and values,
//! credential digests) so that the per-request checks cannot fail and never allocate for
//! parsing. Basic-auth credentials are kept only as SHA-256 digests and compared in constant
//! time, whatever the length of the guess.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fdt_proto::{EdgePolicy, HeaderRules};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use ipnet::{IpNet, Ipv4Net};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Whether a policy may neither add nor remove `name`: these headers frame or route the
/// exchange, and changing them could desynchronise the relay and the agent (request
/// smuggling). The Host header has its own setting, `host_header`.
fn is_protected(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "content-length"
            | "host"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Why an [`EdgePolicy`] was refused. Messages never contain passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A basic-auth entry is not `user:password` with a non-empty user (entry index given).
    #[error("basic_auth entry #{0} must be \"user:password\" with a non-empty user")]
    BadCredential(usize),
    /// A header name in the rules is not a valid HTTP header name.
    #[error("invalid header name {0:?}")]
    BadHeaderName(String),
    /// A header value in the rules is not a valid HTTP header value (header name given).
    #[error("invalid value for header {0:?}")]
    BadHeaderValue(String),
    /// The rules try to add or remove a header that frames or routes the exchange.
    #[error("header {0:?} cannot be changed by a policy")]
    ProtectedHeader(String),
    /// The host header override is not a valid `host[:port]`.
    #[error("invalid host_header {0:?}")]
    BadHost(String),
}

/// Why a visitor's address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The address is in a network of the deny list.
    #[error("address is in denied network {0}")]
    DenyListed(IpNet),
    /// An allow list exists and the address is in none of its networks.
    #[error("address is not in any allowed network")]
    NotAllowed,
}

/// Header edits validated into typed names and values.
#[derive(Debug, Clone, Default)]
struct CompiledRules {
    /// Headers appended, in order.
    add: Vec<(HeaderName, HeaderValue)>,
    /// Headers removed (all values) before anything is added.
    remove: Vec<HeaderName>,
}

impl CompiledRules {
    /// Validates `rules`.
    fn compile(rules: &HeaderRules) -> Result<CompiledRules, PolicyError> {
        let add = rules
            .add
            .iter()
            .map(|(name, value)| {
                let name = header_name(name)?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| PolicyError::BadHeaderValue(name.as_str().to_owned()))?;
                Ok((name, value))
            })
            .collect::<Result<_, _>>()?;
        let remove = rules
            .remove
            .iter()
            .map(|name| header_name(name))
            .collect::<Result<_, _>>()?;
        Ok(CompiledRules { add, remove })
    }

    /// Removes, then appends, so that "remove X, add X" replaces X.
    fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// An [`EdgePolicy`] validated and ready to evaluate on every request or connection.
#[derive(Clone, Default)]
pub struct CompiledPolicy {
    /// Allowed networks (IPv4-mapped IPv6 networks stored as IPv4); empty allows all.
    allow: Vec<IpNet>,
    /// Denied networks, normalised like `allow`.
    deny: Vec<IpNet>,
    /// SHA-256 digests of the accepted `user:password` strings; empty disables basic auth.
    credentials: Vec<[u8; 32]>,
    /// Edits to requests going to the agent.
    request: CompiledRules,
    /// Edits to responses going to the visitor.
    response: CompiledRules,
    /// Replacement Host header, if any.
    host: Option<HeaderValue>,
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Unsalted digests of passwords are guessable offline; keep them out of logs.
        f.debug_struct("CompiledPolicy")
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("credentials", &self.credentials.len())
            .field("request", &self.request)
            .field("response", &self.response)
            .field("host", &self.host)
            .finish()
    }
}

impl CompiledPolicy {
    /// Validates `p`; the error names the first offending entry.
    pub fn compile(p: &EdgePolicy) -> Result<CompiledPolicy, PolicyError> {
        let credentials = p
            .basic_auth
            .iter()
            .enumerate()
            .map(|(i, entry)| match entry.split_once(':') {
                Some((user, pass)) if !user.is_empty() => {
                    Ok(prehashed(pass).unwrap_or_else(|| Sha256::digest(entry).into()))
                }
                _ => Err(PolicyError::BadCredential(i)),
            })
            .collect::<Result<_, _>>()?;
        let host = match &p.host_header {
            None => None,
            Some(h) => {
                // An authority may carry `user@`; a Host header may not.
                let valid = !h.contains('@')
                    && h.parse::<http::uri::Authority>()
                        .is_ok_and(|a| a.as_str() == h);
                let value = HeaderValue::from_str(h).ok().filter(|_| valid);
                Some(value.ok_or_else(|| PolicyError::BadHost(h.clone()))?)
            }
        };
        Ok(CompiledPolicy {
            allow: p.cidr_allow.iter().map(normalise_net).collect(),
            deny: p.cidr_deny.iter().map(normalise_net).collect(),
            credentials,
            request: CompiledRules::compile(&p.request_headers)?,
            response: CompiledRules::compile(&p.response_headers)?,
            host,
        })
    }

    /// Checks a visitor address: deny list first, then the allow list if it is non-empty.
    pub fn check_ip(&self, peer: IpAddr) -> Result<(), Denied> {
        let peer = normalise_ip(peer);
        if let Some(net) = self.deny.iter().find(|n| n.contains(&peer)) {
            return Err(Denied::DenyListed(*net));
        }
        if self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&peer)) {
            Ok(())
        } else {
            Err(Denied::NotAllowed)
        }
    }

    /// Whether an `Authorization` header satisfies basic auth (always true if none is set).
    pub fn check_basic_auth(&self, authorization: Option<&HeaderValue>) -> bool {
        if self.credentials.is_empty() {
            return true;
        }
        let Some(decoded) = authorization.and_then(decode_basic) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(&decoded).into();
        // Compare against every entry without stopping early, so timing reveals nothing.
        let matched = self
            .credentials
            .iter()
            .fold(Choice::from(0), |acc, c| acc | c[..].ct_eq(&digest[..]));
        matched.into()
    }

    /// Applies the request header rules (removals, then additions).
    pub fn apply_request_headers(&self, h: &mut HeaderMap) {
        self.request.apply(h);
    }

    /// Applies the response header rules (removals, then additions).
    pub fn apply_response_headers(&self, h: &mut HeaderMap) {
        self.response.apply(h);
    }

    /// The value that replaces the Host header sent upstream, if the policy sets one.
    pub fn host_rewrite(&self) -> Option<&HeaderValue> {
        self.host.as_ref()
    }

    /// Whether the policy requires basic auth (so the edge answers 401 with a challenge).
    pub fn has_basic_auth(&self) -> bool {
        !self.credentials.is_empty()
    }
}

/// Marks a basic-auth password given as the SHA-256 of `user:password` (lower-case hex):
/// the control plane keeps managed tunnels' credentials only in this form, and it is the very
/// digest the edge compares, so the password itself never reaches the relay or the agent.
pub const PREHASHED_PREFIX: &str = "{sha256}";

/// The digest in a `{sha256}<64 hex>` password, if it is one.
fn prehashed(pass: &str) -> Option<[u8; 32]> {
    let hex = pass.strip_prefix(PREHASHED_PREFIX)?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses a header name from the rules and refuses the protected ones.
fn header_name(name: &str) -> Result<HeaderName, PolicyError> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| PolicyError::BadHeaderName(name.into()))?;
    if is_protected(&parsed) {
        return Err(PolicyError::ProtectedHeader(parsed.as_str().to_owned()));
    }
    Ok(parsed)
}

/// Decodes `Basic <base64>` (scheme case-insensitive) into the raw `user:password` bytes.
fn decode_basic(value: &HeaderValue) -> Option<Vec<u8>> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    STANDARD.decode(token.trim_start()).ok()
}

/// Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to its IPv4 form.
fn normalise_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Maps a network inside `::ffff:0:0/96` to the IPv4 network it stands for.
fn normalise_net(net: &IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    *net
}

#[cfg(test)]
mod tests;
