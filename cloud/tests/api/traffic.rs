//! The cloud traffic log and replays: relays send batches (headers redacted on arrival, bodies
//! kept only on plans that include them), accounts list/filter/page their own records, old
//! records and their bodies expire with the plan's retention, and replays travel as jobs through
//! the owning relay's heartbeat and come back with the local service's answer.

use super::fleet::{Relay, SECRET, account, app, atk};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use fdt_api::{AccountId, Plan};
use serde_json::{Value, json};

on_both_databases!(
    relays_log_requests_redacted_and_accounts_read_only_their_own,
    retention_deletes_expired_records_and_their_bodies,
    replays_are_queued_delivered_through_the_relay_and_recorded,
);

fn req_id(n: u32) -> String {
    format!("req_{:0>22}", n)
}

fn report(
    id: &str,
    account: &str,
    tunnel: &str,
    status: u16,
    path: &str,
    started_at_ms: i64,
) -> Value {
    json!({
        "id": id, "account_id": account, "tunnel_id": tunnel,
        "method": "POST", "host": "shop.localhost", "name": "shop", "path": path, "status": status,
        "request_headers": [["Authorization", "Bearer secret"], ["Cookie", "s=1"], ["X-Api-Key", "k"], ["Content-Type", "application/json"]],
        "response_headers": [["Set-Cookie", "s=2"], ["Content-Type", "text/plain"]],
        "bytes_in": 13, "bytes_out": 2, "duration_ms": 7, "visitor_ip": "203.0.113.9",
        "started_at_ms": started_at_ms,
        "request_body": B64.encode("{\"order\": 42}"), "response_body": B64.encode("ok"),
    })
}

async fn send(app: &TestApp, requests: Vec<Value>) -> crate::common::TestResponse {
    app.post(
        "/v1/relay/requests",
        json!({"relay_id": "eu-1", "requests": requests}),
        Some(SECRET),
    )
    .await
}

fn now_ms(app: &TestApp) -> i64 {
    let now = fdt_cloud::clock::Clock::now(app.clock.as_ref());
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// A relay with account A's `shop` tunnel bound; returns (relay, tunnel ID).
async fn setup(app: &TestApp, a: &str) -> (Relay, String) {
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(app, json!({})).await;
    let b = relay
        .bind(app, a, &atk(1), json!({"subdomain": "shop"}))
        .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.json);
    (relay, b.json["tunnel_id"].as_str().unwrap().to_owned())
}

async fn relays_log_requests_redacted_and_accounts_read_only_their_own(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "log-a@example.com").await;
    let (tb, _) = account(&app, "log-b@example.com").await;
    let a_id: AccountId = a.parse().unwrap();
    app.state
        .store()
        .set_account_plan(&a_id, Plan::Pro)
        .await
        .unwrap();
    let (_relay, tunnel) = setup(&app, &a).await;
    let t0 = now_ms(&app);
    let batch: Vec<Value> = (1..=5)
        .map(|i| {
            report(
                &req_id(i),
                &a,
                &tunnel,
                if i == 3 { 502 } else { 200 },
                &format!("/orders/{i}"),
                t0 + i64::from(i),
            )
        })
        .collect();
    let r = send(&app, batch.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["stored"], 5);
    // Resent (the relay lost the answer): nothing stored twice.
    assert_eq!(send(&app, batch).await.json["stored"], 0);

    let list = app.get("/v1/requests", Some(&ta.access)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.json);
    let reqs = list.json["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 5);
    assert_eq!(reqs[0]["path"], "/orders/5", "newest first");
    let headers = &reqs[0]["request_headers"];
    assert_eq!(headers[0], json!(["Authorization", "[redacted]"]));
    assert_eq!(headers[1], json!(["Cookie", "[redacted]"]));
    assert_eq!(headers[3], json!(["Content-Type", "application/json"]));
    assert_eq!(
        reqs[0]["response_headers"][0],
        json!(["Set-Cookie", "[redacted]"])
    );
    assert_eq!(reqs[0]["has_request_body"], true);

    // Filters and paging.
    let five = app.get("/v1/requests?status=5xx", Some(&ta.access)).await;
    assert_eq!(five.json["requests"].as_array().unwrap().len(), 1);
    assert_eq!(five.json["requests"][0]["status"], 502);
    let path = app
        .get("/v1/requests?path=orders/2&method=post", Some(&ta.access))
        .await;
    assert_eq!(path.json["requests"][0]["path"], "/orders/2");
    let by_tunnel = app
        .get(
            &format!("/v1/requests?tunnel_id={tunnel}&limit=2"),
            Some(&ta.access),
        )
        .await;
    let page1 = by_tunnel.json["requests"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    let next = by_tunnel.json["next"].as_str().unwrap().to_owned();
    let p2 = app
        .get(
            &format!("/v1/requests?tunnel_id={tunnel}&limit=2&before={next}"),
            Some(&ta.access),
        )
        .await;
    let page2 = p2.json["requests"].as_array().unwrap();
    assert_eq!(page2[0]["path"], "/orders/3");
    let next = p2.json["next"].as_str().unwrap().to_owned();
    let p3 = app
        .get(
            &format!("/v1/requests?limit=2&before={next}"),
            Some(&ta.access),
        )
        .await;
    assert_eq!(p3.json["requests"].as_array().unwrap().len(), 1);
    assert!(p3.json.get("next").is_none(), "last page: {}", p3.json);
    for bad in ["status=6xx", "before=garbage", "limit=x", "colour=red"] {
        let r = app
            .get(&format!("/v1/requests?{bad}"), Some(&ta.access))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
    }

    // One record, and its bodies.
    let id = req_id(1);
    let one = app
        .get(&format!("/v1/requests/{id}"), Some(&ta.access))
        .await;
    assert_eq!(one.json["visitor_ip"], "203.0.113.9");
    let body = app
        .get(&format!("/v1/requests/{id}/request-body"), Some(&ta.access))
        .await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(&body.raw[..], b"{\"order\": 42}");
    assert_eq!(body.headers["x-content-type-options"], "nosniff");
    let body = app
        .get(
            &format!("/v1/requests/{id}/response-body"),
            Some(&ta.access),
        )
        .await;
    assert_eq!(&body.raw[..], b"ok");

    // Account B sees nothing of A's.
    assert_eq!(
        app.get("/v1/requests", Some(&tb.access)).await.json["requests"],
        json!([])
    );
    for path in [
        format!("/v1/requests/{id}"),
        format!("/v1/requests/{id}/request-body"),
    ] {
        app.get(&path, Some(&tb.access))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    app.post(
        &format!("/v1/requests/{id}/replay"),
        json!({}),
        Some(&tb.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Free plans keep no bodies, whatever the relay sends.
    let (_, c) = account(&app, "log-c@example.com").await;
    let r = send(&app, vec![report(&req_id(9), &c, &tunnel, 200, "/x", t0)]).await;
    assert_eq!(r.json["stored"], 1);
    let row = app
        .state
        .store()
        .request(&c.parse().unwrap(), &req_id(9).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!row.record.has_request_body && !row.record.has_response_body);

    // Malformed batches store nothing.
    let before = app.get("/v1/requests", Some(&ta.access)).await.json["requests"]
        .as_array()
        .unwrap()
        .len();
    let mut bad = report(&req_id(20), &a, &tunnel, 200, "/bad", t0);
    bad["request_body"] = json!("not base64!");
    send(
        &app,
        vec![report(&req_id(21), &a, &tunnel, 200, "/ok", t0), bad],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    let r = app
        .post(
            "/v1/relay/requests",
            json!({"relay_id": "eu-1", "requests": [{"id": "x"}]}),
            Some(SECRET),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    let orphan = db.dir().join("bodies/requests").join(&a).join(req_id(21));
    assert!(
        !orphan.exists(),
        "a refused batch leaves no body behind: {orphan:?} {:?}",
        std::fs::read_dir(&orphan).map(|d| d.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())
    );
    let after = app.get("/v1/requests", Some(&ta.access)).await.json["requests"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    app.post(
        "/v1/relay/requests",
        json!({"relay_id": "eu-1", "requests": []}),
        Some(&ta.access),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn retention_deletes_expired_records_and_their_bodies(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "keep@example.com").await;
    let a_id: AccountId = a.parse().unwrap();
    app.state
        .store()
        .set_account_plan(&a_id, Plan::Pro)
        .await
        .unwrap(); // 7 days
    let (_relay, tunnel) = setup(&app, &a).await;
    let t0 = now_ms(&app);
    let day = 24 * 3600 * 1000;
    send(
        &app,
        vec![
            report(&req_id(1), &a, &tunnel, 200, "/old", t0 - 8 * day),
            report(&req_id(2), &a, &tunnel, 200, "/recent", t0 - day - 60_000),
        ],
    )
    .await;
    let body_file = db
        .dir()
        .join("bodies/requests")
        .join(&a)
        .join(req_id(1))
        .join("request");
    assert!(body_file.is_file(), "{body_file:?}");

    let gone = fdt_cloud::retention::sweep(&app.state).await.unwrap();
    assert_eq!(gone, 1);
    assert!(
        !body_file.exists(),
        "the expired record's body is deleted too"
    );
    let list = app.get("/v1/requests", Some(&ta.access)).await;
    let paths: Vec<&str> = list.json["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/recent"]);

    // Moving to the free plan (1 day) expires the other one at the next sweep.
    app.state
        .store()
        .set_account_plan(&a_id, Plan::Free)
        .await
        .unwrap();
    assert_eq!(fdt_cloud::retention::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(
        app.get("/v1/requests", Some(&ta.access)).await.json["requests"],
        json!([])
    );
}

async fn replays_are_queued_delivered_through_the_relay_and_recorded(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "replay@example.com").await;
    let a_id: AccountId = a.parse().unwrap();
    app.state
        .store()
        .set_account_plan(&a_id, Plan::Pro)
        .await
        .unwrap();
    let (mut relay, tunnel) = setup(&app, &a).await;
    send(
        &app,
        vec![report(&req_id(1), &a, &tunnel, 200, "/hook", now_ms(&app))],
    )
    .await;
    let path = format!("/v1/requests/{}/replay", req_id(1));

    // Edits that could aim the replay elsewhere are refused.
    for modify in [
        json!({"path": "http://169.254.169.254/latest/meta-data"}),
        json!({"path": "//evil.example/"}),
        json!({"set_headers": [["Host", "127.0.0.1:22"]]}),
        json!({"method": "get lost"}),
    ] {
        let r = app
            .post(&path, json!({"modify": modify}), Some(&ta.access))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    }

    let first = app
        .post(
            &path,
            json!({"modify": {"path": "/hook?replayed=1", "set_headers": [["X-Replay", "yes"]]}}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.json);
    assert_eq!(first.json["state"], "queued");
    let job = first.json["id"].as_str().unwrap().to_owned();

    // The same Idempotency-Key returns the same job.
    let keyed = |key: &str| {
        TestApp::request(axum::http::Method::POST, &path, Some(&ta.access), None)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(axum::body::Body::from("{}"))
            .unwrap()
    };
    let k1 = app.call(keyed("k-1")).await;
    assert_eq!(k1.status, StatusCode::ACCEPTED);
    let k2 = app.call(keyed("k-1")).await;
    assert_eq!(k2.status, StatusCode::OK);
    assert_eq!(k1.json["id"], k2.json["id"]);

    // The next heartbeat of the relay holding the tunnel carries the orders.
    let ack = relay.beat(&app, json!({})).await;
    let orders = ack["replays"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{ack}");
    let order = orders.iter().find(|o| o["job_id"] == job).unwrap();
    assert_eq!(order["tunnel_id"], tunnel);
    assert_eq!(order["path"], "/hook?replayed=1");
    let names: Vec<&str> = order["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"X-Replay") && names.contains(&"Content-Type"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"Authorization"),
        "redacted headers are not replayed: {names:?}"
    );
    assert_eq!(
        B64.decode(order["body"].as_str().unwrap()).unwrap(),
        b"{\"order\": 42}"
    );
    let state = app
        .get(&format!("/v1/replays/{job}"), Some(&ta.access))
        .await;
    assert_eq!(
        (
            state.json["state"].as_str(),
            state.json["attempts"].as_u64()
        ),
        (Some("sent"), Some(1))
    );
    // Not sent again while the relay is within its answer window.
    let ack = relay.beat(&app, json!({})).await;
    assert_eq!(ack["replays"], json!([]));

    // The relay reports the result; the job is done with the local service's status.
    relay
        .beat(
            &app,
            json!({"replay_results": [{"job_id": job, "status": 201}]}),
        )
        .await;
    let done = app
        .get(&format!("/v1/replays/{job}"), Some(&ta.access))
        .await;
    assert_eq!(done.json["state"], "done");
    assert_eq!(done.json["status"], 201);

    // An unanswered job is sent again after the resend window (at least once).
    app.clock.advance(time::Duration::seconds(31));
    let ack = relay.beat(&app, json!({})).await;
    let again = ack["replays"].as_array().unwrap();
    assert_eq!(again.len(), 1, "the keyed job again: {ack}");
    assert_eq!(again[0]["job_id"], k1.json["id"]);
    relay.beat(&app, json!({"replay_results": [{"job_id": k1.json["id"], "error": "local service refused the connection"}]})).await;
    let failed = app
        .get(
            &format!("/v1/replays/{}", k1.json["id"].as_str().unwrap()),
            Some(&ta.access),
        )
        .await;
    assert_eq!(failed.json["state"], "failed");
    assert_eq!(failed.json["attempts"], 2);
}
