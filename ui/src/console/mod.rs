//! The web console: the signed-in user's tunnels, authtokens, traffic, plan and settings. The
//! server renders each page with its data; the browser hydrates it and keeps it live.

mod auth;
mod authtokens;
mod billing;
mod device;
mod domains;
mod managed;
mod settings;
mod traffic;
mod tunnels;
mod usage;

use crate::admin::AdminPanel;
use crate::boot::Boot;
use crate::components::layout::{AppFrame, NavItem};
use crate::components::toast::Toasts;
use crate::live::Live;
use crate::platform;
use crate::route::Page;
use leptos::prelude::*;

pub use auth::{LoginPage, SignupPage};
pub use billing::{BillingSections, Invoices, ProviderPages, SaveInvoicePdf};
pub use usage::UsagePage;

/// The console's navigation.
pub fn console_nav(is_admin: bool) -> Vec<NavItem> {
    let mut nav = vec![
        NavItem {
            href: "/",
            label: "Tunnels",
        },
        NavItem {
            href: "/managed",
            label: "Managed",
        },
        NavItem {
            href: "/authtokens",
            label: "Authtokens",
        },
        NavItem {
            href: "/domains",
            label: "Domains",
        },
        NavItem {
            href: "/traffic",
            label: "Traffic",
        },
        NavItem {
            href: "/usage",
            label: "Plan & usage",
        },
        NavItem {
            href: "/billing",
            label: "Billing",
        },
        NavItem {
            href: "/settings",
            label: "Settings",
        },
    ];
    if is_admin {
        nav.push(NavItem {
            href: "/admin",
            label: "Admin",
        });
    }
    nav
}

/// The whole console, choosing the page from [`Boot::path`].
#[component]
pub fn ConsoleApp(
    /// Route, user and theme.
    boot: Boot,
) -> impl IntoView {
    let live = Live::new();
    provide_context(live);
    provide_context(Toasts::new());
    provide_context(boot.clone());
    if let Some(url) = boot.live_url.clone() {
        // Effects run only in the browser, after hydration.
        Effect::new(move |_| platform::connect_live(&url, live));
    }
    let page = Page::parse(&boot.path);
    let (Some(user), true) = (boot.user.clone(), page.needs_login()) else {
        return match page {
            Page::Signup => view! { <SignupPage/> }.into_any(),
            Page::NotFound => view! { <NotFound/> }.into_any(),
            // A page that needs a user, without one: the server redirects before rendering;
            // this is only reached by a stale page.
            _ => view! { <LoginPage/> }.into_any(),
        };
    };
    let account = format!("{} · {}", user.email, user.plan);
    if let Page::Admin(admin_page) = page {
        let nav = vec![
            NavItem {
                href: "/admin/users",
                label: "Users",
            },
            NavItem {
                href: "/admin/tunnels",
                label: "Tunnels",
            },
            NavItem {
                href: "/admin/relays",
                label: "Relays",
            },
            NavItem {
                href: "/admin/audit",
                label: "Audit log",
            },
            NavItem {
                href: "/admin/secrets",
                label: "Secrets",
            },
            NavItem {
                href: "/admin/domains",
                label: "Domains",
            },
            NavItem {
                href: "/admin/billing",
                label: "Billing",
            },
            NavItem {
                href: "/",
                label: "← Console",
            },
        ];
        let body = if user.is_admin {
            view! { <AdminPanel page=admin_page/> }.into_any()
        } else {
            view! { <Forbidden/> }.into_any()
        };
        return view! {
            <AppFrame area="Admin" nav=nav current=boot.path.clone() theme=boot.theme account=account>
                {body}
            </AppFrame>
        }
        .into_any();
    }
    let body = match page {
        Page::Authtokens => view! { <authtokens::AuthtokensPage/> }.into_any(),
        Page::Domains => view! { <domains::DomainsPage/> }.into_any(),
        Page::Traffic => view! { <traffic::TrafficPage/> }.into_any(),
        Page::Request(id) => view! { <traffic::RequestPage id=id/> }.into_any(),
        Page::Usage => view! { <usage::UsagePage/> }.into_any(),
        Page::Billing => view! { <billing::BillingPage/> }.into_any(),
        Page::Settings => view! { <settings::SettingsPage/> }.into_any(),
        Page::Device => view! { <device::DevicePage/> }.into_any(),
        Page::Managed => view! { <managed::ManagedPage/> }.into_any(),
        _ => view! { <tunnels::TunnelsPage/> }.into_any(),
    };
    view! {
        <AppFrame area="Console" nav=console_nav(user.is_admin) current=boot.path.clone() theme=boot.theme account=account>
            {body}
        </AppFrame>
    }
    .into_any()
}

/// 404.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main id="main" class="center-card">
            <h1>"Page not found"</h1>
            <p class="muted">"There is nothing at this address."</p>
            <p><a class="btn btn-primary" href="/">"Go to the console"</a></p>
        </main>
    }
}

/// 403: the admin panel for a non-admin.
#[component]
pub fn Forbidden() -> impl IntoView {
    view! {
        <div class="state state-error" role="alert">
            <h1>"Admins only"</h1>
            <p>"Your account cannot open the admin panel."</p>
        </div>
    }
}
