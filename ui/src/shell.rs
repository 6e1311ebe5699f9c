//! The HTML document around a page: head (styles, the [`Boot`] JSON, the script that loads
//! the wasm bundle) and body. Rendered by the server; the browser hydrates the body only.

use crate::boot::{BOOT_ELEMENT_ID, Boot};
use leptos::prelude::*;

/// The wasm bundle's file stem (`/pkg/fdt_ui.js`, `/pkg/fdt_ui_bg.wasm`), as written by
/// `wasm-bindgen --out-name fdt_ui`.
pub const BUNDLE_NAME: &str = "fdt_ui";

/// What the document links to.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    /// Cache-busting version of `/assets/fdt.css` (a hash of its bytes).
    pub css_version: String,
    /// Version of the wasm bundle under `/pkg/`, or `None` when no bundle was built: the pages
    /// are then served without scripts (readable, not interactive), and the server says so
    /// in its log.
    pub bundle_version: Option<String>,
}

/// The module script that loads the bundle and calls `entry` (`hydrate_console`,
/// `mount_inspector`).
pub fn loader_script(version: &str, entry: &str) -> String {
    format!(
        "import init, {{ {entry} }} from '/pkg/{BUNDLE_NAME}.js?v={version}';\n\
         init({{ module_or_path: '/pkg/{BUNDLE_NAME}_bg.wasm?v={version}' }}).then(() => {entry}());"
    )
}

/// A whole HTML document.
#[component]
pub fn Document(
    /// Route, user and theme (also written into the page for the browser).
    boot: Boot,
    /// Style and bundle versions.
    assets: Assets,
    /// The `<title>`.
    #[prop(into)]
    title: String,
    /// The bundle function to call once loaded.
    entry: &'static str,
    /// The body.
    children: Children,
) -> impl IntoView {
    let loader = assets.bundle_version.as_ref().map(|v| {
        let wasm = format!("/pkg/{BUNDLE_NAME}_bg.wasm?v={v}");
        let js = format!("/pkg/{BUNDLE_NAME}.js?v={v}");
        view! {
            <link rel="modulepreload" href=js/>
            <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin=""/>
            // The request's nonce (when the server made one): the page's CSP allows inline
            // scripts by nonce only.
            <script type="module" nonce=leptos::nonce::use_nonce() inner_html=loader_script(v, entry)></script>
        }
    });
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=boot.theme.as_str()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <title>{format!("{title} · FlyingDarkDevTunnel")}</title>
                <link rel="stylesheet" href=format!("/assets/fdt.css?v={}", assets.css_version)/>
                <script id=BOOT_ELEMENT_ID type="application/json" inner_html=boot.to_script_json()></script>
                {loader}
            </head>
            <body>{children()}</body>
        </html>
    }
}
