//! Names: a relay asks before binding one, and reservations, live tunnels of others, pooling,
//! plan limits and the reconnect grace decide; accounts reserve, list, update and release
//! names.

use super::fleet::{Relay, account, app, atk, ids, pass_time};
use crate::common::TestDb;
use axum::http::StatusCode;
use fdt_api::{AccountId, Plan};
use serde_json::json;

on_both_databases!(
    bindings_obey_reservations_live_names_pooling_and_plan_limits,
    reserved_names_are_listed_updated_released_and_limited_by_plan,
    an_ended_tunnels_name_stays_its_owners_for_the_grace_period,
);

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
