//! The replay-with-changes form shared by the console's traffic log and the local inspector:
//! the fields, and reading them into edits. Each caller maps [`ReplayEdits`] to its backend's
//! request shape.

use crate::components::form::parse_header_lines;
use leptos::prelude::*;

/// What the form asks to change; `None`/empty fields leave the original as it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayEdits {
    /// A new method (upper case).
    pub method: Option<String>,
    /// A new origin-form path and query.
    pub path: Option<String>,
    /// Headers to set.
    pub set_headers: Vec<(String, String)>,
    /// Header names to remove.
    pub remove_headers: Vec<String>,
    /// A new body.
    pub body: Option<String>,
}

/// The form's fields.
#[derive(Debug, Clone, Copy)]
pub struct ReplayFields {
    /// Method.
    pub method: RwSignal<String>,
    /// Path and query.
    pub path: RwSignal<String>,
    /// "Name: value" lines.
    pub headers: RwSignal<String>,
    /// Names, comma- or line-separated.
    pub remove: RwSignal<String>,
    /// Body text.
    pub body: RwSignal<String>,
}

impl ReplayFields {
    /// Fields starting from the original request's method and path.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: RwSignal::new(method.to_owned()),
            path: RwSignal::new(path.to_owned()),
            headers: RwSignal::new(String::new()),
            remove: RwSignal::new(String::new()),
            body: RwSignal::new(String::new()),
        }
    }

    /// The edits the fields hold against the original `method` and `path`; `None` when
    /// nothing differs.
    ///
    /// # Errors
    /// What to fix, in words.
    pub fn read(&self, method: &str, path: &str) -> Result<Option<ReplayEdits>, String> {
        read_edits(
            method,
            path,
            &self.method.get_untracked(),
            &self.path.get_untracked(),
            &self.headers.get_untracked(),
            &self.remove.get_untracked(),
            &self.body.get_untracked(),
        )
    }
}

/// Reads the form's text into edits against the original method and path.
///
/// # Errors
/// A path that is not origin-form (`/…`) or a malformed header line, in words.
pub fn read_edits(
    original_method: &str,
    original_path: &str,
    method: &str,
    path: &str,
    headers: &str,
    remove: &str,
    body: &str,
) -> Result<Option<ReplayEdits>, String> {
    let method = method.trim().to_ascii_uppercase();
    let path = path.trim();
    if !path.starts_with('/') {
        return Err("The path must start with /.".into());
    }
    let edits = ReplayEdits {
        method: (!method.is_empty() && method != original_method).then_some(method),
        path: (path != original_path).then(|| path.to_owned()),
        set_headers: parse_header_lines(headers)?,
        remove_headers: remove
            .split([',', '\n'])
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        body: (!body.is_empty()).then(|| body.to_owned()),
    };
    Ok((edits != ReplayEdits::default()).then_some(edits))
}

/// The inputs of the form (the caller wraps them in its `<form>` with its submit button).
#[component]
pub fn ReplayInputs(
    /// The fields.
    fields: ReplayFields,
    /// The body field's label (what an empty body means differs by backend).
    body_label: &'static str,
) -> impl IntoView {
    let ReplayFields {
        method,
        path,
        headers,
        remove,
        body,
    } = fields;
    view! {
        <div class="form-row">
            <div class="field field-narrow"><label for="rp-method">"Method"</label>
                <input id="rp-method" prop:value=move || method.get() on:input=move |e| method.set(event_target_value(&e))/></div>
            <div class="field field-grow"><label for="rp-path">"Path"</label>
                <input id="rp-path" class="mono" prop:value=move || path.get() on:input=move |e| path.set(event_target_value(&e))/></div>
        </div>
        <div class="field"><label for="rp-headers">"Set headers (one \"Name: value\" per line)"</label>
            <textarea id="rp-headers" class="mono" rows="3" prop:value=move || headers.get()
                on:input=move |e| headers.set(event_target_value(&e))></textarea></div>
        <div class="field"><label for="rp-remove">"Remove headers (comma-separated)"</label>
            <input id="rp-remove" prop:value=move || remove.get() on:input=move |e| remove.set(event_target_value(&e))/></div>
        <div class="field"><label for="rp-body">{body_label}</label>
            <textarea id="rp-body" class="mono" rows="4" prop:value=move || body.get()
                on:input=move |e| body.set(event_target_value(&e))></textarea></div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_text_becomes_edits() {
        assert_eq!(read_edits("GET", "/a", "get", "/a", "", "", ""), Ok(None));
        let e = read_edits(
            "POST",
            "/hook",
            "put",
            "/hook?x=1",
            "X-Test: yes",
            "cookie, \nx-b",
            "{}",
        )
        .expect("valid")
        .expect("some change");
        assert_eq!(e.method.as_deref(), Some("PUT"));
        assert_eq!(e.path.as_deref(), Some("/hook?x=1"));
        assert_eq!(e.set_headers, vec![("X-Test".to_owned(), "yes".to_owned())]);
        assert_eq!(
            e.remove_headers,
            vec!["cookie".to_owned(), "x-b".to_owned()]
        );
        assert_eq!(e.body.as_deref(), Some("{}"));
        assert!(read_edits("GET", "/a", "GET", "a", "", "", "").is_err());
        assert!(read_edits("GET", "/a", "GET", "http://169.254.169.254/", "", "", "").is_err());
        assert!(read_edits("GET", "/a", "GET", "/a", "no colon", "", "").is_err());
    }
}
