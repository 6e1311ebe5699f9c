//! The plan cards: what each plan allows, and the buttons that buy it (a checkout, or 30 days
//! paid once) or move the live subscription to it (up or down).

use super::{CHECKOUT_POLLS, ProviderPages, plan_summary, provider_label, redirecting_api};
use crate::api::{ApiResult, use_api};
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::live::use_live;
use crate::platform;
use fdt_api::{
    BillingOptions, CheckoutRequest, CheckoutStarted, Plan, PlanChange, PlanChangeRequest,
};
use leptos::prelude::*;

/// The plans, with upgrade buttons for each provider that sells them.
#[component]
pub(super) fn Plans() -> impl IntoView {
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
    let buttons = match options.subscription {
        // A live subscription moves to another plan its provider sells; free is its cancel
        // button below.
        Some(s) => {
            let sells = options
                .providers
                .iter()
                .any(|o| o.provider == s.provider && o.plans.contains(&plan));
            let upgrade = plan.rank() > s.plan.rank();
            (plan != s.plan && plan != Plan::Free && sells)
                .then(|| {
                    view! {
                        <ChangeButton plan=plan provider=s.provider id=s.subscription_id upgrade=upgrade/>
                    }
                })
                .into_any()
        }
        None => {
            let upgrade = plan.rank() > options.plan.rank();
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
