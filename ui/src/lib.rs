//! FlyingDarkDevTunnel's UI: one set of Leptos components and pages for the web console and
//! admin panel (server-rendered by `fdt-cloud`, then hydrated), the agent's local inspector at
//! 127.0.0.1:4040 and the desktop window (both rendered in the browser).
//!
//! Features:
//! - `ssr`: render on the server ([`shell::Document`]); the server provides an [`api::Api`]
//!   whose transport calls its own router in process.
//! - `hydrate`: the browser bundle. It exports `hydrate_console()` (hydrates a page the server
//!   rendered), `mount_inspector()` (renders the inspector from scratch) and `mount_desktop()`
//!   (renders the desktop window's pages, which talk to the app through Tauri commands).
//! - `csr`: client-side rendering only (the desktop window).
//!
//! Pages never talk to a backend directly: they go through [`api::Api`], so the same page runs
//! against the cloud's `/v1` API or the agent's `/api`, on the server or in the browser.

pub mod admin;
pub mod api;
pub mod boot;
pub mod components;
pub mod console;
pub mod desktop;
pub mod format;
pub mod inspector;
pub mod live;
pub mod platform;
pub mod route;
pub mod shell;
#[cfg(feature = "site")]
pub mod site;

#[cfg(feature = "browser")]
mod entry;

/// The design system's stylesheet: served by every host of these pages as `/assets/fdt.css`.
pub const STYLESHEET: &str = include_str!("../style/fdt.css");
