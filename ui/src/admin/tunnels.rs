//! `/admin/tunnels`: every live tunnel, with force close.

use super::run_action;
use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{AdminTunnel, AdminTunnelList};
use leptos::prelude::*;

/// The tunnels page.
#[component]
pub fn AdminTunnelsPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || (live.tunnels.get(), live.relays.get(), live.admin.get()),
        move |_| {
            let api = api.clone();
            async move { api.get::<AdminTunnelList>("/v1/admin/tunnels").await }
        },
    );
    view! {
        <PageHeader title="Live tunnels" lede="Every account's tunnels online now."/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) if l.tunnels.is_empty() => view! { <EmptyState title="No tunnels online" hint="Nothing is connected right now."/> }.into_any(),
                    Ok(l) => view! { <DataTable caption="Live tunnels" columns=columns() rows=l.tunnels/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn columns() -> Vec<Column<AdminTunnel>> {
    vec![
        Column::sorted(
            "URL",
            |t| SortKey::Text(t.tunnel.public_url.clone()),
            |t| view! { <span class="mono">{t.tunnel.public_url.clone()}</span> }.into_any(),
        ),
        Column::sorted(
            "Account",
            |t| SortKey::Text(t.account_id.to_string()),
            |t| view! { <code>{t.account_id.to_string()}</code> }.into_any(),
        ),
        Column::sorted(
            "Relay",
            |t| SortKey::Text(t.tunnel.relay_id.clone()),
            |t| format!("{} ({})", t.tunnel.relay_id, t.tunnel.region).into_any(),
        ),
        Column::sorted(
            "Since",
            |t| SortKey::Num(t.tunnel.started_at.unix_timestamp().into()),
            |t| utc(t.tunnel.started_at).into_any(),
        ),
        Column::new("", |t| {
            let id = t.tunnel.id.to_string();
            view! {
                <button type="button" class="btn btn-danger btn-small" on:click=move |_| {
                    if crate::platform::confirm("Force close this tunnel?") {
                        run_action("DELETE", format!("/v1/admin/tunnels/{id}"), None, "Tunnel closed.", "tunnels");
                    }
                }>"Force close"</button>
            }
            .into_any()
        }),
    ]
}
