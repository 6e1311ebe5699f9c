//! The local inspector (127.0.0.1:4040): placeholder replaced below.
use crate::boot::Boot;
use leptos::prelude::*;

/// The inspector.
#[component]
pub fn InspectorApp(
    /// Theme and route.
    boot: Boot,
) -> impl IntoView {
    let _ = boot;
    view! { <p>"inspector"</p> }
}
