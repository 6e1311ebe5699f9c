//! Form fields with labels and inline validation errors.

use leptos::prelude::*;

/// A labelled input bound to `value`, with its error (if any) under it and linked by
/// `aria-describedby`.
#[component]
pub fn TextField(
    /// The visible label.
    label: &'static str,
    /// The form field name (also the element id, prefixed).
    name: &'static str,
    /// The value.
    value: RwSignal<String>,
    /// The error to show, if any.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// `type` attribute.
    #[prop(default = "text")]
    kind: &'static str,
    /// `autocomplete` attribute.
    #[prop(default = "off")]
    autocomplete: &'static str,
    /// A hint under the field.
    #[prop(optional)]
    hint: &'static str,
    /// `required` attribute.
    #[prop(optional)]
    required: bool,
    /// `placeholder` attribute.
    #[prop(optional)]
    placeholder: &'static str,
) -> impl IntoView {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = {
        let (err_id, hint_id) = (err_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if !hint.is_empty() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(err_id.clone());
            }
            ids.join(" ")
        }
    };
    view! {
        <div class="field" class:field-invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                placeholder=placeholder
                required=required
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=described
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            {(!hint.is_empty()).then(|| view! { <p class="field-hint" id=hint_id>{hint}</p> })}
            <p class="field-error" id=err_id>{move || error.get()}</p>
        </div>
    }
}

/// Parses "Name: value" lines into header pairs; blank lines are skipped.
///
/// # Errors
/// The first line without a colon or with an invalid name, in words.
pub fn parse_header_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {}: expected \"Name: value\"", n + 1));
        };
        let name = name.trim();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!(
                "line {}: {name:?} is not a valid header name",
                n + 1
            ));
        }
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(
            parse_header_lines("X-A: 1\n\n  Accept:text/html ").expect("valid"),
            vec![
                ("X-A".into(), "1".into()),
                ("Accept".into(), "text/html".into())
            ]
        );
        assert!(
            parse_header_lines("no colon")
                .expect_err("invalid")
                .contains("line 1")
        );
        assert!(
            parse_header_lines("ok: 1\nbad name: 2")
                .expect_err("invalid")
                .contains("line 2")
        );
    }
}
