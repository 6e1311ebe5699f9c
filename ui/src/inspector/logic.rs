//! The inspector's pure parts: list filters as the agent's query string, keyboard commands
//! and selection movement, and the replay form turned into the agent's edits. Tested here,
//! without a browser.

use super::model::{BodyEdit, HTTP_LIST_PATH, HeaderEdits, ReplayModify};
use crate::api::with_query;
use crate::components::replay::ReplayEdits;

/// Where the agent lists HTTP exchanges.
pub const LIST_PATH: &str = HTTP_LIST_PATH;

/// The list filters, as typed (empty means "any").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Tunnel name, exactly.
    pub tunnel: String,
    /// Status code (`404`) or class (`5xx`).
    pub status: String,
    /// Method.
    pub method: String,
    /// Substring of the path and query.
    pub path: String,
    /// Substring of either body.
    pub body: String,
}

impl Filters {
    /// Whether any filter is set.
    pub fn any(&self) -> bool {
        self.params(None).iter().any(|(_, v)| v.is_some())
    }

    fn params<'a>(&'a self, before: Option<&'a str>) -> [(&'static str, Option<&'a str>); 6] {
        let v = |s: &'a str| Some(s.trim()).filter(|s| !s.is_empty());
        [
            ("tunnel_name", v(&self.tunnel)),
            ("status", v(&self.status)),
            ("method", v(&self.method)),
            ("path", v(&self.path)),
            ("body", v(&self.body)),
            ("before", before.and_then(v)),
        ]
    }

    /// `path` with these filters (and the paging cursor `before`) as the agent's query
    /// parameters (`tunnel_name`, `status`, `method`, `path`, `body`, `before`).
    pub fn query(&self, path: &str, before: Option<&str>) -> String {
        with_query(path, &self.params(before))
    }
}

/// What a key press asks of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCommand {
    /// `j`: select the next (older) exchange.
    Down,
    /// `k`: select the previous (newer) exchange.
    Up,
    /// `Enter`: show the selected exchange.
    Open,
    /// `r`: replay the selected exchange as it was.
    Replay,
}

/// The command of a key press; `None` for other keys, with a modifier held (browser
/// shortcuts stay the browser's), or while typing in a form field (`target_tag` is the
/// focused element's tag name, `editable` whether it is content-editable). `Enter` on a
/// button or link is theirs.
pub fn key_command(
    key: &str,
    modifier: bool,
    target_tag: &str,
    editable: bool,
) -> Option<KeyCommand> {
    let typing = editable
        || ["INPUT", "TEXTAREA", "SELECT"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(target_tag));
    if modifier || typing {
        return None;
    }
    match key {
        "j" | "ArrowDown" => Some(KeyCommand::Down),
        "k" | "ArrowUp" => Some(KeyCommand::Up),
        "Enter"
            if !["A", "BUTTON", "SUMMARY"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(target_tag)) =>
        {
            Some(KeyCommand::Open)
        }
        "r" => Some(KeyCommand::Replay),
        _ => None,
    }
}

/// The id selected after moving `step` rows from `current` in `ids` (top to bottom). With
/// nothing (or something no longer listed) selected, any move selects the first row; moves
/// stop at either end.
pub fn move_selection(ids: &[String], current: Option<&str>, step: isize) -> Option<String> {
    let at = current.and_then(|c| ids.iter().position(|id| id == c));
    let next = match at {
        None => 0,
        Some(i) => i
            .saturating_add_signed(step)
            .min(ids.len().saturating_sub(1)),
    };
    ids.get(next).cloned()
}

/// The form's edits in the agent's shape (`headers: {set, remove}`, `body: {text}`).
pub fn to_agent_modify(e: ReplayEdits) -> ReplayModify {
    let headers =
        (!e.set_headers.is_empty() || !e.remove_headers.is_empty()).then(|| HeaderEdits {
            set: e.set_headers.into_iter().collect(),
            remove: e.remove_headers,
        });
    ReplayModify {
        method: e.method,
        path: e.path,
        headers,
        body: e.body.map(BodyEdit::Text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_the_agents_query() {
        let none = Filters::default();
        assert!(!none.any());
        assert_eq!(none.query(LIST_PATH, None), "/api/requests/http");
        let f = Filters {
            tunnel: "web".into(),
            status: " 5xx ".into(),
            method: "post".into(),
            path: "/a b".into(),
            body: "\"id\":1".into(),
        };
        assert!(f.any());
        assert_eq!(
            f.query(LIST_PATH, Some("ex_40")),
            "/api/requests/http?tunnel_name=web&status=5xx&method=post&path=%2Fa%20b\
             &body=%22id%22%3A1&before=ex_40"
        );
        let only_cursor = Filters::default().query(LIST_PATH, Some("ex_3"));
        assert_eq!(only_cursor, "/api/requests/http?before=ex_3");
    }

    #[test]
    fn keys_are_ignored_while_typing() {
        assert_eq!(
            key_command("j", false, "BODY", false),
            Some(KeyCommand::Down)
        );
        assert_eq!(key_command("k", false, "tr", false), Some(KeyCommand::Up));
        assert_eq!(
            key_command("Enter", false, "TR", false),
            Some(KeyCommand::Open)
        );
        assert_eq!(key_command("Enter", false, "BUTTON", false), None);
        assert_eq!(
            key_command("r", false, "BODY", false),
            Some(KeyCommand::Replay)
        );
        assert_eq!(key_command("r", true, "BODY", false), None);
        assert_eq!(key_command("j", false, "INPUT", false), None);
        assert_eq!(key_command("j", false, "textarea", false), None);
        assert_eq!(key_command("j", false, "SELECT", false), None);
        assert_eq!(key_command("j", false, "DIV", true), None);
        assert_eq!(key_command("x", false, "BODY", false), None);
    }

    #[test]
    fn selection_moves_and_stops_at_the_ends() {
        let ids: Vec<String> = ["ex_3", "ex_2", "ex_1"].map(String::from).to_vec();
        assert_eq!(move_selection(&ids, None, 1).as_deref(), Some("ex_3"));
        assert_eq!(move_selection(&ids, None, -1).as_deref(), Some("ex_3"));
        assert_eq!(
            move_selection(&ids, Some("ex_3"), 1).as_deref(),
            Some("ex_2")
        );
        assert_eq!(
            move_selection(&ids, Some("ex_1"), 1).as_deref(),
            Some("ex_1")
        );
        assert_eq!(
            move_selection(&ids, Some("ex_2"), -1).as_deref(),
            Some("ex_3")
        );
        assert_eq!(
            move_selection(&ids, Some("ex_3"), -1).as_deref(),
            Some("ex_3")
        );
        // A selection that scrolled off the page starts over at the top.
        assert_eq!(
            move_selection(&ids, Some("ex_9"), 1).as_deref(),
            Some("ex_3")
        );
        assert_eq!(move_selection(&[], Some("ex_1"), 1), None);
    }

    #[test]
    fn edits_map_to_the_agents_shape() {
        let edits = crate::components::replay::read_edits(
            "GET",
            "/a",
            "put",
            "/b?x=1",
            "X-Test: yes\nAccept: */*",
            "cookie, \n",
            "{}",
        )
        .expect("valid")
        .expect("edits");
        let m = to_agent_modify(edits);
        assert_eq!(m.method.as_deref(), Some("PUT"));
        assert_eq!(m.path.as_deref(), Some("/b?x=1"));
        let h = m.headers.expect("headers");
        assert_eq!(h.set.get("X-Test").map(String::as_str), Some("yes"));
        assert_eq!(h.set.len(), 2);
        assert_eq!(h.remove, vec!["cookie".to_owned()]);
        assert_eq!(m.body, Some(BodyEdit::Text("{}".into())));
        // Only a body change: no header edits are sent.
        let only_body = to_agent_modify(crate::components::replay::ReplayEdits {
            body: Some("x".into()),
            ..Default::default()
        });
        assert!(only_body.headers.is_none());
    }
}
