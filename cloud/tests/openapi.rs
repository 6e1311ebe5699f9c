//! `GET /v1/openapi.json`: the document is well formed, and it and the router agree on every
//! (method, path).
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use common::{TestApp, TestDb};
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn fetch(app: &TestApp) -> Value {
    let r = app.get("/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK, "no auth needed: {}", r.json);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    assert!(r.json.is_object(), "not JSON: {:?}", r.raw);
    r.json
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            ops.push((method.clone(), path.clone()));
        }
    }
    ops
}

/// A concrete URI for a templated path.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "tok_0123456789abcdefghijkl"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(app: &TestApp, method: &str, path: &str) -> common::TestResponse {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let req = TestApp::request(method, &concrete(path), None, None)
        .body(Body::empty())
        .unwrap();
    app.call(req).await
}

/// Whether the router itself turned the request away (no route, or not that method).
fn unrouted(r: &common::TestResponse) -> bool {
    (r.status == StatusCode::NOT_FOUND && r.code() == "not_found")
        || (r.status == StatusCode::METHOD_NOT_ALLOWED && r.code() == "method_not_allowed")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let db = TestDb::sqlite().await;
    let app = TestApp::new(&db);
    let doc = fetch(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 10, "{ops:?}");

    // The check can tell: an unknown path and an unknown method are turned away.
    assert!(unrouted(&call(&app, "get", "/v1/no-such-route").await));
    assert!(unrouted(&call(&app, "put", "/v1/auth/me").await));

    for (method, path) in &ops {
        let r = call(&app, method, path).await;
        assert!(
            !unrouted(&r),
            "documented {method} {path} is not routed: {} {}",
            r.status,
            r.json
        );
    }

    // On a documented path, every undocumented method is the router's 405.
    let documented: BTreeSet<_> = ops.iter().cloned().collect();
    let paths: BTreeSet<_> = ops.iter().map(|(_, p)| p.clone()).collect();
    for path in &paths {
        for method in METHODS {
            if documented.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let r = call(&app, method, path).await;
            // SCIM clients get SCIM's error body (RFC 7644 §3.12), with the status in it.
            let code = if path.starts_with("/scim/v2/") {
                r.json["status"].as_str().unwrap_or_default().to_owned()
            } else {
                r.code().to_owned()
            };
            let want = if path.starts_with("/scim/v2/") {
                "405"
            } else {
                "method_not_allowed"
            };
            assert_eq!(
                (r.status, code.as_str()),
                (StatusCode::METHOD_NOT_ALLOWED, want),
                "{method} {path} is routed but not documented"
            );
        }
    }
    db.finish().await;
}

#[tokio::test]
async fn the_document_is_well_formed() {
    let db = TestDb::sqlite().await;
    let app = TestApp::new(&db);
    let doc = fetch(&app).await;

    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for name in [
        "RegisterRequest",
        "TokenResponse",
        "CreatedAuthtoken",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }

    // Every $ref points at a component that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("$ref outside components: {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().unwrap();
        assert!(operation_ids.insert(id.to_owned()), "duplicate {id}");
        assert!(path.starts_with('/'), "{path}");

        // Path templates and parameters agree.
        let templated: BTreeSet<_> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<_> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(templated, declared, "{method} {path}");

        // Security names a declared scheme (an empty list means none).
        for req in op["security"].as_array().unwrap() {
            for scheme in req.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
            }
        }

        let responses = op["responses"].as_object().unwrap();
        // A browser leg's success is a redirect (a provider's return to the console).
        assert!(
            responses
                .keys()
                .any(|k| k.len() == 3 && (k.starts_with('2') || k.starts_with("303"))),
            "{method} {path}: no success response"
        );
        assert!(responses.contains_key("default"), "{method} {path}");
        for resp in responses.values() {
            assert!(resp["description"].is_string(), "{method} {path}");
        }
    }
    db.finish().await;
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap().to_owned());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
