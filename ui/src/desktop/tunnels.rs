//! The Tunnels page: every configured tunnel with its switch, live state and public URL, and
//! the form to add or edit one.

use super::bridge::use_desktop;
use super::tunnel_fields::TunnelFields;
use super::tunnel_form::TunnelForm;
use crate::components::layout::PageHeader;
use crate::components::states::EmptyState;
use crate::components::toast::use_toasts;
use crate::platform;
use fdt_desktop_ipc::{ManagedTunnelView, SetEnabled, TunnelRef, TunnelState, TunnelView, command};
use leptos::prelude::*;

/// The words and badge class of a tunnel's state.
pub fn state_badge(state: TunnelState) -> (&'static str, &'static str) {
    match state {
        TunnelState::Off => ("off", "badge"),
        TunnelState::Connecting => ("connecting", "badge badge-info"),
        TunnelState::Online => ("online", "badge badge-ok"),
        TunnelState::Reconnecting => ("reconnecting", "badge badge-warn"),
        TunnelState::Error => ("error", "badge badge-err"),
    }
}

/// How a tunnel's definition reads in one line: `http → 3000`.
fn summary(t: &TunnelView) -> String {
    let mut s = format!("{} → {}", t.def.proto, t.def.addr);
    if let Some(sub) = &t.def.subdomain {
        s.push_str(&format!(" · subdomain {sub}"));
    }
    s
}

/// The page.
#[component]
pub fn TunnelsPage() -> impl IntoView {
    let desktop = use_desktop();
    let editing = RwSignal::new(None::<TunnelFields>);
    let ids = Memo::new(move |_| {
        desktop.read(Vec::new(), |s| {
            s.tunnels.iter().map(|t| t.id.clone()).collect::<Vec<_>>()
        })
    });
    view! {
        <PageHeader title="Tunnels" lede="Switch a tunnel on to reach a local service at its public URL.">
            <button type="button" class="btn btn-primary"
                on:click=move |_| editing.set(Some(TunnelFields::new_tunnel()))>"Add tunnel"</button>
        </PageHeader>
        {move || editing.get().map(|start| view! { <TunnelForm start=start editing=editing/> })}
        {move || ids.with(Vec::is_empty).then(|| view! {
            <EmptyState title="No tunnels yet"
                hint="Add one: a name, a protocol and the local address to expose."/>
        })}
        <div class="tunnel-list">
            <For each=move || ids.get() key=String::clone let:id>
                <TunnelRow id=id editing=editing/>
            </For>
        </div>
        {move || {
            let managed = desktop.read(Vec::new(), |s| s.managed_tunnels.clone());
            (!managed.is_empty()).then(|| view! {
                <section class="managed-tunnels" aria-labelledby="managed-h">
                    <h2 id="managed-h">"Managed in the console"</h2>
                    <div class="tunnel-list">{managed.into_iter().map(managed_row).collect_view()}</div>
                </section>
            })
        }}
    }
}

/// A cloud-managed tunnel's line: read-only here (the console starts, stops and edits it).
fn managed_row(t: ManagedTunnelView) -> impl IntoView {
    let (word, class) = state_badge(t.state);
    let heading_id = format!("managed-{}-h", t.id);
    let labelled_by = heading_id.clone();
    view! {
        <article class="card tunnel-row managed-row" data-managed=t.name.clone()
            aria-labelledby=labelled_by>
            <div class="tunnel-head">
                <h3 class="tunnel-name" id=heading_id>{t.name.clone()}</h3>
                <span class=class data-state=word>{word}</span>
                <span class="muted">{format!("{} → {}", t.proto, t.addr)}</span>
            </div>
            {t.public_url.map(|url| view! { <p class="tunnel-url"><span class="public-url mono">{url}</span></p> })}
            {t.error.map(|e| view! { <p class="error-text tunnel-error">{e}</p> })}
        </article>
    }
}

/// One tunnel. Keyed by id, so a state change updates the row in place (the switch keeps
/// keyboard focus).
#[component]
fn TunnelRow(id: String, editing: RwSignal<Option<TunnelFields>>) -> impl IntoView {
    let desktop = use_desktop();
    let toasts = use_toasts();
    let tunnel = {
        let id = id.clone();
        Memo::new(move |_| desktop.tunnel(&id))
    };
    let field =
        move |f: fn(&TunnelView) -> String| tunnel.with(|t| t.as_ref().map(f).unwrap_or_default());
    let name = move || field(|t| t.def.name.clone());
    let on_switch = {
        let id = id.clone();
        move |ev: leptos::ev::Event| {
            let enabled = event_target_checked(&ev);
            let input: leptos::web_sys::HtmlInputElement = event_target(&ev);
            let change = SetEnabled {
                id: id.clone(),
                enabled,
            };
            leptos::task::spawn_local(async move {
                if let Err(e) = desktop
                    .apply_with(command::SET_TUNNEL_ENABLED, &change)
                    .await
                {
                    // The state did not change, so nothing re-renders the switch: put it back.
                    input.set_checked(!enabled);
                    toasts.error(e.message);
                }
            });
        }
    };
    let on_edit = move |_| {
        if let Some(t) = tunnel.get_untracked() {
            let mut def = t.def;
            def.id = Some(t.id);
            editing.set(Some(TunnelFields::from_input(&def)));
        }
    };
    let on_remove = {
        let id = id.clone();
        move |_| {
            let name = name();
            if !platform::confirm(&format!(
                "Remove the tunnel {name}? Its settings are deleted."
            )) {
                return;
            }
            let target = TunnelRef { id: id.clone() };
            leptos::task::spawn_local(async move {
                match desktop.apply_with(command::REMOVE_TUNNEL, &target).await {
                    Ok(()) => toasts.ok(format!("Removed {name}.")),
                    Err(e) => toasts.error(e.message),
                }
            });
        }
    };
    let badge =
        move || tunnel.with(|t| state_badge(t.as_ref().map(|t| t.state).unwrap_or_default()));
    let public_url = move || tunnel.with(|t| t.as_ref().and_then(|t| t.public_url.clone()));
    let error = move || tunnel.with(|t| t.as_ref().and_then(|t| t.error.clone()));
    let heading_id = format!("tunnel-{id}-h");
    let labelled_by = heading_id.clone();
    view! {
        <article class="card tunnel-row" data-tunnel=name aria-labelledby=labelled_by>
            <div class="tunnel-head">
                <input type="checkbox" role="switch" class="switch" aria-label=move || format!("Expose {}", name())
                    prop:checked=move || tunnel.with(|t| t.as_ref().is_some_and(|t| t.enabled))
                    on:change=on_switch/>
                <h2 class="tunnel-name" id=heading_id>{name}</h2>
                <span class=move || badge().1 data-state=move || badge().0>{move || badge().0}</span>
                <span class="muted">{move || field(summary)}</span>
                <div class="tunnel-actions">
                    <button type="button" class="btn btn-small" on:click=on_edit
                        aria-label=move || format!("Edit {}", name())>"Edit"</button>
                    <button type="button" class="btn btn-danger btn-small" on:click=on_remove
                        aria-label=move || format!("Remove {}", name())>"Remove"</button>
                </div>
            </div>
            {move || public_url().map(|url| {
                let copy = url.clone();
                view! {
                    <p class="tunnel-url">
                        <button type="button" class="link-button public-url mono" title="Copy the public URL"
                            on:click=move |_| {
                                platform::copy_text(&copy);
                                toasts.ok(format!("Copied {copy}"));
                            }>{url}</button>
                    </p>
                }
            })}
            {move || error().map(|e| view! { <p class="error-text tunnel-error">{e}</p> })}
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_words_and_a_badge() {
        assert_eq!(
            state_badge(TunnelState::Online),
            ("online", "badge badge-ok")
        );
        assert_eq!(state_badge(TunnelState::Error).0, "error");
        assert_eq!(state_badge(TunnelState::Reconnecting).1, "badge badge-warn");
    }
}
