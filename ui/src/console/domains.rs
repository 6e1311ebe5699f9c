//! `/domains`: custom domains. Add one (name, the subdomain it serves, where TLS ends); each
//! shows the two DNS records to create, its verification state, its certificate and its
//! events; verify now or delete.

use crate::api::{ApiResult, use_api};
use crate::components::form::TextField;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::{
    CreateDomain, DnsRecord, Domain, DomainEventList, DomainList, DomainMode, DomainRoute,
    VerificationState,
};
use leptos::prelude::*;

/// The custom domains page.
#[component]
pub fn DomainsPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let list = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<DomainList>("/v1/domains").await }
        },
    );
    view! {
        <PageHeader title="Custom domains"
            lede="Serve a tunnel on your own domain: add it, create the two DNS records shown, and it is verified and given a certificate."/>
        <AddDomain/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move { domain_list(list.await) })}
        </Transition>
    }
}

fn domain_list(result: ApiResult<DomainList>) -> AnyView {
    match result {
        Ok(l) if l.domains.is_empty() => view! {
            <EmptyState title="No custom domains" hint="Add one above, e.g. app.example.com routed to your tunnel's subdomain."/>
        }
        .into_any(),
        Ok(l) => l
            .domains
            .into_iter()
            .map(|d| view! { <DomainCard domain=d/> })
            .collect_view()
            .into_any(),
        Err(e) => view! { <ErrorState error=e/> }.into_any(),
    }
}

fn state_badge(s: VerificationState) -> AnyView {
    match s {
        VerificationState::Verified => {
            view! { <span class="badge badge-ok">"verified"</span> }.into_any()
        }
        VerificationState::Pending => {
            view! { <span class="badge badge-warn">"pending"</span> }.into_any()
        }
        VerificationState::Lost => view! { <span class="badge badge-err">"lost"</span> }.into_any(),
    }
}

fn record_row(r: DnsRecord) -> impl IntoView {
    let copy = r.value.clone();
    view! {
        <tr>
            <td>{r.kind}</td>
            <td><code>{r.name}</code></td>
            <td><code class="dns-value">{r.value}</code></td>
            <td><button type="button" class="btn btn-small" on:click=move |_| platform::copy_text(&copy)>"Copy"</button></td>
        </tr>
    }
}

fn route_text(r: Option<&DomainRoute>) -> String {
    match r {
        Some(DomainRoute::Subdomain(s)) => format!("subdomain {s}"),
        Some(DomainRoute::ReservedName(id)) => format!("reserved name {id}"),
        None => "no route yet".into(),
    }
}

fn certificate_text(d: &Domain) -> String {
    match (&d.certificate, &d.certificate_error) {
        (Some(c), _) => format!(
            "version {} ({}), valid until {}, renews after {}",
            c.version,
            c.source,
            utc(c.not_after),
            utc(c.renew_after)
        ),
        (None, Some(e)) => format!("none: {e}"),
        (None, None) if d.mode == DomainMode::Passthrough => {
            "none needed: TLS ends at your agent".into()
        }
        (None, None) => "none yet: ordered once the domain is verified".into(),
    }
}

/// One domain: state, records, certificate, actions and events.
#[component]
fn DomainCard(domain: Domain) -> impl IntoView {
    let api = use_api();
    let id = domain.id.to_string();
    let events = Resource::new(
        {
            let live = use_live();
            move || live.tunnels.get()
        },
        {
            let (api, id) = (api.clone(), id.clone());
            move |_| {
                let (api, id) = (api.clone(), id.clone());
                async move {
                    api.get::<DomainEventList>(format!("/v1/domains/{id}/events"))
                        .await
                }
            }
        },
    );
    let cert = certificate_text(&domain);
    let route = route_text(domain.route.as_ref());
    let error = domain.last_error.clone();
    view! {
        <section class="card domain-card" data-domain=domain.domain.clone()>
            <h2>{domain.domain.clone()}" "{state_badge(domain.state)}</h2>
            <p class="muted">{format!("{} · {}", domain.mode.as_str(), route)}</p>
            {error.map(|e| view! { <p class="alert alert-warn domain-error">{e}</p> })}
            <table class="table dns-records">
                <caption>"DNS records to create"</caption>
                <thead><tr><th>"Type"</th><th>"Name"</th><th>"Value"</th><th><span class="sr-only">"Copy"</span></th></tr></thead>
                <tbody>
                    {record_row(domain.txt.clone())}
                    {record_row(domain.cname.clone())}
                </tbody>
            </table>
            <p class="domain-certificate"><strong>"Certificate: "</strong>{cert}</p>
            <p>
                <VerifyButton id=id.clone()/>" "<DeleteButton id=id.clone() name=domain.domain.clone()/>
            </p>
            <details class="domain-events">
                <summary>"Events"</summary>
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match events.await {
                            Ok(l) if l.events.is_empty() => view! { <p class="muted">"Nothing yet."</p> }.into_any(),
                            Ok(l) => view! {
                                <ul>
                                    {l.events.into_iter().map(|e| view! {
                                        <li><span class="muted">{utc(e.at)}</span>" "<strong>{e.kind}</strong>" "{e.detail}</li>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <ErrorState error=e/> }.into_any(),
                        }
                    })}
                </Transition>
            </details>
        </section>
    }
}

#[component]
fn VerifyButton(id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            let r: ApiResult<Domain> = api
                .send(
                    "POST",
                    format!("/v1/domains/{id}/verify"),
                    &serde_json::json!({}),
                )
                .await;
            match r {
                Ok(d) if d.state == VerificationState::Verified => {
                    toasts.ok(format!("{} is verified.", d.domain));
                }
                Ok(d) => toasts.error(d.last_error.unwrap_or_else(|| "Not verified yet.".into())),
                Err(e) => toasts.error(e.message),
            }
            live.bump("tunnels");
        });
    };
    view! { <button type="button" class="btn btn-small" on:click=on_click>"Verify now"</button> }
}

#[component]
fn DeleteButton(id: String, name: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let on_click = move |_| {
        if !platform::confirm(&format!("Delete {name}? Relays stop serving it.")) {
            return;
        }
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api.act("DELETE", format!("/v1/domains/{id}"), None).await {
                Ok(()) => {
                    toasts.ok("Domain deleted.");
                    live.bump("tunnels");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! { <button type="button" class="btn btn-danger btn-small" on:click=on_click>"Delete"</button> }
}

#[component]
fn AddDomain() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let toasts = use_toasts();
    let name = RwSignal::new(String::new());
    let subdomain = RwSignal::new(String::new());
    let mode = RwSignal::new("terminate".to_owned());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let domain = name.get_untracked().trim().to_owned();
        if domain.is_empty() {
            error.set(Some("Enter a domain name.".into()));
            return;
        }
        let sub = subdomain.get_untracked().trim().to_owned();
        let body = CreateDomain {
            domain,
            mode: DomainMode::parse(&mode.get_untracked()).unwrap_or_default(),
            route: (!sub.is_empty()).then_some(DomainRoute::Subdomain(sub)),
            ..CreateDomain::default()
        };
        error.set(None);
        busy.set(true);
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let r: ApiResult<Domain> = api.send("POST", "/v1/domains", &body).await;
            busy.set(false);
            match r {
                Ok(d) => {
                    toasts.ok(format!("{} added: create its DNS records.", d.domain));
                    name.set(String::new());
                    subdomain.set(String::new());
                    live.bump("tunnels");
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="form form-inline" id="domain-form" on:submit=on_submit novalidate>
            <TextField label="Domain" name="domain-name" value=name error=error required=true
                placeholder="app.example.com"/>
            <TextField label="Subdomain it serves" name="domain-subdomain" value=subdomain error=no_error
                placeholder="myapp"/>
            <label for="f-domain-mode">"TLS"</label>
            <select id="f-domain-mode" name="domain-mode"
                on:change=move |ev| mode.set(event_target_value(&ev))
                prop:value=move || mode.get()>
                <option value="terminate">"terminate at the relay"</option>
                <option value="passthrough">"pass through to the agent"</option>
            </select>
            <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Add domain"</button>
        </form>
    }
}
