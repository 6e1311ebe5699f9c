//! What invoices say and who they are made out to: the account's invoices and credit notes
//! with their PDFs, and the billing details form.

use crate::api::{ApiResult, use_api};
use crate::components::form::TextField;
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use fdt_api::money::display;
use fdt_api::{BillingProfile, InvoiceList};
use leptos::prelude::*;

/// What invoices are made out to: name, country, VAT ID, address. A refused field shows the
/// API's reason under it.
#[component]
pub(super) fn ProfileForm() -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let name = RwSignal::new(String::new());
    let country = RwSignal::new(String::new());
    let vat = RwSignal::new(String::new());
    let address = RwSignal::new(String::new());
    let refused = RwSignal::new(None::<(String, String)>);
    let busy = RwSignal::new(false);
    // The stored profile fills the form once, in the browser.
    {
        let api = api.clone();
        Effect::new(move |_| {
            let api = api.clone();
            leptos::task::spawn_local(async move {
                if let Ok(p) = api.get::<BillingProfile>("/v1/billing/profile").await {
                    name.set(p.name);
                    country.set(p.country.unwrap_or_default());
                    vat.set(p.vat_id.unwrap_or_default());
                    address.set(p.address);
                }
            });
        });
    }
    let error_for = move |f: &'static str| {
        Signal::derive(move || {
            refused
                .get()
                .filter(|(field, _)| field == f)
                .map(|(_, m)| m)
        })
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let api = api.clone();
        let optional = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let profile = BillingProfile {
            name: name.get(),
            country: optional(country.get()),
            vat_id: optional(vat.get()),
            address: address.get(),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r: ApiResult<BillingProfile> =
                api.send("PUT", "/v1/billing/profile", &profile).await;
            busy.set(false);
            match r {
                Ok(p) => {
                    refused.set(None);
                    // Shown as the API normalised it (capitals, no spaces).
                    country.set(p.country.unwrap_or_default());
                    vat.set(p.vat_id.unwrap_or_default());
                    toasts.ok("Saved: invoices issued from now on use these details.");
                }
                Err(e) => match e.field {
                    Some(f) => refused.set(Some((f, e.message))),
                    None => toasts.error(e.message),
                },
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="profile-h">
            <h2 id="profile-h">"Billing details"</h2>
            <p class="muted">"What invoices are made out to. A VAT ID of another EU country than ours means reverse charge: no VAT."</p>
            <form class="billing-profile" on:submit=on_submit>
                <TextField label="Name or company" name="profile-name" value=name
                    error=error_for("name") autocomplete="organization" required=true/>
                <TextField label="Country (two letters, e.g. DE)" name="profile-country" value=country
                    error=error_for("country") autocomplete="country"/>
                <TextField label="VAT ID (businesses)" name="profile-vat" value=vat
                    error=error_for("vat_id")/>
                <TextField label="Address" name="profile-address" value=address
                    error=error_for("address") autocomplete="street-address"/>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Save details"</button>
            </form>
        </section>
    }
}

/// How the desktop app saves an invoice's PDF (given its ID): into the Downloads folder, as
/// the window cannot download a link. Without it (the console) the PDF is a link the browser
/// downloads with the page's own sign-in.
#[derive(Clone, Copy)]
pub struct SaveInvoicePdf(pub Callback<String>);

/// The account's invoices and credit notes, each with its PDF.
#[component]
pub fn Invoices() -> impl IntoView {
    let api = use_api();
    let save = use_context::<SaveInvoicePdf>();
    let live = use_live();
    let list = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<InvoiceList>("/v1/billing/invoices").await }
        },
    );
    view! {
        <section class="card" aria-labelledby="inv-h">
            <h2 id="inv-h">"Invoices"</h2>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(l) if l.invoices.is_empty() => view! {
                            <p class="muted">"None yet: each payment gets one."</p>
                        }.into_any(),
                        Ok(l) => view! {
                            <table class="table invoices">
                                <thead><tr><th>"Number"</th><th>"Issued"</th><th>"Total"</th><th>"VAT"</th><th><span class="sr-only">"PDF"</span></th></tr></thead>
                                <tbody>
                                    {l.invoices.into_iter().map(|i| {
                                        let pdf = format!("/v1/billing/invoices/{}/pdf", i.id);
                                        let vat = if i.reverse_charge { "reverse charge".to_owned() } else { display(i.tax, &i.currency) };
                                        let label = format!("PDF of {}", i.number);
                                        let id = i.id.clone();
                                        let pdf = match save {
                                            Some(SaveInvoicePdf(cb)) => view! {
                                                <button type="button" class="btn btn-small" aria-label=label
                                                    on:click=move |_| cb.run(id.clone())>"Save PDF"</button>
                                            }.into_any(),
                                            None => view! { <a href=pdf download aria-label=label>"PDF"</a> }.into_any(),
                                        };
                                        view! {
                                            <tr>
                                                <td><code>{i.number.clone()}</code></td>
                                                <td>{utc(i.issued_at)}</td>
                                                <td>{display(i.total, &i.currency)}</td>
                                                <td>{vat}</td>
                                                <td>{pdf}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
