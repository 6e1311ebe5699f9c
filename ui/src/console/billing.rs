//! `/billing`: the plan in force and what each plan allows, upgrading through a provider's
//! checkout (the provider's page, then back here with `?checkout=<id>`, where the page waits
//! for the provider's confirmation), moving a live subscription up or down (`?changed=` after
//! approving at PayPal), the details invoices are made out to, the subscriptions with cancel
//! and the provider's portal, and a banner while a payment is past due. The plan cards are in
//! [`plans`], the invoices and billing details in [`invoices`].

mod invoices;
mod plans;

use crate::api::{Api, ApiResult, use_api};
use crate::boot::Boot;
use crate::components::layout::PageHeader;
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::{CheckoutStatus, DunningList, Plan, PortalLink, SubscriptionList};
use invoices::ProfileForm;
pub use invoices::{Invoices, SaveInvoicePdf};
use leptos::prelude::*;
use plans::Plans;

/// How many times the page asks whether a returning checkout is confirmed (every 1.5 s).
const CHECKOUT_POLLS: u32 = 80;

/// A provider's name for people.
pub fn provider_label(p: &str) -> &'static str {
    match p {
        "stripe" => "Stripe",
        "razorpay" => "Razorpay",
        "paypal" => "PayPal",
        _ => "the provider",
    }
}

/// What a plan allows, in one line.
pub fn plan_summary(plan: Plan) -> String {
    let e = plan.entitlements();
    format!(
        "{} online tunnels · {} reserved subdomains · {} TCP addresses · {} custom domains · traffic log kept {} days",
        e.online_tunnels,
        e.reserved_subdomains,
        e.tcp_addresses,
        e.custom_domains,
        e.inspection_retention_days
    )
}

/// Where providers' pages open. Without this in context (the console) the page goes there and
/// the provider sends the person back with `?checkout=`; the desktop app provides it: the
/// system browser opens the page (the app's `billing_redirect`) and the window stays,
/// following the checkout.
#[derive(Clone)]
pub struct ProviderPages {
    /// The API whose answers' provider page the app opens itself.
    pub api: Api,
    /// The checkout the window follows.
    pub following: RwSignal<Option<String>>,
}

/// The API for calls that lead to a provider's page, and whether the app opens that page.
fn redirecting_api() -> (Api, bool) {
    match use_context::<ProviderPages>() {
        Some(p) => (p.api, true),
        None => (use_api(), false),
    }
}

/// The billing page.
#[component]
pub fn BillingPage() -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    let returning = boot
        .param("checkout")
        .map(|id| (id, boot.param("canceled").is_some()));
    let failed = (boot.param("failed").is_some() || boot.param("payment_failed").is_some())
        .then(|| {
            view! {
                <p class="alert alert-error" role="alert" id="payment-failed">
                    "The payment did not go through, and nothing was charged. Try again, or with another provider."
                </p>
            }
        });
    // Back from approving a plan change at the provider (PayPal).
    let changed = boot.param("changed").map(|p| {
        let text = if boot.param("canceled").is_some() {
            "Plan change declined: the subscription stays as it was.".to_owned()
        } else {
            format!(
                "{} has your approval: the plan changes when it confirms the revision.",
                provider_label(&p)
            )
        };
        view! { <p class="alert" role="status" id="change-status">{text}</p> }
    });
    view! {
        <PageHeader title="Billing"/>
        {failed}
        {returning.map(|(id, canceled)| view! { <CheckoutReturn id=id canceled=canceled/> })}
        {changed}
        <BillingSections/>
        <ProfileForm/>
        <Invoices/>
    }
}

/// The plans with their upgrade, downgrade and checkout buttons, the subscriptions, a banner
/// while a payment is past due, and (in the app) the checkout the window follows.
#[component]
pub fn BillingSections() -> impl IntoView {
    let following = use_context::<ProviderPages>().map(|p| p.following);
    view! {
        <DunningBanner/>
        {move || {
            following
                .and_then(|f| f.get())
                .map(|id| view! { <CheckoutReturn id=id canceled=false/> })
        }}
        <Plans/>
        <Subscriptions/>
    }
}

/// A past-due payment: until when the plan stays.
#[component]
fn DunningBanner() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let cases = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<DunningList>("/v1/billing/dunning").await }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let open = cases.await.ok()?.cases.into_iter().find(|c| c.state == "open")?;
                Some(view! {
                    <p class="alert alert-error payment-banner" role="alert">
                        {format!(
                            "Your payment to {} is past due. Your plan stays until {}; after that the account moves to the free plan. Pay the open invoice or update your payment method.",
                            provider_label(&open.provider),
                            utc(open.grace_ends_at)
                        )}
                    </p>
                })
            })}
        </Transition>
    }
}

/// Back from a provider's page: waits for its confirmation.
#[component]
fn CheckoutReturn(id: String, canceled: bool) -> impl IntoView {
    let status = RwSignal::new(None::<CheckoutStatus>);
    let gave_up = RwSignal::new(false);
    if !canceled {
        let api = use_api();
        let live = use_live();
        // Effects run only in the browser, after hydration.
        Effect::new(move |_| {
            let (api, id) = (api.clone(), id.clone());
            leptos::task::spawn_local(async move {
                for _ in 0..CHECKOUT_POLLS {
                    let r: ApiResult<CheckoutStatus> =
                        api.get(format!("/v1/billing/checkout/{id}")).await;
                    if let Ok(s) = r {
                        let done = s.state == "active";
                        status.set(Some(s));
                        if done {
                            live.bump("tunnels");
                            return;
                        }
                    }
                    platform::sleep_ms(1500).await;
                }
                gave_up.set(true);
            });
        });
    }
    move || {
        if canceled {
            return view! {
                <p class="alert" role="status" id="checkout-status">"Checkout canceled: nothing was charged."</p>
            }
            .into_any();
        }
        match status.get() {
            Some(s) if s.state == "active" => view! {
                <p class="alert alert-ok" role="status" id="checkout-status">
                    {format!("Payment confirmed: you are on the {} plan.", s.entitled_plan)}
                </p>
            }
            .into_any(),
            _ if gave_up.get() => view! {
                <p class="alert alert-warn" role="status" id="checkout-status">
                    "The provider has not confirmed the payment yet. It can take a few minutes; this page shows it once it arrives."
                </p>
            }
            .into_any(),
            s => {
                let provider = s.map(|s| s.provider).unwrap_or_default();
                view! {
                    <p class="alert" role="status" id="checkout-status" aria-busy="true">
                        {format!("Waiting for {} to confirm the payment…", provider_label(&provider))}
                    </p>
                }
                .into_any()
            }
        }
    }
}

/// The account's subscriptions: cancel at period end, the provider's portal.
#[component]
fn Subscriptions() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let subs = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move {
                api.get::<SubscriptionList>("/v1/billing/subscriptions")
                    .await
            }
        },
    );
    view! {
        <section class="card" aria-labelledby="subs-h">
            <h2 id="subs-h">"Subscriptions"</h2>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match subs.await {
                        Ok(l) if l.subscriptions.is_empty() => view! {
                            <p class="muted">"None: the account is on the free plan."</p>
                        }.into_any(),
                        Ok(l) => {
                            let stripe = l.subscriptions.iter().any(|s| s.provider == "stripe");
                            view! {
                                <table class="table subscriptions">
                                    <thead><tr><th>"Provider"</th><th>"Plan"</th><th>"Status"</th><th>"Paid until"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {l.subscriptions.into_iter().map(|s| {
                                            let until = s.period_end.map(utc).unwrap_or_else(|| "—".into());
                                            // A one-time payment has nothing to cancel: it ends by itself.
                                            let live_sub = s.status != "canceled" && s.renews;
                                            let status = if s.renews { s.status.clone() } else { format!("{} (paid once, no renewal)", s.status) };
                                            view! {
                                                <tr>
                                                    <td>{provider_label(&s.provider)}</td>
                                                    <td>{s.plan.as_str()}</td>
                                                    <td>{status}</td>
                                                    <td>{until}</td>
                                                    <td>{live_sub.then(|| view! { <CancelButton provider=s.provider.clone() id=s.subscription_id.clone()/> })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                {stripe.then(|| view! { <PortalButton/> })}
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn CancelButton(provider: String, id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        if !platform::confirm(
            "Cancel this subscription? It stays paid until the end of its period, then the account moves to the free plan.",
        ) {
            return;
        }
        let path = format!("/v1/billing/subscriptions/{provider}/{id}/cancel");
        let api = api.clone();
        leptos::task::spawn_local(async move {
            match api.act("POST", path, Some(serde_json::json!({}))).await {
                Ok(()) => {
                    toasts.ok("Cancelled: it ends with the paid period.");
                    live.bump("tunnels");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn btn-small" on:click=on_click>"Cancel"</button> }
}

#[component]
fn PortalButton() -> impl IntoView {
    let (api, app_opens) = redirecting_api();
    let toasts = use_toasts();
    let on_click = move |_| {
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let r: ApiResult<PortalLink> = api
                .send("POST", "/v1/billing/portal", &serde_json::json!({}))
                .await;
            match r {
                // The app opened it in the browser.
                Ok(_) if app_opens => {}
                Ok(l) => platform::go_to(&l.url),
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn" on:click=on_click>"Payment methods and invoices (Stripe)"</button> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_summaries() {
        assert_eq!(provider_label("paypal"), "PayPal");
        assert_eq!(provider_label("other"), "the provider");
        assert!(plan_summary(Plan::Free).starts_with("3 online tunnels"));
        assert!(plan_summary(Plan::Pro).contains("5 custom domains"));
    }
}
