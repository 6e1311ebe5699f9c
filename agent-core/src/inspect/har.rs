//! HAR 1.2 export (<http://www.softwareishard.com/blog/har-12-spec/>) of captured exchanges.
//! Fields HAR has no place for (tunnel, replay origin, WebSocket/SSE timeline) go under
//! `_fdt`, as the spec allows for custom fields starting with `_`.

use super::model::{CapturedBody, HttpExchange, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

fn pairs(items: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

fn query_string(uri: &str) -> Value {
    let q = uri.split_once('?').map_or("", |(_, q)| q);
    pairs(form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())))
}

/// `a=b; c=d` from a `Cookie` header, or the leading `name=value` of each `Set-Cookie`.
fn cookies<'a>(values: impl Iterator<Item = &'a str>, request: bool) -> Value {
    let mut out = Vec::new();
    for v in values {
        let parts: Vec<&str> = if request {
            v.split(';').collect()
        } else {
            v.split(';').take(1).collect()
        };
        for p in parts {
            if let Some((n, val)) = p.trim().split_once('=') {
                out.push((n.to_string(), val.to_string()));
            }
        }
    }
    pairs(out)
}

fn values<'a>(h: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    h.iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `(text, encoding)` as HAR wants a body: UTF-8 as is, anything else base64.
fn text_of(b: &CapturedBody) -> (String, Option<&'static str>) {
    match b.text() {
        Some(t) => (t.to_string(), None),
        None => (B64.encode(&b.data), Some("base64")),
    }
}

fn started(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn http_version(v: &str) -> &str {
    match v {
        "HTTP/2.0" => "HTTP/2",
        other => other,
    }
}

/// One HAR entry.
pub fn entry(ex: &HttpExchange) -> Value {
    let ttfb = ex.timings.ttfb_ms.unwrap_or(0.0);
    let total = ex.timings.total_ms.unwrap_or(ttfb).max(ttfb);
    let mut request = json!({
        "method": ex.method,
        "url": ex.public_url(),
        "httpVersion": http_version(&ex.http_version),
        "headers": pairs(ex.request_headers.clone()),
        "queryString": query_string(&ex.uri),
        "cookies": cookies(values(&ex.request_headers, "cookie"), true),
        "headersSize": -1,
        "bodySize": ex.request_body.size,
    });
    if ex.request_body.size > 0 {
        let (text, encoding) = text_of(&ex.request_body);
        let mut post = json!({
            "mimeType": ex.request_header("content-type").unwrap_or(""),
            "text": text,
        });
        if let Some(e) = encoding {
            post["_encoding"] = e.into();
        }
        request["postData"] = post;
    }
    let status = ex.status.unwrap_or(0);
    let (text, encoding) = text_of(&ex.response_body);
    let mut content = json!({
        "size": ex.response_body.size,
        "mimeType": ex.response_header("content-type").unwrap_or(""),
    });
    if ex.response_body.size > 0 {
        content["text"] = text.into();
    }
    if let Some(e) = encoding {
        content["encoding"] = e.into();
    }
    json!({
        "startedDateTime": started(ex.timings.started_at_ms),
        "time": total,
        "request": request,
        "response": {
            "status": status,
            "statusText": http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
            "httpVersion": http_version(&ex.http_version),
            "headers": pairs(ex.response_headers.clone()),
            "cookies": cookies(values(&ex.response_headers, "set-cookie"), false),
            "content": content,
            "redirectURL": header(&ex.response_headers, "location").unwrap_or(""),
            "headersSize": -1,
            "bodySize": ex.response_body.size,
        },
        "cache": {},
        "timings": { "send": 0, "wait": ttfb, "receive": total - ttfb },
        "_fdt": {
            "id": ex.id,
            "tunnel_name": ex.tunnel_name,
            "replay_of": ex.replay_of,
            "request_truncated": ex.request_body.truncated,
            "response_truncated": ex.response_body.truncated,
            "timeline": ex.timeline,
        },
    })
}

/// A HAR 1.2 document of `exchanges` (given newest first; HAR lists oldest first).
pub fn document<'a>(exchanges: impl DoubleEndedIterator<Item = &'a HttpExchange>) -> Value {
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "fdt", "version": env!("CARGO_PKG_VERSION") },
            "entries": exchanges.rev().map(entry).collect::<Vec<_>>(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::model::{ExchangeId, Timings};
    use crate::inspect::store::body;

    /// Checks the fields HAR 1.2 requires of an entry; returns what is missing.
    pub(crate) fn missing_fields(e: &Value) -> Vec<String> {
        let mut missing = Vec::new();
        let mut need = |path: &str, ok: bool| {
            if !ok {
                missing.push(path.to_string());
            }
        };
        need("startedDateTime", e["startedDateTime"].is_string());
        need("time", e["time"].is_number());
        let r = &e["request"];
        for k in ["method", "url", "httpVersion"] {
            need(&format!("request.{k}"), r[k].is_string());
        }
        for k in ["headers", "queryString", "cookies"] {
            need(&format!("request.{k}"), r[k].is_array());
        }
        for k in ["headersSize", "bodySize"] {
            need(&format!("request.{k}"), r[k].is_number());
        }
        if let Some(p) = r.get("postData") {
            need("request.postData.mimeType", p["mimeType"].is_string());
        }
        let s = &e["response"];
        need("response.status", s["status"].is_number());
        for k in ["statusText", "httpVersion", "redirectURL"] {
            need(&format!("response.{k}"), s[k].is_string());
        }
        for k in ["headers", "cookies"] {
            need(&format!("response.{k}"), s[k].is_array());
        }
        for k in ["headersSize", "bodySize"] {
            need(&format!("response.{k}"), s[k].is_number());
        }
        need("response.content.size", s["content"]["size"].is_number());
        need(
            "response.content.mimeType",
            s["content"]["mimeType"].is_string(),
        );
        need("cache", e["cache"].is_object());
        for k in ["send", "wait", "receive"] {
            need(&format!("timings.{k}"), e["timings"][k].is_number());
        }
        missing
    }

    #[test]
    fn entries_carry_every_required_har_field() {
        let ex = HttpExchange {
            id: ExchangeId(3),
            tunnel_name: "web".into(),
            method: "POST".into(),
            host: "web.example.com".into(),
            uri: "/a?x=1&y=two%20words".into(),
            http_version: "HTTP/1.1".into(),
            request_headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cookie".into(), "a=1; b=2".into()),
            ],
            request_body: body("{\"k\":1}"),
            status: Some(201),
            response_headers: vec![("set-cookie".into(), "s=9; Path=/".into())],
            response_body: CapturedBody {
                data: vec![0xff, 0xfe],
                size: 2,
                truncated: false,
            },
            timings: Timings {
                started_at_ms: 1_700_000_000_123,
                ttfb_ms: Some(4.0),
                total_ms: Some(5.5),
            },
            ..Default::default()
        };
        let doc = document([&ex].into_iter());
        assert_eq!(doc["log"]["version"], "1.2");
        assert!(doc["log"]["creator"]["name"].is_string());
        let e = &doc["log"]["entries"][0];
        assert_eq!(missing_fields(e), Vec::<String>::new());
        assert_eq!(
            e["request"]["url"],
            "https://web.example.com/a?x=1&y=two%20words"
        );
        assert_eq!(e["request"]["queryString"][1]["value"], "two words");
        assert_eq!(e["request"]["cookies"][1]["name"], "b");
        assert_eq!(e["response"]["cookies"][0]["value"], "9");
        assert_eq!(e["response"]["content"]["encoding"], "base64");
        assert_eq!(e["startedDateTime"], "2023-11-14T22:13:20.123Z");
    }
}
