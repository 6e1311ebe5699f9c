//! `/usage`: the plan, its limits against current use, and traffic over time.

use crate::api::use_api;
use crate::components::chart::{Bar, StackedBars};
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::format::human_bytes;
use crate::live::use_live;
use fdt_api::{AccountPlan, UsageList};
use leptos::prelude::*;

/// A "used of limit" meter row.
#[component]
fn Meter(
    label: &'static str,
    used: u64,
    limit: u64,
    #[prop(optional)] bytes: bool,
) -> impl IntoView {
    let show = |n: u64| if bytes { human_bytes(n) } else { n.to_string() };
    let pct = used
        .saturating_mul(100)
        .checked_div(limit)
        .map_or(100, |p| p.min(100));
    let text = format!("{} of {}", show(used), show(limit));
    view! {
        <div class="meter-row">
            <span class="meter-label">{label}</span>
            <meter min="0" max=limit.to_string() value=used.to_string() aria-label=label
                class:meter-full=(pct >= 90)></meter>
            <span class="meter-text">{text}</span>
        </div>
    }
}

/// The plan and usage page.
#[component]
pub fn UsagePage(
    /// Actions next to the heading (the desktop window's "Upgrade").
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let plan = {
        let api = api.clone();
        Resource::new(
            move || live.tunnels.get(),
            move |_| {
                let api = api.clone();
                async move { api.get::<AccountPlan>("/v1/plan").await }
            },
        )
    };
    let usage = Resource::new(
        move || live.requests.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<UsageList>("/v1/usage").await }
        },
    );
    view! {
        <PageHeader title="Plan and usage">{children.map(|c| c())}</PageHeader>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match plan.await {
                    Ok(p) => {
                        let e = p.entitlements;
                        let u = p.in_use;
                        view! {
                            <section class="card" aria-labelledby="plan-h">
                                <h2 id="plan-h">{format!("{} plan", p.plan.as_str())}</h2>
                                <Meter label="Online tunnels" used=u.online_tunnels.into() limit=e.online_tunnels.into()/>
                                <Meter label="Reserved subdomains" used=u.reserved_subdomains.into() limit=e.reserved_subdomains.into()/>
                                <Meter label="TCP addresses" used=u.tcp_addresses.into() limit=e.tcp_addresses.into()/>
                                <Meter label="Bandwidth this month" used=u.bandwidth_bytes_this_month limit=e.bandwidth_bytes_per_month bytes=true/>
                                <p class="muted">{format!(
                                    "{} requests per minute per tunnel · traffic log kept {} days",
                                    e.requests_per_minute, e.inspection_retention_days
                                )}</p>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Transition>
        <section class="card" aria-labelledby="usage-h">
            <h2 id="usage-h">"Traffic over time"</h2>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match usage.await {
                        Ok(u) if u.days.is_empty() => view! {
                            <EmptyState title="No traffic yet" hint="Daily traffic appears here once your tunnels serve requests."/>
                        }.into_any(),
                        Ok(u) => {
                            let requests: u64 = u.days.iter().map(|d| d.requests).sum();
                            let bars = u.days.iter().map(|d| Bar { label: d.day.clone(), a: d.bytes_in, b: d.bytes_out }).collect();
                            view! {
                                <StackedBars bars=bars title="Traffic per day"/>
                                <p class="muted">{format!("{requests} requests in this period")}</p>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
