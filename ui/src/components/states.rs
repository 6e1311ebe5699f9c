//! Loading, empty and error states.

use crate::api::ApiFailure;
use leptos::prelude::*;

/// While data loads (only seen after hydration: the server renders with the data).
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="state state-loading" aria-busy="true">"Loading…"</p> }
}

/// Nothing to show yet, and what to do about it.
#[component]
pub fn EmptyState(
    /// The headline.
    title: &'static str,
    /// The hint.
    #[prop(into)]
    hint: String,
) -> impl IntoView {
    view! {
        <div class="state state-empty">
            <p class="state-title">{title}</p>
            <p class="muted">{hint}</p>
        </div>
    }
}

/// A failed call, in words.
#[component]
pub fn ErrorState(
    /// What failed.
    error: ApiFailure,
) -> impl IntoView {
    view! {
        <div class="state state-error" role="alert">
            <p class="state-title">"Something went wrong"</p>
            <p>{error.message}</p>
            <p class="muted">"Code: " <code>{error.code}</code></p>
        </div>
    }
}
