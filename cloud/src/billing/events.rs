//! Reading providers' webhook events into what billing acts on: an event ID, type and creation
//! time, and for subscription events the subscription's state. Sans-IO: JSON in, values out.
//!
//! - Stripe: `customer.subscription.created|updated|deleted`, the subscription in
//!   `data.object` (our account in `metadata.account_id`, the price in `items.data[0].price.id`).
//! - Razorpay: `subscription.*`, the subscription in `payload.subscription.entity` (our account
//!   in `notes.account_id`, the plan in `plan_id`); the event ID is the `x-razorpay-event-id`
//!   header, the time `created_at`; `order.paid` names a one-time payment (the order, our
//!   account in its `notes.account_id`, the payment).

use super::money::{Currency, Money};
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

/// Money moving, as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyEvent {
    /// A payment captured.
    Charge {
        /// The provider's charge or payment ID.
        id: String,
        /// Our account, when the metadata names one.
        account: Option<String>,
        /// The amount.
        amount: Money,
        /// The provider's fee, in the same currency.
        fee: Option<i64>,
        /// The subscription it pays for, when the event names one: the account is then the
        /// subscription's (as stored here) when the metadata names none.
        subscription: Option<String>,
    },
    /// A refund of a charge.
    Refund {
        /// The provider's refund ID.
        id: String,
        /// The charge it refunds.
        charge: String,
        /// The amount.
        amount: Money,
    },
    /// A payout to our bank.
    Payout {
        /// The provider's payout ID.
        id: String,
        /// The amount.
        amount: Money,
    },
}

/// An order paid (Razorpay's `order.paid`): a one-time payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPaid {
    /// The provider's order ID.
    pub id: String,
    /// `account_id` from the order's notes.
    pub account: String,
    /// The payment that paid it.
    pub payment: String,
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
    /// The money it moves, if it is a charge, refund or payout event.
    pub money: Option<Result<MoneyEvent, String>>,
    /// The order it says is paid, if it is an order event we act on.
    pub order: Option<Result<OrderPaid, String>>,
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

fn minor_money(amount: &Value, currency: &Value) -> Result<Money, String> {
    let minor = amount
        .as_i64()
        .filter(|a| *a > 0)
        .ok_or("no positive amount")?;
    let currency =
        Currency::parse(currency.as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
    Ok(Money::minor(minor, currency))
}

fn decimal_money(v: &Value) -> Result<Money, String> {
    let currency = v["currency"]
        .as_str()
        .or_else(|| v["currency_code"].as_str())
        .unwrap_or_default();
    let currency = Currency::parse(currency).map_err(|e| e.to_string())?;
    let total = v["total"]
        .as_str()
        .or_else(|| v["value"].as_str())
        .unwrap_or_default();
    let m = Money::parse_decimal(total, currency).map_err(|e| e.to_string())?;
    if m.minor > 0 {
        Ok(m)
    } else {
        Err("no positive amount".into())
    }
}

fn stripe_money(kind: &str, o: &Value) -> Option<Result<MoneyEvent, String>> {
    let id = || id_of(&o["id"]).ok_or_else(|| "no id".to_owned());
    Some(match kind {
        "charge.succeeded" => (|| {
            Ok(MoneyEvent::Charge {
                id: id()?,
                account: id_of(&o["metadata"]["account_id"]),
                amount: minor_money(&o["amount"], &o["currency"])?,
                fee: None,
                subscription: None,
            })
        })(),
        // A subscription's invoice paid: its charge (an ID, or the object when expanded),
        // the amount paid, and the subscription (older API versions name it at the top, newer
        // under `parent.subscription_details`). An invoice of nothing (a trial) is no charge.
        "invoice.paid" | "invoice.payment_succeeded" => {
            if o["amount_paid"].as_i64() == Some(0) {
                return None;
            }
            (|| {
                let charge = id_of(&o["charge"])
                    .or_else(|| id_of(&o["charge"]["id"]))
                    .ok_or("no charge")?;
                let details = if o["subscription_details"].is_object() {
                    &o["subscription_details"]
                } else {
                    &o["parent"]["subscription_details"]
                };
                Ok(MoneyEvent::Charge {
                    id: charge,
                    account: id_of(&details["metadata"]["account_id"]),
                    amount: minor_money(&o["amount_paid"], &o["currency"])?,
                    fee: None,
                    subscription: id_of(&o["subscription"])
                        .or_else(|| id_of(&details["subscription"])),
                })
            })()
        }
        "refund.created" => (|| {
            Ok(MoneyEvent::Refund {
                id: id()?,
                charge: id_of(&o["charge"]).ok_or("no charge")?,
                amount: minor_money(&o["amount"], &o["currency"])?,
            })
        })(),
        "payout.paid" => (|| {
            Ok(MoneyEvent::Payout {
                id: id()?,
                amount: minor_money(&o["amount"], &o["currency"])?,
            })
        })(),
        _ => return None,
    })
}

fn razorpay_money(kind: &str, v: &Value) -> Option<Result<MoneyEvent, String>> {
    Some(match kind {
        "payment.captured" => {
            let o = &v["payload"]["payment"]["entity"];
            (|| {
                Ok(MoneyEvent::Charge {
                    id: id_of(&o["id"]).ok_or("no payment id")?,
                    account: id_of(&o["notes"]["account_id"]),
                    amount: minor_money(&o["amount"], &o["currency"])?,
                    fee: o["fee"].as_i64(),
                    subscription: None,
                })
            })()
        }
        "refund.processed" => {
            let o = &v["payload"]["refund"]["entity"];
            (|| {
                Ok(MoneyEvent::Refund {
                    id: id_of(&o["id"]).ok_or("no refund id")?,
                    charge: id_of(&o["payment_id"]).ok_or("no payment_id")?,
                    amount: minor_money(&o["amount"], &o["currency"])?,
                })
            })()
        }
        _ => return None,
    })
}

/// PayPal's fee `f` (a decimal amount), in minor units of `amount`'s currency.
fn fee_in(f: Option<&Value>, amount: &Money) -> Result<Option<i64>, String> {
    let Some(f) = f else { return Ok(None) };
    let f = decimal_money(f)?;
    if f.currency != amount.currency {
        return Err("fee in another currency".into());
    }
    Ok(Some(f.minor))
}

fn paypal_money(kind: &str, o: &Value) -> Option<Result<MoneyEvent, String>> {
    Some(match kind {
        "PAYMENT.SALE.COMPLETED" => (|| {
            let amount = decimal_money(&o["amount"])?;
            let fee = fee_in(o.get("transaction_fee"), &amount)?;
            Ok(MoneyEvent::Charge {
                id: id_of(&o["id"]).ok_or("no sale id")?,
                account: id_of(&o["custom"]),
                amount,
                fee,
                // A subscription's payment names it as its billing agreement.
                subscription: id_of(&o["billing_agreement_id"]),
            })
        })(),
        // An order's capture (Orders v2: a one-time payment); our account is its unit's
        // `custom_id`, PayPal's fee in `seller_receivable_breakdown`.
        "PAYMENT.CAPTURE.COMPLETED" => (|| {
            let amount = decimal_money(&o["amount"])?;
            let fee = fee_in(o["seller_receivable_breakdown"].get("paypal_fee"), &amount)?;
            Ok(MoneyEvent::Charge {
                id: id_of(&o["id"]).ok_or("no capture id")?,
                account: id_of(&o["custom_id"]),
                amount,
                fee,
                subscription: None,
            })
        })(),
        // An order capture's refund: the capture is the `up` link's last segment.
        "PAYMENT.CAPTURE.REFUNDED" => (|| {
            let up = o["links"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["rel"] == "up"))
                .and_then(|l| l["href"].as_str())
                .and_then(|h| h.rsplit('/').next())
                .ok_or("no capture link")?;
            Ok(MoneyEvent::Refund {
                id: id_of(&o["id"]).ok_or("no refund id")?,
                charge: id_of(&Value::from(up)).ok_or("no capture id")?,
                amount: decimal_money(&o["amount"])?,
            })
        })(),
        "PAYMENT.SALE.REFUNDED" => (|| {
            Ok(MoneyEvent::Refund {
                id: id_of(&o["id"]).ok_or("no refund id")?,
                charge: id_of(&o["sale_id"]).ok_or("no sale_id")?,
                amount: decimal_money(&o["amount"])?,
            })
        })(),
        _ => return None,
    })
}

/// Reads a Stripe event; `prices` maps price IDs to plan names.
pub fn stripe(body: &[u8], prices: &BTreeMap<String, String>) -> Result<ProviderEvent, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| EventError("invalid JSON"))?;
    let id = id_of(&v["id"]).ok_or(EventError("no id"))?;
    let kind = id_of(&v["type"]).ok_or(EventError("no type"))?;
    let created = v["created"].as_i64().ok_or(EventError("no created"))?;
    let subscription = kind.starts_with("customer.subscription.").then(|| {
        stripe_subscription(
            &v["data"]["object"],
            prices,
            kind == "customer.subscription.deleted",
        )
    });
    let money = stripe_money(&kind, &v["data"]["object"]);
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
        money,
        order: None,
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
        .then(|| paypal_subscription(&v["resource"], plans));
    let money = paypal_money(&kind, &v["resource"]);
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
        money,
        order: None,
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
        .then(|| razorpay_subscription(&v["payload"]["subscription"]["entity"], plans));
    let money = razorpay_money(&kind, &v);
    let order = (kind == "order.paid").then(|| {
        let o = &v["payload"]["order"]["entity"];
        Ok(OrderPaid {
            id: id_of(&o["id"]).ok_or("no order id")?,
            account: id_of(&o["notes"]["account_id"]).ok_or("no notes.account_id")?,
            payment: id_of(&v["payload"]["payment"]["entity"]["id"]).ok_or("no payment id")?,
        })
    });
    Ok(ProviderEvent {
        id,
        kind,
        created,
        subscription,
        money,
        order,
    })
}

mod subscription;

pub use subscription::{paypal_subscription, razorpay_subscription, stripe_subscription};

#[cfg(test)]
mod tests;
