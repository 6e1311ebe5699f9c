//! Tests of the SCIM patch module.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::scim::doc::normalize;
use crate::scim::schema::{GROUP, USER};
use serde_json::json;

fn ops(list: Value) -> Vec<Operation> {
    parse(&json!({"schemas": [urn::PATCH], "Operations": list})).unwrap()
}

fn patched(schema: &ResourceSchema, doc: Value, list: Value) -> Result<Value, ScimError> {
    let Value::Object(mut d) = doc else { panic!() };
    apply(schema, &mut d, &ops(list))?;
    normalize(schema, &Value::Object(d)).map(Value::Object)
}

/// RFC 7644 §3.5.2's examples, on a group and a user.
#[test]
fn add_replace_and_remove_as_the_rfc_shows() {
    let group = json!({"displayName": "Eng", "members": [{"value": "a"}, {"value": "b"}]});
    let g = patched(
        &GROUP,
        group.clone(),
        json!([{"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]}]),
    )
    .unwrap();
    assert_eq!(
        g["members"],
        json!([{"value": "a"}, {"value": "b"}, {"value": "c"}])
    );
    let g = patched(
        &GROUP,
        group.clone(),
        json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
    )
    .unwrap();
    assert_eq!(g["members"], json!([{"value": "b"}]));
    let g = patched(
        &GROUP,
        group.clone(),
        json!([{"op": "remove", "path": "members"}]),
    )
    .unwrap();
    assert!(g.get("members").is_none());
    // Azure AD's form: remove the listed members.
    let g = patched(
        &GROUP,
        group.clone(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": "b"}]}]),
    )
    .unwrap();
    assert_eq!(g["members"], json!([{"value": "a"}]));
    let g = patched(
        &GROUP,
        group,
        json!([{"op": "replace", "value": {"displayName": "Ops", "members": [{"value": "z"}]}}]),
    )
    .unwrap();
    assert_eq!(
        g,
        json!({"displayName": "Ops", "members": [{"value": "z"}]})
    );

    let user = json!({
        "userName": "b", "name": {"givenName": "B", "familyName": "J"},
        "emails": [{"value": "w@x", "type": "work"}, {"value": "h@x", "type": "home"}]
    });
    let u = patched(
        &USER,
        user.clone(),
        json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"},
            {"op": "replace", "path": "name.givenName", "value": "Babs"},
            {"op": "replace", "value": {"active": "False", "name.familyName": "Jensen"}},
            {"op": "add", "path": "displayName", "value": "Babs J"}
        ]),
    )
    .unwrap();
    assert_eq!(u["emails"][0], json!({"value": "new@x", "type": "work"}));
    assert_eq!(
        u["name"],
        json!({"givenName": "Babs", "familyName": "Jensen"})
    );
    assert_eq!(u["active"], json!(false));
    assert_eq!(u["displayName"], json!("Babs J"));
    let u = patched(
        &USER,
        user,
        json!([{"op": "remove", "path": "emails[type eq \"HOME\"]"}]),
    )
    .unwrap();
    assert_eq!(
        u["emails"],
        json!([{"value": "w@x", "type": "work"}]),
        "type is not case-exact"
    );
}

#[test]
fn refusals_carry_the_rfc_scim_types() {
    let user = json!({"userName": "b", "emails": [{"value": "w@x", "type": "work"}]});
    let cases = [
        (json!([{"op": "remove", "path": "userName"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "name.nosuch", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]),
            "noTarget",
        ),
        (
            json!([{"op": "replace", "path": "userName[value eq 1]", "value": 1}]),
            "invalidFilter",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": [1]}]),
            "invalidValue",
        ),
    ];
    for (list, want) in cases {
        let e = patched(&USER, user.clone(), list.clone()).unwrap_err();
        assert_eq!(e.scim_type, Some(want), "{list}: {}", e.detail);
    }
    for body in [
        json!({"Operations": [{"op": "add", "path": "a", "value": 1}]}),
        json!({"schemas": [urn::PATCH], "Operations": []}),
        json!({"schemas": [urn::PATCH], "Operations": [{"op": "move", "path": "a"}]}),
        json!({"schemas": [urn::PATCH], "Operations": [{"op": "remove"}]}),
        json!({"schemas": [urn::PATCH], "Operations": [{"op": "add", "path": "a"}]}),
    ] {
        assert!(parse(&body).is_err(), "{body}");
    }
    let too_many: Vec<Value> = (0..=MAX_PATCH_OPERATIONS)
        .map(|_| json!({"op": "add", "path": "displayName", "value": "x"}))
        .collect();
    assert!(parse(&json!({"schemas": [urn::PATCH], "Operations": too_many})).is_err());
}
