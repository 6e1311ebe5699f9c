//! The route table's operator part: `/v1/admin/…`, every account, tunnel and relay, and the
//! audit log, for operators only. Part of [`super::endpoints`], as every route is.

use super::openapi::{Auth, Endpoint};
use super::{admin, admin_domains};
use axum::http::Method;
use fdt_api::{
    AdminTunnelList, AdminUser, AdminUserList, AuditCheckpoint, AuditList, AuditVerification,
    DrainRequest, SecretAgeList, SetPlanRequest,
};

/// The operator routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
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
        Endpoint::new(M::GET, "/v1/admin/domains", "adminDomains", admin_domains::list)
            .summary("Operators: every account's custom domains (q: part of the name), limit")
            .auth(Auth::User(P::Operator))
            .json::<fdt_api::AdminDomainList>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/domains/{id}/incidents",
            "adminDomainIncidents",
            admin_domains::incidents,
        )
        .summary("Operators: any account's domain's incidents")
        .auth(Auth::User(P::Operator))
        .json::<fdt_api::DomainIncidentList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/domains/{id}/incidents/{n}/ack",
            "adminAckDomainIncident",
            admin_domains::ack,
        )
        .summary("Operators: acknowledge a domain incident (audited)")
        .auth(Auth::User(P::Operator))
        .json::<fdt_api::DomainIncidentList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/domains/{id}/incidents/{n}/resolve",
            "adminResolveDomainIncident",
            admin_domains::resolve,
        )
        .summary("Operators: resolve a domain incident (audited)")
        .auth(Auth::User(P::Operator))
        .json::<fdt_api::DomainIncidentList>(200),
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
    ]
}
