//! The requests view: filters, the live list of captured HTTP exchanges with keyboard
//! selection and cursor paging, and the selected exchange's detail beside it.

use super::detail::{ExchangeDetail, replay};
use super::logic::{Filters, KeyCommand, LIST_PATH, key_command, move_selection};
use super::model::{ExchangeList, ExchangeSummary};
use crate::api::{ApiResult, use_api};
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::toast::use_toasts;
use crate::format::{human_bytes, human_ms, status_class, utc_millis};
use crate::live::use_live;
use crate::platform;
use leptos::prelude::*;

/// The `id` of an exchange's row (for scrolling it into view).
fn row_id(id: &str) -> String {
    format!("row-{id}")
}

/// The list, the filters above it and the detail of the open exchange.
#[component]
pub fn RequestsView() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let toasts = use_toasts();
    let applied = RwSignal::new(Filters::default());
    let before = RwSignal::new(None::<String>);
    let selected = RwSignal::new(None::<String>);
    let open = RwSignal::new(None::<String>);
    let list = {
        let api = api.clone();
        Resource::new(
            move || (live.exchanges.get(), applied.get(), before.get()),
            move |(_, filters, before)| {
                let api = api.clone();
                async move {
                    api.get::<ExchangeList>(filters.query(LIST_PATH, before.as_deref()))
                        .await
                }
            },
        )
    };
    let ids = Memo::new(move |_| {
        list.get()
            .and_then(Result::ok)
            .map(|l| {
                l.requests
                    .into_iter()
                    .map(|r| r.id.to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });

    let keys = {
        let api = api.clone();
        window_event_listener(leptos::ev::keydown, move |ev| {
            let (tag, editable) = focus_of(&ev);
            let modifier = ev.ctrl_key() || ev.meta_key() || ev.alt_key();
            let Some(cmd) = key_command(&ev.key(), modifier, &tag, editable) else {
                return;
            };
            let current = selected.get_untracked();
            match cmd {
                KeyCommand::Down | KeyCommand::Up => {
                    ev.prevent_default();
                    let step = if cmd == KeyCommand::Down { 1 } else { -1 };
                    let next = move_selection(&ids.get_untracked(), current.as_deref(), step);
                    if let Some(id) = &next {
                        scroll_to_row(id);
                    }
                    selected.set(next);
                }
                KeyCommand::Open => {
                    if current.is_some() {
                        ev.prevent_default();
                        open.set(current);
                    }
                }
                KeyCommand::Replay => {
                    if let Some(id) = current {
                        replay(api.clone(), toasts, id, None);
                    }
                }
            }
        })
    };
    on_cleanup(move || keys.remove());

    let clear_all = {
        let api = api.clone();
        move |_| {
            if !platform::confirm("Delete every captured request and connection?") {
                return;
            }
            let api = api.clone();
            leptos::task::spawn_local(async move {
                match api.act("DELETE", LIST_PATH, None).await {
                    Ok(()) => {
                        open.set(None);
                        selected.set(None);
                        before.set(None);
                        toasts.ok("Captured traffic cleared.");
                    }
                    Err(e) => toasts.error(e.message),
                }
            });
        }
    };

    view! {
        <div class="page-header">
            <div>
                <h1>"HTTP requests"</h1>
                <p class="muted">
                    "Requests through this agent's tunnels, newest first, as they arrive. Keys: "
                    <kbd>"j"</kbd>"/"<kbd>"k"</kbd>" move, "<kbd>"Enter"</kbd>" opens, "
                    <kbd>"r"</kbd>" replays."
                </p>
            </div>
            <div class="page-actions">
                {super::downloads_allowed().then(|| view! {
                    <a class="btn" href=move || applied.get().query("/api/requests/http/har", None)
                        download="fdt-requests.har">"Export HAR"</a>
                })}
                <button type="button" class="btn btn-ghost" on:click=clear_all>"Clear"</button>
            </div>
        </div>
        <FilterForm applied=applied before=before/>
        <div class="inspector grid-2">
            <section class="inspector-list" aria-label="Captured requests">
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        list_view(list.await, applied.get_untracked().any(), selected, open, before)
                    })}
                </Transition>
            </section>
            <section class="inspector-detail card" aria-label="Selected request">
                {move || match open.get() {
                    Some(id) => view! { <ExchangeDetail id=id/> }.into_any(),
                    None => view! {
                        <EmptyState title="No request open"
                            hint="Click a request, or select one with j/k and press Enter."/>
                    }
                    .into_any(),
                }}
            </section>
        </div>
    }
}

/// The filter fields; applying them goes back to the newest page.
#[component]
fn FilterForm(applied: RwSignal<Filters>, before: RwSignal<Option<String>>) -> impl IntoView {
    let tunnel = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let method = RwSignal::new(String::new());
    let path = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        applied.set(Filters {
            tunnel: tunnel.get_untracked(),
            status: status.get_untracked(),
            method: method.get_untracked(),
            path: path.get_untracked(),
            body: body.get_untracked(),
        });
        before.set(None);
    };
    let reset = move |_| {
        for s in [tunnel, status, method, path, body] {
            s.set(String::new());
        }
        applied.set(Filters::default());
        before.set(None);
    };
    let field =
        |id: &'static str, label: &'static str, value: RwSignal<String>, hint: &'static str| {
            view! {
                <div class="field">
                    <label for=id>{label}</label>
                    <input id=id prop:value=move || value.get() placeholder=hint
                        on:input=move |e| value.set(event_target_value(&e))/>
                </div>
            }
        };
    view! {
        <form class="form form-inline filters" role="search" on:submit=on_submit>
            {field("flt-tunnel", "Tunnel", tunnel, "web")}
            {field("flt-status", "Status", status, "404 or 5xx")}
            {field("flt-method", "Method", method, "POST")}
            {field("flt-path", "Path contains", path, "/api")}
            {field("flt-body", "Body contains", body, "error")}
            <button type="submit" class="btn btn-primary">"Filter"</button>
            {move || applied.get().any().then(|| view! {
                <button type="button" class="btn btn-ghost" on:click=reset>"Clear filters"</button>
            })}
        </form>
    }
}

fn list_view(
    result: ApiResult<ExchangeList>,
    filtered: bool,
    selected: RwSignal<Option<String>>,
    open: RwSignal<Option<String>>,
    before: RwSignal<Option<String>>,
) -> AnyView {
    let list = match result {
        Ok(l) => l,
        Err(e) => return view! { <ErrorState error=e/> }.into_any(),
    };
    let paging = move |next: Option<String>| {
        view! {
            <p class="pager">
                {move || before.get().is_some().then(|| view! {
                    <button type="button" class="btn btn-ghost" on:click=move |_| before.set(None)>"← Newest"</button>
                })}
                {next.map(|n| view! {
                    <button type="button" class="btn" on:click=move |_| before.set(Some(n.clone()))>"Older →"</button>
                })}
            </p>
        }
    };
    if list.requests.is_empty() {
        let hint = if filtered {
            "No captured request matches these filters."
        } else {
            "Send a request to one of this agent's public URLs: it appears here at once."
        };
        return view! {
            <EmptyState title="No requests" hint=hint/>
            {paging(None)}
        }
        .into_any();
    }
    let rows = list
        .requests
        .into_iter()
        .map(|r| row(r, selected, open))
        .collect_view();
    view! {
        <table class="table table-compact inspector-table" role="grid" aria-label="Captured HTTP requests">
            <thead>
                <tr>
                    <th scope="col">"Time"</th>
                    <th scope="col">"Method"</th>
                    <th scope="col">"Path"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Duration"</th>
                    <th scope="col">"Size"</th>
                    <th scope="col">"Tunnel"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {paging(list.next.map(|n| n.to_string()))}
    }
    .into_any()
}

fn row(
    r: ExchangeSummary,
    selected: RwSignal<Option<String>>,
    open: RwSignal<Option<String>>,
) -> impl IntoView {
    let is_selected = {
        let id = r.id.to_string();
        move || selected.with(|s| s.as_deref() == Some(id.as_str()))
    };
    let is_open = {
        let id = r.id.to_string();
        move || open.with(|s| s.as_deref() == Some(id.as_str()))
    };
    let choose = {
        let id = r.id.to_string();
        move |_| {
            selected.set(Some(id.clone()));
            open.set(Some(id.clone()));
        }
    };
    let choose_row = choose.clone();
    let time = utc_millis(r.timings.started_at_ms);
    let clock = time.get(11..19).unwrap_or(&time).to_owned();
    let status = r.status.map(|s| s.to_string()).unwrap_or_else(|| {
        if r.error.is_some() {
            "error".into()
        } else {
            "—".into()
        }
    });
    let duration = r.timings.total_ms.map_or_else(|| "—".into(), human_ms);
    let replayed = r.replay_of.map(|of| format!("replay of {of}"));
    view! {
        <tr id=row_id(&r.id.to_string())
            class="inspector-row"
            class:row-selected=is_selected.clone()
            class:row-open=is_open
            aria-selected=move || is_selected().to_string()
            on:click=choose_row>
            <td title=time>{clock}</td>
            <td><code>{r.method.clone()}</code></td>
            <td class="mono">
                <button type="button" class="link-button mono" on:click=choose
                    title=r.host.clone()>{r.uri.clone()}</button>
                {replayed.map(|t| view! { " " <span class="badge">{t}</span> })}
                {(r.timeline_len > 0).then(|| view! {
                    " " <span class="badge badge-info">{format!("{} messages", r.timeline_len)}</span>
                })}
            </td>
            <td><span class=status_class(r.status) title=r.error.clone().unwrap_or_default()>{status}</span></td>
            <td>{duration}</td>
            <td>{human_bytes(r.response_size)}</td>
            <td>{r.tunnel_name.clone()}</td>
        </tr>
    }
}

/// The focused element of a key press: its tag name and whether it is content-editable.
fn focus_of(ev: &leptos::ev::KeyboardEvent) -> (String, bool) {
    use leptos::wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        .map(|e| (e.tag_name(), e.is_content_editable()))
        .unwrap_or_default()
}

/// Keeps a row moved to with j/k on screen, scrolling as little as possible
/// (`scrollIntoView({block: "nearest"})`, called through `js_sys` because the typed options
/// are not among the enabled `web-sys` features).
fn scroll_to_row(id: &str) {
    #[cfg(feature = "browser")]
    if let Some(el) = document().get_element_by_id(&row_id(id)) {
        use leptos::wasm_bindgen::{JsCast, JsValue};
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"block".into(), &"nearest".into());
        let el: &JsValue = el.as_ref();
        if let Ok(f) = js_sys::Reflect::get(el, &"scrollIntoView".into())
            && let Some(f) = f.dyn_ref::<js_sys::Function>()
        {
            let _ = f.call1(el, &opts);
        }
    }
    #[cfg(not(feature = "browser"))]
    let _ = id;
}
