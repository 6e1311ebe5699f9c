//! One captured exchange: headers, bodies, the WebSocket/SSE timeline, timings, exports
//! (HAR, cURL) and replay, as it was or with edits.

use super::logic::{LIST_PATH, to_agent_modify};
use super::model::{
    CapturedBody, Direction, HttpExchange, ReplayAnswer, ReplayModify, ReplayRequest,
    TimelineEvent, header,
};
use crate::api::{Api, use_api};
use crate::components::code::{BodyBlock, HeadersTable};
use crate::components::replay::{ReplayFields, ReplayInputs};
use crate::components::states::{ErrorState, Loading};
use crate::components::toast::{Toasts, use_toasts};
use crate::format::{human_bytes, human_ms, status_class, utc_millis};
use crate::platform;
use leptos::prelude::*;

/// Replays exchange `id` (with `modify`, if any) and says how it went in a toast.
pub fn replay(api: Api, toasts: Toasts, id: String, modify: Option<ReplayModify>) {
    leptos::task::spawn_local(async move {
        let req = ReplayRequest {
            id: id.clone(),
            tunnel_name: None,
            modify,
        };
        match api.send::<_, ReplayAnswer>("POST", LIST_PATH, &req).await {
            Ok(r) => toasts.ok(replay_message(&id, &r)),
            Err(e) => toasts.error(format!("Replay of {id} failed: {}", e.message)),
        }
    });
}

/// The toast after a replay.
pub fn replay_message(id: &str, r: &ReplayAnswer) -> String {
    match &r.id {
        Some(new) => format!("Replayed {id}: HTTP {} (captured as {new}).", r.status),
        None => format!("Replayed {id}: HTTP {}.", r.status),
    }
}

/// The detail of exchange `id`, loaded from the agent.
#[component]
pub fn ExchangeDetail(
    /// `ex_<n>`.
    id: String,
) -> impl IntoView {
    let api = use_api();
    let exchange = Resource::new(
        || (),
        move |_| {
            let (api, id) = (api.clone(), id.clone());
            async move { api.get::<HttpExchange>(format!("{LIST_PATH}/{id}")).await }
        },
    );
    view! {
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match exchange.await {
                    Ok(ex) => view! { <DetailView ex=ex/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A body, or what it is when it cannot be shown as text.
fn body_view(body: CapturedBody, content_type: Option<String>) -> AnyView {
    if body.is_binary() {
        let kept = if body.truncated {
            " (first part captured)"
        } else {
            ""
        };
        return view! { <p class="muted body-binary">{format!("binary, {} bytes{kept}", body.size)}</p> }.into_any();
    }
    let note = body
        .truncated
        .then(|| view! { <p class="muted">{format!("Captured the first part of {}.", human_bytes(body.size))}</p> });
    let text = body.text().unwrap_or_default().to_owned();
    view! { {note} <BodyBlock content_type=content_type text=text truncated=body.truncated/> }
        .into_any()
}

#[component]
fn DetailView(ex: HttpExchange) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let id = ex.id.to_string();
    let status = ex.status.map(|s| s.to_string()).unwrap_or_else(|| {
        if ex.error.is_some() {
            "error".into()
        } else {
            "—".into()
        }
    });
    let mut meta = vec![
        ex.tunnel_name.clone(),
        ex.host.clone(),
        ex.http_version.clone(),
        utc_millis(ex.timings.started_at_ms),
    ];
    if let Some(addr) = &ex.remote_addr {
        meta.push(format!("from {addr}"));
    }
    if let Some(of) = &ex.replay_of {
        meta.push(format!("replay of {of}"));
    }
    meta.retain(|m| !m.is_empty());
    let ms = |v: Option<f64>| v.map_or_else(|| "—".into(), human_ms);
    let req_ct = header(&ex.request_headers, "content-type").map(str::to_owned);
    let resp_ct = header(&ex.response_headers, "content-type").map(str::to_owned);
    let replay_now = {
        let (api, id) = (api.clone(), id.clone());
        move |_| replay(api.clone(), toasts, id.clone(), None)
    };
    view! {
        <div class="detail-header">
            <h2 class="mono">{format!("{} {}", ex.method, ex.uri)}</h2>
            <span class=status_class(ex.status)>{status}</span>
        </div>
        <p class="muted">{meta.join(" · ")}</p>
        {ex.error.clone().map(|e| view! { <p class="state state-error" role="alert">{e}</p> })}
        <div class="toolbar">
            <button type="button" class="btn btn-primary" on:click=replay_now>"Replay"</button>
            {super::downloads_allowed().then(|| view! {
                <a class="btn" href=format!("{LIST_PATH}/{id}/har") download=format!("{id}.har")>"HAR"</a>
            })}
            <CurlButton id=id.clone()/>
        </div>
        <dl class="timings">
            <dt>"Started"</dt><dd>{utc_millis(ex.timings.started_at_ms)}</dd>
            <dt>"Time to first byte"</dt><dd>{ms(ex.timings.ttfb_ms)}</dd>
            <dt>"Total"</dt><dd>{ms(ex.timings.total_ms)}</dd>
        </dl>
        <h3>"Request"</h3>
        <HeadersTable headers=ex.request_headers.clone() caption="Request headers"/>
        {body_view(ex.request_body.clone(), req_ct)}
        <h3>"Response"</h3>
        <HeadersTable headers=ex.response_headers.clone() caption="Response headers"/>
        {body_view(ex.response_body.clone(), resp_ct)}
        {(!ex.timeline.is_empty()).then(|| view! { <Timeline events=ex.timeline.clone() dropped=ex.timeline_dropped/> })}
        <ReplayForm ex=ex/>
    }
}

/// Fetches the exchange's cURL command and shows it with a Copy button.
#[component]
fn CurlButton(id: String) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let command = RwSignal::new(None::<String>);
    let load = move |_| {
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            match api.get_text(format!("{LIST_PATH}/{id}/curl")).await {
                Ok(text) => command.set(Some(text.trim_end().to_owned())),
                Err(e) => toasts.error(e.message),
            }
        });
    };
    view! {
        <button type="button" class="btn" on:click=load>"cURL"</button>
        {move || command.get().map(|text| {
            let copy = text.clone();
            view! {
                <div class="curl">
                    <pre><code>{text}</code></pre>
                    <button type="button" class="btn btn-small" on:click=move |_| {
                        platform::copy_text(&copy);
                        toasts.ok("Copied the cURL command.");
                    }>"Copy"</button>
                </div>
            }
        })}
    }
}

/// What a timeline entry carried, in words.
fn timeline_payload(e: &TimelineEvent) -> String {
    if let Some(sse) = &e.sse {
        let mut parts = Vec::new();
        if let Some(ev) = &sse.event {
            parts.push(format!("event: {ev}"));
        }
        if let Some(id) = &sse.id {
            parts.push(format!("id: {id}"));
        }
        parts.push(sse.data.clone());
        return parts.join("\n");
    }
    match &e.payload {
        Some(p) if p.is_binary() => format!("binary, {} bytes", p.size),
        Some(p) if p.truncated => format!("{}… ({} bytes)", p.text().unwrap_or_default(), p.size),
        Some(p) => p.text().unwrap_or_default().to_owned(),
        None => String::new(),
    }
}

#[component]
fn Timeline(events: Vec<TimelineEvent>, dropped: u64) -> impl IntoView {
    let rows = events
        .into_iter()
        .map(|e| {
            let direction = if e.direction == Direction::ToLocal {
                "→ local"
            } else {
                "← visitor"
            };
            let payload = timeline_payload(&e);
            view! {
                <tr>
                    <td>{human_ms(e.at_ms)}</td>
                    <td>{direction}</td>
                    <td><code>{e.kind.as_str().replace('_', " ")}</code></td>
                    <td>{human_bytes(e.size)}</td>
                    <td class="mono timeline-payload">{payload}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h3>"Messages"</h3>
        <table class="table table-compact timeline">
            <caption class="sr-only">"WebSocket messages or server-sent events"</caption>
            <thead>
                <tr>
                    <th scope="col">"At"</th>
                    <th scope="col">"Direction"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Size"</th>
                    <th scope="col">"Payload"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {(dropped > 0).then(|| view! { <p class="muted">{format!("{dropped} more not kept (the exchange's capture limit was reached).")}</p> })}
    }
}

/// Replay with edits: method, path, headers to set and remove, body.
#[component]
fn ReplayForm(ex: HttpExchange) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let fields = ReplayFields::new(&ex.method, &ex.uri);
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let modify = fields
            .read(&ex.method, &ex.uri)
            .map(|m| m.map(to_agent_modify));
        match modify {
            Ok(m) => {
                error.set(None);
                replay(api.clone(), toasts, ex.id.to_string(), m);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    view! {
        <details class="replay-edit">
            <summary>"Replay with changes"</summary>
            <form class="form replay-form" on:submit=on_submit novalidate>
                <ReplayInputs fields=fields body_label="Body (empty: the captured body)"/>
                <p class="field-error" role="alert">{move || error.get()}</p>
                <button type="submit" class="btn btn-primary">"Replay with changes"</button>
            </form>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspector::model::{SseFields, TimelineKind};
    use fdt_agent_api::ExchangeId;

    /// A timeline entry of `kind` going to the local service, with nothing in it.
    fn event(kind: TimelineKind) -> TimelineEvent {
        TimelineEvent {
            at_ms: 0.0,
            direction: Direction::ToLocal,
            kind,
            size: 0,
            payload: None,
            sse: None,
        }
    }

    #[test]
    fn messages_and_payloads_read_well() {
        let r = ReplayAnswer {
            status: 201,
            id: Some(ExchangeId(9)),
            replay_of: Some(ExchangeId(2)),
        };
        assert_eq!(
            replay_message("ex_2", &r),
            "Replayed ex_2: HTTP 201 (captured as ex_9)."
        );
        let sse = TimelineEvent {
            sse: Some(SseFields {
                event: Some("tick".into()),
                id: None,
                data: "1".into(),
            }),
            ..event(TimelineKind::SseEvent)
        };
        assert_eq!(timeline_payload(&sse), "event: tick\n1");
        let bin = TimelineEvent {
            payload: Some(CapturedBody {
                size: 4,
                data: vec![0xff; 4],
                truncated: false,
            }),
            ..event(TimelineKind::Binary)
        };
        assert_eq!(timeline_payload(&bin), "binary, 4 bytes");
    }
}
