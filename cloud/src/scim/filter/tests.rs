//! Tests of the SCIM filter module.

#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::json;

/// userName compares case-insensitively; id, externalId and others as the schema says.
fn exact(attr: &str, _sub: Option<&str>) -> bool {
    attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("externalId")
}

fn bjensen() -> Value {
    json!({
        "id": "2819c223",
        "externalId": "Bjensen-X",
        "userName": "Bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"}
    })
}

fn hit(filter: &str) -> bool {
    parse_filter(filter)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(&bjensen(), &exact)
}

/// The examples of RFC 7644 §3.4.2.2, against RFC 7643's Barbara Jensen.
#[test]
fn rfc_7644_examples_match_as_the_rfc_reads() {
    assert!(
        hit(r#"userName eq "bjensen""#),
        "userName is not case-exact"
    );
    assert!(
        hit(r#"userName Eq "BJENSEN""#),
        "operators are case-insensitive"
    );
    assert!(hit(r#"name.familyName co "ens""#));
    assert!(!hit(r#"userName sw "J""#));
    assert!(hit(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#
    ));
    assert!(hit("name.givenName pr"));
    assert!(!hit("title pr"));
    assert!(!hit(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
    assert!(hit(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
    assert!(hit(r#"meta.lastModified lt "2012-01-01T00:00:00Z""#));
    assert!(!hit(r#"title pr or userType eq "Intern""#));
    assert!(hit(r#"emails[type eq "work" and value co "@example.com"]"#));
    assert!(!hit(r#"emails[type eq "work" and value co "@jensen.org"]"#));
    assert!(
        hit(r#"emails co "jensen.org""#),
        "a complex element stands for its value"
    );
    assert!(hit(r#"emails.type eq "home""#));
    assert!(hit(
        r#"userType eq "Employee" or (emails co "example.com" and not (active eq false))"#
    ));
    assert!(hit("active eq true"));
    assert!(!hit("active ne true"));
    assert!(
        hit(r#"title ne "Boss""#),
        "ne is true of an absent attribute"
    );
}

#[test]
fn exact_attributes_compare_exactly() {
    assert!(hit(r#"id eq "2819c223""#));
    assert!(hit(r#"externalId eq "Bjensen-X""#));
    assert!(!hit(r#"externalId eq "bjensen-x""#));
}

#[test]
fn and_binds_tighter_than_or() {
    // false and false or true  →  (false and false) or true  →  true
    assert!(hit(
        r#"userName eq "x" and active eq false or active eq true"#
    ));
    // true or false and false  →  true or (false and false)  →  true
    assert!(hit(
        r#"active eq true or userName eq "x" and active eq false"#
    ));
}

#[test]
fn bad_filters_are_refused_with_a_reason() {
    for bad in [
        "",
        "userName",
        r#"userName eq"#,
        r#"userName zz "x""#,
        r#"userName eq "x"#,
        r#"userName eq "x" and"#,
        r#"(userName eq "x""#,
        r#"emails[type eq "work""#,
        r#"urn:other:schema:attr eq "x""#,
        r#"name.givenName.x eq "y""#,
        r#"userName eq "\q""#,
        "userName eq 1e99999",
        "userName eq @",
    ] {
        assert!(parse_filter(bad).is_err(), "{bad:?} was accepted");
    }
    let deep = format!("{}active pr{}", "(".repeat(40), ")".repeat(40));
    assert!(parse_filter(&deep).unwrap_err().0.contains("nested"));
    let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_BYTES));
    assert!(parse_filter(&long).unwrap_err().0.contains("longer"));
}

#[test]
fn any_input_parses_or_fails_without_panicking() {
    // Cut a valid filter at every byte, and mangle it, so multi-byte characters split too.
    let f = r#"emails[type eq "wörk"].value co "é" and not (userName sw "ß")"#;
    for i in 0..=f.len() {
        let (a, b) = (f.get(..i).unwrap_or(""), f.get(i..).unwrap_or(""));
        for s in [a, b] {
            let _ = parse_filter(s);
            let _ = parse_patch_path(s);
        }
    }
}

#[test]
fn patch_paths_name_elements_and_sub_attributes() {
    let p = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!(p.attr, "members");
    assert!(p.filter.is_some() && p.sub.is_none());
    let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("emails", Some("value"))
    );
    let p = parse_patch_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("name", Some("givenName"))
    );
    assert!(parse_patch_path("name.givenName[value eq 1]").is_err());
    assert!(parse_patch_path("a b").is_err());
}
