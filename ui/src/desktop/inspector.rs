//! The Inspector page: the agent's inspector, answered in process by the `agent_api`
//! command and kept live by the app's `event::INSPECTOR` events (see [`super::DesktopApp`]).

use super::transport::TauriTransport;
use crate::api::Api;
use crate::inspector::{Downloads, InspectorView, Section};
use fdt_desktop_ipc::command;
use leptos::prelude::*;

/// The page.
#[component]
pub fn InspectorPage() -> impl IntoView {
    provide_context(Api::new(TauriTransport {
        command: command::AGENT_API,
    }));
    // HAR links fetch `/api/…` over HTTP, which the window does not serve.
    provide_context(Downloads(false));
    let section = RwSignal::new(Section::Requests);
    let tab = move |label: &'static str, which: Section| {
        view! {
            <button type="button" class="btn btn-small"
                aria-pressed=move || (section.get() == which).to_string()
                on:click=move |_| section.set(which)>{label}</button>
        }
    };
    view! {
        <div class="toolbar inspector-sections" role="group" aria-label="Inspector view">
            {tab("HTTP requests", Section::Requests)}
            {tab("TCP and TLS connections", Section::Connections)}
        </div>
        <InspectorView section=section/>
    }
}
