//! `/billing`: the plan in force and what each plan allows, upgrading through a provider's
//! checkout (the provider's page, then back here with `?checkout=<id>`, where the page waits
//! for the provider's confirmation), the subscriptions with cancel and the provider's portal,
//! and a banner while a payment is past due.

use crate::api::{ApiResult, use_api};
use crate::boot::Boot;
use crate::components::layout::PageHeader;
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::money::display;
use fdt_api::{
    BillingOptions, CheckoutRequest, CheckoutStarted, CheckoutStatus, DunningList, InvoiceList,
    Plan, PortalLink, SubscriptionList,
};
use leptos::prelude::*;

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

/// The billing page.
#[component]
pub fn BillingPage() -> impl IntoView {
    let boot = use_context::<Boot>().unwrap_or_default();
    let returning = boot
        .param("checkout")
        .map(|id| (id, boot.param("canceled").is_some()));
    view! {
        <PageHeader title="Billing"/>
        <DunningBanner/>
        {returning.map(|(id, canceled)| view! { <CheckoutReturn id=id canceled=canceled/> })}
        <Plans/>
        <Subscriptions/>
        <Invoices/>
    }
}

/// The account's invoices and credit notes, each with its PDF.
#[component]
fn Invoices() -> impl IntoView {
    let api = use_api();
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
                                        view! {
                                            <tr>
                                                <td><code>{i.number.clone()}</code></td>
                                                <td>{utc(i.issued_at)}</td>
                                                <td>{display(i.total, &i.currency)}</td>
                                                <td>{vat}</td>
                                                <td><a href=pdf download aria-label=label>"PDF"</a></td>
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

/// The plans, with upgrade buttons for each provider that sells them.
#[component]
fn Plans() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let options = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<BillingOptions>("/v1/billing/options").await }
        },
    );
    view! {
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match options.await {
                    Ok(o) => view! {
                        <div class="plan-grid">
                            {Plan::ALL.into_iter().map(|p| view! { <PlanCard plan=p options=o.clone()/> }).collect_view()}
                        </div>
                    }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PlanCard(plan: Plan, options: BillingOptions) -> impl IntoView {
    let current = options.plan == plan;
    let rank = |p: Plan| Plan::ALL.iter().position(|x| *x == p);
    let upgrade = rank(plan) > rank(options.plan);
    let buttons = options
        .providers
        .into_iter()
        .filter(|o| upgrade && o.plans.contains(&plan))
        .map(|o| view! { <UpgradeButton plan=plan provider=o.provider/> })
        .collect_view();
    view! {
        <section class="card plan-card" class:plan-current=current data-plan=plan.as_str()>
            <h2>
                {format!("{} plan", plan.as_str())}
                {current.then(|| view! { " "<span class="badge badge-ok">"current"</span> })}
            </h2>
            <p class="muted">{plan_summary(plan)}</p>
            <p>{buttons}</p>
        </section>
    }
}

#[component]
fn UpgradeButton(plan: Plan, provider: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let busy = RwSignal::new(false);
    let label = format!("Upgrade to {plan} with {}", provider_label(&provider));
    let on_click = {
        let provider = provider.clone();
        move |_| {
            let (api, provider) = (api.clone(), provider.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                let r: ApiResult<CheckoutStarted> = api
                    .send(
                        "POST",
                        "/v1/billing/checkout",
                        &CheckoutRequest { provider, plan },
                    )
                    .await;
                match r {
                    // To the provider's page; it sends the person back to /billing.
                    Ok(c) => platform::go_to(&c.url),
                    Err(e) => {
                        busy.set(false);
                        toasts.error(e.message);
                    }
                }
            });
        }
    };
    view! {
        <button type="button" class="btn btn-primary upgrade" data-provider=provider
            disabled=move || busy.get() on:click=on_click>
            {label}
        </button>" "
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
                                            let live_sub = s.status != "canceled";
                                            view! {
                                                <tr>
                                                    <td>{provider_label(&s.provider)}</td>
                                                    <td>{s.plan.as_str()}</td>
                                                    <td>{s.status.clone()}</td>
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
    let api = use_api();
    let toasts = use_toasts();
    let on_click = move |_| {
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let r: ApiResult<PortalLink> = api
                .send("POST", "/v1/billing/portal", &serde_json::json!({}))
                .await;
            match r {
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
