//! `/billing`: the plan in force and what each plan allows, upgrading through a provider's
//! checkout (the provider's page, then back here with `?checkout=<id>`, where the page waits
//! for the provider's confirmation), moving a live subscription up or down (`?changed=` after
//! approving at PayPal), the details invoices are made out to, the subscriptions with cancel and the provider's portal,
//! and a banner while a payment is past due.

use crate::api::{Api, ApiResult, use_api};
use crate::boot::Boot;
use crate::components::form::TextField;
use crate::components::layout::PageHeader;
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::money::display;
use fdt_api::{
    BillingOptions, BillingProfile, CheckoutRequest, CheckoutStarted, CheckoutStatus, DunningList,
    InvoiceList, Plan, PlanChange, PlanChangeRequest, PortalLink, SubscriptionList,
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

/// What invoices are made out to: name, country, VAT ID, address. A refused field shows the
/// API's reason under it.
#[component]
fn ProfileForm() -> impl IntoView {
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
    let buttons = match options.subscription {
        // A live subscription moves to another plan its provider sells; free is its cancel
        // button below.
        Some(s) => {
            let sells = options
                .providers
                .iter()
                .any(|o| o.provider == s.provider && o.plans.contains(&plan));
            let upgrade = rank(plan) > rank(s.plan);
            (plan != s.plan && plan != Plan::Free && sells)
                .then(|| {
                    view! {
                        <ChangeButton plan=plan provider=s.provider id=s.subscription_id upgrade=upgrade/>
                    }
                })
                .into_any()
        }
        None => {
            let upgrade = rank(plan) > rank(options.plan);
            let providers = options.providers;
            let subscribe = providers
                .iter()
                .filter(|o| upgrade && o.plans.contains(&plan))
                .map(
                    |o| view! { <UpgradeButton plan=plan provider=o.provider.clone() once=false/> },
                )
                .collect_view();
            let once = providers
                .iter()
                .filter(|o| upgrade && o.once.contains(&plan))
                .map(|o| view! { <UpgradeButton plan=plan provider=o.provider.clone() once=true/> })
                .collect_view();
            view! { {subscribe}{once} }.into_any()
        }
    };
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

/// Moves the live subscription to `plan`: at once (the page follows until the provider's
/// event moves the plan in force), at the end of the paid cycle, or after approval on the
/// provider's page.
#[component]
fn ChangeButton(plan: Plan, provider: String, id: String, upgrade: bool) -> impl IntoView {
    let api = use_api();
    let (via, app_opens) = redirecting_api();
    let toasts = use_toasts();
    let live = use_live();
    let busy = RwSignal::new(false);
    let label = format!(
        "{} to {plan}",
        if upgrade { "Upgrade" } else { "Downgrade" }
    );
    let who = provider_label(&provider);
    let path = format!("/v1/billing/subscriptions/{provider}/{id}/plan");
    let on_click = move |_| {
        let (api, via, path) = (api.clone(), via.clone(), path.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r: ApiResult<PlanChange> =
                via.send("POST", path, &PlanChangeRequest { plan }).await;
            match r {
                Ok(c) if c.effective == "approval" && app_opens => {
                    busy.set(false);
                    toasts.ok(format!(
                        "Approve the change on {who}'s page in your browser."
                    ));
                }
                Ok(c) if c.effective == "approval" => match c.url {
                    Some(url) => platform::go_to(&url),
                    None => busy.set(false),
                },
                Ok(c) if c.effective == "cycle_end" => {
                    busy.set(false);
                    toasts.ok(format!(
                        "The subscription moves to {plan} when its paid period ends."
                    ));
                }
                Ok(_) => {
                    toasts.ok(format!(
                        "Moving to {plan}: the plan changes once {who} confirms."
                    ));
                    for _ in 0..CHECKOUT_POLLS {
                        let o: ApiResult<BillingOptions> = api.get("/v1/billing/options").await;
                        if o.is_ok_and(|o| o.plan == plan) {
                            break;
                        }
                        platform::sleep_ms(1500).await;
                    }
                    busy.set(false);
                    live.bump("tunnels");
                }
                Err(e) => {
                    busy.set(false);
                    toasts.error(e.message);
                }
            }
        });
    };
    view! {
        <button type="button" class="btn btn-primary change-plan" data-plan=plan.as_str()
            disabled=move || busy.get() on:click=on_click>
            {label}
        </button>
    }
}

/// Starts a checkout of `plan` at `provider`: a subscription, or (`once`) 30 days paid once.
#[component]
fn UpgradeButton(plan: Plan, provider: String, once: bool) -> impl IntoView {
    let (api, app_opens) = redirecting_api();
    let following = use_context::<ProviderPages>().map(|p| p.following);
    let toasts = use_toasts();
    let busy = RwSignal::new(false);
    let label = if once {
        format!(
            "Pay 30 days of {plan} once with {}",
            provider_label(&provider)
        )
    } else {
        format!("Upgrade to {plan} with {}", provider_label(&provider))
    };
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
                        &CheckoutRequest {
                            provider,
                            plan,
                            once,
                        },
                    )
                    .await;
                match r {
                    // The app opened the provider's page in the browser: follow it here.
                    Ok(c) if app_opens => {
                        busy.set(false);
                        if let Some(f) = following {
                            f.set(Some(c.id));
                        }
                    }
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
        <button type="button" class="btn btn-primary upgrade" class:once=once data-provider=provider
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
