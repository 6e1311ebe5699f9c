//! `GET /scim/v2/ServiceProviderConfig`, `/ResourceTypes[/{id}]` and `/Schemas[/{id}]`
//! (RFC 7644 §4), from [`super::meta`].

use super::meta;
use super::schema::urn;
use super::{ScimCaller, ScimError, scim_json};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// A ListResponse of all of `items`.
pub fn list_response(items: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": [urn::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

fn one_of(items: Vec<Value>, id: &str, what: &str) -> Result<Response, ScimError> {
    items
        .into_iter()
        .find(|s| s["id"].as_str() == Some(id))
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("no {what} {id}")))
}

/// `GET /scim/v2/ServiceProviderConfig`.
pub async fn service_provider_config(who: ScimCaller) -> Response {
    scim_json(StatusCode::OK, &meta::service_provider_config(&who.base))
}

/// `GET /scim/v2/ResourceTypes`.
pub async fn resource_types(who: ScimCaller) -> Response {
    let all = meta::resource_types(&who.base);
    let n = all.len();
    scim_json(StatusCode::OK, &list_response(all, n, 1))
}

/// `GET /scim/v2/ResourceTypes/{id}`.
pub async fn resource_type(who: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    one_of(meta::resource_types(&who.base), &id, "resource type")
}

/// `GET /scim/v2/Schemas`.
pub async fn schemas(who: ScimCaller) -> Response {
    let all = meta::schemas(&who.base);
    let n = all.len();
    scim_json(StatusCode::OK, &list_response(all, n, 1))
}

/// `GET /scim/v2/Schemas/{id}`.
pub async fn schema(who: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    one_of(meta::schemas(&who.base), &id, "schema")
}
