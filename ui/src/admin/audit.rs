//! `/admin/audit`: what operators did, newest first.

use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{AuditEntry, AuditList};
use leptos::prelude::*;

/// The audit log page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || live.admin.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<AuditList>("/v1/admin/audit?limit=200").await }
        },
    );
    view! {
        <PageHeader title="Audit log" lede="Every admin action, newest first."/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) if l.entries.is_empty() => view! { <EmptyState title="Nothing yet" hint="Admin actions are recorded here."/> }.into_any(),
                    Ok(l) => view! { <DataTable caption="Audit log" columns=columns() rows=l.entries page_size=50/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn columns() -> Vec<Column<AuditEntry>> {
    vec![
        Column::sorted(
            "When",
            |e| SortKey::Num(e.seq.into()),
            |e| utc(e.at).into_any(),
        ),
        Column::sorted(
            "Action",
            |e| SortKey::Text(e.action.clone()),
            |e| view! { <code>{e.action.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Target",
            |e| SortKey::Text(e.target.clone()),
            |e| view! { <code>{e.target.clone()}</code> }.into_any(),
        ),
        Column::new("By", |e| {
            view! { <code>{e.actor.to_string()}</code> }.into_any()
        }),
        Column::new("Detail", |e| {
            view! { <code class="detail">{e.detail.to_string()}</code> }.into_any()
        }),
    ]
}
