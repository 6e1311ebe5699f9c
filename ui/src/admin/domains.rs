//! `/admin/domains`: every account's custom domains with their state, certificate and open
//! incidents, and the certificate events other clusters sent, with their provenance and a
//! replay button.

use super::post_button;
use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{AdminDomain, AdminDomainList, CertEventList, StoredCertEvent, VerificationState};
use leptos::prelude::*;

/// The admin domains page.
#[component]
pub fn AdminDomainsPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let domains = Resource::new(move || (live.tunnels.get(), live.admin.get()), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            async move { api.get::<AdminDomainList>("/v1/admin/domains").await }
        }
    });
    let events = Resource::new(
        move || live.admin.get(),
        move |_| {
            let api = api.clone();
            async move {
                api.get::<CertEventList>("/v1/admin/cert-events?limit=100")
                    .await
            }
        },
    );
    view! {
        <PageHeader title="Domains" lede="Every account's custom domains, and the certificate events clusters reported."/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match domains.await {
                    Ok(l) if l.domains.is_empty() => view! { <EmptyState title="No custom domains" hint="Accounts add them in their console."/> }.into_any(),
                    Ok(l) => view! { <DataTable caption="Custom domains" columns=domain_columns() rows=l.domains/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
        <h2>"Certificate events"</h2>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(l) if l.events.is_empty() => view! { <EmptyState title="No certificate events" hint="Relays and certificate managers send them, signed with their cluster's key."/> }.into_any(),
                    Ok(l) => view! { <DataTable caption="Certificate events" columns=event_columns() rows=l.events/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn domain_columns() -> Vec<Column<AdminDomain>> {
    vec![
        Column::sorted(
            "Domain",
            |d| SortKey::Text(d.domain.domain.clone()),
            |d| view! { <code>{d.domain.domain.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Account",
            |d| SortKey::Text(d.account.to_string()),
            |d| view! { <code>{d.account.to_string()}</code> }.into_any(),
        ),
        Column::sorted(
            "State",
            |d| SortKey::Text(format!("{:?}", d.domain.state)),
            |d| {
                let (class, text) = match d.domain.state {
                    VerificationState::Verified => ("badge badge-ok", "verified"),
                    VerificationState::Pending => ("badge badge-warn", "pending"),
                    VerificationState::Lost => ("badge badge-err", "lost"),
                };
                view! { <span class=class>{text}</span> }.into_any()
            },
        ),
        Column::sorted(
            "Certificate",
            |d| {
                SortKey::Num(
                    d.domain
                        .certificate
                        .as_ref()
                        .map_or(0, |c| c.not_after.unix_timestamp())
                        .into(),
                )
            },
            |d| match (&d.domain.certificate, &d.domain.certificate_error) {
                (Some(c), _) => {
                    format!("v{} {} until {}", c.version, c.source, utc(c.not_after)).into_any()
                }
                (None, Some(e)) => view! { <span class="muted">{e.clone()}</span> }.into_any(),
                (None, None) => "—".into_any(),
            },
        ),
        Column::sorted(
            "Open incidents",
            |d| SortKey::Num(d.open_incidents.into()),
            |d| {
                let n = d.open_incidents;
                let class = if n > 0 { "badge badge-err" } else { "badge" };
                view! { <span class=class>{n}</span> }.into_any()
            },
        ),
    ]
}

fn event_columns() -> Vec<Column<StoredCertEvent>> {
    vec![
        Column::sorted(
            "Received",
            |e| SortKey::Num(e.received_at.unix_timestamp().into()),
            |e| utc(e.received_at).into_any(),
        ),
        Column::sorted(
            "From",
            |e| SortKey::Text(format!("{}/{}", e.cluster, e.source)),
            |e| view! { <code>{format!("{} / {}", e.cluster, e.source)}</code> }.into_any(),
        ),
        Column::sorted(
            "Domain",
            |e| SortKey::Text(e.domain.clone()),
            |e| view! { <code>{e.domain.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Event",
            |e| SortKey::Text(e.kind.clone()),
            |e| match e.version {
                Some(v) => format!("{} v{v}", e.kind).into_any(),
                None => e.kind.clone().into_any(),
            },
        ),
        Column::sorted(
            "Outcome",
            |e| SortKey::Text(e.outcome.clone()),
            |e| format!("{} (replayed {}×)", e.outcome, e.replays).into_any(),
        ),
        Column::new("", |e| {
            let path = format!("/v1/admin/cert-events/{}/replay", e.id);
            post_button("Replay", path, "Event replayed.")
        }),
    ]
}
