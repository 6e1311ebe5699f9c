//! `/admin/billing`: reconciliation incidents (resolve), finance transactions waiting for an
//! operator's acknowledgement (acknowledge), ledger exports (CSV or JSON over a date range),
//! live subscriptions (reconcile with the provider), webhook events (replay), the dunning
//! queue, billing emails (send again one that was given up), invoices and settlement receipts.

use super::post_button;
use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{
    AccountSubscription, AccountSubscriptionList, BillingEvent, BillingEventList, BillingIncident,
    BillingIncidentList, DunningCase, DunningList, Invoice, InvoiceList, LedgerTxn, LedgerTxnList,
    OutboxEmail, OutboxList, Settlement, SettlementList,
};
use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// A table of what `path` lists, refetched when operators act.
#[component]
fn Listed<L, T>(
    path: &'static str,
    caption: &'static str,
    empty: &'static str,
    rows: fn(L) -> Vec<T>,
    columns: fn() -> Vec<Column<T>>,
) -> impl IntoView
where
    L: DeserializeOwned + Clone + Send + Sync + serde::Serialize + 'static,
    T: Clone + Send + Sync + 'static,
{
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || live.admin.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<L>(path).await }
        },
    );
    view! {
        <h2>{caption}</h2>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => {
                        let rows = rows(l);
                        if rows.is_empty() {
                            view! { <EmptyState title=empty hint=""/> }.into_any()
                        } else {
                            view! { <DataTable caption=caption columns=columns() rows=rows/> }.into_any()
                        }
                    }
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The admin billing page.
#[component]
pub fn AdminBillingPage() -> impl IntoView {
    view! {
        <PageHeader title="Billing" lede="Reconciliation incidents, finance acknowledgements and exports, subscriptions, providers' webhook events, dunning, invoices and settlements."/>
        <Listed path="/v1/admin/billing/incidents?open=true" caption="Open reconciliation incidents"
            empty="No open incidents" rows=|l: BillingIncidentList| l.incidents columns=incident_columns/>
        <Listed path="/v1/admin/ledger/transactions?pending=true" caption="Finance transactions awaiting acknowledgement"
            empty="Nothing waiting for acknowledgement" rows=|l: LedgerTxnList| l.transactions columns=ledger_columns/>
        <LedgerExport/>
        <Listed path="/v1/admin/billing/subscriptions" caption="Subscriptions"
            empty="No live subscriptions" rows=|l: AccountSubscriptionList| l.subscriptions columns=subscription_columns/>
        <Listed path="/v1/admin/billing/events" caption="Webhook events"
            empty="No webhook events" rows=|l: BillingEventList| l.events columns=event_columns/>
        <Listed path="/v1/admin/billing/dunning" caption="Dunning queue"
            empty="No open dunning cases" rows=|l: DunningList| l.cases columns=dunning_columns/>
        <Listed path="/v1/admin/billing/outbox" caption="Billing emails"
            empty="No billing emails" rows=|l: OutboxList| l.emails columns=email_columns/>
        <Listed path="/v1/admin/billing/invoices" caption="Invoices and credit notes"
            empty="No invoices yet" rows=|l: InvoiceList| l.invoices columns=invoice_columns/>
        <Listed path="/v1/admin/billing/settlements" caption="Settlement receipts"
            empty="No settlement receipts" rows=|l: SettlementList| l.settlements columns=settlement_columns/>
    }
}

fn incident_columns() -> Vec<Column<BillingIncident>> {
    vec![
        Column::sorted(
            "Opened",
            |i| SortKey::Num(i.opened_at.unix_timestamp().into()),
            |i| utc(i.opened_at).into_any(),
        ),
        Column::sorted(
            "Kind",
            |i| SortKey::Text(i.kind.clone()),
            |i| view! { <span class="badge badge-err">{i.kind.clone()}</span> }.into_any(),
        ),
        Column::sorted(
            "Reference",
            |i| SortKey::Text(i.reference.clone()),
            |i| view! { <code>{format!("{} / {}", i.settlement, i.reference)}</code> }.into_any(),
        ),
        Column::sorted(
            "Difference",
            |i| SortKey::Num(i.difference.into()),
            |i| {
                format!(
                    "{} (ledger {}, receipt {})",
                    fdt_api::money::display(i.difference, &i.currency),
                    i.expected,
                    i.actual
                )
                .into_any()
            },
        ),
        Column::new("", |i| {
            let path = format!("/v1/admin/billing/incidents/{}/resolve", i.id);
            post_button("Resolve", path, "Incident resolved.")
        }),
    ]
}

/// The ledger's lines over a date range, as a CSV or JSON download.
#[component]
fn LedgerExport() -> impl IntoView {
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let csv = RwSignal::new(true);
    // Empty dates take the API's defaults (the last 30 days).
    let href = move || {
        let mut q = vec![format!("format={}", if csv.get() { "csv" } else { "json" })];
        for (name, v) in [("from", from.get()), ("to", to.get())] {
            if !v.is_empty() {
                q.push(format!("{name}={v}"));
            }
        }
        format!("/v1/admin/ledger?{}", q.join("&"))
    };
    view! {
        <h2>"Ledger export"</h2>
        <form class="ledger-export" on:submit=|ev| ev.prevent_default()>
            <label for="ledger-from">"From"</label>
            <input id="ledger-from" type="date" prop:value=move || from.get()
                on:input=move |ev| from.set(event_target_value(&ev))/>
            <label for="ledger-to">"Until (not included)"</label>
            <input id="ledger-to" type="date" prop:value=move || to.get()
                on:input=move |ev| to.set(event_target_value(&ev))/>
            <label for="ledger-format">"Format"</label>
            <select id="ledger-format" on:change=move |ev| csv.set(event_target_value(&ev) == "csv")>
                <option value="csv" selected>"CSV"</option>
                <option value="json">"JSON"</option>
            </select>
            <a class="btn" id="ledger-download" href=href download>"Download"</a>
        </form>
    }
}

fn ledger_columns() -> Vec<Column<LedgerTxn>> {
    vec![
        Column::sorted(
            "Recorded",
            |t| SortKey::Num(t.at.unix_timestamp().into()),
            |t| utc(t.at).into_any(),
        ),
        Column::sorted(
            "Kind",
            |t| SortKey::Text(t.kind.clone()),
            |t| t.kind.clone().into_any(),
        ),
        Column::sorted(
            "Reference",
            |t| SortKey::Text(t.reference.clone()),
            |t| view! { <code>{format!("{} / {}", t.provider, t.reference)}</code> }.into_any(),
        ),
        Column::sorted(
            "Amount",
            |t| SortKey::Num(t.amount.into()),
            |t| fdt_api::money::display(t.amount, &t.currency).into_any(),
        ),
        Column::new("", |t| {
            let path = format!("/v1/admin/ledger/transactions/{}/ack", t.id);
            post_button("Acknowledge", path, "Acknowledged.")
        }),
    ]
}

fn subscription_columns() -> Vec<Column<AccountSubscription>> {
    vec![
        Column::sorted(
            "Account",
            |s| SortKey::Text(s.email.clone()),
            |s| s.email.clone().into_any(),
        ),
        Column::sorted(
            "Provider",
            |s| SortKey::Text(s.subscription.provider.clone()),
            |s| {
                view! { <code>{format!("{} / {}", s.subscription.provider, s.subscription.subscription_id)}</code> }.into_any()
            },
        ),
        Column::sorted(
            "Plan",
            |s| SortKey::Text(s.subscription.plan.as_str().to_owned()),
            |s| s.subscription.plan.as_str().into_any(),
        ),
        Column::sorted(
            "Status",
            |s| SortKey::Text(s.subscription.status.clone()),
            |s| {
                let class = match s.subscription.status.as_str() {
                    "active" | "trialing" => "badge badge-ok",
                    "past_due" => "badge badge-warn",
                    _ => "badge",
                };
                view! { <span class=class>{s.subscription.status.clone()}</span> }.into_any()
            },
        ),
        Column::sorted(
            "Paid until",
            |s| {
                SortKey::Num(
                    s.subscription
                        .period_end
                        .map_or(0, |t| t.unix_timestamp())
                        .into(),
                )
            },
            |s| {
                s.subscription
                    .period_end
                    .map(utc)
                    .unwrap_or_else(|| "—".into())
                    .into_any()
            },
        ),
        Column::sorted(
            "Changed",
            |s| SortKey::Num(s.updated_at.unix_timestamp().into()),
            |s| utc(s.updated_at).into_any(),
        ),
        Column::new("", |s| {
            // A one-time purchase has no subscription at its provider to ask.
            if s.subscription.renews {
                let path = format!(
                    "/v1/admin/billing/subscriptions/{}/{}/reconcile",
                    s.subscription.provider, s.subscription.subscription_id
                );
                post_button("Reconcile", path, "Set to what the provider holds now.")
            } else {
                ().into_any()
            }
        }),
    ]
}

fn event_columns() -> Vec<Column<BillingEvent>> {
    vec![
        Column::sorted(
            "Received",
            |e| SortKey::Num(e.received_at.unix_timestamp().into()),
            |e| utc(e.received_at).into_any(),
        ),
        Column::sorted(
            "Event",
            |e| SortKey::Text(format!("{} {}", e.provider, e.event_type)),
            |e| {
                view! { <code>{format!("{} {} {}", e.provider, e.event_type, e.event_id)}</code> }
                    .into_any()
            },
        ),
        Column::sorted(
            "State",
            |e| SortKey::Text(e.state.clone()),
            |e| format!("{}: {}", e.state, e.detail).into_any(),
        ),
        Column::new("", |e| {
            let path = format!("/v1/admin/billing/events/{}/replay", e.id);
            post_button("Replay", path, "Event processed again.")
        }),
    ]
}

fn dunning_columns() -> Vec<Column<DunningCase>> {
    vec![
        Column::sorted(
            "Account",
            |d| SortKey::Text(d.account.to_string()),
            |d| view! { <code>{d.account.to_string()}</code> }.into_any(),
        ),
        Column::sorted(
            "Subscription",
            |d| SortKey::Text(d.subscription_id.clone()),
            |d| format!("{} {}", d.provider, d.subscription_id).into_any(),
        ),
        Column::sorted(
            "Grace ends",
            |d| SortKey::Num(d.grace_ends_at.unix_timestamp().into()),
            |d| utc(d.grace_ends_at).into_any(),
        ),
        Column::sorted(
            "Reminders",
            |d| SortKey::Num(d.reminders_sent.into()),
            |d| d.reminders_sent.to_string().into_any(),
        ),
    ]
}

fn email_columns() -> Vec<Column<OutboxEmail>> {
    vec![
        Column::sorted(
            "Written",
            |e| SortKey::Num(e.created_at.unix_timestamp().into()),
            |e| utc(e.created_at).into_any(),
        ),
        Column::sorted(
            "To",
            |e| SortKey::Text(e.to.clone()),
            |e| format!("{}: {}", e.to, e.subject).into_any(),
        ),
        Column::sorted(
            "State",
            |e| SortKey::Text(email_state(e)),
            |e| {
                let class = if e.failed_at.is_some() {
                    "badge badge-err"
                } else {
                    "badge"
                };
                view! { <span class=class>{email_state(e)}</span> }.into_any()
            },
        ),
        Column::new("", |e| {
            if e.failed_at.is_some() {
                let path = format!("/v1/admin/billing/outbox/{}/retry", e.id);
                post_button("Send again", path, "The email will be sent again.")
            } else {
                ().into_any()
            }
        }),
    ]
}

/// Sent, given up (with the mail server's answer), or waiting (attempts so far).
fn email_state(e: &OutboxEmail) -> String {
    match (e.sent_at, e.failed_at, &e.last_error) {
        (Some(at), _, _) => format!("sent {}", at.date()),
        (None, Some(_), err) => format!(
            "given up after {} attempts: {}",
            e.attempts,
            err.as_deref().unwrap_or("no answer")
        ),
        (None, None, Some(err)) => format!("waiting (attempt {} failed: {err})", e.attempts),
        (None, None, None) => "waiting".to_owned(),
    }
}

fn invoice_columns() -> Vec<Column<Invoice>> {
    vec![
        Column::sorted(
            "Number",
            |i| SortKey::Text(i.number.clone()),
            |i| view! { <code>{i.number.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Issued",
            |i| SortKey::Num(i.issued_at.unix_timestamp().into()),
            |i| utc(i.issued_at).into_any(),
        ),
        Column::sorted(
            "Account",
            |i| {
                SortKey::Text(
                    i.account
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                )
            },
            |i| {
                view! { <code>{i.account.as_ref().map(ToString::to_string).unwrap_or_default()}</code> }.into_any()
            },
        ),
        Column::sorted(
            "Total",
            |i| SortKey::Num(i.total.into()),
            |i| {
                let rc = if i.reverse_charge {
                    " · reverse charge"
                } else {
                    ""
                };
                format!(
                    "{} (tax {}){rc}",
                    fdt_api::money::display(i.total, &i.currency),
                    i.tax
                )
                .into_any()
            },
        ),
    ]
}

fn settlement_columns() -> Vec<Column<Settlement>> {
    vec![
        Column::sorted(
            "Received",
            |s| SortKey::Num(s.received_at.unix_timestamp().into()),
            |s| utc(s.received_at).into_any(),
        ),
        Column::sorted(
            "Payout",
            |s| SortKey::Text(s.payout.clone()),
            |s| {
                view! { <code>{format!("{} {} ({})", s.provider, s.payout, s.id)}</code> }
                    .into_any()
            },
        ),
        Column::sorted(
            "Amount",
            |s| SortKey::Num(s.amount.into()),
            |s| fdt_api::money::display(s.amount, &s.currency).into_any(),
        ),
        Column::sorted(
            "Mismatches",
            |s| SortKey::Num(s.mismatches.into()),
            |s| {
                let class = if s.mismatches > 0 {
                    "badge badge-err"
                } else {
                    "badge badge-ok"
                };
                view! { <span class=class>{s.mismatches}</span> }.into_any()
            },
        ),
    ]
}
