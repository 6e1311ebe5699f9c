//! A SCIM resource's document: what a client sends is checked and normalised against the
//! schema before it is stored, and what is stored is projected (`attributes`,
//! `excludedAttributes`) when it is served. Sans-IO.
//!
//! Unknown attributes are dropped rather than refused, as RFC 7644 §3.3 lets a service
//! provider do: identity providers send what they have (`locale`, `title`, `password`…), and
//! refusing would stop provisioning for an attribute this server does not use. Read-only
//! attributes in a request are ignored (RFC 7643 §2.2).

use super::ScimError;
use super::filter::{AttrPath, get_ci};
use super::schema::{Attr, Kind, Mutability, ResourceSchema};
use serde_json::{Map, Value};

/// The longest string value, in bytes.
pub const MAX_STRING_BYTES: usize = 2048;
/// The most values one multi-valued attribute holds (a group's members, a user's emails).
pub const MAX_VALUES: usize = 5000;

/// Checks `input` (a POST or PUT body, or a patched document) against `schema` and returns
/// the document to store: known, writable attributes only, under their schema names, with
/// nulls and empty lists removed. `id`, `meta` and `schemas` are not part of it.
pub fn normalize(schema: &ResourceSchema, input: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(obj) = input else {
        return Err(ScimError::invalid_syntax(
            "the resource must be a JSON object",
        ));
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let Some(attr) = schema.attr(key) else {
            continue;
        };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_attr(attr, value)? {
            out.insert(attr.name.to_owned(), v);
        }
    }
    for attr in schema.attrs.iter().filter(|a| a.required) {
        if !out.contains_key(attr.name) {
            return Err(ScimError::invalid_value(format!(
                "`{}` is required",
                attr.name
            )));
        }
    }
    Ok(out)
}

/// One attribute's value, or `None` when it is unassigned (null, an empty list).
pub fn normalize_attr(attr: &Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            // A lone value where a list belongs: some clients send it so.
            single => std::slice::from_ref(single),
        };
        if items.len() > MAX_VALUES {
            return Err(ScimError::invalid_value(format!(
                "`{}` holds at most {MAX_VALUES} values",
                attr.name
            )));
        }
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(attr, item)?
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    normalize_single(attr, value)
}

fn normalize_single(attr: &Attr, value: &Value) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| {
        Err(ScimError::invalid_value(format!(
            "`{}` must be {what}",
            attr.name
        )))
    };
    Ok(Some(match (attr.kind, value) {
        (_, Value::Null) => return Ok(None),
        (Kind::String | Kind::Reference, Value::String(s)) => {
            if s.len() > MAX_STRING_BYTES {
                return wrong(&format!("at most {MAX_STRING_BYTES} bytes"));
            }
            if s.chars().any(char::is_control) {
                return wrong("free of control characters");
            }
            Value::String(s.clone())
        }
        (Kind::String | Kind::Reference, _) => return wrong("a string"),
        (Kind::Boolean, Value::Bool(b)) => Value::Bool(*b),
        // Azure AD sends `"True"`/`"False"` in PATCH values.
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (Kind::Boolean, _) => return wrong("true or false"),
        (Kind::Integer, Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
        (Kind::Integer, _) => return wrong("an integer"),
        (Kind::Complex, Value::Object(obj)) => {
            let mut out = Map::new();
            for (key, v) in obj {
                let Some(sub) = attr.sub_attr(key) else {
                    continue;
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = normalize_single(sub, v)? {
                    out.insert(sub.name.to_owned(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (Kind::Complex, _) => return wrong("an object"),
    }))
}

/// Which attributes an answer carries (`attributes` or `excludedAttributes`, RFC 7644
/// §3.4.2.5). `id` and `schemas` are always returned.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Only these (when not empty).
    pub only: Vec<AttrPath>,
    /// Not these.
    pub without: Vec<AttrPath>,
}

impl Projection {
    /// From the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>, ScimError> {
            s.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .take(64)
                .map(|p| {
                    super::filter::parse_attr_path(p)
                        .map_err(|e| ScimError::invalid_value(format!("attributes: {e}")))
                })
                .collect()
        };
        Ok(Self {
            only: list(attributes)?,
            without: list(excluded)?,
        })
    }

    /// `resource` (a full answer) cut down to what was asked.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        const ALWAYS: [&str; 2] = ["id", "schemas"];
        if !self.only.is_empty() {
            let keys: Vec<String> = obj.keys().cloned().collect();
            for key in keys {
                if ALWAYS.contains(&key.as_str()) {
                    continue;
                }
                let wanted: Vec<&AttrPath> = self
                    .only
                    .iter()
                    .filter(|p| p.attr.eq_ignore_ascii_case(&key))
                    .collect();
                if wanted.is_empty() {
                    obj.remove(&key);
                } else if wanted.iter().all(|p| p.sub.is_some())
                    && let Some(v) = obj.get_mut(&key)
                {
                    let subs: Vec<&str> = wanted.iter().filter_map(|p| p.sub.as_deref()).collect();
                    keep_subs(v, &subs);
                }
            }
        }
        for path in &self.without {
            let Some(key) = obj
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&path.attr))
                .cloned()
            else {
                continue;
            };
            if ALWAYS.contains(&key.as_str()) {
                continue;
            }
            match &path.sub {
                None => {
                    obj.remove(&key);
                }
                Some(sub) => {
                    if let Some(v) = obj.get_mut(&key) {
                        drop_sub(v, sub);
                    }
                }
            }
        }
        Value::Object(obj)
    }
}

fn keep_subs(v: &mut Value, subs: &[&str]) {
    match v {
        Value::Object(o) => o.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k))),
        Value::Array(items) => items.iter_mut().for_each(|i| keep_subs(i, subs)),
        _ => {}
    }
}

fn drop_sub(v: &mut Value, sub: &str) {
    match v {
        Value::Object(o) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
        Value::Array(items) => items.iter_mut().for_each(|i| drop_sub(i, sub)),
        _ => {}
    }
}

/// The string attribute `name` of a document, if it has one.
pub fn string_attr<'a>(doc: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    get_ci(doc, name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests;
