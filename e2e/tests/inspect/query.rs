//! The local API over HTTP: filters and cursor paging, and the HAR and cURL exports.

use super::setup;
use fdt_agent_core::InspectConfig;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_cursor_paging_over_the_local_api() {
    let (stack, _origin, agent) = setup(&["fa", "fb"], InspectConfig::default()).await;
    for i in 0..8 {
        let body = if i == 5 { "find the needle" } else { "hay" };
        agent
            .http
            .post(stack.http_url("fa", &format!("/echo?i={i}")))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    for i in 0..4 {
        agent
            .http
            .get(stack.http_url("fb", &format!("/missing/{i}")))
            .send()
            .await
            .unwrap();
    }
    let all = agent.wait_requests("limit=100", 12).await.unwrap();
    assert_eq!(all.len(), 12);
    let count = |q: &'static str| {
        let agent = &agent;
        async move {
            let r = agent.get(&format!("/api/requests/http?{q}")).await.unwrap();
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()["requests"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("tunnel_name=fb").await, 4);
    assert_eq!(count("status=4xx").await, 4);
    assert_eq!(count("status=200&tunnel_name=fa").await, 8);
    assert_eq!(count("method=post").await, 8);
    assert_eq!(count("path=%2Fecho%3Fi%3D3").await, 1);
    assert_eq!(count("body=needle").await, 1);
    // Pages of 5, newest first, no gaps or repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/requests/http?limit=5&before={c}"),
            None => "/api/requests/http?limit=5".to_string(),
        };
        let v = agent.get(&q).await.unwrap().json();
        seen.extend(
            v["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        match v["next"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(seen, ids);
    // Bad input answers with the JSON error shape.
    let bad = agent.get("/api/requests/http?status=9xx").await.unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("9xx")
    );
    let missing = agent.get("/api/requests/http/ex_999999").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    // The DNS-rebinding guard covers the new routes.
    let foreign = agent
        .http
        .get(agent.api_url("/api/requests/http"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Clearing empties the list.
    assert_eq!(
        agent.delete("/api/requests/http").await.unwrap().status,
        204
    );
    assert_eq!(count("").await, 0);
}

/// The fields HAR 1.2 requires of an entry that are missing from `e`.
fn har_missing(e: &Value) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 22] = [
        ("startedDateTime", e["startedDateTime"].is_string()),
        ("time", e["time"].is_number()),
        ("request.method", e["request"]["method"].is_string()),
        ("request.url", e["request"]["url"].is_string()),
        (
            "request.httpVersion",
            e["request"]["httpVersion"].is_string(),
        ),
        ("request.headers", e["request"]["headers"].is_array()),
        (
            "request.queryString",
            e["request"]["queryString"].is_array(),
        ),
        ("request.cookies", e["request"]["cookies"].is_array()),
        (
            "request.headersSize",
            e["request"]["headersSize"].is_number(),
        ),
        ("request.bodySize", e["request"]["bodySize"].is_number()),
        ("response.status", e["response"]["status"].is_number()),
        (
            "response.statusText",
            e["response"]["statusText"].is_string(),
        ),
        (
            "response.httpVersion",
            e["response"]["httpVersion"].is_string(),
        ),
        ("response.headers", e["response"]["headers"].is_array()),
        ("response.cookies", e["response"]["cookies"].is_array()),
        (
            "response.content.size",
            e["response"]["content"]["size"].is_number(),
        ),
        (
            "response.content.mimeType",
            e["response"]["content"]["mimeType"].is_string(),
        ),
        (
            "response.redirectURL",
            e["response"]["redirectURL"].is_string(),
        ),
        (
            "response.headersSize",
            e["response"]["headersSize"].is_number(),
        ),
        ("response.bodySize", e["response"]["bodySize"].is_number()),
        ("cache", e["cache"].is_object()),
        (
            "timings",
            ["send", "wait", "receive"]
                .iter()
                .all(|k| e["timings"][k].as_f64().is_some_and(|t| t >= 0.0)),
        ),
    ];
    checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn har_and_curl_exports_are_valid() {
    let (stack, _origin, agent) = setup(&["har"], InspectConfig::default()).await;
    agent
        .http
        .post(stack.http_url("har", "/echo?a=1&b=x%20y"))
        .header("Cookie", "s=1; t=2")
        .header("Content-Type", "application/json")
        .body("{\"k\":\"it's\"}")
        .send()
        .await
        .unwrap();
    agent
        .http
        .get(stack.http_url("har", "/missing"))
        .send()
        .await
        .unwrap();
    let list = agent.wait_requests("", 2).await.unwrap();
    let r = agent.get("/api/requests/http/har").await.unwrap();
    assert_eq!(r.status, 200);
    let disposition = r.header("content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let doc = r.json();
    assert_eq!(doc["log"]["version"], "1.2");
    assert!(doc["log"]["creator"]["name"].is_string());
    assert!(doc["log"]["creator"]["version"].is_string());
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(har_missing(e), Vec::<&str>::new(), "{e}");
    }
    // Oldest first, as HAR lists them.
    let post = &entries[0];
    assert_eq!(post["request"]["method"], "POST");
    assert!(
        post["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/echo?a=1&b=x%20y")
    );
    assert_eq!(
        post["request"]["queryString"][1],
        json!({"name": "b", "value": "x y"})
    );
    assert_eq!(
        post["request"]["cookies"][1],
        json!({"name": "t", "value": "2"})
    );
    assert_eq!(post["request"]["postData"]["mimeType"], "application/json");
    assert_eq!(post["request"]["postData"]["text"], "{\"k\":\"it's\"}");
    assert_eq!(entries[1]["response"]["status"], 404);
    assert_eq!(entries[1]["response"]["statusText"], "Not Found");

    let id = list[1]["id"].as_str().unwrap();
    let one = agent
        .get(&format!("/api/requests/http/{id}/har"))
        .await
        .unwrap();
    assert!(one.header("content-disposition").starts_with("attachment"));
    assert_eq!(one.json()["log"]["entries"].as_array().unwrap().len(), 1);
    let curl = agent
        .get(&format!("/api/requests/http/{id}/curl"))
        .await
        .unwrap();
    assert!(curl.header("content-type").starts_with("text/plain"));
    assert!(curl.text.starts_with("curl -X POST"), "{}", curl.text);
    assert!(curl.text.contains("-H 'cookie: s=1; t=2'"), "{}", curl.text);
    assert!(
        curl.text.contains("\"{\\\"k\\\":\\\"it's\\\"}\"")
            || curl.text.contains("'{\"k\":\"it'\"'\"'s\"}'"),
        "{}",
        curl.text
    );
}
