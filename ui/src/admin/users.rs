//! `/admin/users`: search accounts, suspend or unsuspend, change plan.

use super::run_action;
use crate::api::{use_api, with_query};
use crate::boot::Boot;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::format::utc;
use crate::live::use_live;
use fdt_api::{AdminUser, AdminUserList, Plan};
use leptos::prelude::*;

/// The users page.
#[component]
pub fn UsersPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let boot = use_context::<Boot>().unwrap_or_default();
    let q = boot.param("q");
    let path = with_query(
        "/v1/admin/users",
        &[("q", q.as_deref()), ("limit", Some("200"))],
    );
    let users = Resource::new(
        move || live.admin.get(),
        move |_| {
            let (api, path) = (api.clone(), path.clone());
            async move { api.get::<AdminUserList>(path).await }
        },
    );
    view! {
        <PageHeader title="Users" lede="Search accounts, suspend them or change their plan. Every action is audited."/>
        <form method="get" action="/admin/users" class="form form-inline" role="search">
            <div class="field"><label for="user-q">"Email contains"</label>
                <input id="user-q" name="q" value=q.unwrap_or_default() type="search"/></div>
            <button type="submit" class="btn btn-primary">"Search"</button>
        </form>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(l) if l.users.is_empty() => view! { <EmptyState title="No accounts match" hint="Try part of an email address."/> }.into_any(),
                    Ok(l) => view! { <DataTable caption="Accounts" columns=columns() rows=l.users/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn columns() -> Vec<Column<AdminUser>> {
    vec![
        Column::sorted(
            "Email",
            |u| SortKey::Text(u.email.clone()),
            |u| u.email.clone().into_any(),
        ),
        Column::new("Role", |u| {
            if u.admin {
                view! { <span class="badge badge-info">"admin"</span> }.into_any()
            } else {
                "user".into_any()
            }
        }),
        Column::sorted(
            "State",
            |u| SortKey::Num(u.suspended.into()),
            |u| {
                if u.suspended {
                    view! { <span class="badge badge-err">"suspended"</span> }.into_any()
                } else {
                    view! { <span class="badge badge-ok">"active"</span> }.into_any()
                }
            },
        ),
        Column::sorted(
            "Plan",
            |u| SortKey::Text(u.plan.as_str().into()),
            |u| {
                let id = u.id.to_string();
                view! { <PlanSelect id=id plan=u.plan/> }.into_any()
            },
        ),
        Column::sorted(
            "Created",
            |u| SortKey::Num(u.created_at.unix_timestamp().into()),
            |u| utc(u.created_at).into_any(),
        ),
        Column::new("", |u| {
            let id = u.id.to_string();
            let suspended = u.suspended;
            view! {
                <button type="button" class=if suspended { "btn btn-small" } else { "btn btn-danger btn-small" }
                    on:click=move |_| {
                        let (verb, done) = if suspended { ("unsuspend", "Account unsuspended.") } else { ("suspend", "Account suspended.") };
                        if suspended || crate::platform::confirm("Suspend this account? Its sessions and tunnels end.") {
                            run_action("POST", format!("/v1/admin/users/{id}/{verb}"), None, done, "admin");
                        }
                    }>{if suspended { "Unsuspend" } else { "Suspend" }}</button>
            }
            .into_any()
        }),
    ]
}

#[component]
fn PlanSelect(id: String, plan: Plan) -> impl IntoView {
    let label = format!("Plan of {id}");
    view! {
        <select aria-label=label on:change=move |ev| {
            let chosen = event_target_value(&ev);
            run_action("PUT", format!("/v1/admin/users/{id}/plan"),
                Some(serde_json::json!({ "plan": chosen })), "Plan changed.", "admin");
        }>
            {Plan::ALL.iter().map(|p| view! {
                <option value=p.as_str() selected=*p == plan>{p.as_str()}</option>
            }).collect_view()}
        </select>
    }
}
