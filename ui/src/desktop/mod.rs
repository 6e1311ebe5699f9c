//! The desktop app's window (`mount_desktop`): sign-in, then Tunnels, Inspector, Plan & usage
//! and Settings. Rendered in the window only; it talks to the app's Rust side through the
//! typed commands and events of `fdt-desktop-ipc`, never over HTTP. The app pushes its state
//! on every change, so the window and the tray always show the same thing.

mod bridge;
mod inspector;
mod plan;
mod settings;
mod sign_in;
pub mod transport;
pub mod tunnel_fields;
mod tunnel_form;
mod tunnels;

pub use bridge::{Desktop, use_desktop};
pub use transport::TauriTransport;

use crate::components::layout::ThemeToggle;
use crate::components::states::Loading;
use crate::components::toast::{Toaster, Toasts};
use crate::live::Live;
use crate::platform;
use fdt_desktop_ipc::event;
use leptos::either::EitherOf4;
use leptos::prelude::*;

/// The window's pages (kept in a signal: the window has no URLs to route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Configured tunnels and their switches.
    Tunnels,
    /// The local inspector.
    Inspector,
    /// The plan and its usage.
    Plan,
    /// App and account settings.
    Settings,
}

impl Page {
    /// Every page, in navigation order.
    pub const ALL: [Page; 4] = [Page::Tunnels, Page::Inspector, Page::Plan, Page::Settings];

    /// The navigation label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tunnels => "Tunnels",
            Self::Inspector => "Inspector",
            Self::Plan => "Plan & usage",
            Self::Settings => "Settings",
        }
    }
}

/// What the window shows as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Loading,
    Failed(String),
    SignedOut,
    SignedIn,
}

/// The whole window.
#[component]
pub fn DesktopApp() -> impl IntoView {
    let desktop = Desktop::new();
    provide_context(desktop);
    provide_context(Toasts::new());
    // The inspector's counters, bumped by the app's events for as long as the window lives.
    let live = Live::new();
    provide_context(live);
    // Effects run in the browser only, once mounted.
    Effect::new(move |_| {
        desktop.start();
        platform::connect_tauri_live(event::INSPECTOR, "exchanges", live);
    });
    // Branches are `Either`s, not `AnyView`s: erasing a view type compiles in every way of
    // rendering it (server, hydration), which this client-only window never uses.
    // Only a change of phase re-renders the window; state updates reach the pages' own
    // reactive parts.
    let phase = Memo::new(move |_| {
        desktop.state.with(|s| match s {
            Some(s) if s.account.is_some() => Phase::SignedIn,
            Some(_) => Phase::SignedOut,
            None => desktop.load_error.with(|e| {
                e.as_ref()
                    .map_or(Phase::Loading, |e| Phase::Failed(e.message.clone()))
            }),
        })
    });
    view! {
        {move || match phase.get() {
            Phase::Loading => EitherOf4::A(view! { <main id="main" class="main"><Loading/></main> }),
            Phase::Failed(message) => EitherOf4::B(view! { <LoadFailed message=message/> }),
            Phase::SignedOut => EitherOf4::C(view! { <sign_in::SignInPage/> }),
            Phase::SignedIn => EitherOf4::D(view! { <SignedIn/> }),
        }}
        <Toaster/>
    }
}

/// The first load failed: the reason and a retry.
#[component]
fn LoadFailed(message: String) -> impl IntoView {
    let desktop = use_desktop();
    view! {
        <main id="main" class="main">
            <div class="state state-error" role="alert">
                <p class="state-title">"The app did not answer"</p>
                <p>{message}</p>
                <button type="button" class="btn" on:click=move |_| {
                    leptos::task::spawn_local(desktop.reload());
                }>"Try again"</button>
            </div>
        </main>
    }
}

/// The signed-in frame: header with navigation, and the current page.
#[component]
fn SignedIn() -> impl IntoView {
    let desktop = use_desktop();
    let page = RwSignal::new(Page::Tunnels);
    let account = move || {
        desktop.read(String::new(), |s| {
            s.account.as_ref().map_or_else(String::new, |a| {
                a.email
                    .clone()
                    .unwrap_or_else(|| format!("authtoken {}", a.authtoken_hint))
            })
        })
    };
    let nav = Page::ALL
        .into_iter()
        .map(|p| {
            view! {
                <button type="button" class="nav-link" data-page=p.label()
                    aria-current=move || (page.get() == p).then_some("page")
                    on:click=move |_| page.set(p)>{p.label()}</button>
            }
        })
        .collect_view();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <span class="brand"><span class="logo" aria-hidden="true">"◆"</span>" FlyingDark "<span class="brand-area">"Desktop"</span></span>
            <nav class="nav" aria-label="Main">{nav}</nav>
            <div class="topbar-end">
                <span class="account muted">{account}</span>
                <ThemeToggle initial=platform::current_theme()/>
            </div>
        </header>
        <main id="main" class="main" tabindex="-1">
            {move || match page.get() {
                Page::Tunnels => EitherOf4::A(view! { <tunnels::TunnelsPage/> }),
                Page::Inspector => EitherOf4::B(view! { <inspector::InspectorPage/> }),
                Page::Plan => EitherOf4::C(view! { <plan::PlanPage/> }),
                Page::Settings => EitherOf4::D(view! { <settings::SettingsPage/> }),
            }}
        </main>
    }
}
