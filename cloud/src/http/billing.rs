//! `/v1/billing`: providers' webhooks (no bearer token: the provider's signature is the
//! authentication), the caller's subscriptions, and the operators' count of refused
//! deliveries.

use super::admin::{AdminCaller, audited};
use super::extract::{ApiPath, Authenticated};
use super::openapi::{Auth, Endpoint};
use crate::billing::Provider;
use crate::billing::reconcile;
use crate::billing::webhooks::{self, WebhookError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::DunningRecord;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use fdt_api::{
    AccountSubscription, AccountSubscriptionList, BillingEvent, BillingEventList, DunningCase,
    DunningList, OutboxEmail, OutboxList, Plan, Subscription, SubscriptionList, WebhookReceipt,
    WebhookRejectionList,
};
use serde::Deserialize;

/// Most subscriptions an operators' list shows.
const ADMIN_LIST_LIMIT: i64 = 500;

/// Largest webhook body (Stripe's events are a few KiB; a large invoice stays well inside).
const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// The billing routes.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    use fdt_api::Permission as P;
    vec![
        Endpoint::new(
            M::POST,
            "/v1/billing/webhooks/{provider}",
            "billingWebhook",
            webhook,
        )
        .summary(
            "A payment provider's webhook (stripe, razorpay, paypal), verified on the raw body",
        )
        .body_limit(MAX_WEBHOOK_BYTES)
        .json::<WebhookReceipt>(200),
        Endpoint::new(
            M::GET,
            "/v1/billing/subscriptions",
            "billingSubscriptions",
            subscriptions,
        )
        .summary("The caller's subscriptions at payment providers")
        .auth(Auth::User(P::BillingRead))
        .json::<SubscriptionList>(200),
        Endpoint::new(M::GET, "/v1/billing/dunning", "billingDunning", dunning)
            .summary(
                "The caller's dunning cases: reminders and grace period of a past-due subscription",
            )
            .auth(Auth::User(P::BillingRead))
            .json::<DunningList>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/dunning",
            "adminBillingDunning",
            dunning_queue,
        )
        .summary("Operators: every open dunning case")
        .auth(Auth::User(P::Operator))
        .json::<DunningList>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/subscriptions",
            "adminBillingSubscriptions",
            all_subscriptions,
        )
        .summary("Operators: every account's live subscriptions (?canceled=true: ended ones too), most recently changed first")
        .auth(Auth::User(P::Operator))
        .json::<AccountSubscriptionList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/billing/subscriptions/{provider}/{id}/reconcile",
            "adminReconcileSubscription",
            reconcile_subscription,
        )
        .summary("Operators: set a subscription to what its provider holds now, for an event that was lost (audited)")
        .auth(Auth::User(P::Operator))
        .json::<WebhookReceipt>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/outbox",
            "adminBillingOutbox",
            outbox,
        )
        .summary("Operators: billing emails in the outbox (reminders, recoveries, downgrades), newest first")
        .auth(Auth::User(P::Operator))
        .json::<OutboxList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/billing/outbox/{id}/retry",
            "adminRetryBillingEmail",
            retry_email,
        )
        .summary("Operators: send an email that was given up again, from its first attempt (audited)")
        .auth(Auth::User(P::Operator))
        .empty(204),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/events",
            "adminBillingEvents",
            billing_events,
        )
        .summary("Operators: received webhook events and what processing did, newest first")
        .auth(Auth::User(P::Operator))
        .json::<BillingEventList>(200),
        Endpoint::new(
            M::POST,
            "/v1/admin/billing/events/{id}/replay",
            "adminReplayBillingEvent",
            replay_event,
        )
        .summary("Operators: process a stored webhook event again (idempotent; audited)")
        .auth(Auth::User(P::Operator))
        .json::<WebhookReceipt>(200),
        Endpoint::new(
            M::GET,
            "/v1/admin/billing/webhook-rejections",
            "adminWebhookRejections",
            rejections,
        )
        .summary("Operators: webhook deliveries refused for their signature since start")
        .auth(Auth::User(P::Operator))
        .json::<WebhookRejectionList>(200),
    ]
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotConfigured(p) => Self::BadField {
                field: "provider".into(),
                message: format!("{p} is not configured here"),
            },
            WebhookError::Signature(s) => Self::InvalidBody(format!("webhook refused: {s}")),
            WebhookError::Event(e) => Self::InvalidBody(e.to_string()),
            WebhookError::Rejected(why) => Self::InvalidBody(why),
            WebhookError::Upstream(e) => {
                tracing::warn!(error = %e, "webhook: the provider could not be reached");
                Self::Internal
            }
            WebhookError::Store(e) => e.into(),
        }
    }
}

/// `POST /v1/billing/webhooks/{provider}` → 200 with what it did (a duplicate does nothing);
/// 400 for a bad signature (counted, nothing stored), a body that is not an event, or a
/// provider that is unknown or not configured here (naming the field).
async fn webhook(
    State(st): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let provider = self::provider(&provider)?;
    let result = webhooks::ingest(&st, provider, &headers, &body).await;
    let outcome = match &result {
        Ok(r) if r.duplicate => "duplicate",
        Ok(r) => match r.state.as_str() {
            "processed" => "processed",
            "ignored" => "ignored",
            "failed" => "failed",
            _ => "other",
        },
        Err(WebhookError::Signature(_)) => "bad_signature",
        Err(WebhookError::Rejected(_) | WebhookError::Event(_)) => "rejected",
        Err(WebhookError::NotConfigured(_)) => "not_configured",
        Err(WebhookError::Upstream(_)) => "upstream",
        Err(WebhookError::Store(_)) => "error",
    };
    crate::metrics::billing_webhook(provider.as_str(), outcome);
    Ok(Json(result?))
}

/// `GET /v1/billing/subscriptions`.
async fn subscriptions(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<SubscriptionList>, ApiError> {
    let subscriptions = st
        .store()
        .subscriptions(&who.account_id)
        .await?
        .into_iter()
        .map(subscription)
        .collect();
    Ok(Json(SubscriptionList { subscriptions }))
}

/// A stored subscription as the API shows it.
pub(super) fn subscription(s: crate::store::SubscriptionRecord) -> Subscription {
    Subscription {
        plan: s.plan.parse().unwrap_or(Plan::Free),
        period_end: s
            .period_end
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
        provider: s.provider,
        subscription_id: s.subscription_id,
        status: s.status,
        renews: s.renews,
    }
}

/// `GET /v1/admin/billing/webhook-rejections`.
async fn rejections(State(st): State<AppState>, _admin: AdminCaller) -> Json<WebhookRejectionList> {
    Json(WebhookRejectionList {
        providers: st.webhook_rejections().snapshot(),
    })
}

fn case(d: DunningRecord) -> DunningCase {
    DunningCase {
        account: d.account,
        provider: d.provider,
        subscription_id: d.subscription_id,
        state: d.state,
        started_at: d.started_at,
        grace_ends_at: d.grace_ends_at,
        next_reminder_at: d.next_reminder_at,
        reminders_sent: d.reminders_sent,
        closed_at: d.closed_at,
    }
}

/// `GET /v1/billing/dunning`.
async fn dunning(
    State(st): State<AppState>,
    who: Authenticated,
) -> Result<Json<DunningList>, ApiError> {
    let cases = st.store().dunning_cases(Some(&who.account_id), 50).await?;
    Ok(Json(DunningList {
        cases: cases.into_iter().map(case).collect(),
    }))
}

/// `GET /v1/admin/billing/dunning`.
async fn dunning_queue(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<DunningList>, ApiError> {
    let cases = st.store().dunning_cases(None, 500).await?;
    Ok(Json(DunningList {
        cases: cases.into_iter().map(case).collect(),
    }))
}

/// `?canceled=true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionQuery {
    #[serde(default)]
    canceled: bool,
}

/// `GET /v1/admin/billing/subscriptions`.
async fn all_subscriptions(
    State(st): State<AppState>,
    _admin: AdminCaller,
    q: Result<axum::extract::Query<SubscriptionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccountSubscriptionList>, ApiError> {
    let q = super::admin::query(q)?;
    let subscriptions = st
        .store()
        .all_subscriptions(q.canceled, ADMIN_LIST_LIMIT)
        .await?
        .into_iter()
        .map(|s| {
            Ok(AccountSubscription {
                account_id: s.account_id,
                email: s.email,
                subscription: subscription(s.subscription),
                updated_at: crate::store::from_millis(s.updated_at)?,
            })
        })
        .collect::<Result<_, crate::store::StoreError>>()?;
    Ok(Json(AccountSubscriptionList { subscriptions }))
}

/// `GET /v1/admin/billing/outbox`.
async fn outbox(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<OutboxList>, ApiError> {
    let at = |ms| crate::store::from_millis(ms).map_err(ApiError::from);
    let emails = st
        .store()
        .outbox(500)
        .await?
        .into_iter()
        .map(|e| {
            Ok(OutboxEmail {
                id: e.seq,
                account: e.account_id.and_then(|a| a.parse().ok()),
                to: e.recipient,
                kind: e.kind,
                subject: e.subject,
                body: e.body,
                created_at: at(e.created_at)?,
                sent_at: e.sent_at.map(at).transpose()?,
                attempts: u32::try_from(e.attempts).unwrap_or(u32::MAX),
                last_error: e.last_error,
                failed_at: e.failed_at.map(at).transpose()?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(OutboxList { emails }))
}

/// `GET /v1/admin/billing/events`.
async fn billing_events(
    State(st): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<BillingEventList>, ApiError> {
    let at = |ms| crate::store::from_millis(ms).map_err(ApiError::from);
    let events = st
        .store()
        .billing_events(500)
        .await?
        .into_iter()
        .map(|e| {
            Ok(BillingEvent {
                id: e.seq,
                created: time::OffsetDateTime::from_unix_timestamp(e.created)
                    .map_err(|_| ApiError::Internal)?,
                received_at: at(e.received_at)?,
                provider: e.provider,
                event_id: e.event_id,
                event_type: e.event_type,
                state: e.state,
                detail: e.detail,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(BillingEventList { events }))
}

/// `POST /v1/admin/billing/events/{id}/replay` → what processing did now; 404 when there is
/// no such event.
async fn replay_event(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let seq: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    audited(
        &st,
        &admin,
        "billing.event.replay",
        &id,
        serde_json::json!({}),
    )
    .await?;
    webhooks::replay(&st, seq)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `POST /v1/admin/billing/outbox/{id}/retry`: 404 unless the email was given up.
async fn retry_email(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let seq: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    audited(
        &st,
        &admin,
        "billing.email.retry",
        &id,
        serde_json::json!({}),
    )
    .await?;
    if st.store().retry_email(seq, st.clock().now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// `POST /v1/admin/billing/subscriptions/{provider}/{id}/reconcile`: 404 unless the
/// subscription is held here, 502 when the provider cannot say.
async fn reconcile_subscription(
    State(st): State<AppState>,
    admin: AdminCaller,
    ApiPath((p, id)): ApiPath<(String, String)>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let provider = provider(&p)?;
    let target = format!("{}/{id}", provider.as_str());
    audited(
        &st,
        &admin,
        "billing.subscription.reconcile",
        &target,
        serde_json::json!({}),
    )
    .await?;
    let (state, detail) = reconcile::reconcile(&st, provider, &id).await?;
    Ok(Json(WebhookReceipt {
        duplicate: false,
        state: state.to_owned(),
        detail,
    }))
}

/// The provider a path names; 400 naming `provider` otherwise.
pub(super) fn provider(name: &str) -> Result<Provider, ApiError> {
    Provider::parse(name).ok_or_else(|| ApiError::BadField {
        field: "provider".into(),
        message: "stripe, razorpay or paypal".into(),
    })
}
