//! `/admin/audit`: the audit log, newest first, and whether its hash chains and signed
//! checkpoints still hold.

use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{AuditEntry, AuditList, AuditVerification};
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
    let api = use_api();
    let verification = Resource::new(
        move || live.admin.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<AuditVerification>("/v1/admin/audit/verify").await }
        },
    );
    view! {
        <PageHeader title="Audit log" lede="Sign-ins, authtokens, device sign-ins and admin actions, newest first."/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move { verdict(verification.await.ok()) })}
        </Transition>
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

/// Whether the log still proves itself, in one line.
fn verdict(v: Option<AuditVerification>) -> AnyView {
    match v {
        Some(v) if v.ok => view! {
            <p class="alert alert-success" role="status" id="audit-verdict">
                {format!("Intact: {} rows link up to row {}, and {} signed checkpoints match.", v.rows, v.head_seq, v.checkpoints)}
            </p>
        }
        .into_any(),
        Some(v) => {
            let what = match (&v.first_broken, &v.checkpoint_error) {
                (Some(b), _) => format!("Row {} ({} chain) is {}", b.seq, b.chain, b.reason),
                (None, Some(e)) => e.clone(),
                (None, None) => "unknown".to_owned(),
            };
            view! { <p class="alert alert-error" role="alert" id="audit-verdict">{format!("Tampered with: {what}.")}</p> }
                .into_any()
        }
        None => ().into_any(),
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
            view! { <code>{e.actor.clone()}</code> }.into_any()
        }),
        Column::new("From", |e| {
            view! { <span title=e.user_agent.clone()>{e.ip.clone()}</span> }.into_any()
        }),
        Column::new("Detail", |e| {
            view! { <code class="detail">{e.detail.to_string()}</code> }.into_any()
        }),
    ]
}
