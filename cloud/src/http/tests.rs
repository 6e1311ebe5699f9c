//! The route table's own checks: every route names what it needs, and routes come only
//! from the table.

use super::openapi::Auth;
use axum::http::Method;

/// Routes anyone may call: sign-up and sign-in, the device flow's unauthenticated half,
/// public keys, plans, health and this document.
const PUBLIC: &[&str] = &[
    "/healthz",
    super::openapi::OPENAPI_PATH,
    "/v1/auth/register",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/device/code",
    "/v1/device/token",
    "/v1/plans",
    "/v1/jwks",
    "/.well-known/jwks.json",
    "/v1/cert-events",
    "/v1/billing/webhooks/{provider}",
    "/v1/billing/settlements",
    "/v1/billing/razorpay/orders/callback",
    "/v1/billing/razorpay/orders/{id}/pay",
    "/v1/billing/paypal/orders/return",
];

/// Every route names what it needs: a person's permission, a machine credential
/// (authtoken, relay secret), or it is in [`PUBLIC`]. A read permission is never enough
/// to change something, and only `/v1/admin` needs the operator permission.
#[test]
fn every_route_names_its_permission_or_is_public() {
    let mut people = 0;
    for ep in super::endpoints() {
        let route = format!("{} {}", ep.method, ep.path);
        match ep.auth {
            Auth::None => assert!(PUBLIC.contains(&ep.path), "{route} is not marked public"),
            Auth::Authtoken => assert!(ep.path.starts_with("/v1/agent/"), "{route}"),
            Auth::RelaySecret => assert!(ep.path.starts_with("/v1/relay/"), "{route}"),
            Auth::ScimToken => assert!(ep.path.starts_with("/scim/v2/"), "{route}"),
            Auth::MetricsToken => assert_eq!(ep.path, "/metrics", "{route}"),
            Auth::User(p) => {
                people += 1;
                assert!(!PUBLIC.contains(&ep.path), "{route}");
                // Accepting an invitation changes the caller's own memberships, proven by
                // the emailed token and the caller's address, not by a role.
                let writes = ep.method != Method::GET && ep.path != "/v1/invitations/accept";
                assert!(
                    !(writes && p.is_read()),
                    "{route} changes things with {}",
                    p.as_str()
                );
                assert_eq!(
                    p == fdt_api::Permission::Operator,
                    ep.path.starts_with("/v1/admin/"),
                    "{route}: {}",
                    p.as_str()
                );
            }
        }
    }
    assert!(people > 30, "{people} routes for people");
}

/// The router is built only from the route table, so the OpenAPI document cannot miss a
/// route: no `Router::route` call may appear outside [`super::app`]'s loop.
#[test]
fn routes_come_only_from_the_table() {
    let call = concat!(".rou", "te(");
    for (file, src) in [
        ("http/mod.rs", include_str!("mod.rs")),
        ("http/auth.rs", include_str!("auth.rs")),
        ("http/authtokens.rs", include_str!("authtokens.rs")),
        ("http/agent_sessions.rs", include_str!("agent_sessions.rs")),
        ("http/jwks.rs", include_str!("jwks.rs")),
        ("http/relays.rs", include_str!("relays.rs")),
        ("http/tunnels.rs", include_str!("tunnels.rs")),
        ("http/tunnel_configs.rs", include_str!("tunnel_configs.rs")),
        ("http/plans.rs", include_str!("plans.rs")),
        ("http/traffic.rs", include_str!("traffic.rs")),
        ("http/admin.rs", include_str!("admin.rs")),
        ("http/extract.rs", include_str!("extract.rs")),
        ("http/openapi.rs", include_str!("openapi.rs")),
        ("http/permit.rs", include_str!("permit.rs")),
        ("http/orgs.rs", include_str!("orgs.rs")),
        ("http/scim_admin.rs", include_str!("scim_admin.rs")),
        ("http/sso_admin.rs", include_str!("sso_admin.rs")),
        ("http/roles.rs", include_str!("roles.rs")),
        ("http/identity.rs", include_str!("identity.rs")),
        ("http/operators.rs", include_str!("operators.rs")),
        ("scim/mod.rs", include_str!("../scim/mod.rs")),
        ("scim/resources.rs", include_str!("../scim/resources.rs")),
        ("scim/reads.rs", include_str!("../scim/reads.rs")),
        ("scim/discovery.rs", include_str!("../scim/discovery.rs")),
        ("server.rs", include_str!("../server.rs")),
        ("dev.rs", include_str!("../dev.rs")),
    ] {
        let expected = usize::from(file == "http/mod.rs");
        assert_eq!(src.matches(call).count(), expected, "{file}");
        for other in [
            concat!(".route", "_service("),
            concat!(".ne", "st("),
            concat!(".nest", "_service("),
        ] {
            assert_eq!(src.matches(other).count(), 0, "{file}: {other}");
        }
    }
}
