//! Relays, live tunnels, reserved names, plans and usage: relays register and heartbeat, ask
//! before binding, report ended tunnels and usage; accounts reserve names and read their
//! tunnels, plan and usage.

use crate::common::{TestApp, TestDb, Tokens};
use axum::http::StatusCode;
use fdt_api::{AccountId, Plan};
use serde_json::{Value, json};

on_both_databases!(
    heartbeats_register_relays_and_silence_makes_them_unhealthy,
    bindings_obey_reservations_live_names_pooling_and_plan_limits,
    a_restarted_or_silent_relay_loses_its_tunnels_and_the_agent_takes_its_name_elsewhere,
    reserved_names_are_listed_updated_released_and_limited_by_plan,
    usage_reports_count_once_and_bandwidth_is_a_bind_limit,
    malformed_relay_reports_are_refused_and_store_nothing,
    an_ended_tunnels_name_stays_its_owners_for_the_grace_period,
);

pub(crate) const SECRET: &str = "relay-secret-for-fleet-tests-0123";

pub(crate) fn app(db: &TestDb) -> TestApp {
    TestApp::with_config(db, |c| {
        c.relay_secrets = vec![fdt_cloud::secret::Secret::new(SECRET.into())];
        c.fleet.heartbeat_secs = 5;
        c.fleet.unhealthy_after_secs = 20;
        c.fleet.reserved_tcp_ports = (21_000, 21_002);
    })
}

/// A relay's reporting state: its boot and next sequence number.
pub(crate) struct Relay {
    id: &'static str,
    region: &'static str,
    boot: String,
    seq: u64,
}

impl Relay {
    pub(crate) fn new(id: &'static str, region: &'static str) -> Self {
        Self {
            id,
            region,
            boot: format!("boot-{id}-1"),
            seq: 0,
        }
    }

    fn restart(&mut self) {
        self.boot = format!("{}x", self.boot);
        self.seq = 0;
    }

    pub(crate) async fn beat(&mut self, app: &TestApp, extra: Value) -> Value {
        self.seq += 1;
        let r = self.send(app, self.seq, extra).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    pub(crate) async fn send(
        &self,
        app: &TestApp,
        seq: u64,
        extra: Value,
    ) -> crate::common::TestResponse {
        let mut body = json!({
            "relay_id": self.id, "boot_id": self.boot, "seq": seq, "region": self.region,
            "agent_addr": format!("{}.example:7443", self.id), "server_name": "relay.example",
            "version": "fdt-relay/test", "capacity": 1000, "weight": 100, "draining": false,
            "load": {"sessions": 1, "tunnels": 1, "connections": 0},
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        app.post("/v1/relay/heartbeat", body, Some(SECRET)).await
    }

    pub(crate) async fn bind(
        &self,
        app: &TestApp,
        account: &str,
        atk: &str,
        name: Value,
    ) -> crate::common::TestResponse {
        let mut body = json!({
            "relay_id": self.id, "boot_id": self.boot, "account_id": account,
            "authtoken_id": atk, "proto": "http",
            "public_url": "https://x.example", "agent_version": "fdt/test",
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), name.as_object()) {
            b.extend(e.clone());
        }
        app.post("/v1/relay/bindings", body, Some(SECRET)).await
    }
}

/// Signs up; returns tokens and the account ID.
pub(crate) async fn account(app: &TestApp, email: &str) -> (Tokens, String) {
    let t = app.signed_up(email).await;
    let me = app.get("/v1/auth/me", Some(&t.access)).await;
    (t, me.json["id"].as_str().unwrap().to_owned())
}

/// An authtoken ID shaped like the cloud's (bindings only carry it).
pub(crate) fn atk(n: u8) -> String {
    format!("atk_{}", format!("{n:02}").repeat(11))
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn heartbeats_register_relays_and_silence_makes_them_unhealthy(db: &TestDb) {
    let app = app(db);
    let (t, _) = account(&app, "ops@example.com").await;
    let mut eu = Relay::new("eu-1", "eu");
    let ack = eu.beat(&app, json!({})).await;
    assert_eq!(ack["interval_secs"], 5);
    assert_eq!(ack["evict"], json!([]));

    let fleet = app.get("/v1/relays", Some(&t.access)).await;
    assert_eq!(fleet.status, StatusCode::OK);
    assert_eq!(ids(&fleet.json, "relays"), ["eu-1"]);
    assert_eq!(fleet.json["relays"][0]["healthy"], true);
    assert_eq!(fleet.json["relays"][0]["load"]["sessions"], 1);

    // An authtoken exchange now offers the registered relay.
    let r = app.post("/v1/authtokens", json!({}), Some(&t.access)).await;
    let secret = r.json["token"].as_str().unwrap().to_owned();
    let s = app
        .post("/v1/agent/sessions", json!({"region": "eu"}), Some(&secret))
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.json);
    assert_eq!(s.json["relays"][0]["addr"], "eu-1.example:7443");

    // Silence past the health window: unhealthy, and no longer offered.
    app.clock.advance(time::Duration::seconds(21));
    let fleet = app.get("/v1/relays", Some(&t.access)).await;
    assert_eq!(fleet.json["relays"][0]["healthy"], false);
    let s = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    s.assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");

    // A draining relay is healthy but not offered either.
    eu.beat(&app, json!({"draining": true})).await;
    let s = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    s.assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");
    eu.beat(&app, json!({})).await;
    let s = app
        .post("/v1/agent/sessions", json!({}), Some(&secret))
        .await;
    assert_eq!(s.status, StatusCode::OK);

    // Only relays (by secret) may heartbeat; only people (by login) may list.
    let r = eu.send(&app, 99, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .post(
            "/v1/relay/heartbeat",
            json!({"relay_id": "eu-1"}),
            Some("not-the-secret-at-all"),
        )
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/v1/relays", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn bindings_obey_reservations_live_names_pooling_and_plan_limits(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "a@example.com").await;
    let (tb, b) = account(&app, "b@example.com").await;
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(&app, json!({})).await;

    // A reserved name is refused to another account, even while offline.
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "subdomain", "subdomain": "alpha"}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    relay
        .bind(&app, &b, &atk(2), json!({"subdomain": "alpha"}))
        .await
        .assert_error(StatusCode::CONFLICT, "name_reserved");
    let first = relay
        .bind(&app, &a, &atk(1), json!({"subdomain": "alpha"}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert!(
        first.json["tunnel_id"]
            .as_str()
            .unwrap()
            .starts_with("tun_")
    );

    // A live name: another account is refused; another agent of the same account too,
    // unless both sides pool.
    relay
        .bind(&app, &b, &atk(2), json!({"subdomain": "beta"}))
        .await;
    relay
        .bind(&app, &a, &atk(1), json!({"subdomain": "beta"}))
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    relay
        .bind(&app, &b, &atk(3), json!({"subdomain": "beta"}))
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    let g1 = relay
        .bind(
            &app,
            &b,
            &atk(2),
            json!({"subdomain": "gamma", "pooling": true}),
        )
        .await;
    assert_eq!(g1.status, StatusCode::OK);
    let g2 = relay
        .bind(
            &app,
            &b,
            &atk(3),
            json!({"subdomain": "gamma", "pooling": true}),
        )
        .await;
    assert_eq!(g2.status, StatusCode::OK, "pool join: {}", g2.json);
    assert_eq!(g2.json["replaced"], json!([]));
    relay
        .bind(&app, &b, &atk(4), json!({"subdomain": "gamma"}))
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    relay
        .bind(
            &app,
            &a,
            &atk(1),
            json!({"subdomain": "gamma", "pooling": true}),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");

    // B is at the free plan's 3 online tunnels (beta, gamma ×2): the limit is named.
    let r = relay
        .bind(&app, &b, &atk(2), json!({"subdomain": "delta"}))
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    assert_eq!(r.json["error"]["limit"], "online_tunnels");
    // On the pro plan the same bind goes through.
    let b_id: AccountId = b.parse().unwrap();
    assert!(
        app.state
            .store()
            .set_account_plan(&b_id, Plan::Pro)
            .await
            .unwrap()
    );
    let r = relay
        .bind(&app, &b, &atk(2), json!({"subdomain": "delta"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    // Each account sees its own tunnels, with relay and region.
    let list = app.get("/v1/tunnels", Some(&tb.access)).await;
    assert_eq!(list.json["tunnels"].as_array().unwrap().len(), 4);
    let la = app.get("/v1/tunnels", Some(&ta.access)).await;
    let t = &la.json["tunnels"][0];
    assert_eq!(
        (t["subdomain"].as_str(), t["region"].as_str()),
        (Some("alpha"), Some("eu"))
    );
    assert_eq!(t["relay_id"], "eu-1");
    let id = t["id"].as_str().unwrap();
    let one = app
        .get(&format!("/v1/tunnels/{id}"), Some(&ta.access))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    app.get(&format!("/v1/tunnels/{id}"), Some(&tb.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // The reservation shows its live tunnel.
    let res = app.get("/v1/reserved-names", Some(&ta.access)).await;
    assert_eq!(res.json["reserved_names"][0]["tunnels"][0]["id"], id);

    // Stopping a tunnel: gone from the list, and its relay is told to close it.
    app.delete(&format!("/v1/tunnels/{id}"), Some(&tb.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .delete(&format!("/v1/tunnels/{id}"), Some(&ta.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let ack = relay.beat(&app, json!({})).await;
    assert_eq!(ack["evict"], json!([id]));
    // Reported ended, the eviction is done.
    let ack = relay.beat(&app, json!({"ended": [id]})).await;
    assert_eq!(ack["evict"], json!([]));
    let la = app.get("/v1/tunnels", Some(&ta.access)).await;
    assert_eq!(la.json["tunnels"], json!([]));

    // Relay-facing calls need the relay secret.
    let r = app
        .post("/v1/relay/bindings", json!({}), Some(&ta.access))
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn a_restarted_or_silent_relay_loses_its_tunnels_and_the_agent_takes_its_name_elsewhere(
    db: &TestDb,
) {
    let app = app(db);
    let (ta, a) = account(&app, "mover@example.com").await;
    let (_, b) = account(&app, "other@example.com").await;
    let mut eu = Relay::new("eu-1", "eu");
    let mut us = Relay::new("us-1", "us");
    eu.beat(&app, json!({})).await;
    us.beat(&app, json!({})).await;
    let first = eu
        .bind(&app, &a, &atk(1), json!({"subdomain": "mover"}))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let first_id = first.json["tunnel_id"].as_str().unwrap().to_owned();

    // The same agent (same authtoken) fails over to the other relay while eu still looks
    // healthy: it takes the name over, and eu is told to close the old tunnel.
    let moved = us
        .bind(&app, &a, &atk(1), json!({"subdomain": "mover"}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.json);
    assert_eq!(moved.json["replaced"], json!([first_id]));
    let ack = eu.beat(&app, json!({})).await;
    assert_eq!(ack["evict"], json!([first_id]));
    let list = app.get("/v1/tunnels", Some(&ta.access)).await;
    assert_eq!(list.json["tunnels"][0]["relay_id"], "us-1");

    // us goes silent: its tunnels count as offline, and the name can be bound elsewhere — even
    // by another account, as it is not reserved.
    app.clock.advance(time::Duration::seconds(21));
    eu.beat(&app, json!({})).await;
    let list = app.get("/v1/tunnels", Some(&ta.access)).await;
    assert_eq!(list.json["tunnels"], json!([]));
    let r = eu
        .bind(&app, &b, &atk(2), json!({"subdomain": "mover"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // A silent relay may not bind.
    us.bind(&app, &a, &atk(1), json!({"subdomain": "x1"}))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");

    // eu restarts: a new boot ends every tunnel of the old one. Their names stay their
    // owners' for the grace period (their agents are reconnecting), then are free.
    eu.restart();
    eu.beat(&app, json!({})).await;
    eu.bind(&app, &a, &atk(1), json!({"subdomain": "mover"}))
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    pass_time(&app, &mut eu, 61).await;
    let r = eu
        .bind(&app, &a, &atk(1), json!({"subdomain": "mover"}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the old boot's binding is gone: {}",
        r.json
    );
    // A bind naming the old boot is refused.
    let mut stale = Relay::new("eu-1", "eu");
    stale.seq = 1;
    stale
        .bind(&app, &a, &atk(1), json!({"subdomain": "y1"}))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "no_relay_available");
}

async fn reserved_names_are_listed_updated_released_and_limited_by_plan(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "res@example.com").await;
    let (tb, _) = account(&app, "res-b@example.com").await;
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "subdomain", "subdomain": "Shop", "description": " main "}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["subdomain"], "shop");
    assert_eq!(r.json["description"], "main");
    assert_eq!(r.json["tunnels"], json!([]));
    let id = r.json["id"].as_str().unwrap().to_owned();

    // Taken by A: B cannot reserve it; free plan: A cannot reserve a second one.
    app.post(
        "/v1/reserved-names",
        json!({"kind": "subdomain", "subdomain": "shop"}),
        Some(&tb.access),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "name_reserved");
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "subdomain", "subdomain": "shop2"}),
            Some(&ta.access),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    assert_eq!(r.json["error"]["limit"], "reserved_subdomains");
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "tcp_address", "region": "eu"}),
            Some(&ta.access),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    assert_eq!(r.json["error"]["limit"], "tcp_addresses");

    // Pro: TCP addresses come from the configured range, lowest free first.
    let a_id: AccountId = a.parse().unwrap();
    app.state
        .store()
        .set_account_plan(&a_id, Plan::Pro)
        .await
        .unwrap();
    let t1 = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "tcp_address", "region": "eu"}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(t1.status, StatusCode::CREATED, "{}", t1.json);
    assert_eq!(
        (t1.json["port"].as_u64(), t1.json["region"].as_str()),
        (Some(21_000), Some("eu"))
    );
    let t2 = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "tcp_address", "region": "eu"}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(t2.json["port"], 21_001);

    // Get, update, list; another account sees none of it.
    let path = format!("/v1/reserved-names/{id}");
    let u = app
        .patch(
            &path,
            json!({"description": "storefront"}),
            Some(&ta.access),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.json);
    assert_eq!(u.json["description"], "storefront");
    let g = app.get(&path, Some(&ta.access)).await;
    assert_eq!(g.json["description"], "storefront");
    app.get(&path, Some(&tb.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.patch(&path, json!({"description": "mine"}), Some(&tb.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete(&path, Some(&tb.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let l = app.get("/v1/reserved-names", Some(&ta.access)).await;
    assert_eq!(ids(&l.json, "reserved_names").len(), 3);
    let plan = app.get("/v1/plan", Some(&ta.access)).await;
    assert_eq!(plan.json["plan"], "pro");
    assert_eq!(plan.json["in_use"]["reserved_subdomains"], 1);
    assert_eq!(plan.json["in_use"]["tcp_addresses"], 2);

    // Released: gone, and free for B.
    assert_eq!(
        app.delete(&path, Some(&ta.access)).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&path, Some(&ta.access))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .post(
            "/v1/reserved-names",
            json!({"kind": "subdomain", "subdomain": "shop"}),
            Some(&tb.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Bad input.
    for body in [
        json!({"kind": "subdomain"}),
        json!({"kind": "subdomain", "subdomain": "a", "region": "eu"}),
        json!({"kind": "tcp_address"}),
        json!({"kind": "domain", "subdomain": "x"}),
        json!({"kind": "subdomain", "subdomain": "x", "color": "red"}),
    ] {
        let r = app
            .post("/v1/reserved-names", body.clone(), Some(&ta.access))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
    }
    app.post(
        "/v1/reserved-names",
        json!({"kind": "subdomain", "subdomain": "-bad-"}),
        Some(&ta.access),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let plans = app.get("/v1/plans", None).await;
    assert_eq!(plans.json["plans"].as_array().unwrap().len(), 3);
}

async fn usage_reports_count_once_and_bandwidth_is_a_bind_limit(db: &TestDb) {
    let app = app(db);
    let (ta, a) = account(&app, "usage@example.com").await;
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(&app, json!({})).await;
    let today =
        fdt_api::validate::format_day(fdt_cloud::clock::Clock::now(app.clock.as_ref()).date());
    let report = json!({"usage": [{"account_id": a, "day": today, "requests": 10,
        "bytes_in": 1000, "bytes_out": 2000, "connections": 3}]});
    relay.beat(&app, report.clone()).await;
    // The same heartbeat again (its answer was lost): not counted twice.
    let r = relay.send(&app, relay.seq, report.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    relay.beat(&app, report).await;
    let u = app.get("/v1/usage", Some(&ta.access)).await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.json);
    assert_eq!(
        u.json["days"],
        json!([{"day": today, "requests": 20, "bytes_in": 2000, "bytes_out": 4000, "connections": 6}])
    );
    let u = app
        .get(
            &format!("/v1/usage?from={today}&to={today}"),
            Some(&ta.access),
        )
        .await;
    assert_eq!(u.json["days"][0]["requests"], 20);
    app.get("/v1/usage?from=2026-13-01", Some(&ta.access))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/v1/usage?from=2020-01-01&to=2026-01-01", Some(&ta.access))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");

    // Past the free plan's monthly bandwidth, binds are refused with the limit's name.
    let gib = 1u64 << 30;
    relay
        .beat(
            &app,
            json!({"usage": [{"account_id": a, "day": today, "requests": 1,
            "bytes_in": gib, "bytes_out": 0, "connections": 1}]}),
        )
        .await;
    let plan = app.get("/v1/plan", Some(&ta.access)).await;
    assert_eq!(
        plan.json["in_use"]["bandwidth_bytes_this_month"],
        gib + 6000
    );
    let r = relay
        .bind(&app, &a, &atk(1), json!({"subdomain": "big"}))
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    assert_eq!(r.json["error"]["limit"], "bandwidth");
}

async fn malformed_relay_reports_are_refused_and_store_nothing(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "bad@example.com").await;
    let mut relay = Relay::new("eu-1", "eu");
    for extra in [
        json!({"weight": 0}),
        json!({"relay_id": "EU 1"}),
        json!({"seq": "one"}),
        json!({"usage": [{"account_id": a, "day": "today", "requests": 1, "bytes_in": 0, "bytes_out": 0, "connections": 0}]}),
        json!({"ended": ["t1"]}),
        json!({"surprise": true}),
    ] {
        let r = relay.send(&app, 1, extra.clone()).await;
        assert!(r.status.is_client_error(), "{extra}: {}", r.status);
        assert!(r.json["error"]["code"].is_string(), "{extra}: {}", r.json);
    }
    assert!(app.state.store().list_relays().await.unwrap().is_empty());
    let r = app
        .post_raw("/v1/relay/heartbeat", "{not json".into(), Some(SECRET))
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    relay.beat(&app, json!({})).await;
    // Binds naming neither a subdomain nor a port, or both, are refused.
    for name in [
        json!({}),
        json!({"subdomain": "a", "port": 1}),
        json!({"proto": "tcp", "subdomain": "a"}),
    ] {
        let r = relay.bind(&app, &a, &atk(1), name.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.json);
    }
    let list = app
        .state
        .store()
        .count_live_tunnels(
            fdt_cloud::clock::Clock::now(app.clock.as_ref()) - time::Duration::seconds(20),
        )
        .await
        .unwrap();
    assert_eq!(list, 0);
}

/// Regression: the cloud freed an unreserved name as soon as its tunnel ended, so another
/// account could bind it while the relay still held visitors' requests for it.
async fn an_ended_tunnels_name_stays_its_owners_for_the_grace_period(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "owner@example.com").await;
    let (_, b) = account(&app, "other@example.com").await;
    let mut relay = Relay::new("eu-1", "eu");
    relay.beat(&app, json!({})).await;
    let name = json!({"subdomain": "webhooks"});
    let first = relay.bind(&app, &a, &atk(1), name.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    let id = first.json["tunnel_id"].as_str().unwrap().to_owned();
    relay.beat(&app, json!({"ended": [id]})).await;

    // Within the grace period (60 s by default) the name is the owner's alone.
    pass_time(&app, &mut relay, 30).await;
    relay
        .bind(&app, &b, &atk(2), name.clone())
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    // The owner's reconnecting agent gets it back, and when it ends again a new period starts.
    let again = relay.bind(&app, &a, &atk(1), name.clone()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    let id = again.json["tunnel_id"].as_str().unwrap().to_owned();
    relay.beat(&app, json!({"ended": [id]})).await;
    pass_time(&app, &mut relay, 59).await;
    relay
        .bind(&app, &b, &atk(2), name.clone())
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");

    // Past it, the name is free for anyone.
    pass_time(&app, &mut relay, 2).await;
    let taken = relay.bind(&app, &b, &atk(2), name).await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.json);
}

/// Lets `secs` pass with the relay heartbeating every 10 s, as a live one does.
async fn pass_time(app: &TestApp, relay: &mut Relay, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = left.min(10);
        app.clock.advance(time::Duration::seconds(step));
        relay.beat(app, json!({})).await;
        left -= step;
    }
}
