//! The HTTP API: [`app`] builds the router from an [`AppState`], so tests drive it directly
//! (`tower::ServiceExt::oneshot`) and the server only adds a listener.

mod admin;
mod admin_domains;
mod agent_sessions;
pub(crate) mod auth;
mod authtokens;
mod billing;
mod cert_events;
mod checkout;
pub(crate) mod device;
mod domain_incidents;
mod domains;
mod events;
pub mod extract;
mod identity;
mod invoices;
mod jwks;
mod ledger;
mod metrics;
pub mod openapi;
mod operators;
mod orders;
pub(crate) mod orgs;
pub(crate) mod permit;
mod plans;
mod relays;
mod roles;
mod scim_admin;
mod settlements;
mod sso_admin;
mod traffic;
mod tunnel_configs;
mod tunnels;

use crate::error::ApiError;
use crate::scim;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use fdt_api::{
    Account, AccountPlan, AgentSessionRequest, AgentSessionResponse, AuthtokenList, BindingGranted,
    BindingRequest, CreateAuthtokenRequest, CreatedAuthtoken, Jwks, LoginRequest, PlanList,
    RefreshRequest, RegisterRequest, RelayHeartbeat, RelayHeartbeatAck, RelayList, RevocationList,
    TokenResponse, TunnelInfo, TunnelList, UsageList,
};
use fdt_api::{
    DeviceCodeRequest, DeviceCodeResponse, DeviceDecision, DevicePending, DeviceTokenRequest,
    DeviceTokenResponse,
};
use fdt_api::{
    RelayTunnelConfigs, TunnelConfig, TunnelConfigChanges, TunnelConfigList, TunnelConfigRequest,
};
use fdt_api::{ReplayJob, ReplayRequest, RequestList, RequestRecord, TrafficAck, TrafficBatch};
use openapi::{Auth, Endpoint, OPENAPI_PATH};

/// The control plane's router: the web console and admin panel ([`crate::console`]), and
/// [`api`].
pub fn app(state: AppState) -> Router {
    // The recorder first: what happens before it is installed is not counted.
    crate::metrics::handle();
    let api = api(state.clone());
    api.clone()
        .merge(crate::console::router(state, api))
        // Every request counted and timed by its route (see `crate::metrics`).
        .layer(axum::middleware::from_fn(crate::metrics::track))
}

/// The `/v1` API, the JWKS and `/healthz`, all from [`endpoints`].
pub fn api(state: AppState) -> Router {
    let max_body = state.max_body_bytes();
    let mut router = Router::new();
    for ep in endpoints() {
        let handler = match ep.auth {
            // The permission is checked before the handler runs (see `permit`).
            openapi::Auth::User(p) => ep.handler.route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), p),
                permit::require,
            )),
            _ => ep.handler,
        };
        // Two entries on one path merge (each carries only its own method).
        router = router.route(ep.path, handler);
    }
    router
        // Unknown paths and methods get the JSON error body too.
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// The route table: every route the router serves, and what the OpenAPI document says of it.
/// Add routes here, never with `Router::route` elsewhere.
fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    let mut table = vec![
        Endpoint::new(M::GET, "/healthz", "healthz", healthz)
            .summary("Liveness probe")
            .text(200),
        Endpoint::new(M::GET, "/metrics", "metrics", metrics::serve)
            .summary("Prometheus metrics (text format), for the bearer of the metrics token")
            .auth(Auth::MetricsToken)
            .text(200),
        Endpoint::new(M::GET, OPENAPI_PATH, "openapi", openapi::serve)
            .summary("This OpenAPI document")
            .json::<serde_json::Value>(200),
        Endpoint::new(M::POST, "/v1/auth/register", "register", auth::register)
            .summary("Create an account")
            .request::<RegisterRequest>()
            .json::<Account>(201),
        Endpoint::new(M::POST, "/v1/auth/login", "login", auth::login)
            .summary("Log in: a new session's token pair")
            .request::<LoginRequest>()
            .json::<TokenResponse>(200),
        Endpoint::new(M::POST, "/v1/auth/refresh", "refresh", auth::refresh)
            .summary("Trade a refresh token for a new token pair")
            .request::<RefreshRequest>()
            .json::<TokenResponse>(200),
        Endpoint::new(M::POST, "/v1/auth/logout", "logout", auth::logout)
            .summary("Revoke the refresh token's session")
            .request::<RefreshRequest>()
            .empty(204),
        Endpoint::new(M::GET, "/v1/auth/me", "me", auth::me)
            .summary("The caller's account")
            .auth(Auth::User(P::AccountRead))
            .json::<Account>(200),
        Endpoint::new(M::GET, "/v1/orgs", "listOrgs", orgs::list)
            .summary("The caller's organisations, with its role and permissions in each")
            .auth(Auth::User(P::AccountRead))
            .json::<fdt_api::OrgList>(200),
        Endpoint::new(M::GET, "/v1/members", "listMembers", orgs::members)
            .summary("The members of the organisation the call acts in (X-FDT-Org, else the caller's own)")
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::MemberList>(200),
        Endpoint::new(M::POST, "/v1/invitations", "inviteMember", orgs::invite)
            .summary("Invite an address with a role (the single-use token goes by email only)")
            .auth(Auth::User(P::MembersWrite))
            .request::<fdt_api::CreateInvitation>()
            .json::<fdt_api::Invitation>(201),
        Endpoint::new(
            M::POST,
            "/v1/invitations/accept",
            "acceptInvitation",
            orgs::accept,
        )
        .summary("Accept an invitation sent to the caller's address; answers the caller's organisations")
        .auth(Auth::User(P::AccountRead))
        .request::<fdt_api::AcceptInvitation>()
        .json::<fdt_api::OrgList>(200),
        Endpoint::new(
            M::PUT,
            "/v1/members/{id}/role",
            "setMemberRole",
            orgs::set_role,
        )
        .summary("Change a member's role (only owners make or unmake owners)")
        .auth(Auth::User(P::MembersWrite))
        .request::<fdt_api::SetMemberRole>()
        .json::<fdt_api::MemberList>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/members/{id}",
            "removeMember",
            orgs::remove,
        )
        .summary("Remove a member: its authtokens for the organisation are revoked and its sessions end")
        .auth(Auth::User(P::MembersWrite))
        .empty(204),
        Endpoint::new(
            M::POST,
            "/v1/authtokens",
            "createAuthtoken",
            authtokens::create,
        )
        .summary("Create an authtoken (its secret is shown only here)")
        .auth(Auth::User(P::AuthtokensWrite))
        .request::<CreateAuthtokenRequest>()
        .json::<CreatedAuthtoken>(201),
        Endpoint::new(M::GET, "/v1/authtokens", "listAuthtokens", authtokens::list)
            .summary("List the caller's live authtokens")
            .auth(Auth::User(P::AuthtokensRead))
            .json::<AuthtokenList>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/authtokens/{id}",
            "revokeAuthtoken",
            authtokens::revoke,
        )
        .summary("Revoke an authtoken")
        .auth(Auth::User(P::AuthtokensWrite))
        .empty(204),
        Endpoint::new(M::POST, "/v1/device/code", "deviceCode", device::code)
            .summary("Device sign-in (RFC 8628): a device code, a user code and where to approve it")
            .request::<DeviceCodeRequest>()
            .json::<DeviceCodeResponse>(200),
        Endpoint::new(M::POST, "/v1/device/token", "deviceToken", device::token)
            .summary("Poll a device code: a new authtoken once approved (once), else 400 with the RFC 8628 error")
            .request::<DeviceTokenRequest>()
            .json::<DeviceTokenResponse>(200),
        Endpoint::new(M::GET, "/v1/device/pending", "devicePending", device::pending)
            .summary("Which device waits for a user code (shown before approving, RFC 8628 §5.4)")
            .auth(Auth::User(P::AuthtokensWrite))
            .json::<DevicePending>(200),
        Endpoint::new(M::POST, "/v1/device/approve", "deviceApprove", device::approve)
            .summary("Approve or deny a user code for the caller's account")
            .auth(Auth::User(P::AuthtokensWrite))
            .request::<DeviceDecision>()
            .empty(204),
        Endpoint::new(
            M::POST,
            "/v1/agent/sessions",
            "createAgentSession",
            agent_sessions::create,
        )
        .summary("Trade an authtoken for a relay token and relays")
        .auth(Auth::Authtoken)
        .request::<AgentSessionRequest>()
        .json::<AgentSessionResponse>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/revocations",
            "relayRevocations",
            relays::revocations,
        )
        .summary("Authtokens revoked after the `after` cursor (relays close their sessions)")
        .auth(Auth::RelaySecret)
        .json::<RevocationList>(200),
        Endpoint::new(
            M::POST,
            "/v1/relay/heartbeat",
            "relayHeartbeat",
            relays::heartbeat,
        )
        .summary("Relay registration and heartbeat: load, ended tunnels, usage")
        .auth(Auth::RelaySecret)
        .body_limit(fdt_api::relays::MAX_HEARTBEAT_BYTES)
        .request::<RelayHeartbeat>()
        .json::<RelayHeartbeatAck>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/placement",
            "relayPlacement",
            relays::placement,
        )
        .summary("The healthy relays holding a name now (a relay forwarding a visitor asks)")
        .auth(Auth::RelaySecret)
        .json::<fdt_api::Placement>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/placement/changes",
            "relayPlacementChanges",
            relays::placement_changes,
        )
        .summary("The names bound since a cursor, waited for up to 25 s (the placement feed)")
        .auth(Auth::RelaySecret)
        .json::<fdt_api::PlacementChanges>(200),
        Endpoint::new(M::POST, "/v1/relay/bindings", "relayBind", relays::bind)
            .summary("A relay asks to bind a name: reservations, plan limits, live bindings")
            .auth(Auth::RelaySecret)
            .request::<BindingRequest>()
            .json::<BindingGranted>(200),
        Endpoint::new(
            M::POST,
            "/v1/relay/requests",
            "relayTraffic",
            traffic::ingest,
        )
        .summary("A relay's batch of request records for the traffic log")
        .auth(Auth::RelaySecret)
        .body_limit(fdt_api::traffic::MAX_TRAFFIC_BATCH_BYTES)
        .request::<TrafficBatch>()
        .json::<TrafficAck>(200),
        Endpoint::new(M::GET, "/v1/requests", "listRequests", traffic::list)
            .summary("The caller's traffic log, newest first (filters: tunnel_id, host, method, status, path; paging: limit, before)")
            .auth(Auth::User(P::TrafficRead))
            .json::<RequestList>(200),
        Endpoint::new(M::GET, "/v1/requests/{id}", "getRequest", traffic::get)
            .summary("One logged request")
            .auth(Auth::User(P::TrafficRead))
            .json::<RequestRecord>(200),
        Endpoint::new(
            M::GET,
            "/v1/requests/{id}/request-body",
            "getRequestBody",
            traffic::request_body,
        )
        .summary("The stored request body")
        .auth(Auth::User(P::TrafficRead))
        .bytes(200),
        Endpoint::new(
            M::GET,
            "/v1/requests/{id}/response-body",
            "getResponseBody",
            traffic::response_body,
        )
        .summary("The stored response body")
        .auth(Auth::User(P::TrafficRead))
        .bytes(200),
        Endpoint::new(
            M::POST,
            "/v1/requests/{id}/replay",
            "replayRequest",
            traffic::replay,
        )
        .summary("Queue a replay of a logged request to its agent's local service (Idempotency-Key supported)")
        .auth(Auth::User(P::TrafficReplay))
        .request::<ReplayRequest>()
        .json::<ReplayJob>(202),
        Endpoint::new(M::GET, "/v1/replays/{id}", "getReplay", traffic::job)
            .summary("A replay job's state and result")
            .auth(Auth::User(P::TrafficRead))
            .json::<ReplayJob>(200),
        Endpoint::new(M::GET, "/v1/relays", "listRelays", relays::list)
            .summary("The relay fleet and its health")
            .auth(Auth::User(P::TunnelsRead))
            .json::<RelayList>(200),
        Endpoint::new(M::GET, "/v1/tunnels", "listTunnels", tunnels::list)
            .summary("The caller's tunnels online now")
            .auth(Auth::User(P::TunnelsRead))
            .json::<TunnelList>(200),
        Endpoint::new(M::GET, "/v1/tunnels/{id}", "getTunnel", tunnels::get)
            .summary("One live tunnel")
            .auth(Auth::User(P::TunnelsRead))
            .json::<TunnelInfo>(200),
        Endpoint::new(M::DELETE, "/v1/tunnels/{id}", "stopTunnel", tunnels::stop)
            .summary("Stop a live tunnel (its relay closes it within a heartbeat)")
            .auth(Auth::User(P::TunnelsWrite))
            .empty(204),
        Endpoint::new(
            M::POST,
            "/v1/tunnels/{id}/start",
            "startTunnel",
            tunnel_configs::start,
        )
        .summary("Start a cloud-managed tunnel (a tunnel config's ID): its account's managed agents bind it")
        .auth(Auth::User(P::TunnelsWrite))
        .json::<TunnelConfig>(200),
        Endpoint::new(
            M::POST,
            "/v1/tunnels/{id}/stop",
            "stopManagedTunnel",
            tunnel_configs::stop,
        )
        .summary("Stop a cloud-managed tunnel (a tunnel config's ID): its agents release it")
        .auth(Auth::User(P::TunnelsWrite))
        .json::<TunnelConfig>(200),
        Endpoint::new(
            M::POST,
            "/v1/tunnel-configs",
            "createTunnelConfig",
            tunnel_configs::create,
        )
        .summary("Define a cloud-managed tunnel (run by the account's `fdt start --managed` agents)")
        .auth(Auth::User(P::TunnelsWrite))
        .request::<TunnelConfigRequest>()
        .json::<TunnelConfig>(201),
        Endpoint::new(
            M::GET,
            "/v1/tunnel-configs",
            "listTunnelConfigs",
            tunnel_configs::list,
        )
        .summary("The caller's cloud-managed tunnel definitions")
        .auth(Auth::User(P::TunnelsRead))
        .json::<TunnelConfigList>(200),
        Endpoint::new(
            M::GET,
            "/v1/tunnel-configs/{id}",
            "getTunnelConfig",
            tunnel_configs::get,
        )
        .summary("One cloud-managed tunnel definition")
        .auth(Auth::User(P::TunnelsRead))
        .json::<TunnelConfig>(200),
        Endpoint::new(
            M::PUT,
            "/v1/tunnel-configs/{id}",
            "replaceTunnelConfig",
            tunnel_configs::replace,
        )
        .summary("Replace a cloud-managed tunnel definition (agents apply it live)")
        .auth(Auth::User(P::TunnelsWrite))
        .request::<TunnelConfigRequest>()
        .json::<TunnelConfig>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/tunnel-configs/{id}",
            "deleteTunnelConfig",
            tunnel_configs::delete,
        )
        .summary("Delete a cloud-managed tunnel definition (agents stop the tunnel)")
        .auth(Auth::User(P::TunnelsWrite))
        .empty(204),
        Endpoint::new(
            M::GET,
            "/v1/relay/tunnel-configs",
            "relayTunnelConfigs",
            tunnel_configs::for_relay,
        )
        .summary("An account's cloud-managed tunnel definitions, whole, for relays to push")
        .auth(Auth::RelaySecret)
        .json::<RelayTunnelConfigs>(200),
        Endpoint::new(
            M::GET,
            "/v1/relay/tunnel-config-changes",
            "relayTunnelConfigChanges",
            tunnel_configs::changes,
        )
        .summary("Accounts whose tunnel definitions changed after the `after` cursor")
        .auth(Auth::RelaySecret)
        .json::<TunnelConfigChanges>(200),
        Endpoint::new(M::GET, "/v1/plans", "listPlans", plans::catalogue)
            .summary("Plans and their limits")
            .json::<PlanList>(200),
        Endpoint::new(M::GET, "/v1/plan", "myPlan", plans::mine)
            .summary("The caller's plan, limits and current use")
            .auth(Auth::User(P::BillingRead))
            .json::<AccountPlan>(200),
        Endpoint::new(M::GET, "/v1/usage", "usage", plans::usage)
            .summary("Traffic per UTC day (`from`, `to`: YYYY-MM-DD; default the last 30 days)")
            .auth(Auth::User(P::BillingRead))
            .json::<UsageList>(200),
        Endpoint::new(M::GET, "/v1/events", "events", events::stream)
            .summary("Live change events for the caller's pages (Server-Sent Events: data {\"topic\"})")
            .auth(Auth::User(P::AccountRead))
            .text(200),
        Endpoint::new(M::GET, "/v1/jwks", "jwks", jwks::jwks)
            .summary("Public keys that verify agent tokens")
            .json::<Jwks>(200),
        Endpoint::new(
            M::GET,
            "/.well-known/jwks.json",
            "wellKnownJwks",
            jwks::jwks,
        )
        .summary("Public keys that verify agent tokens")
        .json::<Jwks>(200),
    ];
    table.extend(tunnels::reserved_endpoints());
    table.extend(identity::endpoints());
    table.extend(operators::endpoints());
    table.extend(domains::endpoints());
    table.extend(cert_events::endpoints());
    table.extend(billing::endpoints());
    table.extend(checkout::endpoints());
    table.extend(orders::endpoints());
    table.extend(invoices::endpoints());
    table.extend(settlements::endpoints());
    table.extend(ledger::endpoints());
    table
}

async fn healthz() -> &'static str {
    "ok"
}

/// Unknown paths: SCIM clients get SCIM's error body (RFC 7644 §3.12), others ours.
async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with(scim::PREFIX) {
        return scim::ScimError::not_found(format!("nothing at {}", uri.path())).into_response();
    }
    ApiError::NotFound.into_response()
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with(scim::PREFIX) {
        let mut e = scim::ScimError::not_found("method not allowed here");
        e.status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
        return e.into_response();
    }
    ApiError::MethodNotAllowed.into_response()
}

/// Marks a response holding secrets as not cacheable (RFC 6749 §5.1).
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests;
