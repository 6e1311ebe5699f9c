//! Evaluating a parsed [`Filter`] against a resource's JSON (RFC 7644 §3.4.2.2): attribute
//! names compare case-insensitively, strings as the schema's [`CaseExact`] says, and a complex
//! element without a sub-attribute stands for its `value`.

use super::{AttrPath, CaseExact, Filter, Op, get_ci};
use serde_json::Value;

impl Filter {
    /// Whether `resource` (a JSON object) matches.
    pub fn matches(&self, resource: &Value, exact: &dyn CaseExact) -> bool {
        self.eval(resource, None, exact)
    }

    /// `within`: the multi-valued attribute whose element `node` is, for value filters.
    fn eval(&self, node: &Value, within: Option<&str>, exact: &dyn CaseExact) -> bool {
        match self {
            Filter::And(a, b) => a.eval(node, within, exact) && b.eval(node, within, exact),
            Filter::Or(a, b) => a.eval(node, within, exact) || b.eval(node, within, exact),
            Filter::Not(a) => !a.eval(node, within, exact),
            Filter::Has(attr, inner) => {
                let Some(Value::Object(obj)) = Some(node) else {
                    return false;
                };
                match get_ci(obj, attr) {
                    Some(Value::Array(items)) => {
                        items.iter().any(|item| inner.eval(item, Some(attr), exact))
                    }
                    Some(item @ Value::Object(_)) => inner.eval(item, Some(attr), exact),
                    _ => false,
                }
            }
            Filter::Present(path) => values_at(node, path, within)
                .iter()
                .any(|v| !matches!(v, Value::Null) && v != &&Value::String(String::new())),
            Filter::Compare(path, op, want) => {
                let (attr, sub) = match within {
                    Some(outer) => (outer, Some(path.attr.as_str())),
                    None => (path.attr.as_str(), path.sub.as_deref()),
                };
                let case_exact = exact.case_exact(attr, sub);
                let found = values_at(node, path, within);
                if found.is_empty() {
                    // `ne` is true of an absent attribute; nothing else is.
                    return *op == Op::Ne && !want.is_null();
                }
                match op {
                    Op::Ne => found.iter().all(|v| !compare(v, Op::Eq, want, case_exact)),
                    _ => found.iter().any(|v| compare(v, *op, want, case_exact)),
                }
            }
        }
    }
}

/// The values a path names in `node`: every element's value for multi-valued attributes (a
/// complex element without a sub-attribute stands for its `value`, RFC 7644 §3.4.2.2).
fn values_at<'a>(node: &'a Value, path: &AttrPath, within: Option<&str>) -> Vec<&'a Value> {
    let Value::Object(obj) = node else {
        return Vec::new();
    };
    let Some(top) = get_ci(obj, &path.attr) else {
        return Vec::new();
    };
    // Inside a value filter the element's own sub-attributes are named bare.
    let sub = if within.is_some() {
        None
    } else {
        path.sub.as_deref()
    };
    let pick = |v: &'a Value| -> Option<&'a Value> {
        match (v, sub) {
            (Value::Object(o), Some(s)) => get_ci(o, s),
            (Value::Object(o), None) => get_ci(o, "value"),
            (_, Some(_)) => None,
            (other, None) => Some(other),
        }
    };
    match top {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        other => pick(other).into_iter().collect(),
    }
}

fn compare(have: &Value, op: Op, want: &Value, case_exact: bool) -> bool {
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = if case_exact {
                (h.clone(), w.clone())
            } else {
                (h.to_lowercase(), w.to_lowercase())
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Co => h.contains(&w),
                Op::Sw => h.starts_with(&w),
                Op::Ew => h.ends_with(&w),
                // Timestamps are RFC 3339 in one form (UTC, `Z`), so they order as strings.
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            Op::Eq => h == w,
            Op::Ne => h != w,
            _ => false,
        },
        (Value::Number(h), Value::Number(w)) => {
            let (Some(h), Some(w)) = (h.as_f64(), w.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Ge => h >= w,
                Op::Lt => h < w,
                Op::Le => h <= w,
                Op::Co | Op::Sw | Op::Ew => false,
            }
        }
        (_, Value::Null) => op == Op::Ne,
        _ => false,
    }
}
