//! `/managed`: cloud-managed tunnels. Define a tunnel here (name, proto, local address,
//! subdomain, edge policy), and every agent of the account started with
//! `fdt start --managed` runs it; edit, start, stop and delete apply to those agents live.

use crate::api::{ApiResult, use_api};
use crate::components::form::TextField;
use crate::components::layout::PageHeader;
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::components::toast::use_toasts;
use crate::format::utc;
use crate::live::use_live;
use crate::platform;
use fdt_api::{TunnelConfig, TunnelConfigList, TunnelConfigRequest, TunnelDefinition, TunnelProto};
use leptos::prelude::*;

/// A comma-separated field as a list (blank entries dropped).
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The form's values.
#[derive(Clone, Copy)]
struct Form {
    /// The definition being edited (`None`: a new one).
    editing: RwSignal<Option<String>>,
    name: RwSignal<String>,
    proto: RwSignal<String>,
    addr: RwSignal<String>,
    subdomain: RwSignal<String>,
    basic_auth: RwSignal<String>,
    cidr_allow: RwSignal<String>,
    cidr_deny: RwSignal<String>,
}

impl Form {
    fn new() -> Self {
        Self {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            proto: RwSignal::new("http".into()),
            addr: RwSignal::new(String::new()),
            subdomain: RwSignal::new(String::new()),
            basic_auth: RwSignal::new(String::new()),
            cidr_allow: RwSignal::new(String::new()),
            cidr_deny: RwSignal::new(String::new()),
        }
    }

    /// Fills the form from a saved definition, for editing. Basic-auth entries come back as
    /// digests (`user:{sha256}…`) and are saved as such unless replaced.
    fn load(&self, c: &TunnelConfig) {
        let d = &c.definition;
        self.editing.set(Some(c.id.to_string()));
        self.name.set(c.name.clone());
        self.proto.set(d.proto.as_str().into());
        self.addr.set(d.addr.clone());
        self.subdomain.set(d.subdomain.clone().unwrap_or_default());
        self.basic_auth.set(d.basic_auth.join(", "));
        self.cidr_allow.set(d.cidr_allow.join(", "));
        self.cidr_deny.set(d.cidr_deny.join(", "));
    }

    fn clear(&self) {
        self.editing.set(None);
        for s in [
            self.name,
            self.addr,
            self.subdomain,
            self.basic_auth,
            self.cidr_allow,
            self.cidr_deny,
        ] {
            s.set(String::new());
        }
        self.proto.set("http".into());
    }

    /// The request body, or what is wrong with the form.
    fn request(&self, enabled: bool) -> Result<TunnelConfigRequest, String> {
        let proto = TunnelProto::parse(&self.proto.get_untracked())
            .ok_or_else(|| "choose http, tls or tcp".to_owned())?;
        let addr = self.addr.get_untracked().trim().to_owned();
        if addr.is_empty() {
            return Err("the local address is required (a port, host:port or a URL)".into());
        }
        let mut definition = TunnelDefinition::new(proto, addr);
        let sub = self.subdomain.get_untracked().trim().to_owned();
        definition.subdomain = (!sub.is_empty()).then_some(sub);
        definition.basic_auth = list(&self.basic_auth.get_untracked());
        definition.cidr_allow = list(&self.cidr_allow.get_untracked());
        definition.cidr_deny = list(&self.cidr_deny.get_untracked());
        Ok(TunnelConfigRequest {
            name: self.name.get_untracked().trim().to_owned(),
            enabled,
            definition,
        })
    }
}

/// The managed tunnels page.
#[component]
pub fn ManagedPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let form = Form::new();
    // The rows' Edit buttons fill this form (table cells are plain fns: they take it from here).
    provide_context(form);
    let list = Resource::new(
        move || live.tunnels.get(),
        move |_| {
            let api = api.clone();
            async move { api.get::<TunnelConfigList>("/v1/tunnel-configs").await }
        },
    );
    view! {
        <PageHeader title="Managed tunnels"
            lede="Tunnels defined here run on every agent of your account started with `fdt start --managed`. Changes apply to those agents at once."/>
        <DefinitionForm form=form/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move { table(list.await) })}
        </Transition>
    }
}

fn table(result: ApiResult<TunnelConfigList>) -> AnyView {
    match result {
        Ok(l) if l.tunnel_configs.is_empty() => view! {
            <EmptyState title="No managed tunnels" hint="Define one above, then run `fdt start --managed` on the machine that serves it."/>
        }
        .into_any(),
        Ok(l) => {
            let columns: Vec<Column<TunnelConfig>> = vec![
                Column::sorted("Name", |c| SortKey::Text(c.name.clone()), |c| view! { <strong>{c.name.clone()}</strong> }.into_any()),
                Column::sorted("Proto", |c| SortKey::Text(c.definition.proto.as_str().into()), |c| c.definition.proto.as_str().into_any()),
                Column::new("Local address", |c| view! { <code>{c.definition.addr.clone()}</code> }.into_any()),
                Column::new("Subdomain", |c| c.definition.subdomain.clone().unwrap_or_default().into_any()),
                Column::sorted("State", |c| SortKey::Text(if c.enabled { "a" } else { "b" }.into()), |c| {
                    let (class, text) = if c.enabled { ("badge badge-ok", "running") } else { ("badge", "stopped") };
                    view! { <span class=class>{text}</span> }.into_any()
                }),
                Column::sorted("Changed", |c| SortKey::Num(c.updated_at.unix_timestamp().into()), |c| utc(c.updated_at).into_any()),
                Column::new("", |c| view! { <RowActions config=c.clone()/> }.into_any()),
            ];
            view! { <DataTable caption="Managed tunnels" columns=columns rows=l.tunnel_configs/> }.into_any()
        }
        Err(e) => view! { <ErrorState error=e/> }.into_any(),
    }
}

#[component]
fn RowActions(config: TunnelConfig) -> impl IntoView {
    let form = expect_context::<Form>();
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let id = config.id.to_string();
    let name = config.name.clone();
    let (verb, label) = if config.enabled {
        ("stop", "Stop")
    } else {
        ("start", "Start")
    };
    let toggle = {
        let (api, id, name) = (api.clone(), id.clone(), name.clone());
        move |_| {
            let (api, id, name) = (api.clone(), id.clone(), name.clone());
            leptos::task::spawn_local(async move {
                match api
                    .act("POST", format!("/v1/tunnels/{id}/{verb}"), None)
                    .await
                {
                    Ok(()) => {
                        toasts.ok(format!("{name}: {verb} sent to its agents."));
                        live.bump("tunnels");
                    }
                    Err(e) => toasts.error(e.message),
                }
            });
        }
    };
    let delete = move |_| {
        if !platform::confirm("Delete this managed tunnel? Its agents stop it.") {
            return;
        }
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api
                .act("DELETE", format!("/v1/tunnel-configs/{id}"), None)
                .await
            {
                Ok(()) => {
                    toasts.ok("Managed tunnel deleted.");
                    live.bump("tunnels");
                }
                Err(e) => toasts.error(e.message),
            }
        });
    };
    let edit = move |_| form.load(&config);
    view! {
        <span class="row-actions">
            <button type="button" class="btn btn-small" on:click=edit
                aria-label=format!("Edit {name}")>"Edit"</button>
            " "
            <button type="button" class="btn btn-small" on:click=toggle>{label}</button>
            " "
            <button type="button" class="btn btn-danger btn-small" on:click=delete>"Delete"</button>
        </span>
    }
}

#[component]
fn DefinitionForm(form: Form) -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let toasts = use_toasts();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let no_error = Signal::derive(|| None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let editing = form.editing.get_untracked();
        let body = match form.request(true) {
            Ok(b) => b,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        error.set(None);
        busy.set(true);
        let api = api.clone();
        leptos::task::spawn_local(async move {
            let r: ApiResult<TunnelConfig> = match &editing {
                Some(id) => {
                    api.send("PUT", format!("/v1/tunnel-configs/{id}"), &body)
                        .await
                }
                None => api.send("POST", "/v1/tunnel-configs", &body).await,
            };
            busy.set(false);
            match r {
                Ok(c) => {
                    toasts.ok(format!("{} saved.", c.name));
                    form.clear();
                    live.bump("tunnels");
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="form" id="managed-form" on:submit=on_submit novalidate>
            <h2>{move || if form.editing.get().is_some() { "Edit managed tunnel" } else { "New managed tunnel" }}</h2>
            <TextField label="Name" name="managed-name" value=form.name error=no_error required=true placeholder="web"/>
            <label for="f-managed-proto">"Protocol"</label>
            <select id="f-managed-proto" name="managed-proto"
                on:change=move |ev| form.proto.set(event_target_value(&ev))
                prop:value=move || form.proto.get()>
                <option value="http">"http"</option>
                <option value="tls">"tls"</option>
                <option value="tcp">"tcp"</option>
            </select>
            <TextField label="Local address" name="managed-addr" value=form.addr error=no_error required=true
                placeholder="8080" hint="On the agent's machine: a port, host:port, or for http a URL."/>
            <TextField label="Subdomain" name="managed-subdomain" value=form.subdomain error=no_error placeholder="app"/>
            <TextField label="Basic auth" name="managed-basic-auth" value=form.basic_auth error=no_error
                placeholder="user:password" hint="Comma-separated user:password pairs (http). Passwords are stored as digests."/>
            <TextField label="Allowed networks" name="managed-cidr-allow" value=form.cidr_allow error=no_error
                placeholder="203.0.113.0/24" hint="Comma-separated CIDRs; empty lets everyone in."/>
            <TextField label="Denied networks" name="managed-cidr-deny" value=form.cidr_deny error=no_error
                placeholder="198.51.100.0/24"/>
            {move || error.get().map(|e| view! { <p class="alert alert-error" role="alert" id="managed-error">{e}</p> })}
            <p>
                <button type="submit" class="btn btn-primary" id="managed-save" disabled=move || busy.get()>
                    {move || if form.editing.get().is_some() { "Save changes" } else { "Create managed tunnel" }}
                </button>
                {move || form.editing.get().map(|_| view! {
                    " "<button type="button" class="btn" on:click=move |_| form.clear()>"Cancel"</button>
                })}
            </p>
        </form>
    }
}
