//! The admin panel (`/admin`): users, live tunnels, relays, custom domains and the audit log. The server
//! refuses these pages and their API to non-admins; the UI only reflects that.

mod audit;
mod billing;
mod domains;
mod relays;
mod secrets;
mod tunnels;
mod users;

use crate::route::AdminPage;
use leptos::prelude::*;

/// The admin page for `page`.
#[component]
pub fn AdminPanel(
    /// Which page.
    page: AdminPage,
) -> impl IntoView {
    match page {
        AdminPage::Users => view! { <users::UsersPage/> }.into_any(),
        AdminPage::Tunnels => view! { <tunnels::AdminTunnelsPage/> }.into_any(),
        AdminPage::Relays => view! { <relays::RelaysPage/> }.into_any(),
        AdminPage::Audit => view! { <audit::AuditPage/> }.into_any(),
        AdminPage::Secrets => view! { <secrets::SecretsPage/> }.into_any(),
        AdminPage::Domains => view! { <domains::AdminDomainsPage/> }.into_any(),
        AdminPage::Billing => view! { <billing::AdminBillingPage/> }.into_any(),
    }
}

/// A small button that POSTs `{}` to `path` as an admin action (replay, resolve).
pub(crate) fn post_button(label: &'static str, path: String, done: &'static str) -> AnyView {
    let on_click = move |_| {
        run_action(
            "POST",
            path.clone(),
            Some(serde_json::json!({})),
            done,
            "admin",
        )
    };
    view! { <button type="button" class="btn btn-small" on:click=on_click>{label}</button> }
        .into_any()
}

/// Runs an admin action, then toasts its outcome and bumps `topic` so lists refetch.
pub(crate) fn run_action(
    method: &'static str,
    path: String,
    body: Option<serde_json::Value>,
    done: &'static str,
    topic: &'static str,
) {
    let api = crate::api::use_api();
    let toasts = crate::components::toast::use_toasts();
    let live = crate::live::use_live();
    leptos::task::spawn_local(async move {
        match api.act(method, path, body).await {
            Ok(()) => {
                toasts.ok(done);
                live.bump(topic);
            }
            Err(e) => toasts.error(e.message),
        }
    });
}
