//! The frame around every page: skip link, header with navigation, theme toggle, live
//! indicator, main region and toasts.

use crate::boot::Theme;
use crate::components::toast::Toaster;
use crate::live::use_live;
use crate::platform;
use leptos::prelude::*;

/// A navigation entry.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Link target.
    pub href: &'static str,
    /// Link text.
    pub label: &'static str,
}

/// The page frame.
#[component]
pub fn AppFrame(
    /// Product area shown next to the logo ("Console", "Admin", "Inspector").
    area: &'static str,
    /// The navigation.
    nav: Vec<NavItem>,
    /// The path of the current page (its link gets `aria-current`).
    #[prop(into)]
    current: String,
    /// Starting theme.
    theme: Theme,
    /// Shown at the right of the header (user, sign out).
    #[prop(optional, into)]
    account: Option<String>,
    /// Page content.
    children: Children,
) -> impl IntoView {
    let live = use_live();
    let links = nav
        .into_iter()
        .map(|item| {
            let active = is_current(item.href, &current);
            view! {
                <a href=item.href class="nav-link" aria-current=active.then_some("page")>{item.label}</a>
            }
        })
        .collect_view();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/"><span class="logo" aria-hidden="true">"◆"</span>" FlyingDark "<span class="brand-area">{area}</span></a>
            <nav class="nav" aria-label="Main">{links}</nav>
            <div class="topbar-end">
                <span class="live-dot" class:live-on=move || live.connected.get()
                    title=move || if live.connected.get() { "Live updates on" } else { "Live updates off" }>
                    <span class="sr-only">{move || if live.connected.get() { "Live updates on" } else { "Live updates off" }}</span>
                </span>
                <ThemeToggle initial=theme/>
                {account.map(|a| view! {
                    <span class="account muted">{a}</span>
                    <form method="post" action="/logout" class="inline-form">
                        <button type="submit" class="btn btn-ghost btn-small">"Sign out"</button>
                    </form>
                })}
            </div>
        </header>
        <main id="main" class="main" tabindex="-1">{children()}</main>
        <Toaster/>
    }
}

/// Whether the nav link `href` is the page at `path`.
pub fn is_current(href: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let href = href.trim_end_matches('/');
    if href.is_empty() {
        return path.is_empty() || path == "/tunnels";
    }
    path == href || path.starts_with(&format!("{href}/"))
}

/// Switches between the light and dark themes.
#[component]
pub fn ThemeToggle(
    /// The theme the page was rendered in.
    initial: Theme,
) -> impl IntoView {
    let theme = RwSignal::new(initial);
    view! {
        <button type="button" class="btn btn-ghost btn-small" aria-pressed=move || (theme.get() == Theme::Dark).to_string()
            on:click=move |_| {
                let next = theme.get_untracked().toggled();
                theme.set(next);
                platform::set_theme(next);
            }>
            {move || if theme.get() == Theme::Dark { "Light theme" } else { "Dark theme" }}
        </button>
    }
}

/// A page's heading with an optional line under it.
#[component]
pub fn PageHeader(
    /// The `<h1>`.
    title: &'static str,
    /// The line under it.
    #[prop(optional, into)]
    lede: String,
    /// Actions at the right.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="page-header">
            <div>
                <h1>{title}</h1>
                {(!lede.is_empty()).then(|| view! { <p class="muted">{lede}</p> })}
            </div>
            <div class="page-actions">{children.map(|c| c())}</div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::is_current;

    #[test]
    fn current_link() {
        assert!(is_current("/", "/"));
        assert!(is_current("/", "/tunnels"));
        assert!(is_current("/traffic", "/traffic/req_1"));
        assert!(!is_current("/traffic", "/trafficking"));
        assert!(!is_current("/admin", "/"));
    }
}
