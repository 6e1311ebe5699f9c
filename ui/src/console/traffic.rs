//! `/traffic`: the traffic log with filters and paging; `/traffic/{id}`: one request with its
//! headers, bodies (pretty-printed) and replay with modifications.

use crate::api::{ApiResult, use_api, with_query};
use crate::boot::Boot;
use crate::components::code::{BodyBlock, HeadersTable};
use crate::components::layout::PageHeader;
use crate::components::replay::{ReplayEdits, ReplayFields, ReplayInputs};
use crate::components::states::{EmptyState, ErrorState, Loading};
use crate::components::table::{Column, DataTable, SortKey};
use crate::components::toast::use_toasts;
use crate::format::{human_bytes, human_ms, status_class, utc};
use crate::live::use_live;
use fdt_api::{ReplayJob, ReplayModify, ReplayRequest, ReplayState, RequestList, RequestRecord};
use leptos::prelude::*;

const FILTERS: [&str; 4] = ["method", "status", "host", "path"];

/// The traffic log.
#[component]
pub fn TrafficPage() -> impl IntoView {
    let api = use_api();
    let live = use_live();
    let boot = use_context::<Boot>().unwrap_or_default();
    let mut params: Vec<(&str, Option<String>)> =
        FILTERS.iter().map(|f| (*f, boot.param(f))).collect();
    params.push(("before", boot.param("before")));
    let query = with_query(
        "/v1/requests",
        &params
            .iter()
            .map(|(k, v)| (*k, v.as_deref()))
            .collect::<Vec<_>>(),
    );
    let filters_on = params.iter().any(|(_, v)| v.is_some());
    let list = Resource::new(
        move || live.requests.get(),
        move |_| {
            let (api, query) = (api.clone(), query.clone());
            async move { api.get::<RequestList>(query).await }
        },
    );
    let value = move |name: &str| boot.param(name).unwrap_or_default();
    let next_link = {
        let params = params.clone();
        move |next: String| {
            let mut p: Vec<(&str, Option<&str>)> = params
                .iter()
                .filter(|(k, _)| *k != "before")
                .map(|(k, v)| (*k, v.as_deref()))
                .collect();
            p.push(("before", Some(next.as_str())));
            with_query("/traffic", &p)
        }
    };
    view! {
        <PageHeader title="Traffic log" lede="Requests through your tunnels, newest first. New ones appear live."/>
        // A GET form: filters work without JavaScript and can be bookmarked.
        <form method="get" action="/traffic" class="form form-inline filters" role="search">
            <div class="field"><label for="flt-method">"Method"</label>
                <input id="flt-method" name="method" value=value("method") placeholder="GET" size="7"/></div>
            <div class="field"><label for="flt-status">"Status"</label>
                <input id="flt-status" name="status" value=value("status") placeholder="404 or 5xx" size="9"/></div>
            <div class="field"><label for="flt-host">"Host"</label>
                <input id="flt-host" name="host" value=value("host") placeholder="app.example.com"/></div>
            <div class="field"><label for="flt-path">"Path"</label>
                <input id="flt-path" name="path" value=value("path") placeholder="/api"/></div>
            <button type="submit" class="btn btn-primary">"Filter"</button>
            {filters_on.then(|| view! { <a class="btn btn-ghost" href="/traffic">"Clear"</a> })}
        </form>
        <Transition fallback=|| view! { <Loading/> }>
            {move || {
                let next_link = next_link.clone();
                Suspend::new(async move {
                    match list.await {
                        Ok(l) if l.requests.is_empty() => view! {
                            <EmptyState title="No requests yet" hint="Requests through your tunnels are logged here."/>
                        }.into_any(),
                        Ok(l) => {
                            let more = l.next.clone().map(|n| view! {
                                <p><a class="btn" href=next_link(n)>"Older requests →"</a></p>
                            });
                            view! {
                                <DataTable caption="Logged requests" columns=request_columns() rows=l.requests page_size=50 class="traffic-table"/>
                                {more}
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

fn request_columns() -> Vec<Column<RequestRecord>> {
    vec![
        Column::sorted(
            "Time",
            |r| SortKey::Num(r.started_at.unix_timestamp_nanos()),
            |r| utc(r.started_at).into_any(),
        ),
        Column::sorted(
            "Method",
            |r| SortKey::Text(r.method.clone()),
            |r| view! { <code>{r.method.clone()}</code> }.into_any(),
        ),
        Column::sorted(
            "Path",
            |r| SortKey::Text(r.path.clone()),
            |r| {
                let href = format!("/traffic/{}", r.id);
                view! { <a href=href class="mono request-link">{r.path.clone()}</a> }.into_any()
            },
        ),
        Column::sorted(
            "Host",
            |r| SortKey::Text(r.host.clone()),
            |r| r.host.clone().into_any(),
        ),
        Column::sorted(
            "Status",
            |r| SortKey::Num(r.status.map_or(0, i128::from)),
            |r| {
                let text = r
                    .status
                    .map(|s| s.to_string())
                    .or_else(|| r.error_code.clone())
                    .unwrap_or_else(|| "—".into());
                view! { <span class=status_class(r.status)>{text}</span> }.into_any()
            },
        ),
        Column::sorted(
            "Duration",
            |r| SortKey::Num(r.duration_ms.into()),
            |r| human_ms(r.duration_ms as f64).into_any(),
        ),
        Column::sorted(
            "Size",
            |r| SortKey::Num(r.bytes_out.into()),
            |r| human_bytes(r.bytes_out).into_any(),
        ),
    ]
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One logged request.
#[component]
pub fn RequestPage(
    /// Its ID.
    id: String,
) -> impl IntoView {
    let api = use_api();
    let record = {
        let (api, id) = (api.clone(), id.clone());
        Resource::new(
            || (),
            move |_| {
                let (api, id) = (api.clone(), id.clone());
                async move { api.get::<RequestRecord>(format!("/v1/requests/{id}")).await }
            },
        )
    };
    view! {
        <p><a href="/traffic">"← Traffic log"</a></p>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match record.await {
                    Ok(r) => view! { <RequestDetail record=r/> }.into_any(),
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RequestDetail(record: RequestRecord) -> impl IntoView {
    let api = use_api();
    let id = record.id.to_string();
    let body_resource = |which: &'static str, present: bool| {
        let (api, id) = (api.clone(), id.clone());
        Resource::new(
            || (),
            move |_| {
                let (api, id) = (api.clone(), id.clone());
                async move {
                    if present {
                        api.get_text(format!("/v1/requests/{id}/{which}"))
                            .await
                            .map(Some)
                    } else {
                        Ok(None)
                    }
                }
            },
        )
    };
    let req_body = body_resource("request-body", record.has_request_body);
    let resp_body = body_resource("response-body", record.has_response_body);
    let req_ct = header(&record.request_headers, "content-type").map(str::to_owned);
    let resp_ct = header(&record.response_headers, "content-type").map(str::to_owned);
    let status = record
        .status
        .map(|s| s.to_string())
        .or_else(|| record.error_code.clone())
        .unwrap_or_else(|| "—".into());
    let title = format!("{} {}", record.method, record.path);
    let body_view = move |r: ApiResult<Option<String>>, ct: Option<String>| {
        match r {
        Ok(Some(text)) => view! { <BodyBlock content_type=ct text=text/> }.into_any(),
        Ok(None) => view! { <p class="muted">"No body stored (bodies are kept on plans with body logging, for agents started with --log-bodies)."</p> }.into_any(),
        Err(e) => view! { <ErrorState error=e/> }.into_any(),
    }
    };
    view! {
        <div class="page-header">
            <div>
                <h1 class="mono">{title}</h1>
                <p class="muted">{format!("{} · {} · {} · from {}", record.host, utc(record.started_at), human_ms(record.duration_ms as f64), record.visitor_ip)}</p>
            </div>
            <span class=status_class(record.status)>{status}</span>
        </div>
        {record.truncated.then(|| view! {
            <p class="muted" role="note">"This record was trimmed to the traffic log's size cap: some header values, headers or bodies are incomplete."</p>
        })}
        <div class="grid-2">
            <section aria-labelledby="req-h" class="card">
                <h2 id="req-h">"Request"</h2>
                <HeadersTable headers=record.request_headers.clone() caption="Request headers"/>
                <h3>"Body"</h3>
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || { let ct = req_ct.clone(); Suspend::new(async move { body_view(req_body.await, ct) }) }}
                </Suspense>
            </section>
            <section aria-labelledby="resp-h" class="card">
                <h2 id="resp-h">"Response"</h2>
                <HeadersTable headers=record.response_headers.clone() caption="Response headers"/>
                <h3>"Body"</h3>
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || { let ct = resp_ct.clone(); Suspend::new(async move { body_view(resp_body.await, ct) }) }}
                </Suspense>
            </section>
        </div>
        <ReplayPanel record=record/>
    }
}

/// The form's edits in the cloud API's shape.
fn to_modify(e: ReplayEdits) -> ReplayModify {
    ReplayModify {
        method: e.method,
        path: e.path,
        set_headers: e.set_headers,
        remove_headers: e.remove_headers,
        body: e.body,
    }
}

#[component]
fn ReplayPanel(record: RequestRecord) -> impl IntoView {
    let api = use_api();
    let toasts = use_toasts();
    let live = use_live();
    let fields = ReplayFields::new(&record.method, &record.path);
    let error = RwSignal::new(None::<String>);
    let job = RwSignal::new(None::<ReplayJob>);
    let busy = RwSignal::new(false);
    let id = record.id.to_string();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let modify = match fields.read(&record.method, &record.path) {
            Ok(m) => m.map(to_modify),
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        error.set(None);
        busy.set(true);
        let (api, id) = (api.clone(), id.clone());
        leptos::task::spawn_local(async move {
            let r: ApiResult<ReplayJob> = api
                .send(
                    "POST",
                    format!("/v1/requests/{id}/replay"),
                    &ReplayRequest { modify },
                )
                .await;
            busy.set(false);
            match r {
                Ok(j) => {
                    toasts.ok("Replay queued: it goes to your agent's local service.");
                    let job_id = j.id.to_string();
                    job.set(Some(j));
                    // The job travels cloud → relay → agent and back in heartbeats: follow it
                    // for a minute at most.
                    for _ in 0..60 {
                        crate::platform::sleep_ms(1000).await;
                        match api.get::<ReplayJob>(format!("/v1/replays/{job_id}")).await {
                            Ok(j) => {
                                let finished =
                                    matches!(j.state, ReplayState::Done | ReplayState::Failed);
                                job.set(Some(j));
                                if finished {
                                    live.bump("requests");
                                    break;
                                }
                            }
                            Err(e) => {
                                toasts.error(e.message);
                                break;
                            }
                        }
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section aria-labelledby="replay-h" class="card">
            <h2 id="replay-h">"Replay"</h2>
            <p class="muted">"Sends this request again to the agent's local service, with your changes."</p>
            <form class="form replay-form" on:submit=on_submit novalidate>
                <ReplayInputs fields=fields body_label="Body (empty: the original body)"/>
                <p class="field-error" role="alert">{move || error.get()}</p>
                <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Replay"</button>
            </form>
            {move || job.get().map(|j| view! { <ReplayStatus job=j/> })}
        </section>
    }
}

#[component]
fn ReplayStatus(job: ReplayJob) -> impl IntoView {
    let (class, text) = match job.state {
        ReplayState::Queued => ("badge", "queued".to_owned()),
        ReplayState::Sent => ("badge badge-info", "sent to the agent".to_owned()),
        ReplayState::Done => (
            status_class(job.status),
            format!(
                "done · HTTP {}",
                job.status.map_or("—".into(), |s| s.to_string())
            ),
        ),
        ReplayState::Failed => (
            "badge badge-err",
            format!("failed · {}", job.error.clone().unwrap_or_default()),
        ),
    };
    view! {
        <p class="replay-status" role="status">
            "Replay " <code>{job.id.to_string()}</code> ": " <span class=class data-state=job.state.as_str()>{text}</span>
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_map_to_the_cloud_api() {
        let edits = crate::components::replay::read_edits(
            "POST",
            "/hook",
            "put",
            "/hook?x=1",
            "X-Test: yes",
            "cookie",
            "{}",
        )
        .expect("valid")
        .expect("some change");
        let m = to_modify(edits);
        assert_eq!(m.method.as_deref(), Some("PUT"));
        assert_eq!(m.path.as_deref(), Some("/hook?x=1"));
        assert_eq!(m.set_headers, vec![("X-Test".to_owned(), "yes".to_owned())]);
        assert_eq!(m.remove_headers, vec!["cookie".to_owned()]);
        assert_eq!(m.body.as_deref(), Some("{}"));
        // The wire shape the cloud's deny_unknown_fields accepts.
        let json = serde_json::to_value(ReplayRequest { modify: Some(m) }).expect("json");
        assert_eq!(json["modify"]["set_headers"][0][0], "X-Test");
    }
}
