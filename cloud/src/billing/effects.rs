//! What a verified, stored webhook event does: a money event is booked in the ledger (and
//! invoiced, or refunded when it paid a duplicate subscription), a subscription event moves
//! the subscription (never backwards in the provider's time, never to another account), the
//! account's plan follows its subscriptions, and a second live subscription is settled as a
//! duplicate ([`super::duplicates`]).

use super::Provider;
use super::events::{MoneyEvent, ProviderEvent, SubStatus, SubscriptionEvent};
use super::ledger;
use crate::state::AppState;
use crate::store::{
    DuplicateCharge, Issued, NewLedgerTxn, Recorded, StoreError, SubscriptionApplied,
    SubscriptionState,
};
use fdt_api::AccountId;

/// What an event does, by kind: `(state, detail)`.
pub(super) async fn apply(
    st: &AppState,
    provider: Provider,
    event: &ProviderEvent,
) -> Result<(&'static str, String), StoreError> {
    match (&event.money, &event.order) {
        (Some(money), _) => record_money(st, provider, &event.id, money).await,
        (None, Some(Err(why))) => Ok(("ignored", why.clone())),
        (None, Some(Ok(o))) => Ok(
            match super::orders::razorpay_order_paid(st, &o.id, &o.account, &o.payment).await? {
                Ok(true) => ("processed", format!("order {} paid: plan given", o.id)),
                Ok(false) => ("ignored", format!("order {} was already given", o.id)),
                Err(why) => ("failed", why),
            },
        ),
        (None, None) => process(st, provider, event).await,
    }
}

/// The state of an event refused for its content (a 400 to the provider).
pub(super) const REJECTED: &str = "rejected";

/// Records a money event in the ledger: `(state, detail)`.
async fn record_money(
    st: &AppState,
    provider: Provider,
    event_id: &str,
    money: &Result<MoneyEvent, String>,
) -> Result<(&'static str, String), StoreError> {
    let m = match money {
        Ok(m) => m,
        Err(why) => return Ok((REJECTED, why.clone())),
    };
    let (kind, reference, parent, mut account, amount, entries, subscription) = match m {
        MoneyEvent::Charge {
            id,
            account,
            amount,
            fee,
            subscription,
        } => {
            // A subscription we hold decides whose charge it is (it never changes account);
            // otherwise the metadata we set at checkout.
            let owner = match subscription {
                Some(s) => {
                    st.store()
                        .subscription_account(provider.as_str(), s)
                        .await?
                }
                None => None,
            };
            let account = match (owner, account) {
                (Some(o), _) => Some(o),
                (None, Some(a)) => st.store().account_exists(a).await?,
                (None, None) => None,
            };
            let entries = ledger::charge(provider, amount.minor, *fee);
            let sub = subscription.as_deref();
            ("charge", id, None, account, amount, entries, sub)
        }
        MoneyEvent::Refund { id, charge, amount } => (
            "refund",
            id,
            Some(charge.as_str()),
            None,
            amount,
            ledger::refund(provider, amount.minor),
            None,
        ),
        MoneyEvent::Payout { id, amount } => (
            "payout",
            id,
            None,
            None,
            amount,
            ledger::payout(provider, amount.minor),
            None,
        ),
    };
    let recorded = st
        .store()
        .record_ledger_txn(
            &NewLedgerTxn {
                provider: provider.as_str(),
                kind,
                reference,
                parent,
                account: account.as_ref(),
                currency: amount.currency.as_str(),
                amount: amount.minor,
                event_id,
                subscription,
            },
            &entries,
            st.clock().now(),
        )
        .await?;
    let mut what = format!(
        "{kind} {reference} of {} {}",
        amount.decimal(),
        amount.currency.as_str()
    );
    // A charge booked without an account while its subscription's own event was applied
    // beside it (two deliveries at once): that event's adoption ran before this row was
    // there, so this one adopts it. Adopting is once per row, whoever comes second.
    if let (None, Some(sub), Recorded::Txn(_)) = (&account, subscription, &recorded)
        && let Some(owner) = st
            .store()
            .subscription_account(provider.as_str(), sub)
            .await?
    {
        for done in adopt_charges(st, provider, sub, &owner).await? {
            what.push_str("; ");
            what.push_str(&done);
        }
        account = Some(owner);
    }
    // Invoices follow the ledger; a redelivery (a duplicate here) issues what a failure in
    // between left out, and nothing twice.
    let invoice = match (&recorded, kind, &account, parent) {
        (Recorded::Txn(_) | Recorded::Duplicate, "charge", Some(a), _) => {
            super::invoices::on_charge(st, provider, reference, a, amount)
                .await
                .map(Some)?
        }
        (Recorded::Txn(_) | Recorded::Duplicate, "refund", _, Some(charge)) => {
            super::invoices::on_refund(st, provider, reference, charge, amount).await?
        }
        _ => None,
    };
    let what = match invoice {
        Some(Issued::New(n)) => format!("{what}; document number {n} issued"),
        _ => what,
    };
    // A duplicate subscription's charge goes back (see `duplicates`).
    let what = match (&recorded, subscription) {
        (Recorded::Txn(_) | Recorded::Duplicate, Some(sub)) => {
            match duplicate_refund(st, provider, account.as_ref(), sub, reference).await? {
                Some(note) => format!("{what}; {note}"),
                None => what,
            }
        }
        _ => what,
    };
    Ok(match recorded {
        Recorded::Txn(seq) => ("processed", format!("{what}: ledger transaction {seq}")),
        Recorded::Duplicate => ("ignored", format!("{what}: already in the ledger")),
        Recorded::NoCharge => (REJECTED, format!("{what}: no such charge in the ledger")),
        Recorded::TooLarge(charged, refunded) => (
            REJECTED,
            format!(
                "{what}: more than is left of the charge ({charged} charged, {refunded} refunded, minor units)"
            ),
        ),
        Recorded::CurrencyMismatch(c) => (REJECTED, format!("{what}: the charge is in {c}")),
    })
}

/// Invoices the charges of subscription `sub` that were booked before it was known (the
/// provider sent the payment first), now that its account is: what was done.
async fn adopt_charges(
    st: &AppState,
    provider: Provider,
    sub: &str,
    account: &AccountId,
) -> Result<Vec<String>, StoreError> {
    let mut done = Vec::new();
    for c in st
        .store()
        .adopt_subscription_charges(provider.as_str(), sub, account)
        .await?
    {
        let Ok(currency) = super::money::Currency::parse(&c.currency) else {
            continue;
        };
        let amount = super::money::Money::minor(c.amount, currency);
        let issued =
            super::invoices::on_charge(st, provider, &c.reference, account, &amount).await?;
        done.push(match issued {
            Issued::New(n) => format!(
                "charge {} booked earlier: document number {n} issued",
                c.reference
            ),
            _ => format!("charge {} booked earlier is the account's", c.reference),
        });
    }
    Ok(done)
}

/// Refunds charge `reference` of subscription `sub` when that is a duplicate.
async fn duplicate_refund(
    st: &AppState,
    provider: Provider,
    account: Option<&AccountId>,
    sub: &str,
    reference: &str,
) -> Result<Option<String>, StoreError> {
    let Some((currency, amount, refunded)) = st
        .store()
        .ledger_charge(provider.as_str(), reference)
        .await?
    else {
        return Ok(None);
    };
    let charge = DuplicateCharge {
        reference: reference.to_owned(),
        currency,
        amount,
        refunded,
    };
    super::duplicates::after_charge(st, account, provider.as_str(), sub, &charge).await
}

/// What an event does: `(state, detail)`.
async fn process(
    st: &AppState,
    provider: Provider,
    event: &ProviderEvent,
) -> Result<(&'static str, String), StoreError> {
    match &event.subscription {
        None => Ok(("ignored", format!("{} is not acted on", event.kind))),
        Some(Err(why)) => Ok(("ignored", why.clone())),
        Some(Ok(s)) => set_subscription(st, provider, s, event.created).await,
    }
}

/// Sets subscription `s` as the provider said at `event_at` (Unix seconds; an older state
/// never overwrites a newer one), and everything that follows: dunning, charges booked
/// before it, duplicates, the account's plan. `(state, detail)`.
pub(super) async fn set_subscription(
    st: &AppState,
    provider: Provider,
    s: &SubscriptionEvent,
    event_at: i64,
) -> Result<(&'static str, String), StoreError> {
    let Some(account) = st.store().account_exists(&s.account).await? else {
        return Ok(("failed", format!("no account {}", s.account)));
    };
    let applied = st
        .store()
        .apply_subscription(
            &SubscriptionState {
                provider: provider.as_str(),
                subscription_id: &s.id,
                account: &account,
                plan: &s.plan,
                status: s.status.as_str(),
                period_end: s.period_end,
                event_at,
            },
            st.clock().now(),
        )
        .await?;
    Ok(match applied {
        SubscriptionApplied::Applied => {
            super::dunning::on_status(st, &account, provider.as_str(), &s.id, s.status).await?;
            let adopted = adopt_charges(st, provider, &s.id, &account).await?;
            let duplicates = if s.status == SubStatus::Canceled {
                Vec::new()
            } else {
                super::duplicates::after_live(st, &account).await?
            };
            let plan = super::entitlement::entitled_plan(st, &account).await?;
            super::entitlement::set_plan(st, &account, plan).await?;
            let mut detail = format!(
                "subscription {} is {}; plan {plan}",
                s.id,
                s.status.as_str()
            );
            for d in adopted.into_iter().chain(duplicates) {
                detail.push_str("; ");
                detail.push_str(&d);
            }
            ("processed", detail)
        }
        SubscriptionApplied::Stale => (
            "ignored",
            "a newer event already set this subscription".to_owned(),
        ),
        SubscriptionApplied::OtherAccount => (
            "failed",
            "the subscription belongs to another account".to_owned(),
        ),
    })
}
