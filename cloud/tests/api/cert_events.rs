//! Certificate events from other clusters: provenance checked on ingest (a bad HMAC, an old
//! timestamp, an unknown cluster are refused and counted, and store nothing), stored once per
//! cluster and event ID, applied (replication status, incidents, revocation), listed and
//! replayed by operators.

use super::domains::incidents;
use super::fleet::SECRET;
use crate::common::{TestApp, TestDb};
use axum::body::Body;
use axum::http::{Method, StatusCode};
use fdt_api::domains::cert_event::{
    CLUSTER_HEADER, Provenance, SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER, TOLERANCE_SECS,
};
use fdt_cloud::config::EventCluster;
use fdt_cloud::secret::Secret;
use fdt_cloud::testing::acme::ChallTestSrv;
use serde_json::{Value, json};

on_both_databases!(
    events_with_bad_provenance_are_refused_counted_and_not_stored,
    installs_give_replication_status_and_operators_replay_events,
);

const EU_KEY: &str = "eu cluster key, at least thirty-two characters";
const EU_NEXT_KEY: &str = "eu cluster key after the roll, thirty-two+";
const US_KEY: &str = "us cluster key, at least thirty-two characters";

fn app(db: &TestDb, dns: &ChallTestSrv) -> TestApp {
    let dns = dns.dns;
    TestApp::with_config(db, |c| {
        c.relay_secrets = vec![Secret::new(SECRET.into())];
        c.domains.nameservers = vec![dns];
        c.domains.base_domain = "fdt.test".into();
        c.domains.cname_zone = "cname.fdt.test".into();
        c.domains.clusters = vec![
            EventCluster {
                name: "eu".into(),
                keys: vec![Secret::new(EU_KEY.into()), Secret::new(EU_NEXT_KEY.into())],
            },
            EventCluster {
                name: "us".into(),
                keys: vec![Secret::new(US_KEY.into())],
            },
        ];
    })
}

/// Sends `body` as `cluster`/`source`, signed at `at` (Unix seconds) with `key`.
async fn send(
    app: &TestApp,
    (cluster, source, at): (&str, &str, i64),
    key: &str,
    body: &str,
) -> crate::common::TestResponse {
    let p = Provenance {
        cluster: cluster.into(),
        source: source.into(),
        timestamp: at,
    };
    let sig = p.sign(key.as_bytes(), body.as_bytes());
    send_raw(app, &p, &sig, body).await
}

async fn send_raw(
    app: &TestApp,
    p: &Provenance,
    signature: &str,
    body: &str,
) -> crate::common::TestResponse {
    let req = TestApp::request(Method::POST, "/v1/cert-events", None, None)
        .header("content-type", "application/json")
        .header(CLUSTER_HEADER, &p.cluster)
        .header(SOURCE_HEADER, &p.source)
        .header(TIMESTAMP_HEADER, p.timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.call(req).await
}

fn now(app: &TestApp) -> i64 {
    app.state.clock().now().unix_timestamp()
}

/// A verified domain `name` of a new pro account with an uploaded certificate: (token, id).
async fn certified(app: &TestApp, dns: &ChallTestSrv, email: &str, name: &str) -> (String, String) {
    let (t, id) = super::fleet::account(app, email).await;
    let id: fdt_api::AccountId = id.parse().unwrap();
    app.state
        .store()
        .set_account_plan(&id, fdt_api::Plan::Pro)
        .await
        .unwrap();
    let r = app
        .post("/v1/domains", json!({"domain": name}), Some(&t.access))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let did = r.json["id"].as_str().unwrap().to_owned();
    dns.set_txt(
        &format!("_fdt-challenge.{name}"),
        r.json["txt"]["value"].as_str().unwrap(),
    )
    .await;
    let r = app
        .post(
            &format!("/v1/domains/{did}/verify"),
            json!({}),
            Some(&t.access),
        )
        .await;
    assert_eq!(r.json["state"], "verified", "{}", r.json);
    upload(app, &t.access, &did, name).await;
    (t.access, did)
}

async fn upload(app: &TestApp, token: &str, id: &str, name: &str) -> i64 {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let chain = params.self_signed(&key).unwrap().pem();
    let r = app
        .put(
            &format!("/v1/domains/{id}/certificate"),
            json!({"chain_pem": chain, "key_pem": key.serialize_pem()}),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["certificate"]["version"].as_i64().unwrap()
}

async fn admin_events(app: &TestApp, ops: &str) -> Vec<Value> {
    let r = app.get("/v1/admin/cert-events", Some(ops)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["events"].as_array().unwrap().clone()
}

async fn events_with_bad_provenance_are_refused_counted_and_not_stored(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let ops = app.operator("ops@example.com").await;
    let (ta, id) = certified(&app, &dns, "a@example.com", "app.example.test").await;
    let (_, b_domain) = certified(&app, &dns, "b@example.com", "b.example.test").await;
    let body = |eid: &str| {
        json!({"id": eid, "domain": "app.example.test", "kind": "failed", "detail": "order 7 refused"})
            .to_string()
    };
    let t = now(&app);
    let refused = |r: crate::common::TestResponse, why: &str| {
        r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        let msg = r.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(msg.contains(why), "{why}: {}", r.json);
    };

    // A bad HMAC: signed with another cluster's key, with no key, or the body changed after
    // signing.
    refused(
        send(&app, ("eu", "cm-1", t), US_KEY, &body("e1")).await,
        "bad signature",
    );
    refused(
        send(&app, ("eu", "cm-1", t), "", &body("e1")).await,
        "bad signature",
    );
    let p = Provenance {
        cluster: "eu".into(),
        source: "cm-1".into(),
        timestamp: t,
    };
    let sig = p.sign(EU_KEY.as_bytes(), body("e1").as_bytes());
    refused(send_raw(&app, &p, &sig, &body("e2")).await, "bad signature");
    // A signature made for another source does not carry over.
    let other = Provenance {
        source: "cm-2".into(),
        ..p.clone()
    };
    refused(
        send_raw(&app, &other, &sig, &body("e1")).await,
        "bad signature",
    );
    // An old timestamp (a replay of a captured event) and one from the future, correctly
    // signed.
    let old = t - TOLERANCE_SECS - 1;
    refused(
        send(&app, ("eu", "cm-1", old), EU_KEY, &body("e1")).await,
        "tolerance",
    );
    let ahead = t + TOLERANCE_SECS + 1;
    refused(
        send(&app, ("eu", "cm-1", ahead), EU_KEY, &body("e1")).await,
        "tolerance",
    );
    // An unknown cluster, whatever key it signs with.
    refused(
        send(&app, ("ap", "cm-1", t), EU_KEY, &body("e1")).await,
        "unknown cluster",
    );
    // Missing or malformed provenance.
    let r = app.post("/v1/cert-events", json!({}), None).await;
    refused(r, "provenance");
    let bad = Provenance {
        cluster: "eu:x".into(),
        ..p.clone()
    };
    refused(send_raw(&app, &bad, &sig, &body("e1")).await, "provenance");

    // Nothing was stored or applied, and every refusal was counted by reason.
    assert_eq!(admin_events(&app, &ops).await, Vec::<Value>::new());
    assert_eq!(incidents(&app, &ta, &id).await, Vec::<Value>::new());
    let counts = app.get("/v1/admin/cert-events/refusals", Some(&ops)).await;
    assert_eq!(
        counts.json,
        json!({"malformed": 2, "unknown_cluster": 1, "stale": 2, "bad_signature": 4, "unknown_domain": 0}),
    );
    // Only operators see the counts.
    app.get("/v1/admin/cert-events/refusals", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Signed right, at the edge of the tolerance, with the cluster's second key: applied.
    let r = send(
        &app,
        ("eu", "cm-1", t - TOLERANCE_SECS),
        EU_NEXT_KEY,
        &body("e1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["duplicate"], false);
    assert_eq!(r.json["outcome"], "incident_opened");
    let open = incidents(&app, &ta, &id).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["kind"], "renewal_failed");
    assert_eq!(open[0]["detail"], "reported by cm-1 in eu: order 7 refused");
    // The same event again (a retry, or a captured copy inside the window): a duplicate,
    // nothing applied twice.
    let r = send(&app, ("eu", "cm-1", t), EU_KEY, &body("e1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["duplicate"], true);
    assert_eq!(admin_events(&app, &ops).await.len(), 1);
    // The same ID from another cluster is another event.
    let r = send(&app, ("us", "cm-9", t), US_KEY, &body("e1")).await;
    assert_eq!(r.json["outcome"], "incident_already_open", "{}", r.json);

    // Signed, but about a name not verified here, or naming another row of the name: 404,
    // counted.
    let unknown = json!({"id": "e3", "domain": "nope.example.test", "kind": "issued"}).to_string();
    send(&app, ("eu", "cm-1", t), EU_KEY, &unknown)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let wrong_row = json!({"id": "e4", "domain": "app.example.test", "kind": "issued",
        "domain_id": b_domain})
    .to_string();
    send(&app, ("eu", "cm-1", t), EU_KEY, &wrong_row)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // Bad fields name the field.
    let no_version =
        json!({"id": "e5", "domain": "app.example.test", "kind": "installed"}).to_string();
    let r = send(&app, ("eu", "cm-1", t), EU_KEY, &no_version).await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(r.json["error"]["field"], "version", "{}", r.json);
    let counts = app.get("/v1/admin/cert-events/refusals", Some(&ops)).await;
    assert_eq!(counts.json["unknown_domain"], 2, "{}", counts.json);
    assert_eq!(counts.json["bad_signature"], 4, "{}", counts.json);

    // Operators acknowledge and resolve any account's incident (the owner sees who); owners
    // cannot use the operators' route.
    let path = format!("/v1/admin/domains/{id}/incidents");
    let listed = app.get(&path, Some(&ops)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    let n = listed.json["incidents"][0]["id"].as_i64().unwrap();
    app.post(&format!("{path}/{n}/ack"), json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let acked = app
        .post(&format!("{path}/{n}/ack"), json!({}), Some(&ops))
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.json);
    assert!(
        acked.json["incidents"][0]["acked_by"].is_string(),
        "{}",
        acked.json
    );
    let resolved = app
        .post(&format!("{path}/{n}/resolve"), json!({}), Some(&ops))
        .await;
    assert!(
        resolved.json["incidents"][0]["resolved_at"].is_string(),
        "{}",
        resolved.json
    );
    assert!(incidents(&app, &ta, &id).await[0]["resolved_at"].is_string());
    app.post(&format!("{path}/999999/resolve"), json!({}), Some(&ops))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let actions: Vec<String> = app
        .audit_actions(&ops)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| a.starts_with("domain.incident."))
        .collect();
    assert_eq!(actions, ["domain.incident.resolve", "domain.incident.ack"]);
}

async fn installs_give_replication_status_and_operators_replay_events(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let ops = app.operator("ops@example.com").await;
    let (ta, id) = certified(&app, &dns, "a@example.com", "rep.example.test").await;
    let (tb, _) = certified(&app, &dns, "b@example.com", "other.example.test").await;
    let t = now(&app);
    let installed = |eid: &str, v: i64| {
        json!({"id": eid, "domain": "rep.example.test", "domain_id": id, "kind": "installed", "version": v})
            .to_string()
    };
    let replication = |token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            let r = app
                .get(&format!("/v1/domains/{id}/replication"), Some(&token))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.json);
            r.json
        }
    };
    // No relay has reported yet.
    let r = replication(ta.clone()).await;
    assert_eq!(r["certificate_version"], 1);
    assert_eq!(r["replicas"], json!([]));

    // Two relays in eu and one in us install version 1.
    for (cluster, relay, key) in [
        ("eu", "relay-eu-1", EU_KEY),
        ("eu", "relay-eu-2", EU_KEY),
        ("us", "relay-us-1", US_KEY),
    ] {
        let r = send(
            &app,
            (cluster, relay, t),
            key,
            &installed(&format!("{relay}-1"), 1),
        )
        .await;
        assert_eq!(r.json["outcome"], "replica_updated", "{}", r.json);
    }
    let r = replication(ta.clone()).await;
    assert_eq!(r["current_clusters"], json!(["eu", "us"]), "{r}");
    assert_eq!(r["replicas"].as_array().unwrap().len(), 3);
    // Another account does not see it.
    app.get(&format!("/v1/domains/{id}/replication"), Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Version 2 is uploaded; one eu relay has it. eu is no longer all current.
    assert_eq!(upload(&app, &ta, &id, "rep.example.test").await, 2);
    let r = send(
        &app,
        ("eu", "relay-eu-1", t),
        EU_KEY,
        &installed("relay-eu-1-2", 2),
    )
    .await;
    assert_eq!(r.json["outcome"], "replica_updated");
    let r = replication(ta.clone()).await;
    assert_eq!(r["certificate_version"], 2);
    assert_eq!(r["current_clusters"], json!([]), "{r}");
    let eu1 = &r["replicas"][0];
    assert_eq!(
        (
            eu1["source"].as_str(),
            eu1["version"].as_i64(),
            eu1["current"].as_bool()
        ),
        (Some("relay-eu-1"), Some(2), Some(true))
    );
    // A late report of version 1 from the same relay does not move it back; a version that
    // does not exist is not recorded.
    let r = send(
        &app,
        ("eu", "relay-eu-1", t),
        EU_KEY,
        &installed("relay-eu-1-late", 1),
    )
    .await;
    assert_eq!(r.json["outcome"], "replica_already_newer");
    let r = send(
        &app,
        ("eu", "relay-eu-2", t),
        EU_KEY,
        &installed("relay-eu-2-9", 9),
    )
    .await;
    assert_eq!(r.json["outcome"], "unknown_version");
    let r = replication(ta.clone()).await;
    assert_eq!(r["replicas"][0]["version"], 2);
    assert_eq!(r["replicas"][1]["version"], 1);

    // A revocation of the certificate in service: an incident, and the certificate is due for
    // renewal now. A newer certificate closes the incident.
    let revoked = json!({"id": "cm-rev-1", "domain": "rep.example.test", "kind": "revoked", "version": 2, "detail": "key compromise"}).to_string();
    let r = send(&app, ("us", "cm-1", t), US_KEY, &revoked).await;
    assert_eq!(r.json["outcome"], "renewal_due", "{}", r.json);
    let open = incidents(&app, &ta, &id).await;
    assert_eq!(
        (open[0]["kind"].as_str(), open[0]["resolved_at"].is_null()),
        (Some("revoked"), true)
    );
    let due = app
        .state
        .store()
        .domains_needing_certificates(app.state.clock().now(), 10)
        .await
        .unwrap();
    assert!(due.iter().any(|d| d.id.as_str() == id), "{due:?}");
    assert_eq!(upload(&app, &ta, &id, "rep.example.test").await, 3);
    assert!(incidents(&app, &ta, &id).await[0]["resolved_at"].is_string());
    // The domain's own event list shows where reports came from.
    let ev = app
        .get(&format!("/v1/domains/{id}/events"), Some(&ta))
        .await;
    let revoked_event = ev.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "revoked")
        .cloned()
        .unwrap();
    assert_eq!(
        revoked_event["detail"],
        "reported by cm-1 in us: key compromise (version 2)"
    );

    // Operators list events with their provenance, newest first, per domain.
    let list = app
        .get(
            &format!("/v1/admin/cert-events?domain_id={id}&limit=2"),
            Some(&ops),
        )
        .await;
    let events = list.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{}", list.json);
    assert_eq!(events[0]["kind"], "revoked");
    assert_eq!(events[0]["cluster"], "us");
    assert_eq!(events[0]["source"], "cm-1");
    assert_eq!(events[0]["event_id"], "cm-rev-1");
    assert_eq!(
        events[0]["signed_at"],
        time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let installed_seq = admin_events(&app, &ops)
        .await
        .into_iter()
        .find(|e| e["event_id"] == "relay-eu-2-1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // A replay re-checks the signature and applies the event again, harmlessly: eu-2's replica
    // stays at version 1. It is audited; only operators may.
    let path = format!("/v1/admin/cert-events/{installed_seq}/replay");
    app.post(&path, json!({}), Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // Ten minutes later (past the five-minute tolerance), a replay is still allowed.
    app.clock.advance(time::Duration::minutes(10));
    let ops = app
        .login("ops@example.com", crate::common::PASSWORD)
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.post(&path, json!({}), Some(&ops)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["replays"], 1);
    assert_eq!(r.json["outcome"], "replica_already_newer");
    app.post("/v1/admin/cert-events/999999/replay", json!({}), Some(&ops))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.audit_actions(&ops).await;
    assert!(
        audit.contains(&("cert_event.replay".into(), installed_seq.to_string())),
        "{audit:?}"
    );

    // Once the domain is deleted, its events cannot be replayed onto anything.
    let r = app.delete(&format!("/v1/domains/{id}"), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.post(&path, json!({}), Some(&ops))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}
