//! Reading providers' subscription objects (in an event, or fetched to reconcile) into what
//! billing acts on: the subscription, our account, the plan and the status. Sans-IO.

use super::{SubStatus, SubscriptionEvent, id_of, rfc3339};
use serde_json::Value;
use std::collections::BTreeMap;

/// The plan `map` maps the provider's `what` ID `id` to.
fn plan_for(map: &BTreeMap<String, String>, what: &str, id: &str) -> Result<String, String> {
    map.get(id)
        .cloned()
        .ok_or_else(|| format!("{what} {id} is not a configured plan"))
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

/// Reads a Stripe subscription object (an event's `data.object`, or `GET
/// /v1/subscriptions/{id}`); `deleted` when the event says it was deleted.
pub fn stripe_subscription(
    o: &Value,
    prices: &BTreeMap<String, String>,
    deleted: bool,
) -> Result<SubscriptionEvent, String> {
    let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
    let account = id_of(&o["metadata"]["account_id"]).ok_or("no metadata.account_id")?;
    let item = &o["items"]["data"][0];
    // Stripe sends the item's recurring price twice: as `price` and as the older `plan`
    // (same ID); older API versions and localstripe have only `plan`.
    let price = id_of(&item["price"]["id"])
        .or_else(|| id_of(&item["plan"]["id"]))
        .ok_or("no price")?;
    let plan = plan_for(prices, "price", &price)?;
    let status = if deleted {
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
        plan,
        status,
        period_end,
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

/// Reads a PayPal subscription (an event's `resource`, or `GET
/// /v1/billing/subscriptions/{id}`): our account in `custom_id`.
pub fn paypal_subscription(
    o: &Value,
    plans: &BTreeMap<String, String>,
) -> Result<SubscriptionEvent, String> {
    let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
    let account = id_of(&o["custom_id"]).ok_or("no custom_id")?;
    let plan_id = id_of(&o["plan_id"]).ok_or("no plan_id")?;
    let plan = plan_for(plans, "plan", &plan_id)?;
    let s = o["status"].as_str().unwrap_or_default();
    let status = paypal_status(s).ok_or_else(|| format!("status {s:?} is not acted on"))?;
    Ok(SubscriptionEvent {
        id: sub_id,
        account,
        plan,
        status,
        period_end: rfc3339(&o["billing_info"]["next_billing_time"]),
    })
}

/// Reads a Razorpay subscription (an event's `payload.subscription.entity`, or `GET
/// /v1/subscriptions/{id}`): our account in `notes.account_id`.
pub fn razorpay_subscription(
    o: &Value,
    plans: &BTreeMap<String, String>,
) -> Result<SubscriptionEvent, String> {
    let sub_id = id_of(&o["id"]).ok_or("no subscription id")?;
    let account = id_of(&o["notes"]["account_id"]).ok_or("no notes.account_id")?;
    let plan_id = id_of(&o["plan_id"]).ok_or("no plan_id")?;
    let plan = plan_for(plans, "plan", &plan_id)?;
    let s = o["status"].as_str().unwrap_or_default();
    let status = razorpay_status(s).ok_or_else(|| format!("status {s:?} is not acted on"))?;
    Ok(SubscriptionEvent {
        id: sub_id,
        account,
        plan,
        status,
        period_end: o["current_end"].as_i64(),
    })
}
