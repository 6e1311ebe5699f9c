//! The connections view: raw TCP and TLS connections through this agent's tunnels, newest
//! first, refetched as new ones are captured.

use super::logic::Filters;
use super::model::{TcpConnection, TcpList};
use crate::api::use_api;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::format::{human_bytes, human_ms, utc_millis};
use crate::live::use_live;
use leptos::prelude::*;

/// Where the agent lists connections.
const TCP_PATH: &str = super::model::TCP_LIST_PATH;

/// The list of TCP/TLS connections, with "older" paging.
#[component]
pub fn ConnectionsView() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let before = RwSignal::new(None::<String>);
    let list = Resource::new(
        move || (live.exchanges.get(), before.get()),
        move |(_, before)| {
            let api = api.clone();
            async move {
                let path = Filters::default().query(TCP_PATH, before.as_deref());
                api.get::<TcpList>(path).await
            }
        },
    );
    view! {
        <div class="page-header">
            <div>
                <h1>"TCP and TLS connections"</h1>
                <p class="muted">"Raw connections through this agent's tcp and tls tunnels, newest first."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) if l.connections.is_empty() && before.get_untracked().is_none() => view! {
                        <EmptyState title="No connections" hint="Connections to a tcp or tls tunnel appear here as they open and close."/>
                    }.into_any(),
                    Ok(l) => {
                        let rows = l.connections.into_iter().map(connection_row).collect_view();
                        let next = l.next.map(|n| n.to_string());
                        view! {
                            <table class="table table-compact">
                                <caption class="sr-only">"TCP and TLS connections"</caption>
                                <thead>
                                    <tr>
                                        <th scope="col">"Opened"</th>
                                        <th scope="col">"Tunnel"</th>
                                        <th scope="col">"Protocol"</th>
                                        <th scope="col">"Duration"</th>
                                        <th scope="col">"To local"</th>
                                        <th scope="col">"To visitor"</th>
                                        <th scope="col">"Error"</th>
                                    </tr>
                                </thead>
                                <tbody>{rows}</tbody>
                            </table>
                            <p class="pager">
                                {before.get_untracked().is_some().then(|| view! {
                                    <button type="button" class="btn btn-ghost" on:click=move |_| before.set(None)>"← Newest"</button>
                                })}
                                {next.map(|n| view! {
                                    <button type="button" class="btn" on:click=move |_| before.set(Some(n.clone()))>"Older →"</button>
                                })}
                            </p>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn connection_row(c: TcpConnection) -> impl IntoView {
    let duration = match (c.duration_ms, c.closed_at_ms) {
        (Some(ms), _) => human_ms(ms),
        (None, None) => "open".into(),
        (None, Some(_)) => "—".into(),
    };
    let error = c.error.clone().unwrap_or_default();
    let error_class = if error.is_empty() { "" } else { "error-text" };
    view! {
        <tr>
            <td title=c.id.to_string()>{utc_millis(c.opened_at_ms)}</td>
            <td>{c.tunnel_name}</td>
            <td><span class="badge">{c.proto}</span></td>
            <td>{duration}</td>
            <td>{human_bytes(c.bytes_to_local)}</td>
            <td>{human_bytes(c.bytes_to_visitor)}</td>
            <td class=error_class>{error}</td>
        </tr>
    }
}
