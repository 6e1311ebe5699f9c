//! `/authtokens`: create (the secret is shown once), list and revoke.

use crate::api::{ApiResult, use_api};
use crate::components::form::TextField;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::{AuthtokenInfo, AuthtokenList, CreateAuthtokenRequest, CreatedAuthtoken};
use leptos::prelude::*;

/// The authtokens page.
#[component]
pub fn AuthtokensPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || live.authtokens.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<AuthtokenList>("/v1/authtokens").await }
        },
    );
    view! {
        <PageHeader title="Authtokens" lede="Agents authenticate with an authtoken. Each is shown once, when created."/>
        <CreateToken/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move { token_table(list.await) })}
        </Transition>
    }
}

fn token_table(result: ApiResult<AuthtokenList>) -> AnyView {
    match result {
        Ok(l) if l.authtokens.is_empty() => view! {
            <EmptyState title="No authtokens" hint="Create one above, then run `fdt config add-authtoken <token>`."/>
        }
        .into_any(),
        Ok(l) => {
            let columns: Vec<Column<AuthtokenInfo>> = vec![
                Column::sorted("Token", |t| SortKey::Text(t.prefix.clone()), |t| view! { <code>{format!("{}…", t.prefix)}</code> }.into_any()),
                Column::sorted("Description", |t| SortKey::Text(t.description.clone().unwrap_or_default()), |t| t.description.clone().unwrap_or_default().into_any()),
                Column::sorted("Created", |t| SortKey::Num(t.created_at.unix_timestamp().into()), |t| utc(t.created_at).into_any()),
                Column::sorted("Last used", |t| SortKey::Num(t.last_used_at.map_or(0, |d| d.unix_timestamp()).into()),
                    |t| t.last_used_at.map(utc).unwrap_or_else(|| "never".into()).into_any()),
                Column::new("", |t| {
                    let id = t.id.to_string();
                    view! { <RevokeButton id=id/> }.into_any()
                }),
            ];
            view! { <DataTable caption="Authtokens" columns=columns rows=l.authtokens/> }.into_any()
        }
        Err(e) => view! { <ErrorState error=e/> }.into_any(),
    }
}

#[component]
fn RevokeButton(id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        if !platform::confirm("Revoke this authtoken? Agents using it are disconnected.") {
            return;
        }
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api
                .act("DELETE", format!("/v1/authtokens/{id}"), None)
                .await
            {
                Ok(()) => {
                    toasts.ok("Authtoken revoked.");
                    live.bump("authtokens");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn btn-danger btn-small" on:click=on_click>"Revoke"</button> }
}

#[component]
fn CreateToken() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let desc = description.get_untracked().trim().to_owned();
        if let Err(e) = fdt_api::validate::check_description(&desc) {
            error.set(Some(e.to_string()));
            return;
        }
        error.set(None);
        busy.set(true);
        let body = CreateAuthtokenRequest {
            description: (!desc.is_empty()).then_some(desc),
        };
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let r: ApiResult<CreatedAuthtoken> = api.send("POST", "/v1/authtokens", &body).await;
            busy.set(false);
            match r {
                Ok(c) => {
                    created.set(Some(c.token.expose_secret().to_owned()));
                    description.set(String::new());
                    live.bump("authtokens");
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="form form-inline" on:submit=on_submit novalidate>
            <TextField label="Description" name="token-description" value=description error=error
                placeholder="laptop"/>
            <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Create authtoken"</button>
        </form>
        {move || created.get().map(|token| {
            let copy = token.clone();
            view! {
                <div class="alert alert-ok new-token" role="status">
                    <p><strong>"Your new authtoken."</strong>" Copy it now: it is not shown again."</p>
                    <p><code class="token-secret" id="new-token">{token.clone()}</code></p>
                    <p>
                        <button type="button" class="btn btn-small" on:click=move |_| platform::copy_text(&copy)>"Copy"</button>
                        " "<span class="muted">{format!("fdt config add-authtoken {token}")}</span>
                    </p>
                </div>
            }
        })}
    }
}
