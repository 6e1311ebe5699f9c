//! A cURL command line that reproduces a captured exchange against the public URL. Every
//! argument is single-quoted with `shlex`, so quotes, `$` and backticks in headers or bodies
//! cannot break out; bodies that are not text are piped in from base64.

use super::model::HttpExchange;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::borrow::Cow;

/// Headers curl sets itself or that only describe the original connection.
const SKIP: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

fn quote(s: &str) -> Cow<'_, str> {
    // NUL cannot appear in a shell word; header values and text bodies never carry it once
    // the body was routed to the base64 branch below.
    shlex::try_quote(s).unwrap_or_else(|_| Cow::Owned("''".into()))
}

/// The command line (one line; `\` continuations would survive copy-paste less well).
pub fn command(ex: &HttpExchange) -> String {
    let mut args: Vec<String> = vec!["curl".into()];
    let body = &ex.request_body;
    let text = body.text().filter(|t| !t.contains('\0'));
    let mut prefix = String::new();
    if body.truncated {
        prefix.push_str("# request body truncated at capture; the command sends what was kept\n");
    }
    if ex.method != "GET" || body.size > 0 {
        args.push("-X".into());
        args.push(quote(&ex.method).into_owned());
    }
    for (k, v) in &ex.request_headers {
        if SKIP.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            continue;
        }
        args.push("-H".into());
        args.push(quote(&format!("{k}: {v}")).into_owned());
    }
    if !body.data.is_empty() {
        args.push("--data-binary".into());
        match text {
            Some(t) => args.push(quote(t).into_owned()),
            None => {
                prefix.push_str(&format!(
                    "printf %s {} | base64 -d | ",
                    quote(&B64.encode(&body.data))
                ));
                args.push("@-".into());
            }
        }
    }
    args.push("--".into());
    args.push(quote(&ex.public_url()).into_owned());
    format!("{prefix}{}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::store::body;

    fn ex(headers: Vec<(&str, &str)>, b: &str) -> HttpExchange {
        HttpExchange {
            method: "POST".into(),
            host: "web.example.com".into(),
            uri: "/p?q='x'".into(),
            request_headers: headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            request_body: body(b),
            ..Default::default()
        }
    }

    #[test]
    fn quotes_survive_a_shell_round_trip() {
        let e = ex(
            vec![
                ("X-Evil", "it's \"$(rm -rf /)\" `id`"),
                ("Host", "web.example.com"),
            ],
            "{\"a\":\"it's\"}; $HOME",
        );
        let cmd = command(&e);
        let words = shlex::split(&cmd).unwrap_or_default();
        assert_eq!(words[0], "curl");
        assert!(
            words.contains(&"X-Evil: it's \"$(rm -rf /)\" `id`".to_string()),
            "{cmd}"
        );
        assert!(
            words.contains(&"{\"a\":\"it's\"}; $HOME".to_string()),
            "{cmd}"
        );
        assert_eq!(
            words.last().map(String::as_str),
            Some("https://web.example.com/p?q='x'")
        );
        assert!(!words.iter().any(|w| w.starts_with("Host:")));
    }

    #[test]
    fn binary_bodies_are_piped_from_base64() {
        let mut e = ex(vec![], "");
        e.request_body.data = vec![0, 159, 146, 150];
        e.request_body.size = 4;
        let cmd = command(&e);
        assert!(
            cmd.starts_with("printf %s 'AJ+Slg==' | base64 -d | curl"),
            "{cmd}"
        );
        assert!(cmd.contains("--data-binary @-"));
    }
}
