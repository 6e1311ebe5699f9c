//! SCIM provisioning stories: an organisation's identity provider provisions members into
//! groups mapped to roles, deprovisions them (their authtokens revoked, their sessions ended),
//! and never reaches another organisation or an outsider's account. The compliance checks
//! (`scim2 test`) run in the e2e suite against a served control plane.

use super::orgs::{in_org, set_own_role};
use crate::common::{TestApp, TestDb};
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use fdt_cloud::store::own_org;
use serde_json::{Value, json};

on_both_databases!(
    groups_map_to_roles_and_deprovisioning_revokes,
    tokens_are_scoped_to_their_organisation,
    refusals_are_scim_errors,
);

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM call with `token`, the body sent as `application/scim+json`.
async fn scim(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = TestApp::request(method, &format!("/scim/v2{path}"), Some(token), None);
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/scim+json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let r = app.call(req.body(body).unwrap()).await;
    if r.status != StatusCode::NO_CONTENT {
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "application/scim+json",
            "{path}"
        );
    }
    (r.status, r.json)
}

/// A new SCIM token for the organisation of `access`'s caller.
async fn token(app: &TestApp, access: &str) -> String {
    let r = app
        .post("/v1/scim/tokens", json!({"name": "Okta"}), Some(access))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json["token"].as_str().unwrap().to_owned()
}

async fn role_of(app: &TestApp, owner: &str, email: &str) -> Option<String> {
    let members = app.get("/v1/members", Some(owner)).await;
    members.json["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == json!(email))
        .map(|m| m["role"].as_str().unwrap_or_default().to_owned())
}

async fn groups_map_to_roles_and_deprovisioning_revokes(db: &TestDb) {
    let app = TestApp::new(db);
    let owner = app.signed_up("owner@corp.test").await;
    let dev = app.signed_up("dev@corp.test").await;
    let owner_id: fdt_api::AccountId = app.get("/v1/auth/me", Some(&owner.access)).await.json["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let org = own_org(&owner_id).to_string();
    let scim_token = token(&app, &owner.access).await;
    let t = scim_token.as_str();
    let settings = app
        .put(
            "/v1/scim/settings",
            json!({"default_role": "viewer", "group_roles": {"Engineering": "developer"}}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.json);

    // A new person arrives as a viewer (no mapped group yet) with an account of its own.
    let (s, alice) = scim(
        &app,
        t,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [USER], "userName": "Alice@Corp.test", "externalId": "okta-1",
            "name": {"givenName": "Alice"}, "emails": [{"value": "alice@corp.test", "primary": true}]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{alice}");
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    assert_eq!(alice["meta"]["resourceType"], json!("User"));
    assert!(
        alice["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{alice_id}"))
    );
    assert_eq!(
        role_of(&app, &owner.access, "alice@corp.test")
            .await
            .as_deref(),
        Some("viewer")
    );
    // Her password is nobody's: she signs in through single sign-on.
    assert_eq!(
        app.login("alice@corp.test", "").await.status,
        StatusCode::UNAUTHORIZED
    );

    // userName compares case-insensitively; externalId exactly.
    let (_, found) = scim(
        &app,
        t,
        Method::GET,
        "/Users?filter=userName%20eq%20%22ALICE%40corp.TEST%22",
        None,
    )
    .await;
    assert_eq!(found["totalResults"], json!(1), "{found}");
    let (_, none) = scim(
        &app,
        t,
        Method::GET,
        "/Users?filter=externalId%20eq%20%22OKTA-1%22",
        None,
    )
    .await;
    assert_eq!(none["totalResults"], json!(0));

    // The invited member is adopted, not duplicated.
    let inv = app
        .post(
            "/v1/invitations",
            json!({"email": "dev@corp.test", "role": "viewer"}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(inv.status, StatusCode::CREATED);
    let mail = app.state.store().outbox_for("dev@corp.test").await.unwrap();
    let code = mail[0]
        .1
        .split_whitespace()
        .find(|w| w.starts_with("fdi_"))
        .unwrap()
        .to_owned();
    let joined = app
        .post(
            "/v1/invitations/accept",
            json!({"token": code}),
            Some(&dev.access),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK);
    let (s, devu) = scim(
        &app,
        t,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "dev@corp.test"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{devu}");
    let dev_id = devu["id"].as_str().unwrap().to_owned();

    // Engineering maps to developer: both members become developers, and the group shows
    // on each User.
    let (s, eng) = scim(
        &app,
        t,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": [GROUP], "displayName": "engineering",
            "members": [{"value": alice_id, "type": "User"}, {"value": dev_id}]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{eng}");
    let eng_id = eng["id"].as_str().unwrap().to_owned();
    assert!(
        eng["members"][0]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{alice_id}"))
    );
    for email in ["alice@corp.test", "dev@corp.test"] {
        assert_eq!(
            role_of(&app, &owner.access, email).await.as_deref(),
            Some("developer"),
            "{email}"
        );
    }
    let (_, a) = scim(&app, t, Method::GET, &format!("/Users/{alice_id}"), None).await;
    assert_eq!(a["groups"][0]["value"], json!(eng_id));
    assert_eq!(a["groups"][0]["display"], json!("engineering"));

    // The developer makes an authtoken for the organisation.
    let made = in_org(
        &app,
        "POST",
        "/v1/authtokens",
        &dev.access,
        &org,
        Some(json!({"description": "laptop"})),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);

    // Leaving the group: back to the default role.
    let (s, _) = scim(
        &app,
        t,
        Method::PATCH,
        &format!("/Groups/{eng_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{alice_id}\"]")}
        ]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        role_of(&app, &owner.access, "alice@corp.test")
            .await
            .as_deref(),
        Some("viewer")
    );

    // Deprovisioning (Okta's PATCH active=false): the membership ends, the authtoken made
    // for the organisation is revoked, the sessions end.
    let (s, d) = scim(
        &app,
        t,
        Method::PATCH,
        &format!("/Users/{dev_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"active": false}}
        ]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["active"], json!(false));
    assert_eq!(role_of(&app, &owner.access, "dev@corp.test").await, None);
    let listed = app.get("/v1/authtokens", Some(&owner.access)).await;
    assert!(
        !listed.json["authtokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == made.json["id"]),
        "the member's authtoken is revoked"
    );
    app.get("/v1/auth/me", Some(&dev.access))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Still listed, inactive; active again brings the membership back.
    let (_, list) = scim(
        &app,
        t,
        Method::GET,
        "/Users?filter=active%20eq%20false",
        None,
    )
    .await;
    assert_eq!(list["totalResults"], json!(1));
    let (s, _) = scim(
        &app,
        t,
        Method::PATCH,
        &format!("/Users/{dev_id}"),
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": true}
        ]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        role_of(&app, &owner.access, "dev@corp.test")
            .await
            .as_deref(),
        Some("developer")
    );

    // DELETE deprovisions too and takes the User out of its groups.
    let (s, _) = scim(&app, t, Method::DELETE, &format!("/Users/{dev_id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, &owner.access, "dev@corp.test").await, None);
    let (_, g) = scim(&app, t, Method::GET, &format!("/Groups/{eng_id}"), None).await;
    assert!(g.get("members").is_none(), "{g}");
    let (s, _) = scim(&app, t, Method::GET, &format!("/Users/{dev_id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Every change is in the audit log, by the token.
    let audit = app.state.store().audit_entries(None, 200).await.unwrap();
    for action in [
        "scim.token.create",
        "scim.settings.update",
        "scim.user.create",
        "scim.group.create",
        "scim.group.patch",
        "scim.user.patch",
        "scim.user.delete",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "{action} is not in the audit log"
        );
    }
    assert!(
        audit
            .iter()
            .any(|e| e.action == "scim.user.delete" && e.actor.starts_with("scim:scimtok_"))
    );
}

async fn tokens_are_scoped_to_their_organisation(db: &TestDb) {
    let app = TestApp::new(db);
    let a = app.signed_up("a@one.test").await;
    let b = app.signed_up("b@two.test").await;
    let outsider = app.signed_up("outsider@else.test").await;
    let ta = token(&app, &a.access).await;
    let tb = token(&app, &b.access).await;
    let (_, u) = scim(
        &app,
        &ta,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x@one.test"})),
    )
    .await;
    let uid = u["id"].as_str().unwrap().to_owned();

    // B's token sees none of A's: 404 on the id, empty lists, no member from A in B's group.
    for m in [Method::GET, Method::DELETE] {
        let (s, e) = scim(&app, &tb, m, &format!("/Users/{uid}"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    }
    let (s, _) = scim(
        &app,
        &tb,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = scim(&app, &tb, Method::GET, "/Users", None).await;
    assert_eq!(list["totalResults"], json!(0));
    let (s, e) = scim(
        &app,
        &tb,
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "g", "members": [{"value": uid}]})),
    )
    .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );

    // An account outside the organisation is not pulled in: invite it first.
    let (s, e) = scim(
        &app,
        &tb,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "outsider@else.test"})),
    )
    .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    assert_eq!(
        app.get("/v1/auth/me", Some(&outsider.access)).await.status,
        StatusCode::OK
    );

    // The owner is linked (a member) but never deprovisioned or demoted by SCIM.
    let (s, me) = scim(
        &app,
        &tb,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "b@two.test"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{me}");
    let (s, e) = scim(
        &app,
        &tb,
        Method::PATCH,
        &format!("/Users/{}", me["id"].as_str().unwrap()),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mutability"))
    );
    assert_eq!(
        role_of(&app, &b.access, "b@two.test").await.as_deref(),
        Some("owner")
    );

    // A revoked token is refused at once; a viewer cannot make tokens.
    let listed = app.get("/v1/scim/tokens", Some(&a.access)).await;
    let id = listed.json["tokens"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        !listed.raw.windows(9).any(|w| w == b"fdt_scim_"),
        "no secrets listed"
    );
    let r = app
        .delete(&format!("/v1/scim/tokens/{id}"), Some(&b.access))
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .delete(&format!("/v1/scim/tokens/{id}"), Some(&a.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (s, e) = scim(&app, &ta, Method::GET, "/Users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    set_own_role(&app, &a.access, fdt_api::RoleTemplate::Viewer).await;
    app.post("/v1/scim/tokens", json!({"name": "x"}), Some(&a.access))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.get("/v1/scim/tokens", Some(&a.access)).await.status,
        StatusCode::OK
    );
}

async fn refusals_are_scim_errors(db: &TestDb) {
    let app = TestApp::new(db);
    let o = app.signed_up("o@corp.test").await;
    let t = token(&app, &o.access).await;
    // No token, a wrong one, an authtoken: 401 with SCIM's error body.
    for bad in ["", "fdt_scim_nope", "fdt_abc"] {
        let (s, e) = scim(&app, bad, Method::GET, "/Users", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(
            e["schemas"][0],
            json!("urn:ietf:params:scim:api:messages:2.0:Error")
        );
        assert_eq!(e["status"], json!("401"));
    }
    let cases = [
        (
            Method::POST,
            "/Users",
            json!({"userName": "no-schemas"}),
            "invalidSyntax",
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER]}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER], "userName": 7}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users",
            json!({"schemas": [USER], "userName": "   "}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "g", "members": [{"value": "nobody"}]}),
            "invalidValue",
        ),
        (
            Method::POST,
            "/Users/.search",
            json!({"filter": "userName eq \"x\""}),
            "invalidSyntax",
        ),
    ];
    for (m, path, body, want) in cases {
        let (s, e) = scim(&app, &t, m, path, Some(body.clone())).await;
        assert_eq!(
            (s, e["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some(want)),
            "{body}"
        );
        assert_eq!(e["status"], json!("400"));
    }
    let (s, e) = scim(
        &app,
        &t,
        Method::GET,
        "/Users?filter=userName%20zz%20%22x%22",
        None,
    )
    .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidFilter"))
    );
    let (s, e) = scim(&app, &t, Method::GET, "/Users?count=abc", None).await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    let (s, _) = scim(&app, &t, Method::GET, "/Widgets", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Duplicate userName (any case): 409 uniqueness; nothing else was stored.
    let body = json!({"schemas": [USER], "userName": "dup@corp.test"});
    assert_eq!(
        scim(&app, &t, Method::POST, "/Users", Some(body)).await.0,
        StatusCode::CREATED
    );
    let (s, e) = scim(
        &app,
        &t,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "DUP@corp.test"})),
    )
    .await;
    assert_eq!(
        (s, e["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    let (_, list) = scim(&app, &t, Method::GET, "/Users", None).await;
    assert_eq!(list["totalResults"], json!(1));
    // Paging: startIndex is 1-based, count 0 gives the total only.
    let (_, page) = scim(&app, &t, Method::GET, "/Users?startIndex=0&count=0", None).await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(1), Some(0))
    );
    // Settings that would make owners are refused.
    app.put(
        "/v1/scim/settings",
        json!({"default_role": "owner"}),
        Some(&o.access),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
