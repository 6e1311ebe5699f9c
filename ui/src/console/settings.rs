//! `/settings`: the account, the organisations (switch, join by invitation), the theme,
//! signing out.

use crate::api::ApiResult;
use crate::api::use_api;
use crate::boot::Boot;
use crate::components::form::TextField;
use crate::components::layout::{PageHeader, ThemeToggle};
use crate::components::states::{ErrorState, Loading};
use crate::format::utc;
use fdt_api::{Account, CreateInvitation, Invitation, MemberList, OrgList, Role, RoleList};
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
        <Members/>
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

/// The members of the organisation the pages act in, and inviting more (for roles that may).
#[component]
fn Members() -> impl IntoView {
    let api = use_api();
    let sent = RwSignal::new(0u32);
    let members = Resource::new(move || sent.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            async move { api.get::<MemberList>("/v1/members").await }
        }
    });
    let roles = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            async move { api.get::<RoleList>("/v1/roles").await }
        }
    });
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("developer".to_owned());
    let error = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(r) = Role::parse(&role.get_untracked()) else {
            error.set(Some("Choose a role.".into()));
            return;
        };
        let body = CreateInvitation {
            email: email.get_untracked().trim().to_owned(),
            role: r,
        };
        error.set(None);
        done.set(None);
        busy.set(true);
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let answer: ApiResult<Invitation> = api.send("POST", "/v1/invitations", &body).await;
            busy.set(false);
            match answer {
                Ok(i) => {
                    done.set(Some(format!(
                        "Invitation sent to {} as {}.",
                        i.email,
                        i.role.name()
                    )));
                    email.set(String::new());
                    sent.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="members-h">
            <h2 id="members-h">"Members"</h2>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match members.await {
                        Ok(list) => {
                            let rows = list.members.into_iter().map(|m| view! {
                                <tr><td>{m.email}</td><td>{m.role_name}</td></tr>
                            }).collect_view();
                            view! {
                                <table class="table" id="members-table">
                                    <thead><tr><th>"Email"</th><th>"Role"</th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            }.into_any()
                        }
                        Err(e) if e.code == "forbidden" => view! {
                            <p class="muted">"Your role cannot see the members of this organisation."</p>
                        }.into_any(),
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            <h3 id="invite-h">"Invite someone"</h3>
            <form class="form" id="invite-form" aria-labelledby="invite-h" on:submit=on_submit novalidate>
                <TextField label="Email" name="invite-email" kind="email" value=email error=error
                    placeholder="teammate@example.com"/>
                <div class="field">
                    <label for="f-invite-role">"Role"</label>
                    <select id="f-invite-role" name="invite-role"
                        on:change=move |ev| role.set(event_target_value(&ev))>
                        <Suspense fallback=|| view! { <option value="developer">"developer"</option> }>
                            {move || Suspend::new(async move {
                                let names: Vec<String> = match roles.await {
                                    Ok(l) => l.roles.into_iter().map(|r| r.name.name()).collect(),
                                    Err(_) => vec!["developer".into()],
                                };
                                names.into_iter().map(|n| {
                                    let selected = n == "developer";
                                    view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                                }).collect_view()
                            })}
                        </Suspense>
                    </select>
                </div>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Send invitation"</button>
            </form>
            {move || done.get().map(|m| view! { <p class="alert alert-ok" role="status">{m}</p> })}
        </section>
    }
}
