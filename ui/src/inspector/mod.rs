//! The local inspector the agent serves at 127.0.0.1:4040: captured HTTP exchanges (live,
//! filtered, paged, with their detail, exports and replay) and raw TCP/TLS connections. It is
//! rendered in the browser only (`mount_inspector`) and talks to the agent's `/api` through
//! the page's [`crate::api::Api`]; the agent's change events keep it live. The desktop window
//! embeds its content ([`InspectorView`]) over Tauri commands instead.

mod detail;
mod list;
pub mod logic;
pub mod model;
mod tcp;

use crate::boot::Boot;
use crate::components::layout::{AppFrame, NavItem};
use crate::components::toast::Toasts;
use crate::live::Live;
use crate::platform;
use leptos::prelude::*;

/// Which part of the inspector shows, chosen by the URL's fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// HTTP exchanges (no fragment).
    Requests,
    /// TCP/TLS connections (`#tcp`).
    Connections,
}

impl Section {
    /// The section of a `location.hash` (`"#tcp"`, `""`).
    pub fn from_hash(hash: &str) -> Self {
        if hash.trim_start_matches('#') == "tcp" {
            Self::Connections
        } else {
            Self::Requests
        }
    }
}

/// Whether the inspector's download links (HAR exports, fetched from `/api` by the browser)
/// work where it runs. A host whose API is not served over HTTP (the desktop window, which
/// answers it in process) provides `Downloads(false)` and the links are left out.
#[derive(Debug, Clone, Copy)]
pub struct Downloads(pub bool);

fn downloads_allowed() -> bool {
    use_context::<Downloads>().is_none_or(|d| d.0)
}

/// The page's fragment (empty outside a browser).
fn location_hash() -> String {
    #[cfg(feature = "browser")]
    {
        web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "browser"))]
    String::new()
}

/// The inspector.
#[component]
pub fn InspectorApp(
    /// Theme and route.
    boot: Boot,
) -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    provide_context(Toasts::new());
    provide_context(boot.clone());
    if let Some(url) = boot.live_url.clone() {
        Effect::new(move |_| platform::connect_live(&url, live));
    }
    let section = RwSignal::new(Section::from_hash(&location_hash()));
    let hash = window_event_listener(leptos::ev::hashchange, move |_| {
        section.set(Section::from_hash(&location_hash()));
    });
    on_cleanup(move || hash.remove());
    let nav = vec![
        NavItem {
            href: "/",
            label: "Requests",
        },
        NavItem {
            href: "/#tcp",
            label: "Connections",
        },
    ];
    view! {
        <AppFrame area="Inspector" nav=nav current=boot.path.clone() theme=boot.theme>
            <InspectorView section=section/>
        </AppFrame>
    }
}

/// The inspector's content without the page frame, for a host with its own (the desktop
/// window). It reads the [`crate::api::Api`], [`Live`] and toasts from context: live updates
/// come from whatever source the host connected its [`Live`] counters to.
#[component]
pub fn InspectorView(
    /// Which part shows.
    #[prop(into)]
    section: Signal<Section>,
) -> impl IntoView {
    move || match section.get() {
        Section::Requests => view! { <list::RequestsView/> }.into_any(),
        Section::Connections => view! { <tcp::ConnectionsView/> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::Section;

    #[test]
    fn fragments_choose_the_section() {
        assert_eq!(Section::from_hash(""), Section::Requests);
        assert_eq!(Section::from_hash("#tcp"), Section::Connections);
        assert_eq!(Section::from_hash("#other"), Section::Requests);
    }
}
