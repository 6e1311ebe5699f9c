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
                Some((user, _)) if !user.is_empty() => Ok(Sha256::digest(entry).into()),
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
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn basic(user_pass: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(user_pass))).unwrap()
    }

    fn compile(p: EdgePolicy) -> CompiledPolicy {
        CompiledPolicy::compile(&p).unwrap()
    }

    #[test]
    fn empty_policy_allows_everything() {
        let p = compile(EdgePolicy::default());
        assert_eq!(p.check_ip(ip("203.0.113.9")), Ok(()));
        assert_eq!(p.check_ip(ip("2001:db8::1")), Ok(()));
        assert!(p.check_basic_auth(None));
        assert!(!p.has_basic_auth());
        assert!(p.host_rewrite().is_none());
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        p.apply_request_headers(&mut h);
        p.apply_response_headers(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn mapped_ipv6_peer_matches_ipv4_rules() {
        let p = compile(EdgePolicy {
            cidr_allow: vec![net("10.0.0.0/8")],
            cidr_deny: vec![net("::ffff:10.9.0.0/112")],
            ..EdgePolicy::default()
        });
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped());
        assert_eq!(p.check_ip(mapped), Ok(()));
        assert_eq!(
            p.check_ip(ip("::ffff:10.9.1.1")),
            Err(Denied::DenyListed(net("10.9.0.0/16")))
        );
        assert_eq!(
            p.check_ip(ip("10.9.1.1")),
            Err(Denied::DenyListed(net("10.9.0.0/16")))
        );
        assert_eq!(p.check_ip(ip("::ffff:192.0.2.1")), Err(Denied::NotAllowed));
        // IPv4-compatible (deprecated) addresses are not mapped ones.
        let compat = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0x0a01, 0x0203));
        assert_eq!(p.check_ip(compat), Err(Denied::NotAllowed));
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = compile(EdgePolicy {
            cidr_allow: vec![net("192.0.2.0/24"), net("2001:db8::/32")],
            cidr_deny: vec![net("192.0.2.128/25"), net("2001:db8:bad::/48")],
            ..EdgePolicy::default()
        });
        assert_eq!(p.check_ip(ip("192.0.2.1")), Ok(()));
        assert_eq!(
            p.check_ip(ip("192.0.2.200")),
            Err(Denied::DenyListed(net("192.0.2.128/25")))
        );
        assert_eq!(p.check_ip(ip("2001:db8::1")), Ok(()));
        assert!(matches!(
            p.check_ip(ip("2001:db8:bad::1")),
            Err(Denied::DenyListed(_))
        ));
        assert_eq!(p.check_ip(ip("198.51.100.1")), Err(Denied::NotAllowed));
    }

    #[test]
    fn deny_only_list_allows_the_rest() {
        let p = compile(EdgePolicy {
            cidr_deny: vec![net("198.51.100.0/24")],
            ..EdgePolicy::default()
        });
        assert!(p.check_ip(ip("198.51.100.7")).is_err());
        assert_eq!(p.check_ip(ip("203.0.113.7")), Ok(()));
    }

    #[test]
    fn basic_auth_accepts_only_configured_pairs() {
        let p = compile(EdgePolicy {
            basic_auth: vec!["alice:s3cret".into(), "bob:pa:ss".into(), "eve:".into()],
            ..EdgePolicy::default()
        });
        assert!(p.has_basic_auth());
        assert!(p.check_basic_auth(Some(&basic("alice:s3cret"))));
        assert!(p.check_basic_auth(Some(&basic("bob:pa:ss"))));
        assert!(p.check_basic_auth(Some(&basic("eve:"))));
        assert!(!p.check_basic_auth(Some(&basic("alice:wrong"))));
        assert!(!p.check_basic_auth(Some(&basic("alice:s3cret2"))));
        assert!(!p.check_basic_auth(Some(&basic("bob:pa"))));
        assert!(!p.check_basic_auth(Some(&basic("mallory:s3cret"))));
        assert!(!p.check_basic_auth(None));
    }

    #[test]
    fn basic_auth_scheme_is_case_insensitive() {
        let p = compile(EdgePolicy {
            basic_auth: vec!["alice:s3cret".into()],
            ..EdgePolicy::default()
        });
        let token = STANDARD.encode("alice:s3cret");
        for v in [
            format!("basic {token}"),
            format!("BASIC {token}"),
            format!("  Basic   {token}  "),
        ] {
            assert!(
                p.check_basic_auth(Some(&HeaderValue::from_str(&v).unwrap())),
                "{v}"
            );
        }
    }

    #[test]
    fn malformed_authorization_headers_are_refused() {
        let p = compile(EdgePolicy {
            basic_auth: vec!["alice:s3cret".into()],
            ..EdgePolicy::default()
        });
        let token = STANDARD.encode("alice:s3cret");
        for v in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            "Basic !!!notbase64".into(),
            format!("Bearer {token}"),
            format!("Basic{token}"),
            format!("Basic {}", &token[..token.len() - 2]),
            "alice:s3cret".into(),
        ] {
            assert!(
                !p.check_basic_auth(Some(&HeaderValue::from_str(&v).unwrap())),
                "{v:?}"
            );
        }
        let opaque = HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap();
        assert!(!p.check_basic_auth(Some(&opaque)));
    }

    #[test]
    fn bad_credentials_are_rejected_at_compile() {
        for (entries, index) in [
            (vec!["alice:x", "nocolon"], 1),
            (vec![":hunter2"], 0),
            (vec![""], 0),
        ] {
            let p = EdgePolicy {
                basic_auth: entries.into_iter().map(String::from).collect(),
                ..EdgePolicy::default()
            };
            let err = CompiledPolicy::compile(&p).unwrap_err();
            assert_eq!(err, PolicyError::BadCredential(index));
            assert!(!format!("{err}{err:?}").contains("hunter2"));
        }
    }

    #[test]
    fn headers_are_removed_then_added() {
        let p = compile(EdgePolicy {
            request_headers: HeaderRules {
                add: vec![
                    ("X-Forwarded-Team".into(), "core".into()),
                    ("x-dup".into(), "a".into()),
                    ("x-dup".into(), "b".into()),
                    ("x-replace".into(), "new".into()),
                ],
                remove: vec!["Cookie".into(), "X-Replace".into()],
            },
            response_headers: HeaderRules {
                add: vec![("strict-transport-security".into(), "max-age=60".into())],
                remove: vec!["server".into()],
            },
            ..EdgePolicy::default()
        });
        let mut req = HeaderMap::new();
        req.append("cookie", HeaderValue::from_static("a=1"));
        req.append("cookie", HeaderValue::from_static("b=2"));
        req.insert("x-replace", HeaderValue::from_static("old"));
        req.insert("accept", HeaderValue::from_static("*/*"));
        p.apply_request_headers(&mut req);
        assert!(req.get("cookie").is_none());
        assert_eq!(req["x-forwarded-team"], "core");
        assert_eq!(req.get_all("x-dup").iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(req.get_all("x-replace").iter().collect::<Vec<_>>(), ["new"]);
        assert_eq!(req["accept"], "*/*");

        let mut resp = HeaderMap::new();
        resp.insert("server", HeaderValue::from_static("nginx"));
        p.apply_response_headers(&mut resp);
        assert!(resp.get("server").is_none());
        assert_eq!(resp["strict-transport-security"], "max-age=60");
    }

    #[test]
    fn invalid_or_protected_headers_are_rejected() {
        let with_req = |add: Vec<(&str, &str)>, remove: Vec<&str>| EdgePolicy {
            request_headers: HeaderRules {
                add: add.into_iter().map(|(n, v)| (n.into(), v.into())).collect(),
                remove: remove.into_iter().map(String::from).collect(),
            },
            ..EdgePolicy::default()
        };
        let cases = [
            (with_req(vec![("bad name", "v")], vec![]), "name"),
            (with_req(vec![("", "v")], vec![]), "name"),
            (
                with_req(vec![("x-a", "line\r\nInjected: 1")], vec![]),
                "value",
            ),
            (with_req(vec![("x-a", "nul\0")], vec![]), "value"),
            (with_req(vec![], vec!["bad:name"]), "name"),
            (
                with_req(vec![("Transfer-Encoding", "chunked")], vec![]),
                "protected",
            ),
            (with_req(vec![("content-length", "0")], vec![]), "protected"),
            (with_req(vec![], vec!["Host"]), "protected"),
        ];
        for (policy, kind) in cases {
            let err = CompiledPolicy::compile(&policy).unwrap_err();
            let ok = match kind {
                "name" => matches!(err, PolicyError::BadHeaderName(_)),
                "value" => matches!(err, PolicyError::BadHeaderValue(_)),
                _ => matches!(err, PolicyError::ProtectedHeader(_)),
            };
            assert!(ok, "{policy:?} gave {err:?}");
        }
        let resp = EdgePolicy {
            response_headers: HeaderRules {
                add: vec![("x-ok".into(), "bad\nvalue".into())],
                remove: vec![],
            },
            ..EdgePolicy::default()
        };
        assert!(CompiledPolicy::compile(&resp).is_err());
    }

    #[test]
    fn host_rewrite_is_validated() {
        let p = compile(EdgePolicy {
            host_header: Some("internal.local:8080".into()),
            ..EdgePolicy::default()
        });
        assert_eq!(p.host_rewrite().unwrap(), "internal.local:8080");
        for bad in ["", "a b", "evil.com/path", "user@host", "x\r\ny"] {
            let p = EdgePolicy {
                host_header: Some(bad.into()),
                ..EdgePolicy::default()
            };
            assert_eq!(
                CompiledPolicy::compile(&p).unwrap_err(),
                PolicyError::BadHost(bad.into()),
                "{bad:?}"
            );
        }
    }
}
