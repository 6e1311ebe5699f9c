//! `/admin/relays`: the fleet's health and load, with drain; fleet totals on top.

use super::run_action;
use crate::api::use_api;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{RelayList, RelayStatus};
use leptos::prelude::*;

/// The relays page.
#[component]
pub fn RelaysPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || (live.relays.get(), live.tunnels.get(), live.admin.get()),
        move |_| {
            let api = api.clone();
            async move { api.get::<RelayList>("/v1/relays").await }
        },
    );
    view! {
        <PageHeader title="Relays" lede="Health follows heartbeats. A draining relay keeps its agents and gets no new ones."/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) if l.relays.is_empty() => view! { <EmptyState title="No relays" hint="Relays appear when they first send a heartbeat."/> }.into_any(),
                    Ok(l) => {
                        let healthy = l.relays.iter().filter(|r| r.healthy).count();
                        let sessions: u32 = l.relays.iter().map(|r| r.load.sessions).sum();
                        let tunnels: u32 = l.relays.iter().map(|r| r.load.tunnels).sum();
                        let conns: u32 = l.relays.iter().map(|r| r.load.connections).sum();
                        let capacity: u32 = l.relays.iter().map(|r| r.capacity).sum();
                        view! {
                            <div class="stats">
                                <div class="stat"><span class="stat-value">{format!("{healthy}/{}", l.relays.len())}</span><span class="stat-label">"healthy relays"</span></div>
                                <div class="stat"><span class="stat-value">{format!("{sessions}/{capacity}")}</span><span class="stat-label">"agent sessions / capacity"</span></div>
                                <div class="stat"><span class="stat-value">{tunnels}</span><span class="stat-label">"tunnels"</span></div>
                                <div class="stat"><span class="stat-value">{conns}</span><span class="stat-label">"open visitor connections"</span></div>
                            </div>
                            <DataTable caption="Relays" columns=columns() rows=l.relays/>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn columns() -> Vec<Column<RelayStatus>> {
    vec![
        Column::sorted(
            "Relay",
            |r| SortKey::Text(r.id.clone()),
            |r| view! { <code>{r.id.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Region",
            |r| SortKey::Text(r.region.clone()),
            |r| r.region.clone().into_any(),
        ),
        Column::sorted(
            "Health",
            |r| SortKey::Num((u8::from(r.healthy) * 2 + u8::from(!r.draining)).into()),
            |r| {
                // The API reports a draining relay as not healthy (it gets no new agents):
                // say which it is.
                let (class, text) = match (r.draining, r.healthy) {
                    (true, _) => ("badge badge-warn", "draining"),
                    (false, true) => ("badge badge-ok", "healthy"),
                    (false, false) => ("badge badge-err", "unhealthy"),
                };
                view! { <span class=class>{text}</span> }.into_any()
            },
        ),
        Column::sorted(
            "Load",
            |r| SortKey::Num(r.load.sessions.into()),
            |r| {
                format!(
                    "{} sessions · {} tunnels · {} conns",
                    r.load.sessions, r.load.tunnels, r.load.connections
                )
                .into_any()
            },
        ),
        Column::sorted(
            "Capacity",
            |r| SortKey::Num(r.capacity.into()),
            |r| format!("{} (weight {})", r.capacity, r.weight).into_any(),
        ),
        Column::new("Version", |r| r.version.clone().into_any()),
        Column::sorted(
            "Last seen",
            |r| SortKey::Num(r.last_seen_at.unix_timestamp().into()),
            |r| utc(r.last_seen_at).into_any(),
        ),
        Column::new("", |r| {
            let id = r.id.clone();
            let draining = r.draining;
            view! {
                <button type="button" class="btn btn-small" on:click=move |_| {
                    let done = if draining { "Relay back in rotation." } else { "Relay draining." };
                    run_action("PUT", format!("/v1/admin/relays/{id}/drain"),
                        Some(serde_json::json!({ "draining": !draining })), done, "relays");
                }>{if draining { "Undrain" } else { "Drain" }}</button>
            }
            .into_any()
        }),
    ]
}
