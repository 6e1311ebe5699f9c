//! JSON Schemas for fields whose Rust type says less than the wire format (feature `schema`).

use schemars::{Schema, SchemaGenerator, json_schema};

/// An RFC 3339 timestamp.
pub(crate) fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// An RFC 3339 timestamp or `null`.
pub(crate) fn optional_date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "null"], "format": "date-time"})
}
