//! Serving custom domains at the edge: which live tunnel a verified domain's request goes to
//! (its route's name, and only while that name's tunnel belongs to the domain's account), what
//! visitors see otherwise (the domain's failure policy), and the ACME HTTP-01 answers the
//! control plane's certificate orders need.

use crate::domains::CustomDomain;
use crate::edge::context::Edge;
use crate::edge::error::{Body, EdgeError, full};
use crate::registry::{HostLookup, Tunnel};
use fdt_api::FailurePolicy;
use http::{HeaderValue, Response, StatusCode, header};
use std::sync::Arc;
use std::time::Duration;

/// Path prefix of ACME HTTP-01 challenges (RFC 8555 §8.3).
const ACME_PREFIX: &str = "/.well-known/acme-challenge/";
/// Most ACME challenge lookups in flight at once; more get 404 (a CA validates a handful).
pub(crate) const MAX_ACME_LOOKUPS: usize = 32;
/// How long the control plane has to answer a challenge lookup.
const ACME_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The live tunnel serving `d`: its route's name under the base domain, held by a tunnel of the
/// domain's own account. A name another account holds is never served under this domain.
pub(crate) fn online_tunnel(edge: &Edge, d: &CustomDomain) -> Option<Arc<Tunnel>> {
    let target = d.target.as_deref()?;
    let name = format!("{target}.{}", edge.cfg.base_domain);
    match edge.registry.lookup_host(&name) {
        HostLookup::Online(t) if t.account == d.account.as_str() => Some(t),
        _ => None,
    }
}

/// What visitors of `host` see while `d` has no tunnel to serve it.
pub(crate) fn failure(d: &CustomDomain, host: &str) -> Result<Response<Body>, EdgeError> {
    let mut resp = Response::new(full(bytes::Bytes::new()));
    match &d.failure {
        FailurePolicy::ErrorPage => return Err(EdgeError::TunnelOffline(host.to_owned())),
        FailurePolicy::Status { status } => {
            *resp.status_mut() =
                StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        }
        FailurePolicy::Redirect { url } => {
            *resp.status_mut() = StatusCode::FOUND;
            // The control plane only stores printable ASCII URLs; anything else is dropped.
            if let Ok(v) = HeaderValue::from_str(url) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
        }
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The answer to an ACME HTTP-01 request for `host` at `path`, when it is one: the key
/// authorization the control plane holds for that token, if it was issued for this very
/// domain; 404 otherwise.
pub(crate) async fn acme_http01(edge: &Edge, host: &str, path: &str) -> Option<Response<Body>> {
    let token = path.strip_prefix(ACME_PREFIX)?;
    let well_formed = !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let slot = edge.acme_lookups.try_acquire();
    let answer = match (&edge.control, well_formed && slot.is_ok()) {
        (Some(control), true) => {
            match tokio::time::timeout(ACME_LOOKUP_TIMEOUT, control.acme_challenge(token)).await {
                Ok(Ok(a)) if a.domain == host => Some(a.key_authorization),
                Ok(Ok(a)) => {
                    tracing::warn!(%host, issued_for = %a.domain, "ACME challenge asked on another domain");
                    None
                }
                Ok(Err(e)) => {
                    tracing::debug!(%host, error = %e, "no ACME challenge for this token");
                    None
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    let mut resp = match answer {
        Some(body) => {
            let mut r = Response::new(full(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        None => {
            let mut r = Response::new(full("no such ACME challenge\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(resp)
}
