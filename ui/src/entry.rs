//! The browser bundle's entry points (exported to JavaScript by wasm-bindgen).

use crate::api::Api;
use crate::boot::{BOOT_ELEMENT_ID, Boot};
use crate::platform::FetchTransport;
use wasm_bindgen::prelude::wasm_bindgen;

fn read_boot() -> Boot {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(BOOT_ELEMENT_ID))
        .and_then(|e| e.text_content())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Hydrates the console or admin page the server rendered.
#[cfg(feature = "hydrate")]
#[wasm_bindgen]
pub fn hydrate_console() {
    console_error_panic_hook_lite();
    let boot = read_boot();
    leptos::mount::hydrate_body(move || {
        leptos::prelude::provide_context(Api::new(FetchTransport {
            base: String::new(),
        }));
        leptos::prelude::view! { <crate::console::ConsoleApp boot=boot/> }
    });
    mark_ready();
}

/// Marks the document interactive (`<html data-hydrated="ms since navigation start">`): what
/// the browser tests wait for, and the page's time to interactive.
fn mark_ready() {
    let Some(w) = web_sys::window() else { return };
    let now = w.performance().map(|p| p.now()).unwrap_or_default();
    if let Some(root) = w.document().and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-hydrated", &format!("{now:.0}"));
    }
}

/// Renders the local inspector (served by the agent at 127.0.0.1:4040) in the page's body.
#[wasm_bindgen]
pub fn mount_inspector() {
    console_error_panic_hook_lite();
    let boot = read_boot();
    leptos::mount::mount_to_body(move || {
        leptos::prelude::provide_context(Api::new(FetchTransport {
            base: String::new(),
        }));
        leptos::prelude::view! { <crate::inspector::InspectorApp boot=boot/> }
    });
    mark_ready();
}

/// Renders the desktop app's window (the page `desktop/dist/index.html` loads): its pages
/// talk to the app through Tauri commands and events.
#[wasm_bindgen]
pub fn mount_desktop() {
    console_error_panic_hook_lite();
    crate::platform::set_theme(crate::platform::saved_theme());
    leptos::mount::mount_to_body(|| leptos::prelude::view! { <crate::desktop::DesktopApp/> });
    mark_ready();
}

/// Panics go to the browser console (what `console_error_panic_hook` does, without the
/// dependency).
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
}
