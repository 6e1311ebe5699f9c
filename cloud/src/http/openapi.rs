//! The route table and the OpenAPI 3.1 document generated from it.
//!
//! `endpoints` (in `http/mod.rs`) lists every route once, with its handler and what it takes and
//! answers; the router ([`app`](super::app)) and the document ([`document`]) are both built from
//! that list, so neither can name a route the other does not. Schemas come from the DTOs in
//! `fdt-api` (feature `schema`, via `schemars`).

use crate::state::AppState;
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";

/// Builds one operation's schema in the shared generator (named types become `$ref`s).
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// How a caller proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Anyone may call.
    None,
    /// `Authorization: Bearer <access token>` from login or refresh, of a caller whose role
    /// grants this permission (checked by the router before the handler runs).
    User(fdt_api::Permission),
    /// `Authorization: Bearer fdt_…`, an agent's authtoken.
    Authtoken,
    /// `Authorization: Bearer <relay secret>`, a relay of this control plane.
    RelaySecret,
    /// `Authorization: Bearer fdt_scim_…`, an organisation's SCIM token (`/scim/v2`).
    ScimToken,
    /// `Authorization: Bearer <metrics token>` (`[metrics] token`), for Prometheus.
    MetricsToken,
}

/// The body of the success response.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// No body (204).
    Empty,
    /// `text/plain`.
    Text,
    /// `application/octet-stream`.
    Bytes,
    /// `application/json` with this schema.
    Json(SchemaFn),
}

/// One (method, path) the router serves.
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) operation_id: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) auth: Auth,
    pub(crate) request: Option<SchemaFn>,
    pub(crate) status: u16,
    pub(crate) response: Body,
    pub(crate) handler: MethodRouter<AppState>,
}

impl Endpoint {
    /// A route for `handler` on `method` and `path`; the rest is filled in with the builders.
    pub(crate) fn new<H, T>(
        method: Method,
        path: &'static str,
        operation_id: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            Method::GET => MethodFilter::GET,
            Method::POST => MethodFilter::POST,
            Method::PUT => MethodFilter::PUT,
            Method::PATCH => MethodFilter::PATCH,
            Method::DELETE => MethodFilter::DELETE,
            ref other => panic!("route table: unsupported method {other}"),
        };
        Self {
            method,
            path,
            operation_id,
            summary: "",
            auth: Auth::None,
            request: None,
            status: 200,
            response: Body::Empty,
            handler: on(filter, handler),
        }
    }

    /// Accepts bodies up to `bytes` on this route instead of the server-wide limit.
    pub(crate) fn body_limit(mut self, bytes: usize) -> Self {
        self.handler = self
            .handler
            .layer(axum::extract::DefaultBodyLimit::max(bytes));
        self
    }

    pub(crate) fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    pub(crate) fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The request body is JSON of type `T`.
    pub(crate) fn request<T: JsonSchema>(mut self) -> Self {
        self.request = Some(schema::<T>);
        self
    }

    /// Success is `status` with a JSON body of type `T`.
    pub(crate) fn json<T: JsonSchema>(mut self, status: u16) -> Self {
        self.status = status;
        self.response = Body::Json(schema::<T>);
        self
    }

    /// Success is `status` with a `text/plain` body.
    pub(crate) fn text(mut self, status: u16) -> Self {
        self.status = status;
        self.response = Body::Text;
        self
    }

    /// Success is `status` with raw bytes (`application/octet-stream`).
    pub(crate) fn bytes(mut self, status: u16) -> Self {
        self.status = status;
        self.response = Body::Bytes;
        self
    }

    /// Success is `status` with no body.
    pub(crate) fn empty(mut self, status: u16) -> Self {
        self.status = status;
        self.response = Body::Empty;
        self
    }
}

/// The OpenAPI 3.1 document for every route in the table.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut generator = SchemaGenerator::new(settings);
    let error = generator.subschema_for::<fdt_api::ErrorBody>();

    let mut paths = Map::new();
    for ep in super::endpoints() {
        let mut op = Map::new();
        op.insert("operationId".into(), ep.operation_id.into());
        if !ep.summary.is_empty() {
            op.insert("summary".into(), ep.summary.into());
        }
        let params: Vec<Value> = path_params(ep.path)
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), params.into());
        }
        match ep.auth {
            Auth::None => op.insert("security".into(), json!([])),
            Auth::User(p) => {
                op.insert("x-permission".into(), json!(p.as_str()));
                op.insert("security".into(), json!([{"accessToken": []}]))
            }
            Auth::Authtoken => op.insert("security".into(), json!([{"authtoken": []}])),
            Auth::RelaySecret => op.insert("security".into(), json!([{"relaySecret": []}])),
            Auth::ScimToken => op.insert("security".into(), json!([{"scimToken": []}])),
            Auth::MetricsToken => op.insert("security".into(), json!([{"metricsToken": []}])),
        };
        if let Some(request) = ep.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": request(&mut generator)}}}),
            );
        }
        let success = match ep.response {
            Body::Empty => json!({"description": "Success, no body"}),
            Body::Text => {
                json!({"description": "Success", "content": {"text/plain": {"schema": {"type": "string"}}}})
            }
            Body::Bytes => {
                json!({"description": "Success", "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}})
            }
            Body::Json(body) => {
                json!({"description": "Success", "content": {"application/json": {"schema": body(&mut generator)}}})
            }
        };
        op.insert(
            "responses".into(),
            json!({
                ep.status.to_string(): success,
                "default": {"description": "An error", "content": {"application/json": {"schema": error}}},
            }),
        );
        let item = paths
            .entry(ep.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(ep.method.as_str().to_ascii_lowercase(), op.into());
        }
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "FlyingDarkDevTunnel control plane",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "authtoken": {"type": "http", "scheme": "bearer", "description": "An authtoken, `fdt_…`"},
                "relaySecret": {"type": "http", "scheme": "bearer", "description": "A relay secret (`relay_secrets`)"},
                "scimToken": {"type": "http", "scheme": "bearer", "description": "An organisation's SCIM token, `fdt_scim_…`"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "The metrics token (`[metrics] token`)"},
            },
        },
    })
}

/// The `{name}` segments of a route path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

/// `GET /v1/openapi.json`: the document, built once.
pub(crate) async fn serve() -> Response {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    let body = DOC.get_or_init(|| serde_json::to_vec(&document()).unwrap_or_default());
    let mut resp = body.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
