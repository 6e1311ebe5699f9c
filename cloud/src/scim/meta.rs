//! The discovery documents (`/Schemas`, `/ResourceTypes`, `/ServiceProviderConfig`, RFC 7643
//! §5–7), built from [`super::schema`]'s attribute table plus the meta-schemas every SCIM
//! server publishes beside its resources.

use super::schema::{
    Attr, Kind, MAX_RESULTS, RESOURCES, attr, complex, multi, read_only, reference, required,
    string, urn,
};
use serde_json::{Value, json};

/// The meta-schemas every SCIM server publishes beside its resources (RFC 7643 §5–7), so
/// clients can read `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` themselves.
const SPC_ATTRS: &[Attr] = &[
    read_only(reference(
        "documentationUri",
        &["external"],
        "Where the service is documented.",
    )),
    read_only(complex(
        "patch",
        &[read_only(attr("supported", Kind::Boolean, "PATCH works."))],
        "PATCH.",
    )),
    read_only(complex(
        "bulk",
        &[
            read_only(attr("supported", Kind::Boolean, "Bulk works.")),
            read_only(attr(
                "maxOperations",
                Kind::Integer,
                "Operations per request.",
            )),
            read_only(attr("maxPayloadSize", Kind::Integer, "Bytes per request.")),
        ],
        "Bulk operations.",
    )),
    read_only(complex(
        "filter",
        &[
            read_only(attr("supported", Kind::Boolean, "Filters work.")),
            read_only(attr("maxResults", Kind::Integer, "Resources per answer.")),
        ],
        "Filters.",
    )),
    read_only(complex(
        "changePassword",
        &[read_only(attr("supported", Kind::Boolean, "It works."))],
        "Password changes.",
    )),
    read_only(complex(
        "sort",
        &[read_only(attr(
            "supported",
            Kind::Boolean,
            "Sorting works.",
        ))],
        "Sorting.",
    )),
    read_only(complex(
        "etag",
        &[read_only(attr("supported", Kind::Boolean, "ETags work."))],
        "ETags.",
    )),
    read_only(multi(complex(
        "authenticationSchemes",
        &[
            read_only(string("type", "The scheme.")),
            read_only(string("name", "Its name.")),
            read_only(string("description", "What it is.")),
            read_only(attr(
                "primary",
                Kind::Boolean,
                "Whether it is the main one.",
            )),
        ],
        "How clients authenticate.",
    ))),
];

const RESOURCE_TYPE_ATTRS: &[Attr] = &[
    read_only(string("id", "The type's id.")),
    read_only(required(string("name", "The type's name."))),
    read_only(string("description", "What it is.")),
    read_only(required(reference(
        "endpoint",
        &["uri"],
        "Where its resources live.",
    ))),
    read_only(required(reference("schema", &["uri"], "Its schema."))),
];

const SCHEMA_ATTRS: &[Attr] = &[
    read_only(required(string("id", "The schema URN."))),
    read_only(string("name", "Its name.")),
    read_only(string("description", "What it is.")),
    read_only(multi(complex(
        "attributes",
        &[
            read_only(string("name", "The attribute's name.")),
            read_only(string("type", "Its type.")),
            read_only(attr("multiValued", Kind::Boolean, "Whether it is a list.")),
        ],
        "The schema's attributes.",
    ))),
];

/// `/Schemas`: every schema this server knows, `base` being `…/scim/v2`.
pub fn schemas(base: &str) -> Vec<Value> {
    let doc = |id: &str, name: &str, description: &str, attrs: &[Attr]| {
        json!({
            "schemas": [urn::SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attrs.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    };
    let mut all: Vec<Value> = RESOURCES
        .iter()
        .map(|r| doc(r.id, r.name, r.description, r.attrs))
        .collect();
    all.push(doc(
        urn::SPC,
        "ServiceProviderConfig",
        "The service provider's configuration",
        SPC_ATTRS,
    ));
    all.push(doc(
        urn::RESOURCE_TYPE,
        "ResourceType",
        "A resource type",
        RESOURCE_TYPE_ATTRS,
    ));
    all.push(doc(urn::SCHEMA, "Schema", "A schema", SCHEMA_ATTRS));
    all
}

/// `/ResourceTypes`.
pub fn resource_types(base: &str) -> Vec<Value> {
    RESOURCES
        .iter()
        .map(|r| {
            json!({
                "schemas": [urn::RESOURCE_TYPE],
                "id": r.name,
                "name": r.name,
                "description": r.description,
                "endpoint": r.endpoint,
                "schema": r.id,
                "meta": {
                    "resourceType": "ResourceType",
                    "location": format!("{base}/ResourceTypes/{}", r.name),
                },
            })
        })
        .collect()
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [urn::SPC],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An organisation's SCIM token (POST /v1/scim/tokens), as `Authorization: Bearer fdt_scim_…`",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}
