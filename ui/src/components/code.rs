//! Headers and bodies of HTTP exchanges.

use crate::format::pretty_body;
use leptos::prelude::*;

/// Headers as a two-column table.
#[component]
pub fn HeadersTable(
    /// Name/value pairs in wire order.
    headers: Vec<(String, String)>,
    /// Caption for screen readers.
    caption: &'static str,
) -> impl IntoView {
    if headers.is_empty() {
        return view! { <p class="muted">"No headers."</p> }.into_any();
    }
    view! {
        <table class="table table-compact headers">
            <caption class="sr-only">{caption}</caption>
            <tbody>
                {headers
                    .into_iter()
                    .map(|(k, v)| view! { <tr><th scope="row">{k}</th><td><code>{v}</code></td></tr> })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// A body, pretty-printed when it is JSON, XML or form data.
#[component]
pub fn BodyBlock(
    /// The `Content-Type` header, if any.
    #[prop(into)]
    content_type: Option<String>,
    /// The body text.
    text: String,
    /// Shown above the body when it was cut.
    #[prop(optional)]
    truncated: bool,
) -> impl IntoView {
    if text.is_empty() {
        return view! { <p class="muted">"Empty body."</p> }.into_any();
    }
    let (kind, pretty) = pretty_body(content_type.as_deref(), &text);
    view! {
        <div class="body-block">
            <p class="muted body-kind">{kind}{truncated.then_some(" · truncated")}</p>
            <pre><code>{pretty}</code></pre>
        </div>
    }
    .into_any()
}
