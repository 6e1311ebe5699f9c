//! `/settings`: the account, the organisations (switch, join by invitation), the theme,
//! signing out.

use crate::api::use_api;
use crate::boot::Boot;
use crate::components::layout::{PageHeader, ThemeToggle};
use crate::components::states::{ErrorState, Loading};
use crate::format::utc;
use fdt_api::{Account, OrgList};
use leptos::prelude::*;

/// The settings page.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let api = use_api();
    let boot = use_context::<Boot>().unwrap_or_default();
    let me = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            async move { api.get::<Account>("/v1/auth/me").await }
        }
    });
    let orgs = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            async move { api.get::<OrgList>("/v1/orgs").await }
        },
    );
    let problem = boot.param("error").map(|c| org_error_text(&c));
    let invite = boot.param("invite").unwrap_or_default();
    view! {
        <PageHeader title="Settings"/>
        {problem.map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
        <section class="card" aria-labelledby="acct-h">
            <h2 id="acct-h">"Account"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(a) => view! {
                            <dl class="facts">
                                <dt>"Email"</dt><dd>{a.email}</dd>
                                <dt>"Account ID"</dt><dd><code>{a.id.to_string()}</code></dd>
                                <dt>"Created"</dt><dd>{utc(a.created_at)}</dd>
                            </dl>
                        }.into_any(),
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="card" aria-labelledby="orgs-h">
            <h2 id="orgs-h">"Organisations"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match orgs.await {
                        Ok(list) => {
                            let acting = list.acting.clone();
                            let rows = list.orgs.into_iter().map(|o| {
                                let here = o.id == acting;
                                let id = o.id.to_string();
                                view! {
                                    <tr>
                                        <td>{o.name}</td>
                                        <td><code>{id.clone()}</code></td>
                                        <td>{o.role_name}</td>
                                        <td>{if here {
                                            view! { <span class="badge" aria-current="true">"Acting here"</span> }.into_any()
                                        } else {
                                            view! {
                                                <form method="post" action="/org" class="inline-form">
                                                    <input type="hidden" name="org" value=id.clone()/>
                                                    <button type="submit" class="btn btn-small">"Switch"</button>
                                                </form>
                                            }.into_any()
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view();
                            view! {
                                <table class="table" id="orgs-table">
                                    <thead><tr><th>"Name"</th><th>"ID"</th><th>"Your role"</th><th><span class="sr-only">"Switch"</span></th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3 id="join-h">"Join an organisation"</h3>
            <form method="post" action="/join" class="form" id="join-form" aria-labelledby="join-h">
                <div class="field">
                    <label for="f-invite">"Invitation code (from the email)"</label>
                    <input id="f-invite" name="token" type="text" autocomplete="off" value=invite placeholder="fdi_…"/>
                </div>
                <button type="submit" class="btn">"Join"</button>
            </form>
        </section>
        <section class="card" aria-labelledby="look-h">
            <h2 id="look-h">"Appearance"</h2>
            <p><ThemeToggle initial=boot.theme/></p>
        </section>
        <section class="card" aria-labelledby="session-h">
            <h2 id="session-h">"Session"</h2>
            <form method="post" action="/logout">
                <button type="submit" class="btn btn-danger">"Sign out"</button>
            </form>
        </section>
    }
}

/// What went wrong with a switch or an invitation, for people.
fn org_error_text(code: &str) -> &'static str {
    match code {
        "unknown_org" => "You are not a member of that organisation.",
        "invite_invalid" => {
            "That invitation code is not valid for your address: it may have expired or been used."
        }
        "bad_origin" => "The form was sent from another site and was refused.",
        _ => "That did not work. Try again.",
    }
}
