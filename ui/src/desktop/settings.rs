//! The Settings page: start at login, the signed-in account, the organisation the app acts
//! in, the control plane, signing out.

use super::bridge::{invoke_with, use_desktop};
use crate::components::layout::PageHeader;
use crate::components::toast::use_toasts;
use fdt_api::OrgList;
use fdt_desktop_ipc::{ApiAnswer, ApiCall, SetFlag, SwitchOrg, command};
use leptos::prelude::*;

/// Where the authtoken is kept, in words.
pub fn stored_in_words(stored_in: &str) -> String {
    match stored_in {
        "keyring" => "the system keyring".to_owned(),
        "file" => "a file in the app's settings folder".to_owned(),
        other => other.to_owned(),
    }
}

/// The page.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let desktop = use_desktop();
    let toasts = use_toasts();
    let on_start_at_login = move |ev: leptos::ev::Event| {
        let enabled = event_target_checked(&ev);
        let input: leptos::web_sys::HtmlInputElement = event_target(&ev);
        leptos::task::spawn_local(async move {
            let flag = SetFlag { enabled };
            if let Err(e) = desktop.apply_with(command::SET_START_AT_LOGIN, &flag).await {
                input.set_checked(!enabled);
                toasts.error(e.message);
            }
        });
    };
    let on_run_managed = move |ev: leptos::ev::Event| {
        let enabled = event_target_checked(&ev);
        let input: leptos::web_sys::HtmlInputElement = event_target(&ev);
        leptos::task::spawn_local(async move {
            let flag = SetFlag { enabled };
            if let Err(e) = desktop.apply_with(command::SET_RUN_MANAGED, &flag).await {
                input.set_checked(!enabled);
                toasts.error(e.message);
            }
        });
    };
    let on_sign_out = move |_| {
        leptos::task::spawn_local(async move {
            if let Err(e) = desktop.apply(command::SIGN_OUT).await {
                toasts.error(e.message);
            }
        });
    };
    let account = move || desktop.read(None, |s| s.account.clone());
    let api_url = move || desktop.read(String::new(), |s| s.api_url.clone());
    let console_url = move || desktop.read(String::new(), |s| s.console_url.clone());
    view! {
        <PageHeader title="Settings"/>
        <section class="card" aria-labelledby="general-h">
            <h2 id="general-h">"General"</h2>
            <p class="switch-row">
                <input type="checkbox" role="switch" class="switch" id="start-at-login"
                    prop:checked=move || desktop.read(false, |s| s.start_at_login)
                    on:change=on_start_at_login/>
                <label for="start-at-login">"Start at login"</label>
            </p>
            <p class="switch-row">
                <input type="checkbox" role="switch" class="switch" id="run-managed"
                    prop:checked=move || desktop.read(false, |s| s.run_managed)
                    on:change=on_run_managed/>
                <label for="run-managed">"Run my managed tunnels"</label>
            </p>
            <p class="muted">"Managed tunnels are defined, started and stopped in the web console (Managed); this computer serves them while the app runs."</p>
        </section>
        <section class="card" aria-labelledby="account-h">
            <h2 id="account-h">"Account"</h2>
            {move || account().map(|a| view! {
                <dl class="facts">
                    {a.email.map(|e| view! { <dt>"Email"</dt><dd class="account-email">{e}</dd> })}
                    <dt>"Authtoken"</dt><dd><code class="authtoken-hint">{a.authtoken_hint.clone()}</code></dd>
                    <dt>"Stored in"</dt><dd>{stored_in_words(&a.stored_in)}</dd>
                    <dt>"Plan and usage"</dt>
                    <dd>{if a.has_api_session { "Available (signed in with email)" } else { "Needs an email sign-in" }}</dd>
                </dl>
            })}
            <button type="button" class="btn btn-danger" on:click=on_sign_out>"Sign out"</button>
        </section>
        {move || account().filter(|a| a.has_api_session).map(|_| view! { <Organisations/> })}
        <section class="card" aria-labelledby="server-h">
            <h2 id="server-h">"Control plane"</h2>
            <dl class="facts">
                <dt>"Control plane URL"</dt><dd><code class="api-url">{api_url}</code></dd>
                <dt>"Web console"</dt><dd><code>{console_url}</code></dd>
            </dl>
            <p class="muted">"To use another control plane, sign out and set it on the sign-in page."</p>
        </section>
    }
}

/// The organisations the account belongs to, and switching the app between them.
#[component]
fn Organisations() -> impl IntoView {
    let desktop = use_desktop();
    let toasts = use_toasts();
    // Loaded again whenever the app switches.
    let orgs = LocalResource::new(move || {
        let _ = desktop.read(None, |s| s.org.clone());
        async move {
            let call = ApiCall {
                method: "GET".into(),
                path: "/v1/orgs".into(),
                body: None,
            };
            let a: ApiAnswer = invoke_with(command::CLOUD_API, &call).await.ok()?;
            serde_json::from_str::<OrgList>(&a.body).ok()
        }
    });
    let switch = move |org: String| {
        leptos::task::spawn_local(async move {
            if let Err(e) = desktop
                .apply_with(command::SWITCH_ORG, &SwitchOrg { org })
                .await
            {
                toasts.error(e.message);
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="orgs-h">
            <h2 id="orgs-h">"Organisation"</h2>
            <p class="muted">"The app's tunnels serve, and Plan & usage shows, the organisation it acts in."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || orgs.get().flatten().map(|list| {
                    let acting = list.acting.clone();
                    let rows = list.orgs.into_iter().map(|o| {
                        let here = o.id == acting;
                        let id = o.id.to_string();
                        view! {
                            <tr>
                                <td>{o.name}</td>
                                <td>{o.role_name}</td>
                                <td>{if here {
                                    view! { <span class="badge">"Acting here"</span> }.into_any()
                                } else {
                                    let id = id.clone();
                                    view! {
                                        <button type="button" class="btn btn-small"
                                            on:click=move |_| switch(id.clone())>"Switch"</button>
                                    }.into_any()
                                }}</td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        <table class="table" id="orgs-table">
                            <thead><tr><th>"Name"</th><th>"Your role"</th><th><span class="sr-only">"Switch"</span></th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    }
                })}
            </Suspense>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::stored_in_words;

    #[test]
    fn storage_places_read_as_words() {
        assert_eq!(stored_in_words("keyring"), "the system keyring");
        assert_eq!(stored_in_words("elsewhere"), "elsewhere");
    }
}
