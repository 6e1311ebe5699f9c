//! Serving custom domains at the edge: which live tunnel a verified domain's request goes to
//! (its route's name, and only while that name's tunnel belongs to the domain's account), what
//! visitors see otherwise (the domain's failure policy). The ACME answers are in
//! [`super::acme`].

use crate::domains::CustomDomain;
use crate::edge::context::Edge;
use crate::edge::error::{Body, EdgeError, full};
use crate::registry::{HostLookup, Tunnel};
use fdt_api::FailurePolicy;
use http::{HeaderValue, Response, StatusCode, header};
use std::sync::Arc;

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
