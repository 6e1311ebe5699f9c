//! The Plan & usage page: the console's plan and usage view over the `cloud_api` command when
//! the app holds an API session (an email sign-in), otherwise the way to get one; below it the
//! console's billing sections and invoices. A checkout, a plan change to approve or Stripe's
//! portal opens in the system browser (`billing_redirect`), and the window follows the
//! checkout until the provider confirms it; an invoice's PDF is saved into the Downloads
//! folder (`save_invoice_pdf`).

use super::bridge::use_desktop;
use super::transport::TauriTransport;
use crate::api::Api;
use crate::components::layout::PageHeader;
use crate::components::toast::use_toasts;
use crate::console::{BillingSections, Invoices, ProviderPages, SaveInvoicePdf, UsagePage};
use fdt_desktop_ipc::{InvoiceRef, OpenUrl, SavedFile, command};
use leptos::either::Either;
use leptos::prelude::*;

/// `base` + `path`, with one slash between them.
pub fn console_link(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// A button opening `path` of the web console in the system browser.
#[component]
fn OpenConsole(label: &'static str, path: &'static str) -> impl IntoView {
    let desktop = use_desktop();
    let toasts = use_toasts();
    let on_click = move |_| {
        let url = console_link(
            &desktop.read(String::new(), |s| s.console_url.clone()),
            path,
        );
        leptos::task::spawn_local(async move {
            let opened: Result<(), _> =
                super::bridge::invoke_with(command::OPEN_EXTERNAL, &OpenUrl { url }).await;
            if let Err(e) = opened {
                toasts.error(e.message);
            }
        });
    };
    view! {
        <button type="button" class="btn" on:click=on_click>
            {label}
        </button>
    }
}

/// The page.
#[component]
pub fn PlanPage() -> impl IntoView {
    let desktop = use_desktop();
    provide_context(Api::new(TauriTransport {
        command: command::CLOUD_API,
    }));
    provide_context(ProviderPages {
        api: Api::new(TauriTransport {
            command: command::BILLING_REDIRECT,
        }),
        following: RwSignal::new(None),
    });
    let toasts = use_toasts();
    provide_context(SaveInvoicePdf(Callback::new(move |id: String| {
        leptos::task::spawn_local(async move {
            let saved: Result<SavedFile, _> =
                super::bridge::invoke_with(command::SAVE_INVOICE_PDF, &InvoiceRef { id }).await;
            match saved {
                Ok(f) => toasts.ok(format!("Saved to {}", f.path)),
                Err(e) => toasts.error(e.message),
            }
        });
    })));
    let has_session = Memo::new(move |_| {
        desktop.read(false, |s| {
            s.account.as_ref().is_some_and(|a| a.has_api_session)
        })
    });
    move || {
        if has_session.get() {
            Either::Left(view! {
                <UsagePage/>
                <BillingSections/>
                <Invoices/>
            })
        } else {
            Either::Right(view! {
                <PageHeader title="Plan and usage"/>
                <section class="card">
                    <p>"Plan and usage need an email sign-in: this computer signed in with a pasted \
                        authtoken, which cannot read them. Sign out and sign in with your email and \
                        password, or see them in the web console."</p>
                    <OpenConsole label="Open console" path=""/>
                </section>
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::console_link;

    #[test]
    fn console_links_join_with_one_slash() {
        assert_eq!(
            console_link("https://c.example.com/", "/usage"),
            "https://c.example.com/usage"
        );
        assert_eq!(
            console_link("https://c.example.com", ""),
            "https://c.example.com"
        );
    }
}
