//! Custom domains: what an account may create and route ([`create`], [`update`]), how control
//! is proven ([`verify`]), certificates ([`acme`], [`certs`], [`seal`]) and the background
//! [`worker`] that checks DNS and orders certificates.
//!
//! Every domain gets its own TXT token and its own CNAME target under the configured zone, so a
//! CNAME left pointing at us after a domain is deleted names nothing a new owner can claim: the
//! name is served again only once a new row's own token is seen in DNS.

pub mod acme;
pub mod cert_events;
pub mod certs;
pub mod dns01;
pub mod refusals;
pub mod seal;
pub mod verify;
pub mod worker;

use crate::random::random_base62;
use crate::state::AppState;
use crate::store::{CertificateRecord, CreateDomainOutcome, DomainRecord, NewDomain, StoreError};
use fdt_api::domains::{MAX_REDIRECT_BYTES, challenge_name, challenge_value, normalize_domain};
use fdt_api::{
    AccountId, CertificateInfo, CreateDomain, DnsRecord, Domain, DomainId, DomainRoute,
    FailurePolicy, Plan, UpdateDomain,
};

/// Random characters in a domain's TXT token.
const TOKEN_LEN: usize = 32;
/// Random characters in each of the two labels of a CNAME target.
const CNAME_LABEL_LEN: usize = 12;

/// Why a domain request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A field breaks a rule (the field is named).
    #[error("{field}: {message}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The plan's `custom_domains` limit is reached.
    #[error("plan limit custom_domains ({max}) reached on the {plan} plan")]
    LimitReached {
        /// The limit.
        max: u32,
        /// The plan.
        plan: Plan,
    },
    /// The account already holds this name.
    #[error("this account already has {0}")]
    Duplicate(String),
    /// No such domain for this account.
    #[error("not found")]
    NotFound,
    /// The account is gone.
    #[error("account no longer exists")]
    AccountGone,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn field(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Field {
        field,
        message: message.into(),
    }
}

/// A random lower-case DNS label (base62 lower-cased: 36 symbols, ~62 bits for 12).
fn random_label(len: usize) -> String {
    random_base62(len).to_ascii_lowercase()
}

/// Checks a typed domain: well formed, and neither the tunnels' base domain nor the CNAME zone
/// (or under them): those names are ours to hand out.
pub fn check_name(st: &AppState, input: &str) -> Result<String, DomainError> {
    let name = normalize_domain(input).map_err(|e| field("domain", e.to_string()))?;
    let cfg = st.domains();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    for ours in [&cfg.base_domain, &cfg.cname_zone] {
        if bare == ours.as_str() || bare.ends_with(&format!(".{ours}")) {
            return Err(field(
                "domain",
                format!("names under {ours} belong to this service; use a subdomain instead"),
            ));
        }
    }
    Ok(name)
}

fn check_failure(f: &FailurePolicy) -> Result<(), DomainError> {
    match f {
        FailurePolicy::ErrorPage => Ok(()),
        FailurePolicy::Status { status } if (400..=599).contains(status) => Ok(()),
        FailurePolicy::Status { .. } => Err(field("failure.status", "must be 400 to 599")),
        FailurePolicy::Redirect { url } => {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= MAX_REDIRECT_BYTES
                && url.bytes().all(|b| b.is_ascii_graphic());
            if ok {
                Ok(())
            } else {
                Err(field(
                    "failure.url",
                    format!(
                        "must be an http:// or https:// URL of at most {MAX_REDIRECT_BYTES} printable bytes"
                    ),
                ))
            }
        }
    }
}

/// The stored form of a route, checked to be the account's.
async fn check_route(
    st: &AppState,
    account: &AccountId,
    route: &DomainRoute,
) -> Result<(&'static str, String), DomainError> {
    match route {
        DomainRoute::ReservedName(id) => {
            let r = st.store().reservation(account, id).await?.ok_or_else(|| {
                field(
                    "route.reserved_name",
                    "no such reserved name in this account",
                )
            })?;
            if r.subdomain.is_none() {
                return Err(field(
                    "route.reserved_name",
                    "must be a reserved subdomain, not a TCP address",
                ));
            }
            Ok(("reserved", id.to_string()))
        }
        DomainRoute::Subdomain(s) => {
            let s = s.to_ascii_lowercase();
            fdt_api::validate::check_label("route.subdomain", &s)
                .map_err(|e| field("route.subdomain", e.to_string()))?;
            Ok(("subdomain", s))
        }
    }
}

/// Creates a domain for `account` within its plan.
pub async fn create(
    st: &AppState,
    account: &AccountId,
    req: &CreateDomain,
) -> Result<DomainRecord, DomainError> {
    let name = check_name(st, &req.domain)?;
    check_failure(&req.failure)?;
    let route = match &req.route {
        Some(r) => Some(check_route(st, account, r).await?),
        None => None,
    };
    let plan = st
        .store()
        .account_plan(account)
        .await?
        .ok_or(DomainError::AccountGone)?;
    let max = plan.entitlements().custom_domains;
    let id = DomainId::from_suffix(&random_base62(fdt_api::ids::ID_SUFFIX_LEN))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let token = random_base62(TOKEN_LEN);
    let cname = format!(
        "{}.{}.{}",
        random_label(CNAME_LABEL_LEN),
        random_label(CNAME_LABEL_LEN),
        st.domains().cname_zone
    );
    let new = NewDomain {
        id: &id,
        account,
        domain: &name,
        txt_token: &token,
        cname_target: &cname,
        mode: req.mode,
        route: route.as_ref().map(|(k, r)| (*k, r.as_str())),
        failure: &req.failure,
        now: st.clock().now(),
    };
    match st.store().create_domain(&new, max).await? {
        CreateDomainOutcome::Created(r) => Ok(*r),
        CreateDomainOutcome::LimitReached => Err(DomainError::LimitReached { max, plan }),
        CreateDomainOutcome::Duplicate => Err(DomainError::Duplicate(name)),
    }
}

/// Changes a domain's mode, route or failure policy.
pub async fn update(
    st: &AppState,
    account: &AccountId,
    id: &DomainId,
    req: &UpdateDomain,
) -> Result<DomainRecord, DomainError> {
    let current = st
        .store()
        .domain(account, id)
        .await?
        .ok_or(DomainError::NotFound)?;
    let failure = req.failure.clone().unwrap_or(current.failure.clone());
    check_failure(&failure)?;
    let route = match &req.route {
        Some(r) => Some(check_route(st, account, r).await?),
        None => current.route.clone().map(|(k, r)| {
            let k: &'static str = if k == "reserved" {
                "reserved"
            } else {
                "subdomain"
            };
            (k, r)
        }),
    };
    let mode = req.mode.unwrap_or(current.mode);
    let route = route.as_ref().map(|(k, r)| (*k, r.as_str()));
    if !st
        .store()
        .update_domain(account, id, mode, route, &failure)
        .await?
    {
        return Err(DomainError::NotFound);
    }
    st.store()
        .domain(account, id)
        .await?
        .ok_or(DomainError::NotFound)
}

/// A stored route as the API shows it.
fn route_to_api(route: &Option<(String, String)>) -> Option<DomainRoute> {
    match route {
        Some((k, r)) if k == "reserved" => r.parse().ok().map(DomainRoute::ReservedName),
        Some((k, r)) if k == "subdomain" => Some(DomainRoute::Subdomain(r.clone())),
        _ => None,
    }
}

/// A domain as the API shows it, with its newest certificate.
pub fn to_api(r: DomainRecord, cert: Option<&CertificateRecord>) -> Domain {
    Domain {
        txt: DnsRecord {
            kind: "TXT".into(),
            name: challenge_name(&r.domain),
            value: challenge_value(&r.txt_token),
        },
        cname: DnsRecord {
            kind: "CNAME".into(),
            name: r.domain.clone(),
            value: r.cname_target.clone(),
        },
        id: r.id,
        domain: r.domain,
        mode: r.mode,
        route: route_to_api(&r.route),
        failure: r.failure,
        state: r.state,
        last_error: r.last_error,
        verified_at: r.verified_at,
        next_check_at: r.next_check_at,
        certificate: cert.map(|c| CertificateInfo {
            version: c.version,
            source: c.source.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            renew_after: c.renew_after,
        }),
        certificate_error: r.cert_error,
        created_at: r.created_at,
    }
}

/// Checks a certificate chain and key for `domain`, seals the key and stores them as the
/// domain's next certificate version; returns the version.
pub async fn install_certificate(
    st: &AppState,
    domain: &DomainRecord,
    chain_pem: &str,
    key_pem: &str,
    source: &str,
) -> Result<i64, DomainError> {
    let now = st.clock().now();
    let checked = certs::check(chain_pem, key_pem, &domain.domain, now)
        .map_err(|e| field("chain_pem", e.to_string()))?;
    let sealed = st
        .sealer()
        .seal(key_pem.as_bytes(), domain.id.as_str().as_bytes())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let renew_after = if source == "acme" {
        certs::renew_after(checked.not_before, checked.not_after, rand::random())
    } else {
        // Nobody renews an upload for its owner: ACME (when configured) takes over a week
        // before it expires.
        checked.not_after - time::Duration::days(7)
    };
    let cert = crate::store::NewCertificate {
        source,
        chain_pem,
        key_sealed: &sealed,
        not_before: checked.not_before,
        not_after: checked.not_after,
        renew_after,
    };
    let version = st
        .store()
        .insert_certificate(&domain.id, &cert, now)
        .await?;
    let kind = match (source, version) {
        ("acme", 1) => "issued",
        ("acme", _) => "renewed",
        _ => "uploaded",
    };
    let detail = format!(
        "version {version}, valid until {}",
        checked
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    );
    st.store()
        .add_domain_event(&domain.id, kind, &detail, now)
        .await?;
    // A new certificate replaces one reported revoked.
    st.store()
        .close_domain_incident(&domain.id, cert_events::REVOKED, now)
        .await?;
    Ok(version)
}
