//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` applied to a stored document. Sans-IO.
//! The caller normalises the result again ([`super::doc::normalize`]), so a patch can never
//! store what a PUT could not.

use super::ScimError;
use super::doc::normalize_attr;
use super::filter::{Filter, PatchPath, parse_patch_path};
use super::schema::{Attr, Kind, MAX_PATCH_OPERATIONS, Mutability, ResourceSchema, urn};
use serde_json::{Map, Value};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

/// One operation of a PATCH.
#[derive(Debug, Clone)]
pub struct Operation {
    /// What it does.
    pub op: OpKind,
    /// Where; absent for `add`/`replace` of whole attributes named by `value`'s keys.
    pub path: Option<String>,
    /// With what.
    pub value: Option<Value>,
}

/// The operations of a PatchOp request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|u| u.as_str() == Some(urn::PATCH))) {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body names the schema {}",
            urn::PATCH
        )));
    }
    let Some(ops) = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
    else {
        return Err(ScimError::invalid_syntax("`Operations` must be a list"));
    };
    if ops.is_empty() || ops.len() > MAX_PATCH_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH carries 1 to {MAX_PATCH_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .map(|o| {
            let op = match o
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(op) if op == "add" => OpKind::Add,
                Some(op) if op == "replace" => OpKind::Replace,
                Some(op) if op == "remove" => OpKind::Remove,
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "`op` must be add, replace or remove",
                    ));
                }
            };
            let path = match o.get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(_) => return Err(ScimError::invalid_path("`path` must be a string")),
            };
            let value = o.get("value").cloned();
            if op != OpKind::Remove && value.is_none() {
                return Err(ScimError::invalid_syntax("add and replace carry a `value`"));
            }
            if op == OpKind::Remove && path.is_none() {
                return Err(ScimError::no_target("remove needs a `path`"));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies `ops` in order to `doc`; any failure leaves the caller's stored copy untouched
/// (the caller patches a clone).
pub fn apply(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    ops: &[Operation],
) -> Result<(), ScimError> {
    for o in ops {
        match &o.path {
            Some(p) => {
                let path = parse_patch_path(p).map_err(|e| ScimError::invalid_path(e.0))?;
                apply_at(schema, doc, o.op, &path, o.value.as_ref(), true)?;
            }
            None => {
                // `value` holds attributes by name (`{"active": false}`); Azure AD also
                // names sub-attributes (`{"name.givenName": "x"}`).
                let Some(Value::Object(values)) = &o.value else {
                    return Err(ScimError::invalid_value(
                        "without a path, `value` must be an object of attributes",
                    ));
                };
                for (key, v) in values {
                    let path = parse_patch_path(key).map_err(|e| ScimError::invalid_path(e.0))?;
                    apply_at(schema, doc, o.op, &path, Some(v), false)?;
                }
            }
        }
    }
    Ok(())
}

fn apply_at(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    strict: bool,
) -> Result<(), ScimError> {
    if ["id", "meta", "schemas"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&path.attr))
    {
        return Err(ScimError::mutability(format!(
            "`{}` is read-only",
            path.attr
        )));
    }
    let Some(attr) = schema.attr(&path.attr) else {
        if strict {
            return Err(ScimError::invalid_path(format!(
                "`{}` is not an attribute of {}",
                path.attr, schema.name
            )));
        }
        // Unknown attributes in a value object are dropped, as in POST and PUT.
        return Ok(());
    };
    if attr.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!(
            "`{}` is read-only",
            attr.name
        )));
    }
    let sub = match &path.sub {
        Some(s) => Some(attr.sub_attr(s).ok_or_else(|| {
            ScimError::invalid_path(format!("`{}` has no sub-attribute `{s}`", attr.name))
        })?),
        None => None,
    };
    if sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!(
            "`{}` is read-only",
            path_str(path)
        )));
    }
    let key = attr.name.to_owned();
    if let Some(filter) = &path.filter {
        if !attr.multi || attr.kind != Kind::Complex {
            return Err(ScimError::invalid_filter(format!(
                "`{}` is not a multi-valued complex attribute",
                attr.name
            )));
        }
        return apply_filtered(schema, doc, op, attr, filter, sub, value);
    }
    match (op, sub) {
        (OpKind::Remove, None) => {
            if attr.required {
                return Err(ScimError::mutability(format!(
                    "`{}` is required",
                    attr.name
                )));
            }
            match (attr.multi, value) {
                // Remove the listed values only (Azure AD removes members so).
                (true, Some(Value::Array(gone))) if !gone.is_empty() => {
                    let gone: Vec<Value> = gone
                        .iter()
                        .filter_map(|g| normalize_attr(&single(attr), g).ok().flatten())
                        .collect();
                    if let Some(Value::Array(items)) = doc.get_mut(&key) {
                        items.retain(|i| !gone.iter().any(|g| same_element(i, g)));
                        if items.is_empty() {
                            doc.remove(&key);
                        }
                    }
                }
                _ => {
                    doc.remove(&key);
                }
            }
        }
        (OpKind::Remove, Some(s)) => match doc.get_mut(&key) {
            Some(Value::Object(o)) => {
                o.remove(s.name);
            }
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| {
                if let Value::Object(o) = i {
                    o.remove(s.name);
                }
            }),
            _ => {}
        },
        (_, Some(s)) => {
            let v = normalize_attr(s, value.unwrap_or(&Value::Null))?;
            match doc.get_mut(&key) {
                _ if attr.multi && op == OpKind::Add => {
                    return Err(ScimError::invalid_path(format!(
                        "name the `{}` elements to change with a filter",
                        attr.name
                    )));
                }
                Some(Value::Array(items)) => {
                    for i in items.iter_mut() {
                        set_sub(i, s, v.clone());
                    }
                }
                Some(existing @ Value::Object(_)) => set_sub(existing, s, v),
                _ if attr.multi => {
                    return Err(ScimError::no_target(format!(
                        "`{}` has no values",
                        attr.name
                    )));
                }
                _ => {
                    let mut o = Value::Object(Map::new());
                    set_sub(&mut o, s, v);
                    doc.insert(key, o);
                }
            }
        }
        (_, None) => {
            let Some(v) = normalize_attr(attr, value.unwrap_or(&Value::Null))? else {
                if op == OpKind::Replace && !attr.required {
                    doc.remove(&key);
                }
                return Ok(());
            };
            match (attr.multi, attr.kind, doc.get_mut(&key), v) {
                // add appends to a list (without duplicates); replace replaces it.
                (true, _, Some(Value::Array(items)), Value::Array(new)) if op == OpKind::Add => {
                    for n in new {
                        if !items.iter().any(|i| same_element(i, &n)) {
                            items.push(n);
                        }
                    }
                }
                // A complex attribute takes the given sub-attributes and keeps the others.
                (false, Kind::Complex, Some(Value::Object(o)), Value::Object(new)) => {
                    o.extend(new);
                }
                (_, _, _, v) => {
                    doc.insert(key, v);
                }
            }
        }
    }
    Ok(())
}

fn apply_filtered(
    schema: &ResourceSchema,
    doc: &mut Map<String, Value>,
    op: OpKind,
    attr: &Attr,
    filter: &Filter,
    sub: Option<&Attr>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = attr.name;
    let exact = |a: &str, _: Option<&str>| schema.case_exact(key, Some(a));
    let Some(Value::Array(items)) = doc.get_mut(key) else {
        return match op {
            // Removing what is not there leaves it not there (clients retry removals).
            OpKind::Remove => Ok(()),
            _ => Err(ScimError::no_target(format!("`{key}` has no values"))),
        };
    };
    let hits: Vec<usize> = (0..items.len())
        .filter(|i| filter.matches(&items[*i], &exact))
        .collect();
    if hits.is_empty() && op != OpKind::Remove {
        return Err(ScimError::no_target(format!(
            "no `{key}` value matches the filter"
        )));
    }
    match (op, sub) {
        (OpKind::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !hits.contains(&(i - 1))
            });
        }
        (OpKind::Remove, Some(s)) => {
            for &i in &hits {
                if let Value::Object(o) = &mut items[i] {
                    o.remove(s.name);
                }
            }
        }
        (_, Some(s)) => {
            let v = normalize_attr(s, value.unwrap_or(&Value::Null))?;
            for &i in &hits {
                set_sub(&mut items[i], s, v.clone());
            }
        }
        (_, None) => {
            let Some(Value::Object(new)) =
                normalize_attr(&single(attr), value.unwrap_or(&Value::Null))?
            else {
                return Err(ScimError::invalid_value(format!(
                    "a `{key}` value must be an object"
                )));
            };
            for &i in &hits {
                match (&mut items[i], op) {
                    (Value::Object(o), OpKind::Add) => o.extend(new.clone()),
                    (slot, _) => *slot = Value::Object(new.clone()),
                }
            }
        }
    }
    if items.is_empty() {
        doc.remove(key);
    }
    Ok(())
}

/// The attribute as if it held one value (to normalise one element).
fn single(attr: &Attr) -> Attr {
    Attr {
        multi: false,
        ..*attr
    }
}

fn set_sub(target: &mut Value, sub: &Attr, v: Option<Value>) {
    if let Value::Object(o) = target {
        match v {
            Some(v) => {
                o.insert(sub.name.to_owned(), v);
            }
            None => {
                o.remove(sub.name);
            }
        }
    }
}

/// Two elements of a list are the same value when their `value`s are (members, emails), or
/// when they are equal.
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn path_str(p: &PatchPath) -> String {
    match &p.sub {
        Some(s) => format!("{}.{s}", p.attr),
        None => p.attr.clone(),
    }
}

#[cfg(test)]
mod tests;
