//! Formatting shared by every page. Pure functions: the server and the browser must print the
//! same text (hydration compares them), so nothing here reads a clock or a locale.

use time::OffsetDateTime;

/// `1536` → `"1.5 KiB"`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Milliseconds for people: `"850 ms"`, `"1.25 s"`.
pub fn human_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A UTC timestamp, to the second: `"2026-11-26 03:12:05 UTC"`.
pub fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A Unix time in milliseconds as [`utc`] text.
pub fn utc_millis(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(utc)
        .unwrap_or_else(|_| ms.to_string())
}

/// The CSS class of a status code's badge.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=299) => "badge badge-ok",
        Some(300..=399) => "badge badge-info",
        Some(400..=499) => "badge badge-warn",
        Some(_) => "badge badge-err",
        None => "badge",
    }
}

/// A body made readable: JSON indented, XML one element per line, form data one field per
/// line. Returns what it was taken for and the text to show; anything else is returned as is.
pub fn pretty_body(content_type: Option<&str>, text: &str) -> (&'static str, String) {
    let ct = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let looks_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if (ct == "application/json" || ct.ends_with("+json") || (ct.is_empty() && looks_json))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Ok(pretty) = serde_json::to_string_pretty(&v)
    {
        return ("JSON", pretty);
    }
    if ct == "application/x-www-form-urlencoded" {
        let fields = crate::api::parse_query(text)
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join("\n");
        return ("Form data", fields);
    }
    if ct.ends_with("/xml")
        || ct.ends_with("+xml")
        || (ct.is_empty() && text.trim_start().starts_with("<?xml"))
    {
        return ("XML", indent_xml(text));
    }
    ("Text", text.to_owned())
}

/// Puts each XML tag on its own line, indented by depth. Not a parser: malformed input is
/// indented as well as it can be, never rejected.
pub fn indent_xml(text: &str) -> String {
    let mut out = String::new();
    let mut depth: usize = 0;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (piece, tail) = if rest.starts_with('<') {
            match rest.find('>') {
                Some(end) => rest.split_at(end + 1),
                None => (rest, ""),
            }
        } else {
            match rest.find('<') {
                Some(start) => rest.split_at(start),
                None => (rest, ""),
            }
        };
        rest = tail.trim_start();
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let closing = piece.starts_with("</");
        let self_closing =
            piece.ends_with("/>") || piece.starts_with("<?") || piece.starts_with("<!");
        let opening = piece.starts_with('<') && !closing && !self_closing;
        if closing {
            depth = depth.saturating_sub(1);
        }
        out.push_str(&"  ".repeat(depth.min(32)));
        out.push_str(piece);
        out.push('\n');
        if opening {
            depth += 1;
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_times() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(human_ms(850.2), "850 ms");
        assert_eq!(human_ms(1250.0), "1.25 s");
        assert_eq!(utc_millis(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(status_class(Some(404)), "badge badge-warn");
    }

    #[test]
    fn bodies_pretty_print() {
        let (kind, p) = pretty_body(Some("application/json; charset=utf-8"), r#"{"a":[1,2]}"#);
        assert_eq!(kind, "JSON");
        assert_eq!(p, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        let (kind, p) = pretty_body(Some("application/x-www-form-urlencoded"), "a=1&b=x+y%21");
        assert_eq!((kind, p.as_str()), ("Form data", "a = 1\nb = x y!"));
        let (kind, p) = pretty_body(Some("application/xml"), "<a><b>1</b><c/></a>");
        assert_eq!(kind, "XML");
        assert_eq!(p, "<a>\n  <b>\n    1\n  </b>\n  <c/>\n</a>");
        // Invalid JSON and unknown types are shown as they are.
        assert_eq!(pretty_body(Some("application/json"), "{nope").1, "{nope");
        assert_eq!(pretty_body(None, "plain").0, "Text");
        // Malformed XML does not panic.
        assert_eq!(indent_xml("</a></b><c"), "</a>\n</b>\n<c");
    }
}
