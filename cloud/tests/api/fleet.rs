//! Relays, plans and usage: relays register and heartbeat, report ended tunnels and usage,
//! and lose their tunnels when they restart or fall silent. The helpers here (a relay that
//! heartbeats and binds, accounts, authtoken IDs) serve the other fleet stories too: names
//! in `names.rs`, the traffic log and the admin API.

use crate::common::{TestApp, TestDb, Tokens};
use axum::http::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    heartbeats_register_relays_and_silence_makes_them_unhealthy,
    a_restarted_or_silent_relay_loses_its_tunnels_and_the_agent_takes_its_name_elsewhere,
    usage_reports_count_once_and_bandwidth_is_a_bind_limit,
    malformed_relay_reports_are_refused_and_store_nothing,
    placement_names_the_healthy_relays_holding_a_name_and_heartbeats_carry_their_identity,
    an_agents_two_sessions_hold_a_name_together_and_count_once,
    the_placement_feed_names_what_was_bound_and_waits_for_binds,
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

/// The `id` of each object in `list[key]`.
pub(crate) fn ids(list: &Value, key: &str) -> Vec<String> {
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

/// Lets `secs` pass with the relay heartbeating every 10 s, as a live one does.
pub(crate) async fn pass_time(app: &TestApp, relay: &mut Relay, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = left.min(10);
        app.clock.advance(time::Duration::seconds(step));
        relay.beat(app, json!({})).await;
        left -= step;
    }
}

/// The claims of a JWT, decoded without checking anything, and its key ID.
fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

async fn placement_names_the_healthy_relays_holding_a_name_and_heartbeats_carry_their_identity(
    db: &TestDb,
) {
    let app = app(db);
    let (_, a) = account(&app, "placed@example.com").await;
    let mut eu = Relay::new("eu-1", "eu");
    let mut us = Relay::new("us-1", "us");
    let ack = eu.beat(&app, json!({})).await;
    us.beat(&app, json!({})).await;

    // The identity: signed by a key of the JWKS relays verify agent tokens with, for this relay
    // only, under an audience no agent token has.
    let token = ack["peer_token"].as_str().expect("a peer token");
    let (header, claims) = jwt_parts(token);
    let jwks = app.get("/v1/jwks", None).await.json;
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert!(kids.contains(&&header["kid"]), "{header} not in {jwks}");
    assert_eq!(claims["sub"], "eu-1");
    assert_eq!(claims["region"], "eu");
    assert_eq!(claims["aud"], fdt_api::PEER_AUDIENCE);
    assert_ne!(claims["aud"], "fdt-relay");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );

    let placement = |label: &str| {
        let app = &app;
        let path = format!("/v1/relay/placement?subdomain={label}");
        async move { app.get(&path, Some(SECRET)).await }
    };
    let nobody = placement("placed").await;
    assert_eq!(nobody.status, StatusCode::OK, "{}", nobody.json);
    assert_eq!(nobody.json, json!({"relays": [], "ttl_secs": 5}));

    let r = eu
        .bind(
            &app,
            &a,
            &atk(1),
            json!({"subdomain": "placed", "pooling": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = us
        .bind(
            &app,
            &a,
            &atk(2),
            json!({"subdomain": "placed", "pooling": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let both = placement("placed").await.json;
    assert_eq!(
        both["relays"],
        json!([
            {"relay_id": "eu-1", "region": "eu", "agent_addr": "eu-1.example:7443",
             "server_name": "relay.example", "proto": "http"},
            {"relay_id": "us-1", "region": "us", "agent_addr": "us-1.example:7443",
             "server_name": "relay.example", "proto": "http"},
        ])
    );

    // us falls silent: only eu is named.
    app.clock.advance(time::Duration::seconds(21));
    eu.beat(&app, json!({})).await;
    let one = placement("placed").await.json;
    assert_eq!(one["relays"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["relays"][0]["relay_id"], "eu-1");
    // eu restarts: its old boot's binding is no placement.
    eu.restart();
    eu.beat(&app, json!({})).await;
    assert_eq!(placement("placed").await.json["relays"], json!([]));

    // Only relays may ask, and only about a label.
    app.get("/v1/relay/placement?subdomain=placed", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    placement("not.a.label")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    placement("")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // A TCP address: a port of a region, asked by region and port.
    let tcp = |query: &str| {
        let app = &app;
        let path = format!("/v1/relay/placement?{query}");
        async move { app.get(&path, Some(SECRET)).await }
    };
    assert_eq!(tcp("region=eu&port=20005").await.json["relays"], json!([]));
    let r = eu
        .bind(
            &app,
            &a,
            &atk(1),
            json!({"proto": "tcp", "port": 20005, "public_url": "tcp://eu.example:20005"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let held = tcp("region=eu&port=20005").await.json;
    assert_eq!(
        held["relays"],
        json!([{"relay_id": "eu-1", "region": "eu", "agent_addr": "eu-1.example:7443",
                "server_name": "relay.example", "proto": "tcp"}])
    );
    // The same port in another region, or another port, is another address.
    assert_eq!(tcp("region=us&port=20005").await.json["relays"], json!([]));
    assert_eq!(tcp("region=eu&port=20006").await.json["relays"], json!([]));
    // Neither, both, half of a TCP address, port 0, or a region that is not one: refused.
    for bad in [
        "",
        "subdomain=placed&region=eu&port=20005",
        "region=eu",
        "port=20005",
        "region=eu&port=0",
        "region=eu&port=70000",
    ] {
        let r = tcp(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
    }
    tcp("region=EU!&port=20005")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

async fn an_agents_two_sessions_hold_a_name_together_and_count_once(db: &TestDb) {
    let app = app(db);
    let (t, a) = account(&app, "twice@example.com").await;
    let mut eu = Relay::new("eu-1", "eu");
    let mut us = Relay::new("us-1", "us");
    let mut ap = Relay::new("ap-1", "ap");
    for r in [&mut eu, &mut us, &mut ap] {
        r.beat(&app, json!({})).await;
    }
    let group =
        |g: &str, replica: u8| json!({"subdomain": "twice", "ha_group": g, "ha_replica": replica});
    // The primary on eu, the standby on us: both live, nothing replaced.
    let first = eu.bind(&app, &a, &atk(1), group("grpAAAA1", 0)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    let second = us.bind(&app, &a, &atk(1), group("grpAAAA1", 1)).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.json);
    assert_eq!(second.json["replaced"], json!([]));
    assert_eq!(tunnel_relays(&app, &t.access).await, ["eu-1", "us-1"]);
    // One tunnel on the plan: the free plan's other online slots are still free.
    let online = fdt_api::Plan::Free.entitlements().online_tunnels;
    for n in 1..online {
        let r = ap
            .bind(&app, &a, &atk(1), json!({"subdomain": format!("other{n}")}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
    ap.bind(&app, &a, &atk(1), json!({"subdomain": "onemore"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "limit_exceeded");
    // The primary reconnects on eu: its own older binding there goes, the standby's stays.
    let again = eu.bind(&app, &a, &atk(1), group("grpAAAA1", 0)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["replaced"], json!([first.json["tunnel_id"]]));
    let ack = eu.beat(&app, json!({})).await;
    assert_eq!(ack["evict"], json!([first.json["tunnel_id"]]));
    // The primary moves to ap while eu still holds its session (a path cut eu has not
    // noticed): eu's binding goes — it is this replica's — and us's stays.
    let moved = ap.bind(&app, &a, &atk(1), group("grpAAAA1", 0)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.json);
    assert_eq!(moved.json["replaced"], json!([again.json["tunnel_id"]]));
    let on = tunnel_relays(&app, &t.access).await;
    assert_eq!(on.iter().filter(|r| *r == "eu-1").count(), 0, "{on:?}");
    assert!(on.contains(&"us-1".to_string()), "{on:?}");
    // A new run of the same agent (another group) takes the name over everywhere.
    let new_run = eu.bind(&app, &a, &atk(1), group("grpBBBB2", 0)).await;
    assert_eq!(new_run.status, StatusCode::OK, "{}", new_run.json);
    assert_eq!(new_run.json["replaced"].as_array().unwrap().len(), 2);
    let on = tunnel_relays(&app, &t.access).await;
    assert!(!on.contains(&"us-1".to_string()), "{on:?}");
    assert_eq!(on.iter().filter(|r| *r == "eu-1").count(), 1, "{on:?}");
    // Another account's group changes nothing: the name is in use.
    let (_, b) = account(&app, "intruder@example.com").await;
    us.bind(&app, &b, &atk(2), group("grpBBBB2", 1))
        .await
        .assert_error(StatusCode::CONFLICT, "name_in_use");
    // A malformed group, or a third replica, is refused.
    us.bind(&app, &a, &atk(1), group("short", 1))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
    us.bind(&app, &a, &atk(1), group("grpBBBB2", 2))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_body");
}

/// The relays the account's live tunnels are on, sorted.
async fn tunnel_relays(app: &TestApp, access: &str) -> Vec<String> {
    let list = app.get("/v1/tunnels", Some(access)).await.json;
    let mut on: Vec<String> = list["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["relay_id"].as_str().unwrap().to_owned())
        .collect();
    on.sort();
    on
}

async fn the_placement_feed_names_what_was_bound_and_waits_for_binds(db: &TestDb) {
    let app = app(db);
    let (_, a) = account(&app, "feed@example.com").await;
    let mut eu = Relay::new("eu-1", "eu");
    eu.beat(&app, json!({})).await;
    let feed = |query: String| {
        let app = &app;
        async move {
            let path = format!("/v1/relay/placement/changes?{query}");
            app.get(&path, Some(SECRET)).await
        }
    };
    // The first question: the cursor, at once and without names.
    let first = feed(String::new()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(first.json["names"], json!([]));
    let cursor = first.json["next"].as_i64().unwrap();
    // Nothing bound since: after the wait, no names and the same cursor.
    let quiet = feed(format!("after={cursor}&wait_secs=1")).await;
    assert_eq!(
        quiet.json,
        json!({"names": [], "complete": true, "next": cursor})
    );

    // A bind while a question waits answers it, with the name.
    app.clock.advance(time::Duration::seconds(5));
    let waiting = feed(format!("after={cursor}&wait_secs=20"));
    let bind = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        eu.bind(&app, &a, &atk(1), json!({"subdomain": "fed"}))
            .await
    };
    let (answer, bound) = tokio::join!(waiting, bind);
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.json);
    assert_eq!(answer.json["names"], json!([{"subdomain": "fed"}]));
    assert_eq!(answer.json["complete"], true);
    let next = answer.json["next"].as_i64().unwrap();
    assert!(next > cursor, "{next} after {cursor}");

    // A TCP address is named by its region and port; the bind at the cursor is named again
    // (the window before the cursor is read again: binds may commit out of order).
    app.clock.advance(time::Duration::seconds(5));
    let tcp = eu
        .bind(
            &app,
            &a,
            &atk(1),
            json!({"proto": "tcp", "port": 21_001, "public_url": "tcp://eu.example:21001"}),
        )
        .await;
    assert_eq!(tcp.status, StatusCode::OK, "{}", tcp.json);
    let changed = feed(format!("after={next}&wait_secs=0")).await;
    assert_eq!(
        changed.json["names"],
        json!([{"region": "eu", "port": 21_001}, {"subdomain": "fed"}])
    );
    // Binds older than the window before the cursor are not named again ("fed").
    let after_tcp = changed.json["next"].as_i64().unwrap();
    app.clock.advance(time::Duration::seconds(5));
    let again = eu
        .bind(&app, &a, &atk(1), json!({"subdomain": "fed2"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    let newest = feed(format!("after={after_tcp}&wait_secs=0")).await;
    assert_eq!(
        newest.json["names"],
        json!([{"region": "eu", "port": 21_001}, {"subdomain": "fed2"}])
    );

    // Only relays may ask; a cursor that is not a number is refused.
    app.get("/v1/relay/placement/changes", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let bad = feed("after=soon".into()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.json);
}
