//! `/settings`: the account, the theme, signing out.

use crate::api::use_api;
use crate::boot::Boot;
use crate::components::layout::{PageHeader, ThemeToggle};
use crate::components::states::{ErrorState, Loading};
use crate::format::utc;
use fdt_api::Account;
use leptos::prelude::*;

/// The settings page.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let api = use_api();
    let boot = use_context::<Boot>().unwrap_or_default();
    let me = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            async move { api.get::<Account>("/v1/auth/me").await }
        },
    );
    view! {
        <PageHeader title="Settings"/>
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
