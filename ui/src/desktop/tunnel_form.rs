//! The add/edit form of a tunnel. Saving sends the whole definition (`save_tunnel`); the app
//! checks it and names a wrong field, which the form shows next to itself.

use super::bridge::use_desktop;
use super::tunnel_fields::{PROTOCOLS, TunnelFields, uses_basic_auth, uses_subdomain};
use crate::components::form::TextField;
use crate::components::toast::use_toasts;
use fdt_desktop_ipc::{ErrorKind, command};
use leptos::prelude::*;

/// A labelled textarea of one entry per line.
#[component]
fn LinesField(
    label: &'static str,
    id: &'static str,
    hint: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <textarea id=id class="mono" rows="3" aria-describedby=hint_id.clone()
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))></textarea>
            <p class="field-hint" id=hint_id>{hint}</p>
        </div>
    }
}

/// The form, shown while `editing` holds the fields it started from; closing it sets `None`.
#[component]
pub fn TunnelForm(
    /// What is being edited (the form's starting values).
    start: TunnelFields,
    /// Set to `None` when the form is saved or cancelled.
    editing: RwSignal<Option<TunnelFields>>,
) -> impl IntoView {
    let desktop = use_desktop();
    let toasts = use_toasts();
    let title = match &start.id {
        Some(_) => format!("Edit {}", start.name),
        None => "New tunnel".to_owned(),
    };
    let id = start.id.clone();
    let name = RwSignal::new(start.name);
    let proto = RwSignal::new(start.proto);
    let addr = RwSignal::new(start.addr);
    let subdomain = RwSignal::new(start.subdomain);
    let basic_auth = RwSignal::new(start.basic_auth);
    let cidr_allow = RwSignal::new(start.cidr_allow);
    let cidr_deny = RwSignal::new(start.cidr_deny);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = TunnelFields {
            id: id.clone(),
            name: name.get_untracked(),
            proto: proto.get_untracked(),
            addr: addr.get_untracked(),
            subdomain: subdomain.get_untracked(),
            basic_auth: basic_auth.get_untracked(),
            cidr_allow: cidr_allow.get_untracked(),
            cidr_deny: cidr_deny.get_untracked(),
        }
        .to_input();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let saved = desktop.apply_with(command::SAVE_TUNNEL, &input).await;
            busy.set(false);
            match saved {
                Ok(()) => {
                    toasts.ok(format!("Saved {}.", input.name));
                    editing.set(None);
                }
                Err(e) if e.kind == ErrorKind::InvalidInput => error.set(Some(e.message)),
                Err(e) => {
                    error.set(None);
                    toasts.error(e.message);
                }
            }
        });
    };
    let protocol_options = PROTOCOLS
        .iter()
        .map(|p| view! { <option value=*p selected=move || proto.get() == *p>{*p}</option> })
        .collect_view();

    view! {
        <section class="card" aria-labelledby="tunnel-form-h">
            <h2 id="tunnel-form-h">{title}</h2>
            <form class="form tunnel-form" on:submit=on_submit novalidate>
                {move || error.get().map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
                <div class="form-row">
                    <div class="field-grow">
                        <TextField label="Name" name="name" value=name error=no_error required=true
                            placeholder="web" hint="Letters, digits, - and _."/>
                    </div>
                    <div class="field">
                        <label for="f-proto">"Protocol"</label>
                        <select id="f-proto" name="proto"
                            on:change=move |ev| proto.set(event_target_value(&ev))>
                            {protocol_options}
                        </select>
                    </div>
                    <div class="field-grow">
                        <TextField label="Local address" name="addr" value=addr error=no_error
                            required=true placeholder="3000"
                            hint="A port, host:port, or for http a URL."/>
                    </div>
                </div>
                {move || uses_subdomain(&proto.get()).then(|| view! {
                    <TextField label="Subdomain" name="subdomain" value=subdomain error=no_error
                        hint="Leave empty for a random one."/>
                })}
                {move || uses_basic_auth(&proto.get()).then(|| view! {
                    <LinesField label="Basic auth" id="f-basic-auth" value=basic_auth
                        hint="One user:pass per line. Empty: no password."/>
                })}
                <div class="grid-2">
                    <LinesField label="Allowed CIDRs" id="f-cidr-allow" value=cidr_allow
                        hint="One network per line, like 203.0.113.0/24. Empty: everyone."/>
                    <LinesField label="Denied CIDRs" id="f-cidr-deny" value=cidr_deny
                        hint="One network per line."/>
                </div>
                <div class="toolbar">
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Save tunnel"</button>
                    <button type="button" class="btn" on:click=move |_| editing.set(None)>"Cancel"</button>
                </div>
            </form>
        </section>
    }
}
