//! Custom domains: created with their own TXT token and CNAME target, verified only by their
//! own token (read from a real DNS server, pebble-challtestsrv), routed, limited by plan,
//! deleted; relays see only verified domains; certificates are checked and sealed.

use super::fleet::{SECRET, account};
use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::{AccountId, Plan};
use fdt_cloud::testing::acme::ChallTestSrv;
use serde_json::{Value, json};

on_both_databases!(
    a_domain_verifies_only_with_its_own_token_and_relays_see_it_then,
    a_deleted_domain_is_not_served_until_the_new_owners_token_verifies,
    malformed_domains_are_refused_naming_the_field,
    the_plan_limits_custom_domains,
    uploaded_certificates_are_checked_sealed_and_handed_to_relays,
    an_expiring_certificate_raises_an_incident_until_a_newer_one_is_served,
);

fn app(db: &TestDb, dns: &ChallTestSrv) -> TestApp {
    let dns = dns.dns;
    TestApp::with_config(db, |c| {
        c.relay_secrets = vec![fdt_cloud::secret::Secret::new(SECRET.into())];
        c.domains.nameservers = vec![dns];
        c.domains.base_domain = "fdt.test".into();
        c.domains.cname_zone = "cname.fdt.test".into();
    })
}

/// A signed-up account on the pro plan (5 custom domains): its access token and ID.
async fn pro(app: &TestApp, email: &str) -> (String, AccountId) {
    let (t, id) = account(app, email).await;
    let id: AccountId = id.parse().unwrap();
    assert!(
        app.state
            .store()
            .set_account_plan(&id, Plan::Pro)
            .await
            .unwrap()
    );
    (t.access, id)
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/v1/domains", body, Some(token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json
}

async fn verify(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app
        .post(&format!("/v1/domains/{id}/verify"), json!({}), Some(token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

async fn served(app: &TestApp) -> Value {
    let r = app.get("/v1/relay/domains", Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json
}

async fn a_domain_verifies_only_with_its_own_token_and_relays_see_it_then(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let (ta, a) = pro(&app, "a@example.com").await;
    let (tb, _) = pro(&app, "b@example.com").await;
    let da = create(
        &app,
        &ta,
        json!({"domain": "App.Example.test.", "route": {"subdomain": "myapp"}}),
    )
    .await;
    assert_eq!(da["domain"], "app.example.test");
    assert_eq!(da["state"], "pending");
    assert_eq!(da["mode"], "terminate");
    assert_eq!(da["txt"]["name"], "_fdt-challenge.app.example.test");
    let cname = da["cname"]["value"].as_str().unwrap();
    assert!(cname.ends_with(".cname.fdt.test"), "{cname}");
    assert_eq!(
        cname.split('.').count(),
        5,
        "two random labels under the zone: {cname}"
    );
    // B claims the same name: its own row, its own token and CNAME target.
    let db_ = create(&app, &tb, json!({"domain": "app.example.test"})).await;
    assert_ne!(db_["txt"]["value"], da["txt"]["value"]);
    assert_ne!(db_["cname"]["value"], da["cname"]["value"]);

    // Nothing in DNS yet: pending, with the reason.
    let id_a = da["id"].as_str().unwrap();
    let id_b = db_["id"].as_str().unwrap();
    let v = verify(&app, &ta, id_a).await;
    assert_eq!(v["state"], "pending");
    assert!(
        v["last_error"].as_str().unwrap().contains("no TXT record"),
        "{v}"
    );

    // The record carries A's token: B's domain does not verify with it.
    dns.set_txt(
        "_fdt-challenge.app.example.test",
        da["txt"]["value"].as_str().unwrap(),
    )
    .await;
    let vb = verify(&app, &tb, id_b).await;
    assert_eq!(vb["state"], "pending", "{vb}");
    assert!(
        vb["last_error"]
            .as_str()
            .unwrap()
            .contains("does not carry this domain's token"),
        "{vb}"
    );
    assert_eq!(served(&app).await["domains"], json!([]));
    // A's does.
    let v = verify(&app, &ta, id_a).await;
    assert_eq!(v["state"], "verified", "{v}");
    assert!(v["verified_at"].is_string());
    let s = served(&app).await;
    assert_eq!(s["domains"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["domains"][0]["domain"], "app.example.test");
    assert_eq!(s["domains"][0]["account"], a.as_str());
    assert_eq!(s["domains"][0]["target"], "myapp");
    // A relay that has this version is told so, without the list; an older one gets it.
    let v = s["version"].as_i64().unwrap();
    let same = app
        .get(&format!("/v1/relay/domains?known={v}"), Some(SECRET))
        .await;
    assert_eq!(
        (&same.json["unchanged"], &same.json["domains"]),
        (&json!(true), &json!([]))
    );
    let older = app
        .get(&format!("/v1/relay/domains?known={}", v - 1), Some(SECRET))
        .await;
    assert_eq!(older.json["unchanged"], false);
    assert_eq!(older.json["domains"], s["domains"]);
    app.get("/v1/relay/domains?known=x", Some(SECRET))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");

    // B's record now appears too, but the name is A's while A's stays verified.
    dns.set_txt(
        "_fdt-challenge.app.example.test",
        db_["txt"]["value"].as_str().unwrap(),
    )
    .await;
    let vb = verify(&app, &tb, id_b).await;
    assert_eq!(vb["state"], "pending", "{vb}");
    assert!(
        vb["last_error"]
            .as_str()
            .unwrap()
            .contains("another account"),
        "{vb}"
    );

    // Certificate orders give up after MAX_CERT_FAILURES failures in a row, until the owner
    // changes the domain.
    let store = app.state.store();
    let due = |now| async move {
        store
            .domains_needing_certificates(now, 10)
            .await
            .unwrap()
            .iter()
            .map(|d| d.id.to_string())
            .collect::<Vec<_>>()
    };
    let now = app.state.clock().now();
    assert_eq!(due(now).await, [id_a]);
    let did: fdt_api::DomainId = id_a.parse().unwrap();
    for _ in 0..fdt_cloud::store::MAX_CERT_FAILURES {
        store
            .record_certificate_failure(&did, "refused", now)
            .await
            .unwrap();
    }
    assert!(due(now).await.is_empty());
    // A route change moves the relays' version; B cannot see or change A's domain.
    let before = served(&app).await["version"].as_i64().unwrap();
    let r = app
        .patch(
            &format!("/v1/domains/{id_a}"),
            json!({"route": {"subdomain": "other"}, "failure": {"kind": "redirect", "url": "https://status.example.test/"}}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let s = served(&app).await;
    assert!(s["version"].as_i64().unwrap() > before);
    assert_eq!(due(now).await, [id_a], "a change lets orders start again");
    assert_eq!(s["domains"][0]["target"], "other");
    assert_eq!(s["domains"][0]["failure"]["kind"], "redirect");
    app.get(&format!("/v1/domains/{id_a}"), Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&format!("/v1/domains/{id_a}"), Some(&tb))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // A route to a reservation must be the account's own.
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "subdomain", "subdomain": "bee"}),
            Some(&tb),
        )
        .await;
    let rsv = r.json["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/v1/domains/{id_a}"),
        json!({"route": {"reserved_name": rsv}}),
        Some(&ta),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "validation_failed");

    // Operators see every account's domains; the search is literal (`_` is no wildcard).
    let ops = app.signed_up("ops@example.com").await;
    assert!(
        app.state
            .store()
            .grant_admin("ops@example.com")
            .await
            .unwrap()
    );
    let all = app.get("/v1/admin/domains", Some(&ops.access)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    let accounts: Vec<&str> = all.json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), 2, "{}", all.json);
    assert!(accounts.contains(&a.as_str()));
    let found = app
        .get("/v1/admin/domains?q=APP.example", Some(&ops.access))
        .await;
    assert_eq!(
        found.json["domains"].as_array().unwrap().len(),
        2,
        "{}",
        found.json
    );
    let none = app
        .get("/v1/admin/domains?q=app_example", Some(&ops.access))
        .await;
    assert_eq!(none.json["domains"], json!([]), "{}", none.json);
    app.get("/v1/admin/domains", Some(&ta))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Relays' routes need the relay secret.
    app.get("/v1/relay/domains", Some(&ta))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn a_deleted_domain_is_not_served_until_the_new_owners_token_verifies(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let (ta, _) = pro(&app, "a@example.com").await;
    let (tb, b) = pro(&app, "b@example.com").await;
    let da = create(&app, &ta, json!({"domain": "shop.example.test"})).await;
    let id_a = da["id"].as_str().unwrap();
    dns.set_txt(
        "_fdt-challenge.shop.example.test",
        da["txt"]["value"].as_str().unwrap(),
    )
    .await;
    assert_eq!(verify(&app, &ta, id_a).await["state"], "verified");
    let r = app.delete(&format!("/v1/domains/{id_a}"), Some(&ta)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(served(&app).await["domains"], json!([]));

    // B claims it while A's record (and the CNAME to us) is still in DNS: not served.
    let db_ = create(&app, &tb, json!({"domain": "shop.example.test"})).await;
    let id_b = db_["id"].as_str().unwrap();
    assert_eq!(verify(&app, &tb, id_b).await["state"], "pending");
    assert_eq!(served(&app).await["domains"], json!([]));
    // Only B's own token makes it B's.
    dns.set_txt(
        "_fdt-challenge.shop.example.test",
        db_["txt"]["value"].as_str().unwrap(),
    )
    .await;
    assert_eq!(verify(&app, &tb, id_b).await["state"], "verified");
    let s = served(&app).await;
    assert_eq!(s["domains"][0]["account"], b.as_str());

    // The worker re-checks: once the record is gone for `lost_after_misses` checks, the domain
    // is lost and no longer served.
    dns.clear_txt("_fdt-challenge.shop.example.test").await;
    for _ in 0..app.config.domains.lost_after_misses {
        verify(&app, &tb, id_b).await;
    }
    let r = app.get(&format!("/v1/domains/{id_b}"), Some(&tb)).await;
    assert_eq!(r.json["state"], "lost", "{}", r.json);
    let ev = app
        .get(&format!("/v1/domains/{id_b}/events"), Some(&tb))
        .await;
    let kinds: Vec<&str> = ev.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["lost", "verified"], "{}", ev.json);
    // The events of another account's domain are not found.
    app.get(&format!("/v1/domains/{id_b}/events"), Some(&ta))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(served(&app).await["domains"], json!([]));
}

async fn malformed_domains_are_refused_naming_the_field(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let (ta, _) = pro(&app, "a@example.com").await;
    let long = format!("{}.example.test", ["abcdefghij"; 26].join("."));
    assert!(long.len() > 290, "{}", long.len());
    let label64 = format!("{}.example.test", "a".repeat(64));
    for bad in [
        long.as_str(),
        label64.as_str(),
        "192.0.2.7",
        "[2001:db8::1]",
        "*.*.example.test",
        "a.*.example.test",
        "*.test",
        "under_score.example.test",
        "",
        "app.fdt.test",
        "x.y.cname.fdt.test",
    ] {
        let r = app
            .post("/v1/domains", json!({"domain": bad}), Some(&ta))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], "domain", "{bad}: {}", r.json);
    }
    for (body, field) in [
        (
            json!({"domain": "a.example.test", "failure": {"kind": "status", "status": 302}}),
            "failure.status",
        ),
        (
            json!({"domain": "a.example.test", "failure": {"kind": "redirect", "url": "javascript:x"}}),
            "failure.url",
        ),
        (
            json!({"domain": "a.example.test", "route": {"subdomain": "-x"}}),
            "route.subdomain",
        ),
    ] {
        let r = app.post("/v1/domains", body, Some(&ta)).await;
        r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
        assert_eq!(r.json["error"]["field"], field, "{}", r.json);
    }
    let r = app
        .post(
            "/v1/domains",
            json!({"domain": "a.example.test", "mode": "sideways"}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    // Nothing was stored.
    let r = app.get("/v1/domains", Some(&ta)).await;
    assert_eq!(r.json["domains"], json!([]));
    // A wildcard is fine, and its TXT record sits on the parent.
    let w = create(&app, &ta, json!({"domain": "*.wild.example.test"})).await;
    assert_eq!(w["txt"]["name"], "_fdt-challenge.wild.example.test");
    // The same name twice in one account: 409.
    app.post(
        "/v1/domains",
        json!({"domain": "*.wild.example.test"}),
        Some(&ta),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
}

async fn the_plan_limits_custom_domains(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    // The free plan has none.
    let (t, _) = account(&app, "free@example.com").await;
    let r = app
        .post(
            "/v1/domains",
            json!({"domain": "a.example.test"}),
            Some(&t.access),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    assert_eq!(r.json["error"]["limit"], "custom_domains");
    // Pro has five.
    let (ta, _) = pro(&app, "a@example.com").await;
    let max = Plan::Pro.entitlements().custom_domains;
    for i in 0..max {
        create(&app, &ta, json!({"domain": format!("d{i}.example.test")})).await;
    }
    let r = app
        .post(
            "/v1/domains",
            json!({"domain": "one-more.example.test"}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
}

/// A self-signed certificate for `names`, and its key, valid from now on.
fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

async fn uploaded_certificates_are_checked_sealed_and_handed_to_relays(db: &TestDb) {
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let (ta, _) = pro(&app, "a@example.com").await;
    let d = create(&app, &ta, json!({"domain": "secure.example.test"})).await;
    let id = d["id"].as_str().unwrap();
    let path = format!("/v1/domains/{id}/certificate");
    // The wrong name, or a key of another certificate: refused, nothing stored.
    let (other_chain, other_key) = self_signed(&["other.example.test"]);
    let r = app
        .put(
            &path,
            json!({"chain_pem": other_chain, "key_pem": other_key}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(r.json["error"]["field"], "chain_pem");
    let (chain, key) = self_signed(&["secure.example.test"]);
    let r = app
        .put(
            &path,
            json!({"chain_pem": chain, "key_pem": other_key}),
            Some(&ta),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    // The right pair: version 1, and the key is not stored in the clear.
    let r = app
        .put(
            &path,
            json!({"chain_pem": chain, "key_pem": key}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["certificate"]["version"], 1);
    assert_eq!(r.json["certificate"]["source"], "upload");
    let did: fdt_api::DomainId = id.parse().unwrap();
    let stored = app
        .state
        .store()
        .latest_certificate(&did)
        .await
        .unwrap()
        .unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!String::from_utf8_lossy(&stored.key_sealed).contains(body));
    // Relays get it only once the domain is verified.
    let cert_path = format!("/v1/relay/domains/{id}/certificate");
    app.get(&cert_path, Some(SECRET))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    dns.set_txt(
        "_fdt-challenge.secure.example.test",
        d["txt"]["value"].as_str().unwrap(),
    )
    .await;
    assert_eq!(verify(&app, &ta, id).await["state"], "verified");
    let s = served(&app).await;
    assert_eq!(s["domains"][0]["cert_version"], 1);
    let r = app.get(&cert_path, Some(SECRET)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["key_pem"], key.as_str());
    assert_eq!(r.json["version"], 1);
    let ev = app
        .get(&format!("/v1/domains/{id}/events"), Some(&ta))
        .await;
    assert_eq!(ev.json["events"][0]["kind"], "verified", "{}", ev.json);
    assert_eq!(ev.json["events"][1]["kind"], "uploaded", "{}", ev.json);
    assert!(
        ev.json["events"][1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("version 1, valid until")
    );
}

/// A self-signed certificate for `name` valid from a day ago until `until`, and its key.
fn short_lived(name: &str, until: time::OffsetDateTime) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = until;
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

pub(crate) async fn incidents(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/domains/{id}/incidents"), Some(token))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["incidents"].as_array().unwrap().clone()
}

async fn an_expiring_certificate_raises_an_incident_until_a_newer_one_is_served(db: &TestDb) {
    use fdt_cloud::domains::worker::sweep_expiry;
    let dns = ChallTestSrv::start().await;
    let app = app(db, &dns);
    let (ta, a) = pro(&app, "a@example.com").await;
    pro(&app, "b@example.com").await;
    let d = create(&app, &ta, json!({"domain": "exp.example.test"})).await;
    let id = d["id"].as_str().unwrap();
    dns.set_txt(
        "_fdt-challenge.exp.example.test",
        d["txt"]["value"].as_str().unwrap(),
    )
    .await;
    assert_eq!(verify(&app, &ta, id).await["state"], "verified");
    let path = format!("/v1/domains/{id}/certificate");
    let (chain, key) = short_lived(
        "exp.example.test",
        time::OffsetDateTime::now_utc() + time::Duration::days(2),
    );
    let r = app
        .put(
            &path,
            json!({"chain_pem": chain, "key_pem": key}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    // Two days left: an `expiring` incident, opened once however often the sweep runs.
    assert_eq!(sweep_expiry(&app.state).await.unwrap(), 1);
    assert_eq!(sweep_expiry(&app.state).await.unwrap(), 1);
    let open = incidents(&app, &ta, id).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["kind"], "expiring");
    assert!(open[0]["detail"].as_str().unwrap().contains("expires at"));
    assert!(open[0]["resolved_at"].is_null());
    // Past expiry it stays open (one incident), and the expired certificate is still the
    // only one relays can serve.
    app.clock.advance(time::Duration::days(3));
    // Access tokens have expired meanwhile: sign in again.
    let mut fresh = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let r = app.login(email, crate::common::PASSWORD).await;
        fresh.push(r.json["access_token"].as_str().unwrap().to_owned());
    }
    let (ta, tb) = (fresh[0].clone(), fresh[1].clone());
    assert_eq!(sweep_expiry(&app.state).await.unwrap(), 1);
    assert_eq!(incidents(&app, &ta, id).await.len(), 1);
    let cert_path = format!("/v1/relay/domains/{id}/certificate");
    assert_eq!(app.get(&cert_path, Some(SECRET)).await.json["version"], 1);

    // A newer certificate: relays get it, the incident closes at the next sweep.
    let (chain, key) = short_lived(
        "exp.example.test",
        time::OffsetDateTime::now_utc() + time::Duration::days(365),
    );
    let r = app
        .put(
            &path,
            json!({"chain_pem": chain, "key_pem": key}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(served(&app).await["domains"][0]["cert_version"], 2);
    let r = app.get(&cert_path, Some(SECRET)).await;
    assert_eq!(r.json["version"], 2);
    assert_eq!(r.json["key_pem"], key.as_str());
    assert_eq!(sweep_expiry(&app.state).await.unwrap(), 0);
    let closed = incidents(&app, &ta, id).await;
    assert!(closed[0]["resolved_at"].is_string(), "{closed:?}");

    // Validation lost: an incident the owner acknowledges and resolves; nobody else can.
    dns.clear_txt("_fdt-challenge.exp.example.test").await;
    for _ in 0..app.config.domains.lost_after_misses {
        verify(&app, &ta, id).await;
    }
    let list = incidents(&app, &ta, id).await;
    assert_eq!(list[0]["kind"], "validation_lost", "{list:?}");
    let n = list[0]["id"].as_i64().unwrap();
    app.post(
        &format!("/v1/domains/{id}/incidents/{n}/ack"),
        json!({}),
        Some(&tb),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.post(
        &format!("/v1/domains/{id}/incidents/999999/ack"),
        json!({}),
        Some(&ta),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .post(
            &format!("/v1/domains/{id}/incidents/{n}/ack"),
            json!({}),
            Some(&ta),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["incidents"][0]["acked_by"], a.as_str());
    assert!(r.json["incidents"][0]["resolved_at"].is_null());
    let r = app
        .post(
            &format!("/v1/domains/{id}/incidents/{n}/resolve"),
            json!({}),
            Some(&ta),
        )
        .await;
    assert!(
        r.json["incidents"][0]["resolved_at"].is_string(),
        "{}",
        r.json
    );
}

/// The DNS-01 provider client against a local server speaking Cloudflare's API: records are
/// placed in the zone that holds the name and removed by ID; a wrong token, a name in no zone
/// and a record already gone are refused, with the provider's message.
#[tokio::test]
async fn the_dns_provider_client_places_and_removes_records_and_reports_refusals() {
    use fdt_cloud::config::{Dns01Config, Dns01Provider};
    use fdt_cloud::domains::dns01::{Dns01, Dns01Error};
    use fdt_cloud::testing::cloudflare::FakeCloudflare;
    let dns = std::sync::Arc::new(ChallTestSrv::start().await);
    let cf = FakeCloudflare::start(dns.clone(), "right-token", &["example.test"]).await;
    let client = |token: &str| {
        Dns01::from_config(&Dns01Config {
            provider: Dns01Provider::Cloudflare,
            api_base: cf.api_base.clone(),
            api_token: fdt_cloud::secret::Secret::new(token.into()),
            for_all: false,
            propagation_secs: 0,
        })
        .unwrap()
    };
    let ok = client("right-token");
    let placed = ok.place("deep.app.example.test", "v4lue").await.unwrap();
    assert_eq!(placed.name, "_acme-challenge.deep.app.example.test");
    let held = cf.records();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].name.as_str(), held[0].content.as_str()),
        ("_acme-challenge.deep.app.example.test", "v4lue")
    );
    ok.remove(&placed).await.unwrap();
    assert!(cf.records().is_empty());
    match ok.remove(&placed).await {
        Err(Dns01Error::Refused { status: 404, .. }) => {}
        other => panic!("removing twice: {other:?}"),
    }
    match client("wrong-token").place("app.example.test", "v").await {
        Err(Dns01Error::Refused {
            status: 403,
            message,
        }) => {
            assert!(message.contains("Authentication error"), "{message}")
        }
        other => panic!("wrong token: {other:?}"),
    }
    match ok.place("app.elsewhere.test", "v").await {
        Err(Dns01Error::NoZone(name)) => assert_eq!(name, "app.elsewhere.test"),
        other => panic!("no zone: {other:?}"),
    }
    assert_eq!(cf.counts(), (1, 1));
}
