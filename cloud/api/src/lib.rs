//! The FlyingDarkDevTunnel control-plane API, as types: ID newtypes, request and response
//! bodies, the error body with its stable codes, the authtoken format, and [`FdtClient`], a
//! typed async client.
//!
//! The server (`fdt-cloud`), the agent, the UI and the end-to-end tests all use these types, so
//! a field renamed here is renamed everywhere at compile time. The crate builds for wasm32 (the
//! browser UI uses it); it holds no random number generator and no I/O besides the client and,
//! on native targets, [`private_file`]: the one writer of files that hold secrets.
//!
//! Checking an authtoken offline (prefix and checksum), e.g. before sending it anywhere:
//!
//! ```
//! use fdt_api::{Authtoken, AuthtokenFormatError, parse_authtoken};
//!
//! let token = Authtoken::from_random_part("aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6kL9n").unwrap();
//! assert!(parse_authtoken(token.expose_secret()).is_ok());
//! let typo = token.expose_secret().replacen("aB3", "aB4", 1);
//! assert_eq!(parse_authtoken(&typo), Err(AuthtokenFormatError::ChecksumMismatch));
//! ```
//!
//! Talking to the API (native targets install a rustls crypto provider first):
//!
//! ```no_run
//! # async fn demo() -> Result<(), fdt_api::ClientError> {
//! use fdt_api::{CreateAuthtokenRequest, FdtClient, LoginRequest, Password};
//!
//! let client = FdtClient::new("https://api.example.com")?;
//! let tokens = client
//!     .login(&LoginRequest { email: "me@example.com".into(), password: Password::new("…") })
//!     .await?;
//! let client = client.with_access_token(tokens.access_token);
//! let created = client.create_authtoken(&CreateAuthtokenRequest::default()).await?;
//! println!("{}", created.token.expose_secret()); // shown once: store it now
//! # Ok(())
//! # }
//! ```

mod base62;

pub mod admin;
pub mod agent_sessions;
pub mod auth;
pub mod authtoken_format;
pub mod authtokens;
pub mod billing;
pub mod checkout;
#[cfg(feature = "client")]
pub mod client;
pub mod device;
pub mod domains;
pub mod error;
pub mod hex;
pub mod ids;
pub mod invoices;
pub mod jwks;
pub mod money;
pub mod orgs;
pub mod permissions;
pub mod plans;
#[cfg(not(target_arch = "wasm32"))]
pub mod private_file;
pub mod relays;
pub mod roles;
#[cfg(feature = "schema")]
mod schema;
pub mod settlements;
pub mod sso;
pub mod traffic;
pub mod tunnel_configs;
pub mod tunnels;
pub mod validate;

pub use admin::{
    AdminTunnel, AdminTunnelList, AdminUser, AdminUserList, AdminUserQuery, AuditBreak,
    AuditCheckpoint, AuditEntry, AuditList, AuditQuery, AuditVerification, DrainRequest, SecretAge,
    SecretAgeList, SecretHealth, SetPlanRequest,
};
pub use agent_sessions::{AgentSessionRequest, AgentSessionResponse, AgentToken, RelayInfo};
pub use auth::{
    AccessToken, Account, LoginRequest, Password, RefreshRequest, RefreshToken, RegisterRequest,
    TokenResponse, TokenType,
};
pub use authtoken_format::{Authtoken, AuthtokenFormatError, parse_authtoken};
pub use authtokens::{AuthtokenInfo, AuthtokenList, CreateAuthtokenRequest, CreatedAuthtoken};
pub use billing::{
    AccountSubscription, AccountSubscriptionList, BillingEvent, BillingEventList, DunningCase,
    DunningList, LedgerExport, LedgerLine, LedgerQuery, LedgerTxn, LedgerTxnList, LedgerTxnQuery,
    OutboxEmail, OutboxList, Subscription, SubscriptionList, WebhookReceipt, WebhookRejectionList,
    WebhookRejections,
};
pub use checkout::{
    BillingOptions, CheckoutRequest, CheckoutStarted, CheckoutStatus, PlanChange,
    PlanChangeRequest, PortalLink, ProviderOption, RazorpayPayment, RefundIssued, RefundRequest,
};
#[cfg(feature = "client")]
pub use client::{ClientError, FdtClient};
pub use device::{
    DeviceCodeRequest, DeviceCodeResponse, DeviceDecision, DevicePending, DevicePendingQuery,
    DevicePollError, DevicePollErrorBody, DeviceTokenRequest, DeviceTokenResponse,
};
pub use domains::cert_event::{
    CertEvent, CertEventKind, CertEventList, CertEventQuery, CertEventReceipt, CertEventRefusals,
    CertReplica, DomainReplication, StoredCertEvent,
};
pub use domains::{
    AcmeHttpChallenge, AcmeTlsAlpnCertificate, AdminDomain, AdminDomainList, AdminDomainQuery,
    CertificateInfo, CreateDomain, DnsRecord, Domain, DomainEvent, DomainEventList, DomainIncident,
    DomainIncidentList, DomainList, DomainMode, DomainRoute, FailurePolicy, RelayCertificate,
    RelayDomain, RelayDomains, RelayDomainsQuery, UpdateDomain, UploadCertificate,
    VerificationState,
};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{
    AccountId, AuthtokenId, DomainId, IdError, OrgId, ReplayId, RequestId, ReservedNameId,
    SessionId, TunnelConfigId, TunnelId,
};
pub use invoices::{BillingProfile, Invoice, InvoiceList};
pub use jwks::{Jwk, Jwks};
pub use orgs::{
    AcceptInvitation, CreateInvitation, CreateScimToken, CreatedScimToken, Invitation, Member,
    MemberList, OrgList, OrgMembership, ScimSettings, ScimToken, ScimTokenList, SetMemberRole,
};
pub use permissions::{Permission, RoleTemplate};
pub use plans::{
    AccountPlan, Entitlements, Plan, PlanInfo, PlanList, PlanUsage, UsageDay, UsageList, UsageQuery,
};
pub use relays::{
    BindingGranted, BindingRequest, EvictReason, PEER_AUDIENCE, PlacedRelay, Placement,
    PlacementChanges, PlacementChangesQuery, PlacementQuery, RelayHeartbeat, RelayHeartbeatAck,
    RelayList, RelayLoad, RelayStatus, RevocationList, RevocationsQuery, UsageReport,
};
pub use roles::{PutRole, Role, RoleInfo, RoleList};
pub use settlements::{
    BillingIncident, BillingIncidentList, ResolveIncident, Settlement, SettlementAck,
    SettlementList,
};
pub use sso::{SsoConfig, SsoConfigRequest};
pub use traffic::{
    ReplayJob, ReplayModify, ReplayOrder, ReplayOutcome, ReplayRequest, ReplayState, RequestList,
    RequestQuery, RequestRecord, TrafficAck, TrafficBatch, TrafficReport,
};
pub use tunnel_configs::{
    MAX_DEFINITION_BYTES, MAX_TUNNEL_CONFIGS, RelayTunnelConfig, RelayTunnelConfigs,
    RelayTunnelConfigsQuery, TunnelConfig, TunnelConfigChanges, TunnelConfigChangesQuery,
    TunnelConfigList, TunnelConfigRequest, TunnelDefinition,
};
pub use tunnels::{
    CreateReservedName, ReservedKind, ReservedName, ReservedNameList, TunnelInfo, TunnelList,
    TunnelProto, UpdateReservedName,
};
