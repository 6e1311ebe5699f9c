//! The route table's identity part: roles, single sign-on and SCIM set-up for people
//! (`/v1/roles`, `/v1/sso`, `/v1/scim/…`), and SCIM 2.0 itself for identity providers
//! (`/scim/v2/…`). Part of [`super::endpoints`], as every route is.

use super::openapi::{Auth, Endpoint};
use super::{roles, scim_admin, sso_admin};
use crate::scim;
use axum::http::Method;

/// The identity routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(
            M::POST,
            "/v1/scim/tokens",
            "createScimToken",
            scim_admin::create_token,
        )
        .summary(
            "A SCIM token for the organisation's identity provider (its secret is shown only here)",
        )
        .auth(Auth::User(P::IdentityWrite))
        .request::<fdt_api::CreateScimToken>()
        .json::<fdt_api::CreatedScimToken>(201),
        Endpoint::new(
            M::GET,
            "/v1/scim/tokens",
            "listScimTokens",
            scim_admin::list_tokens,
        )
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
            .summary(
                "The roles members can hold: the built-in templates and the organisation's own",
            )
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::RoleList>(200),
        Endpoint::new(M::PUT, "/v1/roles/{name}", "putRole", roles::put)
            .summary(
                "Create or change one of the organisation's own roles, custom:<name> (owners only)",
            )
            .auth(Auth::User(P::MembersWrite))
            .request::<fdt_api::PutRole>()
            .json::<fdt_api::RoleInfo>(200),
        Endpoint::new(M::DELETE, "/v1/roles/{name}", "deleteRole", roles::delete)
            .summary("Delete one of the organisation's own roles (owners only; 409 while held)")
            .auth(Auth::User(P::MembersWrite))
            .empty(204),
        Endpoint::new(M::GET, "/v1/sso", "ssoConfig", sso_admin::get)
            .summary(
                "The organisation's single sign-on provider (OpenID Connect; never its secret)",
            )
            .auth(Auth::User(P::MembersRead))
            .json::<fdt_api::SsoConfig>(200),
        Endpoint::new(M::PUT, "/v1/sso", "setSsoConfig", sso_admin::put)
            .summary(
                "Set the organisation's OpenID Connect provider, allowed domains and group roles",
            )
            .auth(Auth::User(P::IdentityWrite))
            .request::<fdt_api::SsoConfigRequest>()
            .json::<fdt_api::SsoConfig>(200),
        Endpoint::new(M::DELETE, "/v1/sso", "deleteSsoConfig", sso_admin::delete)
            .summary("Turn single sign-on off")
            .auth(Auth::User(P::IdentityWrite))
            .empty(204),
        Endpoint::new(
            M::GET,
            "/v1/scim/settings",
            "scimSettings",
            scim_admin::settings,
        )
        .summary("Which SCIM groups map to which roles")
        .auth(Auth::User(P::MembersRead))
        .json::<fdt_api::ScimSettings>(200),
        Endpoint::new(
            M::PUT,
            "/v1/scim/settings",
            "setScimSettings",
            scim_admin::set_settings,
        )
        .summary("Map SCIM groups to roles (never owner); provisioned members' roles follow")
        .auth(Auth::User(P::IdentityWrite))
        .request::<fdt_api::ScimSettings>()
        .json::<fdt_api::ScimSettings>(200),
        // SCIM 2.0 (RFC 7644), for identity providers holding an organisation's SCIM token.
        Endpoint::new(
            M::GET,
            "/scim/v2/ServiceProviderConfig",
            "scimConfig",
            scim::discovery::service_provider_config,
        )
        .summary("SCIM: what this service provider supports")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::GET,
            "/scim/v2/ResourceTypes",
            "scimResourceTypes",
            scim::discovery::resource_types,
        )
        .summary("SCIM: the resource types (User, Group)")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::GET,
            "/scim/v2/ResourceTypes/{id}",
            "scimResourceType",
            scim::discovery::resource_type,
        )
        .summary("SCIM: one resource type")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::GET,
            "/scim/v2/Schemas",
            "scimSchemas",
            scim::discovery::schemas,
        )
        .summary("SCIM: the schemas")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::GET,
            "/scim/v2/Schemas/{id}",
            "scimSchema",
            scim::discovery::schema,
        )
        .summary("SCIM: one schema")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::POST,
            "/scim/v2/.search",
            "scimSearchAll",
            scim::reads::search_all,
        )
        .summary("SCIM: search Users and Groups at once with a SearchRequest body")
        .auth(Auth::ScimToken)
        .body_limit(scim::schema::MAX_BODY_BYTES)
        .json::<serde_json::Value>(200),
        Endpoint::new(M::GET, "/scim/v2/{resource}", "scimList", scim::reads::list)
            .summary("SCIM: list Users or Groups (filter, startIndex, count, attributes)")
            .auth(Auth::ScimToken)
            .json::<serde_json::Value>(200),
        Endpoint::new(
            M::POST,
            "/scim/v2/{resource}",
            "scimCreate",
            scim::resources::create,
        )
        .summary("SCIM: provision a User or Group")
        .auth(Auth::ScimToken)
        .body_limit(scim::schema::MAX_BODY_BYTES)
        .json::<serde_json::Value>(201),
        Endpoint::new(
            M::POST,
            "/scim/v2/{resource}/.search",
            "scimSearch",
            scim::reads::search_post,
        )
        .summary("SCIM: list with a SearchRequest body")
        .auth(Auth::ScimToken)
        .body_limit(scim::schema::MAX_BODY_BYTES)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::GET,
            "/scim/v2/{resource}/{id}",
            "scimGet",
            scim::reads::get,
        )
        .summary("SCIM: one User or Group")
        .auth(Auth::ScimToken)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::PUT,
            "/scim/v2/{resource}/{id}",
            "scimReplace",
            scim::resources::replace,
        )
        .summary("SCIM: replace a User or Group")
        .auth(Auth::ScimToken)
        .body_limit(scim::schema::MAX_BODY_BYTES)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::PATCH,
            "/scim/v2/{resource}/{id}",
            "scimPatch",
            scim::resources::modify,
        )
        .summary("SCIM: PATCH a User or Group (active=false deprovisions)")
        .auth(Auth::ScimToken)
        .body_limit(scim::schema::MAX_BODY_BYTES)
        .json::<serde_json::Value>(200),
        Endpoint::new(
            M::DELETE,
            "/scim/v2/{resource}/{id}",
            "scimDelete",
            scim::resources::delete,
        )
        .summary("SCIM: delete a User (deprovisioned) or Group")
        .auth(Auth::ScimToken)
        .empty(204),
    ]
}
