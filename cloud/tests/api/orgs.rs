//! Organisations and roles: every account owns its own organisation (made at sign-up, or by
//! the migration for accounts that existed before it), and the role it holds there decides
//! which calls go through — reads and writes per permission, refused with 403.

use crate::common::{TestApp, TestDb};
use axum::http::StatusCode;
use fdt_api::{AccountId, RoleTemplate};
use fdt_cloud::store::{Store, own_org};
use serde_json::json;

on_both_databases!(
    roles_decide_which_calls_go_through,
    the_migration_gives_every_existing_account_its_organisation,
    members_are_invited_act_in_the_organisation_and_are_removed,
    custom_roles_grant_what_they_name,
    a_device_approved_inside_an_organisation_is_its_approvers,
);

async fn raw(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
        Store::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

pub(crate) async fn me(app: &TestApp, access: &str) -> AccountId {
    let r = app.get("/v1/auth/me", Some(access)).await;
    r.json["id"].as_str().unwrap().parse().unwrap()
}

async fn roles_decide_which_calls_go_through(db: &TestDb) {
    let app = TestApp::new(db);
    let t = app.signed_up("member@example.com").await;
    let bearer = Some(t.access.as_str());
    let id = me(&app, &t.access).await;
    let orgs = app.get("/v1/orgs", bearer).await;
    assert_eq!(orgs.status, StatusCode::OK, "{}", orgs.json);
    assert_eq!(orgs.json["orgs"][0]["id"], json!(own_org(&id).to_string()));
    assert_eq!(orgs.json["orgs"][0]["role"], json!("owner"));
    assert_eq!(orgs.json["orgs"][0]["name"], json!("member@example.com"));

    let set = |role| {
        let store = app.state.store().clone();
        let id = id.clone();
        async move { assert!(store.set_role(&own_org(&id), &id, role).await.unwrap()) }
    };
    let token_write = || app.post("/v1/authtokens", json!({}), bearer);

    // A viewer reads everything and changes nothing.
    set(RoleTemplate::Viewer).await;
    assert_eq!(
        app.get("/v1/authtokens", bearer).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/v1/tunnels", bearer).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/plan", bearer).await.status, StatusCode::OK);
    let refused = token_write().await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot change")
    );
    app.post(
        "/v1/tunnel-configs",
        json!({"name": "w", "definition": {"proto": "http", "addr": "80"}}),
        bearer,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.stats().await.authtokens, 0, "nothing was created");

    // Billing sees the plan, not the tunnels or the traffic.
    set(RoleTemplate::Billing).await;
    assert_eq!(app.get("/v1/plan", bearer).await.status, StatusCode::OK);
    app.get("/v1/tunnels", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/requests", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // A developer works with tunnels and authtokens, not the plan.
    set(RoleTemplate::Developer).await;
    assert_eq!(token_write().await.status, StatusCode::CREATED);
    app.get("/v1/usage", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let orgs = app.get("/v1/orgs", bearer).await;
    assert_eq!(orgs.json["orgs"][0]["role"], json!("developer"));
    assert!(
        !orgs.json["orgs"][0]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("billing:read"))
    );

    // A role this server does not know grants nothing; the account still proves who it is.
    raw(
        app.state.store(),
        "UPDATE memberships SET role = 'superuser'",
    )
    .await;
    app.get("/v1/authtokens", bearer)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // Without a session, 401 comes before any permission.
    app.get("/v1/authtokens", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn the_migration_gives_every_existing_account_its_organisation(db: &TestDb) {
    let app = TestApp::new(db);
    let mut ids = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let t = app.signed_up(email).await;
        app.post(
            "/v1/authtokens",
            json!({"description": email}),
            Some(&t.access),
        )
        .await;
        ids.push((me(&app, &t.access).await, t));
    }
    let before = app.stats().await;
    // Back to the schema before organisations, with these accounts in it.
    raw(
        app.state.store(),
        "DROP TABLE role_templates; DROP TABLE sso_identities; DROP TABLE sso_logins; DROP TABLE sso_configs; \
         DROP TABLE scim_settings; DROP TABLE scim_resources; DROP TABLE scim_tokens; \
         ALTER TABLE accounts DROP COLUMN provisioned_by; \
         DROP TABLE email_outbox; DROP TABLE invitations; \
         ALTER TABLE authtokens DROP COLUMN created_by; \
         DROP TABLE memberships; DROP TABLE organizations; \
         DELETE FROM _sqlx_migrations WHERE version IN (11, 12, 13, 14, 15);",
    )
    .await;
    app.state.store().migrate().await.unwrap();
    assert_eq!(
        app.stats().await.authtokens,
        before.authtokens,
        "no data lost"
    );
    for (id, t) in &ids {
        let memberships = app.state.store().memberships(id).await.unwrap();
        assert_eq!(memberships.len(), 1);
        assert_eq!(memberships[0].org_id, own_org(id));
        assert_eq!(memberships[0].role, Some(RoleTemplate::Owner));
        // And the account works as before.
        let r = app.get("/v1/authtokens", Some(&t.access)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["authtokens"].as_array().unwrap().len(), 1);
    }
}

/// A call in organisation `org` (the `X-FDT-Org` header).
pub(crate) async fn in_org(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: &str,
    org: &str,
    body: Option<serde_json::Value>,
) -> crate::common::TestResponse {
    let mut req = TestApp::request(method.parse().unwrap(), path, Some(bearer), None)
        .header("x-fdt-org", org);
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            axum::body::Body::from(b.to_string())
        }
        None => axum::body::Body::empty(),
    };
    app.call(req.body(body).unwrap()).await
}

async fn members_are_invited_act_in_the_organisation_and_are_removed(db: &TestDb) {
    let app = TestApp::new(db);
    let owner = app.signed_up("owner@example.com").await;
    let dev = app.signed_up("dev@example.com").await;
    let stranger = app.signed_up("stranger@example.com").await;
    let owner_id = me(&app, &owner.access).await;
    let dev_id = me(&app, &dev.access).await;
    let org = own_org(&owner_id).to_string();

    // The invitation's token goes by email only.
    let inv = app
        .post(
            "/v1/invitations",
            json!({"email": "Dev@Example.com", "role": "developer"}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(inv.status, StatusCode::CREATED, "{}", inv.json);
    assert_eq!(inv.json["email"], json!("dev@example.com"));
    assert!(!inv.raw.windows(4).any(|w| w == b"fdi_"));
    let mail = app
        .state
        .store()
        .outbox_for("dev@example.com")
        .await
        .unwrap();
    assert_eq!(mail.len(), 1);
    let token = mail[0]
        .1
        .split_whitespace()
        .find(|w| w.starts_with("fdi_"))
        .unwrap()
        .to_owned();

    // Only the invited address can accept it, and only once.
    app.post(
        "/v1/invitations/accept",
        json!({"token": token}),
        Some(&stranger.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let joined = app
        .post(
            "/v1/invitations/accept",
            json!({"token": token}),
            Some(&dev.access),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.json);
    let orgs = joined.json["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(
        orgs.iter()
            .any(|o| o["id"] == json!(org) && o["role"] == json!("developer"))
    );
    app.post(
        "/v1/invitations/accept",
        json!({"token": token}),
        Some(&dev.access),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // In the organisation, the developer's authtoken is the organisation's: the owner sees it.
    let made = in_org(
        &app,
        "POST",
        "/v1/authtokens",
        &dev.access,
        &org,
        Some(json!({"description": "dev laptop"})),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    let atk = made.json["id"].as_str().unwrap().to_owned();
    let listed = app.get("/v1/authtokens", Some(&owner.access)).await;
    assert!(
        listed.json["authtokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == json!(atk))
    );
    in_org(&app, "GET", "/v1/plan", &dev.access, &org, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    in_org(&app, "GET", "/v1/members", &dev.access, &org, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    // Outsiders and malformed organisation IDs: 404, as for anything not theirs.
    in_org(&app, "GET", "/v1/authtokens", &stranger.access, &org, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    in_org(&app, "GET", "/v1/authtokens", &dev.access, "org_nope", None)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Roles: the owner makes the developer a viewer; the founder stays an owner.
    let members = app.get("/v1/members", Some(&owner.access)).await;
    assert_eq!(members.json["members"].as_array().unwrap().len(), 2);
    let r = app
        .put(
            &format!("/v1/members/{dev_id}/role"),
            json!({"role": "viewer"}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    in_org(
        &app,
        "POST",
        "/v1/authtokens",
        &dev.access,
        &org,
        Some(json!({})),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    app.put(
        &format!("/v1/members/{owner_id}/role"),
        json!({"role": "viewer"}),
        Some(&owner.access),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "conflict");
    in_org(
        &app,
        "DELETE",
        &format!("/v1/members/{owner_id}"),
        &dev.access,
        &org,
        None,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Removal: the member's authtokens for the organisation are revoked (the relays' feed
    // has it), and its sessions end.
    let feed_before = app
        .state
        .store()
        .revocations_after(0, 1000)
        .await
        .unwrap()
        .0;
    let r = app
        .delete(&format!("/v1/members/{dev_id}"), Some(&owner.access))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let listed = app.get("/v1/authtokens", Some(&owner.access)).await;
    assert!(
        !listed.json["authtokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == json!(atk))
    );
    let feed = app
        .state
        .store()
        .revocations_after(0, 1000)
        .await
        .unwrap()
        .0;
    assert_eq!(feed.len(), feed_before.len() + 1);
    assert_eq!(feed.last().map(ToString::to_string), Some(atk));
    app.get("/v1/auth/me", Some(&dev.access))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.delete(&format!("/v1/members/{owner_id}"), Some(&owner.access))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");

    let actions: Vec<String> = app
        .state
        .store()
        .audit_entries(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("member."))
        .collect();
    assert_eq!(
        actions,
        [
            "member.remove",
            "member.role",
            "member.join",
            "member.invite"
        ]
    );
}

/// Gives the signed-in caller of `access` the role `role` in its own organisation.
pub(crate) async fn set_own_role(app: &TestApp, access: &str, role: RoleTemplate) {
    let id = me(app, access).await;
    assert!(
        app.state
            .store()
            .set_role(&own_org(&id), &id, role)
            .await
            .unwrap()
    );
}

/// Makes `who` a member of `org` with the stored role `role`.
async fn join(app: &TestApp, org: &fdt_api::OrgId, who: &AccountId, role: &str) {
    app.state
        .store()
        .provision_member(org, who, role, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
}

/// An organisation's own roles: sets of named permissions, made by owners, held by members,
/// deciding their calls like the built-in ones.
async fn custom_roles_grant_what_they_name(db: &TestDb) {
    let app = TestApp::new(db);
    let owner = app.signed_up("owner@example.com").await;
    let dep = app.signed_up("deployer@example.com").await;
    let owner_id = me(&app, &owner.access).await;
    let dep_id = me(&app, &dep.access).await;
    let org = own_org(&owner_id);
    let o = Some(owner.access.as_str());

    // The built-in templates are listed and cannot change.
    let roles = app.get("/v1/roles", o).await;
    assert_eq!(roles.status, StatusCode::OK);
    assert_eq!(roles.json["roles"].as_array().unwrap().len(), 5);
    app.put("/v1/roles/developer", json!({"permissions": []}), o)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    for (path, body) in [
        ("/v1/roles/custom:Bad", json!({"permissions": []})),
        ("/v1/roles/custom:", json!({"permissions": []})),
        ("/v1/roles/custom:x", json!({"permissions": ["operator"]})),
        ("/v1/roles/custom:x", json!({"permissions": ["root"]})),
    ] {
        let r = app.put(path, body.clone(), o).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
            "{path} {body}: {} {}",
            r.status,
            r.json
        );
    }

    // Deployers see and start tunnels, and nothing else.
    let made = app
        .put(
            "/v1/roles/custom:deployers",
            json!({"permissions": ["tunnels:write", "tunnels:read", "tunnels:read", "account:read"]}),
            o,
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.json);
    assert_eq!(
        made.json["permissions"],
        json!(["account:read", "tunnels:read", "tunnels:write"])
    );
    join(&app, &org, &dep_id, "viewer").await;
    let r = app
        .put(
            &format!("/v1/members/{dep_id}/role"),
            json!({"role": "custom:deployers"}),
            o,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(
        r.json["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role_name"] == json!("custom:deployers") && m.get("role").is_none())
    );
    let orgs = app.get("/v1/orgs", Some(&dep.access)).await;
    let theirs = orgs.json["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(org.to_string()))
        .unwrap()
        .clone();
    assert_eq!(theirs["role_name"], json!("custom:deployers"));
    assert_eq!(
        theirs["permissions"],
        json!(["account:read", "tunnels:read", "tunnels:write"])
    );
    let org_s = org.to_string();
    assert_eq!(
        in_org(&app, "GET", "/v1/tunnels", &dep.access, &org_s, None)
            .await
            .status,
        StatusCode::OK
    );
    in_org(&app, "GET", "/v1/authtokens", &dep.access, &org_s, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    in_org(
        &app,
        "POST",
        "/v1/authtokens",
        &dep.access,
        &org_s,
        Some(json!({})),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");

    // Unknown custom roles are refused; held ones are not deleted; only owners manage them.
    app.put(
        &format!("/v1/members/{dep_id}/role"),
        json!({"role": "custom:nosuch"}),
        o,
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.delete("/v1/roles/custom:deployers", o)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    join(&app, &org, &dep_id, "admin").await;
    in_org(
        &app,
        "PUT",
        "/v1/roles/custom:deployers",
        &dep.access,
        &org_s,
        Some(json!({"permissions": ["members:write"]})),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    join(&app, &org, &dep_id, "viewer").await;
    assert_eq!(
        app.delete("/v1/roles/custom:deployers", o).await.status,
        StatusCode::NO_CONTENT
    );
    app.delete("/v1/roles/custom:deployers", o)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let audit = app.state.store().audit_entries(None, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "role.put"));
    assert!(audit.iter().any(|e| e.action == "role.delete"));
}

/// A member approving a device sign-in inside the organisation makes the device's authtoken
/// the organisation's and the member's: removing the member revokes it, and the audit log
/// names the member.
async fn a_device_approved_inside_an_organisation_is_its_approvers(db: &TestDb) {
    let app = TestApp::new(db);
    let owner = app.signed_up("owner@example.com").await;
    let dev = app.signed_up("dev@example.com").await;
    let owner_id = me(&app, &owner.access).await;
    let dev_id = me(&app, &dev.access).await;
    let org = own_org(&owner_id);
    join(&app, &org, &dev_id, "developer").await;
    let code = app
        .post("/v1/device/code", json!({"client_name": "ci-box"}), None)
        .await;
    let device_code = code.json["device_code"].as_str().unwrap().to_owned();
    let user_code = code.json["user_code"].as_str().unwrap().to_owned();
    let r = in_org(
        &app,
        "POST",
        "/v1/device/approve",
        &dev.access,
        org.as_str(),
        Some(json!({"user_code": user_code, "approve": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let token = app
        .post(
            "/v1/device/token",
            json!({"device_code": device_code}),
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.json);
    let device_token = |list: &serde_json::Value| {
        list["authtokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["description"] == json!("fdt login on ci-box"))
    };
    let listed = app.get("/v1/authtokens", Some(&owner.access)).await;
    assert!(device_token(&listed.json), "{}", listed.json);
    let audit = app.state.store().audit_entries(None, 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "device.approve" && e.actor == dev_id.to_string())
    );
    let removed = app
        .delete(&format!("/v1/members/{dev_id}"), Some(&owner.access))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let listed = app.get("/v1/authtokens", Some(&owner.access)).await;
    assert!(
        !device_token(&listed.json),
        "the approver's device authtoken is revoked with it: {}",
        listed.json
    );
}
