//! Tests of the SCIM doc module.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::scim::schema::{GROUP, USER};
use serde_json::json;

#[test]
fn a_user_keeps_known_writable_attributes_under_their_schema_names() {
    let doc = normalize(
        &USER,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "client-chosen",
            "USERNAME": "bjensen@example.com",
            "name": {"givenName": "Barbara", "nickname": "Babs"},
            "active": "False",
            "emails": {"value": "b@example.com", "type": "work"},
            "groups": [{"value": "g1"}],
            "locale": "en-US",
            "title": null,
            "externalId": "X-1"
        }),
    )
    .unwrap();
    assert_eq!(
        Value::Object(doc),
        json!({
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara"},
            "active": false,
            "emails": [{"value": "b@example.com", "type": "work"}],
            "externalId": "X-1"
        }),
        "id and groups are read-only, locale and nickname unknown, a lone email becomes a list"
    );
}

#[test]
fn bad_values_are_refused_with_scim_errors() {
    let cases = [
        json!({"name": {"givenName": "x"}}),
        json!({"userName": 5}),
        json!({"userName": "a", "active": "maybe"}),
        json!({"userName": "a", "name": "flat"}),
        json!({"userName": "a\u{0}b"}),
        json!({"userName": "x".repeat(MAX_STRING_BYTES + 1)}),
        json!("not an object"),
    ];
    for c in cases {
        let e = normalize(&USER, &c).unwrap_err();
        assert_eq!(e.status, 400, "{c}");
        assert!(e.scim_type.is_some(), "{c}");
    }
    let many: Vec<Value> = (0..=MAX_VALUES)
        .map(|i| json!({"value": i.to_string()}))
        .collect();
    let e = normalize(&GROUP, &json!({"displayName": "g", "members": many})).unwrap_err();
    assert!(e.detail.contains("at most"), "{}", e.detail);
}

#[test]
fn projections_keep_id_and_schemas_and_cut_the_rest() {
    let full = json!({
        "schemas": ["s"], "id": "1", "userName": "u",
        "name": {"givenName": "g", "familyName": "f"},
        "emails": [{"value": "a", "type": "work"}],
        "meta": {"resourceType": "User"}
    });
    let only = Projection::parse(Some("userName,name.givenName"), None).unwrap();
    assert_eq!(
        only.apply(full.clone()),
        json!({"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "g"}})
    );
    let without = Projection::parse(None, Some("emails.type, meta, id")).unwrap();
    assert_eq!(
        without.apply(full),
        json!({
            "schemas": ["s"], "id": "1", "userName": "u",
            "name": {"givenName": "g", "familyName": "f"},
            "emails": [{"value": "a"}]
        })
    );
    assert!(Projection::parse(Some("a b"), None).is_err());
}
