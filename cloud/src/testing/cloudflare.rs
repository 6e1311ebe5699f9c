//! A local server speaking the part of Cloudflare's API v4 that DNS-01 uses, as documented:
//! `GET /zones?name=`, `POST /zones/{zone_id}/dns_records`, `DELETE
//! /zones/{zone_id}/dns_records/{id}`, a bearer API token, and the `{"success","errors",
//! "messages","result"}` envelope. Records it creates are published through a
//! [`ChallTestSrv`], so a CA resolving through that DNS server sees them.

use super::acme::ChallTestSrv;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// Zone ID.
    pub zone: String,
    /// Full name.
    pub name: String,
    /// TXT content.
    pub content: String,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, FakeRecord>,
    created: usize,
    deleted: usize,
    next: u64,
}

#[derive(Clone)]
struct Fake {
    token: String,
    /// Zone name → ID.
    zones: HashMap<String, String>,
    dns: Arc<ChallTestSrv>,
    inner: Arc<Mutex<Inner>>,
}

/// The running fake.
pub struct FakeCloudflare {
    /// Base URL to configure as `api_base` (`http://127.0.0.1:<port>/client/v4`).
    pub api_base: String,
    fake: Fake,
    task: tokio::task::JoinHandle<()>,
}

fn envelope(status: StatusCode, result: Value) -> Response {
    let ok = status.is_success();
    let errors = if ok {
        json!([])
    } else {
        json!([{"code": 10000 + u32::from(status.as_u16()), "message": result}])
    };
    let body = json!({"success": ok, "errors": errors, "messages": [], "result": if ok { result } else { Value::Null }});
    (status, Json(body)).into_response()
}

impl Fake {
    fn authorized(&self, h: &HeaderMap) -> bool {
        h.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {}", self.token))
    }
}

async fn list_zones(
    State(f): State<Fake>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !f.authorized(&h) {
        return envelope(StatusCode::FORBIDDEN, json!("Authentication error"));
    }
    let found: Vec<Value> = q
        .get("name")
        .and_then(|n| f.zones.get(n).map(|id| json!({"id": id, "name": n})))
        .into_iter()
        .collect();
    envelope(StatusCode::OK, json!(found))
}

async fn create(
    State(f): State<Fake>,
    h: HeaderMap,
    Path(zone): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if !f.authorized(&h) {
        return envelope(StatusCode::FORBIDDEN, json!("Authentication error"));
    }
    let Some((zone_name, _)) = f.zones.iter().find(|(_, id)| **id == zone) else {
        return envelope(StatusCode::NOT_FOUND, json!("Could not route to /zones"));
    };
    let (Some("TXT"), Some(name), Some(content)) = (
        body["type"].as_str(),
        body["name"].as_str(),
        body["content"].as_str(),
    ) else {
        return envelope(StatusCode::BAD_REQUEST, json!("DNS Validation Error"));
    };
    if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
        return envelope(
            StatusCode::BAD_REQUEST,
            json!("Record name outside the zone"),
        );
    }
    f.dns.set_txt(name, content).await;
    let id = {
        let mut inner = f.inner.lock().expect("fake Cloudflare state");
        inner.next += 1;
        inner.created += 1;
        let id = format!("{:032x}", inner.next);
        inner.records.insert(
            id.clone(),
            FakeRecord {
                zone: zone.clone(),
                name: name.to_owned(),
                content: content.to_owned(),
            },
        );
        id
    };
    envelope(
        StatusCode::OK,
        json!({"id": id, "type": "TXT", "name": name, "content": content, "ttl": body["ttl"]}),
    )
}

async fn remove(
    State(f): State<Fake>,
    h: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
) -> Response {
    if !f.authorized(&h) {
        return envelope(StatusCode::FORBIDDEN, json!("Authentication error"));
    }
    let removed = {
        let mut inner = f.inner.lock().expect("fake Cloudflare state");
        let r = inner.records.remove(&id).filter(|r| r.zone == zone);
        if r.is_some() {
            inner.deleted += 1;
        }
        r
    };
    let Some(r) = removed else {
        return envelope(StatusCode::NOT_FOUND, json!("Record not found"));
    };
    f.dns.clear_txt(&r.name).await;
    envelope(StatusCode::OK, json!({"id": id}))
}

impl FakeCloudflare {
    /// Serves on a free loopback port; `zones` are zone names, each given a fixed ID; calls
    /// must carry `token`.
    pub async fn start(dns: Arc<ChallTestSrv>, token: &str, zones: &[&str]) -> Self {
        let fake = Fake {
            token: token.to_owned(),
            zones: zones
                .iter()
                .enumerate()
                .map(|(i, z)| ((*z).to_owned(), format!("{:032x}", 0xc0ffee_u64 + i as u64)))
                .collect(),
            dns,
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/client/v4/zones", get(list_zones))
            .route("/client/v4/zones/{zone}/dns_records", post(create))
            .route("/client/v4/zones/{zone}/dns_records/{id}", delete(remove))
            .with_state(fake.clone());
        let (listener, addr) = super::fake_listener("fake Cloudflare")
            .await
            .expect("fake Cloudflare listener");
        let task = super::serve_fake(listener, app);
        Self {
            api_base: format!("http://{addr}/client/v4"),
            fake,
            task,
        }
    }

    /// Records created and deleted so far.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.fake.inner.lock().expect("fake Cloudflare state");
        (inner.created, inner.deleted)
    }

    /// Records held now.
    pub fn records(&self) -> Vec<FakeRecord> {
        self.fake
            .inner
            .lock()
            .expect("fake Cloudflare state")
            .records
            .values()
            .cloned()
            .collect()
    }
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.task.abort();
    }
}
