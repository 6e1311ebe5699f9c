//! Reading providers' webhook events into what billing acts on: an event ID, type and creation
//! time, and for subscription events the subscription's state. Sans-IO: JSON in, values out.
//!
//! - Stripe: `customer.subscription.created|updated|deleted`, the subscription in
//!   `data.object` (our account in `metadata.account_id`, the price in `items.data[0].price.id`).
//! - Razorpay: `subscription.*`, the subscription in `payload.subscription.entity` (our account
//!   in `notes.account_id`, the plan in `plan_id`); the event ID is the `x-razorpay-event-id`
//!   header, the time `created_at`.

use serde_json::Value;
use std::collections::BTreeMap;

/// Most bytes of an event or subscription ID kept.
const MAX_ID_BYTES: usize = 128;

/// A subscription's status, as billing knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubStatus {
    /// In a trial: entitled.
    Trialing,
    /// Paid: entitled.
    Active,
    /// A payment failed; dunning runs, still entitled until it ends.
    PastDue,
    /// Ended: back to free.
    Canceled,
}

impl SubStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }
}

/// What a subscription event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEvent {
    /// The provider's subscription ID.
    pub id: String,
    /// `account_id` from the metadata we set when creating it.
    pub account: String,
    /// The plan it is for (mapped from the provider's price or plan ID).
    pub plan: String,
    /// Its status.
    pub status: SubStatus,
    /// End of the current period (Unix seconds).
    pub period_end: Option<i64>,
}

/// An event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// The provider's event ID.
    pub id: String,
    /// Its type.
    pub kind: String,
    /// When the provider created it (Unix seconds).
    pub created: i64,
    /// The subscription it describes, if it is a subscription event we act on.
    pub subscription: Option<Result<SubscriptionEvent, String>>,
}

/// Why a body is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a provider event: {0}")]
pub struct EventError(pub &'static str);

fn id_of(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|s| !s.is_empty() && s.len() <= MAX_ID_BYTES)
        .filter(|s| s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

fn stripe_status(s: &str) -> Option<SubStatus> {
    Some(match s {
        "trialing" => SubStatus::Trialing,
        "active" => SubStatus::Active,
        "past_due" | "unpaid" => SubStatus::PastDue,
        "canceled" | "incomplete_expired" | "paused" => SubStatus::Canceled,
        // `incomplete`: the first payment has not gone through; nothing is owed yet.
        _ => return None,
    })
}

fn razorpay_status(s: &str) -> Option<SubStatus> {
    Some(match s {
        "active" => SubStatus::Active,
        "pending" | "halted" => SubStatus::PastDue,
        "cancelled" | "completed" | "expired" | "paused" => SubStatus::Canceled,
        // `created`, `authenticated`: not charged yet.
        _ => return None,
    })
}

/// Reads a Stripe event; `prices` maps price IDs to plan names.
pub fn stripe(body: &[u8], prices: &BTreeMap<String, String>) -> Result<ProviderEvent, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| EventError("invalid JSON"))?;
    let id = id_of(&v["id"]).ok_or(EventError("no id"))?;
    let kind = id_of(&v["type"]).ok_or(EventError("no type"))?;
    let created = v["created"].as_i64().ok_or(EventError("no created"))?;
    let subscription = kind
        .starts_with("customer.subscription.")
        .then(|| {
            let o = &v["data"]["object"];
            let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
            let account = id_of(&o["metadata"]["account_id"]).ok_or("no metadata.account_id")?;
            let item = &o["items"]["data"][0];
            let price = id_of(&item["price"]["id"]).ok_or("no price")?;
            let plan = prices
                .get(&price)
                .ok_or_else(|| format!("price {price} is not a configured plan"))?;
            let status = if kind == "customer.subscription.deleted" {
                SubStatus::Canceled
            } else {
                let s = o["status"].as_str().unwrap_or_default();
                stripe_status(s).ok_or_else(|| format!("status {s:?} is not acted on"))?
            };
            // Newer API versions carry the period on the item.
            let period_end = o["current_period_end"]
                .as_i64()
                .or_else(|| item["current_period_end"].as_i64());
            Ok(SubscriptionEvent {
                id: sub_id,
                account,
                plan: plan.clone(),
                status,
                period_end,
            })
        })
        .map(|r: Result<_, String>| r);
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
    })
}

fn paypal_status(s: &str) -> Option<SubStatus> {
    Some(match s {
        "ACTIVE" => SubStatus::Active,
        "SUSPENDED" => SubStatus::PastDue,
        "CANCELLED" | "EXPIRED" => SubStatus::Canceled,
        // `APPROVAL_PENDING`, `APPROVED`: not charged yet.
        _ => return None,
    })
}

fn rfc3339(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Reads a PayPal event; `plans` maps PayPal plan IDs to plan names. The subscription is in
/// `resource` (our account in `custom_id`), for `BILLING.SUBSCRIPTION.*` events.
pub fn paypal(body: &[u8], plans: &BTreeMap<String, String>) -> Result<ProviderEvent, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| EventError("invalid JSON"))?;
    let id = id_of(&v["id"]).ok_or(EventError("no id"))?;
    let kind = id_of(&v["event_type"]).ok_or(EventError("no event_type"))?;
    let created = rfc3339(&v["create_time"]).ok_or(EventError("no create_time"))?;
    let subscription = kind
        .starts_with("BILLING.SUBSCRIPTION.")
        .then(|| {
            let o = &v["resource"];
            let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
            let account = id_of(&o["custom_id"]).ok_or("no custom_id")?;
            let plan_id = id_of(&o["plan_id"]).ok_or("no plan_id")?;
            let plan = plans
                .get(&plan_id)
                .ok_or_else(|| format!("plan {plan_id} is not a configured plan"))?;
            let s = o["status"].as_str().unwrap_or_default();
            let status = paypal_status(s).ok_or_else(|| format!("status {s:?} is not acted on"))?;
            Ok(SubscriptionEvent {
                id: sub_id,
                account,
                plan: plan.clone(),
                status,
                period_end: rfc3339(&o["billing_info"]["next_billing_time"]),
            })
        })
        .map(|r: Result<_, String>| r);
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
    })
}

/// Reads a Razorpay event with ID `event_id` (its header); `plans` maps Razorpay plan IDs to
/// plan names.
pub fn razorpay(
    event_id: Option<&str>,
    body: &[u8],
    plans: &BTreeMap<String, String>,
) -> Result<ProviderEvent, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| EventError("invalid JSON"))?;
    let id = event_id
        .and_then(|h| id_of(&Value::from(h)))
        .ok_or(EventError("no x-razorpay-event-id"))?;
    let kind = id_of(&v["event"]).ok_or(EventError("no event"))?;
    let created = v["created_at"]
        .as_i64()
        .ok_or(EventError("no created_at"))?;
    let subscription = kind
        .starts_with("subscription.")
        .then(|| {
            let o = &v["payload"]["subscription"]["entity"];
            let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
            let account = id_of(&o["notes"]["account_id"]).ok_or("no notes.account_id")?;
            let plan_id = id_of(&o["plan_id"]).ok_or("no plan_id")?;
            let plan = plans
                .get(&plan_id)
                .ok_or_else(|| format!("plan {plan_id} is not a configured plan"))?;
            let s = o["status"].as_str().unwrap_or_default();
            let status =
                razorpay_status(s).ok_or_else(|| format!("status {s:?} is not acted on"))?;
            Ok(SubscriptionEvent {
                id: sub_id,
                account,
                plan: plan.clone(),
                status,
                period_end: o["current_end"].as_i64(),
            })
        })
        .map(|r: Result<_, String>| r);
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn prices() -> BTreeMap<String, String> {
        BTreeMap::from([("price_pro".to_owned(), "pro".to_owned())])
    }

    #[test]
    fn stripe_subscription_events_are_read() {
        let body = json!({"id": "evt_1", "type": "customer.subscription.updated", "created": 1700000000,
            "data": {"object": {"id": "sub_1", "status": "past_due", "current_period_end": 1702592000,
                "metadata": {"account_id": "acc_x"}, "items": {"data": [{"price": {"id": "price_pro"}}]}}}});
        let e = stripe(body.to_string().as_bytes(), &prices()).unwrap();
        assert_eq!((e.id.as_str(), e.created), ("evt_1", 1700000000));
        let s = e.subscription.unwrap().unwrap();
        assert_eq!(s.status, SubStatus::PastDue);
        assert_eq!(
            (s.plan.as_str(), s.account.as_str(), s.period_end),
            ("pro", "acc_x", Some(1702592000))
        );
        // Deleted means canceled whatever the status says; an unknown price is named.
        let mut deleted = body.clone();
        deleted["type"] = json!("customer.subscription.deleted");
        let s = stripe(deleted.to_string().as_bytes(), &prices())
            .unwrap()
            .subscription
            .unwrap()
            .unwrap();
        assert_eq!(s.status, SubStatus::Canceled);
        let mut other = body.clone();
        other["data"]["object"]["items"]["data"][0]["price"]["id"] = json!("price_gold");
        let why = stripe(other.to_string().as_bytes(), &prices())
            .unwrap()
            .subscription
            .unwrap()
            .unwrap_err();
        assert!(why.contains("price_gold"), "{why}");
        // Other event types carry no subscription; a body without an ID is not an event.
        let invoice = json!({"id": "evt_2", "type": "invoice.paid", "created": 1});
        assert_eq!(
            stripe(invoice.to_string().as_bytes(), &prices())
                .unwrap()
                .subscription,
            None
        );
        assert!(stripe(b"{\"type\":\"x\",\"created\":1}", &prices()).is_err());
        assert!(stripe(b"not json", &prices()).is_err());
    }

    #[test]
    fn razorpay_subscription_events_are_read() {
        let plans = BTreeMap::from([("plan_pro".to_owned(), "pro".to_owned())]);
        let body = json!({"entity": "event", "event": "subscription.halted", "created_at": 1700000000,
            "payload": {"subscription": {"entity": {"id": "sub_R1", "plan_id": "plan_pro", "status": "halted",
                "current_end": 1702592000, "notes": {"account_id": "acc_x"}}}}});
        let e = razorpay(Some("evt_R1"), body.to_string().as_bytes(), &plans).unwrap();
        let s = e.subscription.unwrap().unwrap();
        assert_eq!((s.status, s.id.as_str()), (SubStatus::PastDue, "sub_R1"));
        assert!(razorpay(None, body.to_string().as_bytes(), &plans).is_err());
        assert!(razorpay(Some(""), body.to_string().as_bytes(), &plans).is_err());
    }
}
