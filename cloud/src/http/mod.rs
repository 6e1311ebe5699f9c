//! The HTTP API: [`app`] builds the router from an [`AppState`], so tests drive it directly
//! (`tower::ServiceExt::oneshot`) and the server only adds a listener.

mod admin;
mod agent_sessions;
pub(crate) mod auth;
mod authtokens;
pub(crate) mod device;
mod events;
pub mod extract;
mod jwks;
pub mod openapi;
pub(crate) mod orgs;
pub(crate) mod permit;
mod plans;
mod relays;
mod roles;
mod scim_admin;
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
    BindingRequest, CreateAuthtokenRequest, CreateReservedName, CreatedAuthtoken, Jwks,
    LoginRequest, PlanList, RefreshRequest, RegisterRequest, RelayHeartbeat, RelayHeartbeatAck,
    RelayList, ReservedName, ReservedNameList, RevocationList, TokenResponse, TunnelInfo,
    TunnelList, UpdateReservedName, UsageList,
};
use fdt_api::{
    AdminTunnelList, AdminUser, AdminUserList, AuditCheckpoint, AuditList, AuditVerification,
    DrainRequest, SecretAgeList, SetPlanRequest,
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
    let api = api(state.clone());
    api.clone().merge(crate::console::router(state, api))
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
    vec![
        Endpoint::new(M::GET, "/healthz", "healthz", healthz)
            .summary("Liveness probe")
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
        Endpoint::new(M::POST, "/v1/scim/tokens", "createScimToken", scim_admin::create_token)
            .summary("A SCIM token for the organisation's identity provider (its secret is shown only here)")
            .auth(Auth::User(P::IdentityWrite))
            .request::<fdt_api::CreateScimToken>()
            .json::<fdt_api::CreatedScimToken>(201),
        Endpoint::new(M::GET, "/v1/scim/tokens", "listScimTokens", scim_admin::list_tokens)
            .summary("The organisation's live SCIM tokens")
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::ScimTokenList>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/scim/tokens/{id}",
            "revokeScimToken",
            scim_admin::revoke_token,
        )
        .summary("Revoke a SCIM token")
        .auth(Auth::User(P::IdentityWrite))
        .empty(204),
        Endpoint::new(M::GET, "/v1/roles", "listRoles", roles::list)
            .summary("The roles members can hold: the built-in templates and the organisation's own")
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::RoleList>(200),
        Endpoint::new(M::PUT, "/v1/roles/{name}", "putRole", roles::put)
            .summary("Create or change one of the organisation's own roles, custom:<name> (owners only)")
            .auth(Auth::User(P::MembersWrite))
            .request::<fdt_api::PutRole>()
            .json::<fdt_api::RoleInfo>(200),
        Endpoint::new(M::DELETE, "/v1/roles/{name}", "deleteRole", roles::delete)
            .summary("Delete one of the organisation's own roles (owners only; 409 while held)")
            .auth(Auth::User(P::MembersWrite))
            .empty(204),
        Endpoint::new(M::GET, "/v1/sso", "ssoConfig", sso_admin::get)
            .summary("The organisation's single sign-on provider (OpenID Connect; never its secret)")
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::SsoConfig>(200),
        Endpoint::new(M::PUT, "/v1/sso", "setSsoConfig", sso_admin::put)
            .summary("Set the organisation's OpenID Connect provider, allowed domains and group roles")
            .auth(Auth::User(P::IdentityWrite))
            .request::<fdt_api::SsoConfigRequest>()
            .json::<fdt_api::SsoConfig>(200),
        Endpoint::new(M::DELETE, "/v1/sso", "deleteSsoConfig", sso_admin::delete)
            .summary("Turn single sign-on off")
            .auth(Auth::User(P::IdentityWrite))
            .empty(204),
        Endpoint::new(M::GET, "/v1/scim/settings", "scimSettings", scim_admin::settings)
            .summary("Which SCIM groups map to which roles")
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::ScimSettings>(200),
        Endpoint::new(M::PUT, "/v1/scim/settings", "setScimSettings", scim_admin::set_settings)
            .summary("Map SCIM groups to roles (never owner); provisioned members' roles follow")
            .auth(Auth::User(P::IdentityWrite))
            .request::<fdt_api::ScimSettings>()
            .json::<fdt_api::ScimSettings>(200),
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
        Endpoint::new(
            M::POST,
            "/v1/reserved-names",
            "reserveName",
            tunnels::reserve,
        )
        .summary("Reserve a subdomain or a TCP address")
        .auth(Auth::User(P::TunnelsWrite))
        .request::<CreateReservedName>()
        .json::<ReservedName>(201),
        Endpoint::new(
            M::GET,
            "/v1/reserved-names",
            "listReservedNames",
            tunnels::list_reserved,
        )
        .summary("The caller's reserved names, with their live tunnels")
        .auth(Auth::User(P::TunnelsRead))
        .json::<ReservedNameList>(200),
        Endpoint::new(
            M::GET,
            "/v1/reserved-names/{id}",
            "getReservedName",
            tunnels::get_reserved,
        )
        .summary("One reserved name")
        .auth(Auth::User(P::TunnelsRead))
        .json::<ReservedName>(200),
        Endpoint::new(
            M::PATCH,
            "/v1/reserved-names/{id}",
            "updateReservedName",
            tunnels::update_reserved,
        )
        .summary("Change a reserved name's description")
        .auth(Auth::User(P::TunnelsWrite))
        .request::<UpdateReservedName>()
        .json::<ReservedName>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/reserved-names/{id}",
            "releaseReservedName",
            tunnels::release,
        )
        .summary("Release a reserved name")
        .auth(Auth::User(P::TunnelsWrite))
        .empty(204),
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
        Endpoint::new(M::GET, "/v1/admin/users", "adminUsers", admin::users)
            .summary("Operators: search accounts by email (q), limit")
            .auth(Auth::User(P::Operator))
            .json::<AdminUserList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/users/{id}/suspend",
            "adminSuspend",
            admin::suspend,
        )
        .summary("Operators: suspend an account (sessions ended, tunnels closed)")
        .auth(Auth::User(P::Operator))
        .json::<AdminUser>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/users/{id}/unsuspend",
            "adminUnsuspend",
            admin::unsuspend,
        )
        .summary("Operators: reinstate an account")
        .auth(Auth::User(P::Operator))
        .json::<AdminUser>(200),
        Endpoint::new(
            M::PUT,
            "/v1/admin/users/{id}/plan",
            "adminSetPlan",
            admin::set_plan,
        )
        .summary("Operators: change an account's plan")
        .auth(Auth::User(P::Operator))
        .request::<SetPlanRequest>()
        .json::<AdminUser>(200),
        Endpoint::new(M::GET, "/v1/admin/tunnels", "adminTunnels", admin::tunnels)
            .summary("Operators: every live tunnel")
            .auth(Auth::User(P::Operator))
            .json::<AdminTunnelList>(200),
        Endpoint::new(
            M::DELETE,
            "/v1/admin/tunnels/{id}",
            "adminCloseTunnel",
            admin::close_tunnel,
        )
        .summary("Operators: force-close a tunnel")
        .auth(Auth::User(P::Operator))
        .empty(204),
        Endpoint::new(
            M::PUT,
            "/v1/admin/relays/{id}/drain",
            "adminDrainRelay",
            admin::drain,
        )
        .summary("Operators: drain a relay (no new agents) or undo")
        .auth(Auth::User(P::Operator))
        .request::<DrainRequest>()
        .empty(204),
        Endpoint::new(M::GET, "/v1/admin/audit", "adminAudit", admin::audit)
            .summary("Operators: the audit log (sign-ins, authtokens, device sign-ins, admin actions), newest first")
            .auth(Auth::User(P::Operator))
            .json::<AuditList>(200),
        Endpoint::new(M::GET, "/v1/admin/secrets", "adminSecrets", admin::secrets)
            .summary("Operators: the age of each signing key and relay secret against its maximum (green, amber, red)")
            .auth(Auth::User(P::Operator))
            .json::<SecretAgeList>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/audit/verify",
            "adminAuditVerify",
            admin::audit_verify,
        )
        .summary("Operators: check the audit log's hash chains and signed checkpoints; names the first broken row")
        .auth(Auth::User(P::Operator))
        .json::<AuditVerification>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/audit/checkpoints",
            "adminAuditCheckpoint",
            admin::audit_checkpoint,
        )
        .summary("Operators: sign a checkpoint of the audit log's head (kept, and to keep elsewhere)")
        .auth(Auth::User(P::Operator))
        .json::<AuditCheckpoint>(201),
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
        // SCIM 2.0 (RFC 7644), for identity providers holding an organisation's SCIM token.
        Endpoint::new(M::GET, "/scim/v2/ServiceProviderConfig", "scimConfig", scim::discovery::service_provider_config)
            .summary("SCIM: what this service provider supports")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/ResourceTypes", "scimResourceTypes", scim::discovery::resource_types)
            .summary("SCIM: the resource types (User, Group)")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/ResourceTypes/{id}", "scimResourceType", scim::discovery::resource_type)
            .summary("SCIM: one resource type")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/Schemas", "scimSchemas", scim::discovery::schemas)
            .summary("SCIM: the schemas")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/Schemas/{id}", "scimSchema", scim::discovery::schema)
            .summary("SCIM: one schema")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::POST, "/scim/v2/.search", "scimSearchAll", scim::resources::search_all)
            .summary("SCIM: search Users and Groups at once with a SearchRequest body")
            .auth(Auth::ScimToken)
            .body_limit(scim::schema::MAX_BODY_BYTES)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/{resource}", "scimList", scim::resources::list)
            .summary("SCIM: list Users or Groups (filter, startIndex, count, attributes)")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::POST, "/scim/v2/{resource}", "scimCreate", scim::resources::create)
            .summary("SCIM: provision a User or Group")
            .auth(Auth::ScimToken)
            .body_limit(scim::schema::MAX_BODY_BYTES)
            .json::<serde_json::Value>(201),
        Endpoint::new(M::POST, "/scim/v2/{resource}/.search", "scimSearch", scim::resources::search_post)
            .summary("SCIM: list with a SearchRequest body")
            .auth(Auth::ScimToken)
            .body_limit(scim::schema::MAX_BODY_BYTES)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/{resource}/{id}", "scimGet", scim::resources::get)
            .summary("SCIM: one User or Group")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::PUT, "/scim/v2/{resource}/{id}", "scimReplace", scim::resources::replace)
            .summary("SCIM: replace a User or Group")
            .auth(Auth::ScimToken)
            .body_limit(scim::schema::MAX_BODY_BYTES)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::PATCH, "/scim/v2/{resource}/{id}", "scimPatch", scim::resources::modify)
            .summary("SCIM: PATCH a User or Group (active=false deprovisions)")
            .auth(Auth::ScimToken)
            .body_limit(scim::schema::MAX_BODY_BYTES)
            .json::<serde_json::Value>(200),
        Endpoint::new(M::DELETE, "/scim/v2/{resource}/{id}", "scimDelete", scim::resources::delete)
            .summary("SCIM: delete a User (deprovisioned) or Group")
            .auth(Auth::ScimToken)
            .empty(204),
    ]
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
mod tests {
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
            ("scim/mod.rs", include_str!("../scim/mod.rs")),
            ("scim/resources.rs", include_str!("../scim/resources.rs")),
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
}
