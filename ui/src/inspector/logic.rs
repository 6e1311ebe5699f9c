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
mod tests;
