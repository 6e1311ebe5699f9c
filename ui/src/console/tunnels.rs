//! `/`: the tunnels online now (live) and the reserved names.

use crate::api::{ApiResult, use_api};
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::{
    CreateReservedName, ReservedKind, ReservedName, ReservedNameList, TunnelInfo, TunnelList,
};
use leptos::prelude::*;

fn tunnel_columns() -> Vec<Column<TunnelInfo>> {
    vec![
        Column::new("State", |_| {
            view! { <span class="badge badge-ok">"online"</span> }.into_any()
        }),
        Column::sorted(
            "URL",
            |t| SortKey::Text(t.public_url.clone()),
            |t| {
                let (href, url) = (t.public_url.clone(), t.public_url.clone());
                view! { <a href=href rel="noopener" target="_blank" class="mono">{url}</a> }
                    .into_any()
            },
        ),
        Column::sorted(
            "Protocol",
            |t| SortKey::Text(t.proto.as_str().into()),
            |t| t.proto.as_str().into_any(),
        ),
        Column::sorted(
            "Region",
            |t| SortKey::Text(t.region.clone()),
            |t| t.region.clone().into_any(),
        ),
        Column::sorted(
            "Relay",
            |t| SortKey::Text(t.relay_id.clone()),
            |t| view! { <code>{t.relay_id.clone()}</code> }.into_any(),
        ),
        Column::new("Agent", |t| t.agent_version.clone().into_any()),
        Column::sorted(
            "Since",
            |t| SortKey::Num(t.started_at.unix_timestamp().into()),
            |t| utc(t.started_at).into_any(),
        ),
        Column::new("", |t| {
            let id = t.id.to_string();
            view! { <StopButton id=id/> }.into_any()
        }),
    ]
}

#[component]
fn StopButton(id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        if !platform::confirm("Stop this tunnel? Its agent is disconnected from the name.") {
            return;
        }
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api.act("DELETE", format!("/v1/tunnels/{id}"), None).await {
                Ok(()) => {
                    toasts.ok("Tunnel stopped.");
                    live.bump("tunnels");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn btn-danger btn-small" on:click=on_click>"Stop"</button> }
}

/// The tunnels page.
#[component]
pub fn TunnelsPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let tunnels = {
        let api = api.clone();
        Resource::new(
            move || live.tunnels.get(),
            move |_| {
                let api = api.clone();
                async move { api.get::<TunnelList>("/v1/tunnels").await }
            },
        )
    };
    let reserved = {
        let api = api.clone();
        Resource::new(
            move || live.tunnels.get(),
            move |_| {
                let api = api.clone();
                async move { api.get::<ReservedNameList>("/v1/reserved-names").await }
            },
        )
    };
    view! {
        <PageHeader title="Tunnels" lede="Tunnels online now, updated live. Start one with `fdt http 8000`."/>
        <section aria-labelledby="online-h">
            <h2 id="online-h">"Online"</h2>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match tunnels.await {
                        Ok(list) if list.tunnels.is_empty() => view! {
                            <EmptyState title="No tunnels online"
                                hint="Run `fdt http 8000` with one of your authtokens; it appears here as soon as it is up."/>
                        }.into_any(),
                        Ok(list) => view! {
                            <DataTable caption="Online tunnels" columns=tunnel_columns() rows=list.tunnels class="tunnels-table"/>
                        }.into_any(),
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section aria-labelledby="reserved-h">
            <h2 id="reserved-h">"Reserved names"</h2>
            <ReserveForm/>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move { reserved_view(reserved.await) })}
            </Transition>
        </section>
    }
}

fn reserved_view(result: ApiResult<ReservedNameList>) -> AnyView {
    match result {
        Ok(list) if list.reserved_names.is_empty() => view! {
            <EmptyState title="No reserved names" hint="Reserve a subdomain to keep it yours between sessions."/>
        }
        .into_any(),
        Ok(list) => {
            let columns: Vec<Column<ReservedName>> = vec![
                Column::sorted("Name", |r| SortKey::Text(reserved_label(r)), |r| view! { <code>{reserved_label(r)}</code> }.into_any()),
                Column::new("Kind", |r| match r.kind {
                    ReservedKind::Subdomain => "subdomain".into_any(),
                    ReservedKind::TcpAddress => "TCP address".into_any(),
                }),
                Column::new("Description", |r| r.description.clone().unwrap_or_default().into_any()),
                Column::new("Online", |r| if r.tunnels.is_empty() {
                    view! { <span class="badge">"offline"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-ok">{format!("{} online", r.tunnels.len())}</span> }.into_any()
                }),
                Column::sorted("Created", |r| SortKey::Num(r.created_at.unix_timestamp().into()), |r| utc(r.created_at).into_any()),
                Column::new("", |r| {
                    let id = r.id.to_string();
                    view! { <ReleaseButton id=id/> }.into_any()
                }),
            ];
            view! { <DataTable caption="Reserved names" columns=columns rows=list.reserved_names/> }.into_any()
        }
        Err(e) => view! { <ErrorState error=e/> }.into_any(),
    }
}

fn reserved_label(r: &ReservedName) -> String {
    match (&r.subdomain, r.port) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => format!("{}:{p}", r.region.clone().unwrap_or_default()),
        _ => r.id.to_string(),
    }
}

#[component]
fn ReleaseButton(id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        if !platform::confirm("Release this name? Anyone may take it afterwards.") {
            return;
        }
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api
                .act("DELETE", format!("/v1/reserved-names/{id}"), None)
                .await
            {
                Ok(()) => {
                    toasts.ok("Name released.");
                    live.bump("tunnels");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn btn-small" on:click=on_click>"Release"</button> }
}

#[component]
fn ReserveForm() -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let sub = name.get_untracked().trim().to_ascii_lowercase();
        if let Err(e) = fdt_api::validate::check_label("subdomain", &sub) {
            error.set(Some(e.to_string()));
            return;
        }
        error.set(None);
        busy.set(true);
        let desc = description.get_untracked();
        let body = CreateReservedName {
            kind: ReservedKind::Subdomain,
            subdomain: Some(sub),
            region: None,
            description: (!desc.trim().is_empty()).then(|| desc.trim().to_owned()),
        };
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let result: ApiResult<ReservedName> =
                api.send("POST", "/v1/reserved-names", &body).await;
            busy.set(false);
            match result {
                Ok(r) => {
                    toasts.ok(format!("Reserved {}.", reserved_label(&r)));
                    name.set(String::new());
                    description.set(String::new());
                    live.bump("tunnels");
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="form form-inline" on:submit=on_submit novalidate>
            <crate::components::form::TextField label="Subdomain" name="subdomain" value=name error=error
                placeholder="my-app" required=true/>
            <crate::components::form::TextField label="Description" name="description" value=description
                error=Signal::derive(|| None::<String>)/>
            <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Reserve"</button>
        </form>
    }
}
