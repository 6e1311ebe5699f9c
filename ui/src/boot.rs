//! What a page needs to know before it renders, identical on the server and in the browser:
//! the route, the signed-in user and the theme. The server writes it into the document as
//! JSON (`<script id="fdt-boot">`); the browser reads it back before hydrating, so both render
//! the same tree.

use serde::{Deserialize, Serialize};

/// The id of the `<script type="application/json">` element that carries the [`Boot`].
pub const BOOT_ELEMENT_ID: &str = "fdt-boot";

/// The user a console page is rendered for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// Account ID.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Admin accounts see the admin panel.
    pub is_admin: bool,
    /// The account's plan name.
    pub plan: String,
}

/// Light or dark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// The default: dark text on light backgrounds.
    #[default]
    Light,
    /// Light text on dark backgrounds.
    Dark,
}

impl Theme {
    /// The value of `data-theme` and of the `fdt_theme` cookie.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// Reads a cookie value; anything unknown is the default.
    pub fn parse(s: &str) -> Self {
        if s == "dark" { Self::Dark } else { Self::Light }
    }

    /// The other one.
    pub fn toggled(self) -> Self {
        match self {
            Self::Light => Self::Dark,
            Self::Dark => Self::Light,
        }
    }
}

/// Everything a page renders from besides API data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    /// The URL path.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// The signed-in user (console pages).
    pub user: Option<SessionUser>,
    /// The theme chosen by the `fdt_theme` cookie.
    pub theme: Theme,
    /// Where live change events come from (Server-Sent Events), if anywhere.
    pub live_url: Option<String>,
}

impl Boot {
    /// One query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        crate::api::parse_query(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    }

    /// The JSON for the boot element, safe inside `<script>`: `<` is escaped so no `</script>`
    /// or `<!--` in a value can end the element.
    pub fn to_script_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| "{}".into())
            .replace('<', "\\u003c")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_element() {
        let boot = Boot {
            query: "q=</script><script>alert(1)</script>".into(),
            ..Boot::default()
        };
        let json = boot.to_script_json();
        assert!(!json.contains("</script>"));
        let back: Boot = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, boot);
        assert_eq!(
            back.param("q").as_deref(),
            Some("</script><script>alert(1)</script>")
        );
    }
}
