//! What a list query of the store asks for ([`Filter`]) and what it answers ([`Page`]): the
//! local API builds the one from a query string and shows the other.

use super::model::ExchangeId;

/// Largest page of a list query.
pub const MAX_LIMIT: usize = 1000;
/// Page size of a list query without `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// A status filter: one code (`404`) or a class (`5xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this code.
    Code(u16),
    /// Any code of this hundred (`5` for 5xx).
    Class(u16),
}

/// A `status` filter that is neither a code nor a class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status {0:?} is neither a code (404) nor a class (5xx)")]
pub struct BadStatusFilter(pub String);

impl std::str::FromStr for StatusFilter {
    type Err = BadStatusFilter;
    fn from_str(s: &str) -> Result<Self, BadStatusFilter> {
        let bad = || BadStatusFilter(s.to_string());
        if let Some(c) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let c: u16 = c.parse().map_err(|_| bad())?;
            return (1..=5)
                .contains(&c)
                .then_some(Self::Class(c))
                .ok_or_else(bad);
        }
        let code: u16 = s.parse().map_err(|_| bad())?;
        (100..=999)
            .contains(&code)
            .then_some(Self::Code(code))
            .ok_or_else(bad)
    }
}

/// Which exchanges a list query wants (all conditions must hold), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Tunnel name, exactly.
    pub tunnel_name: Option<String>,
    /// Status code or class.
    pub status: Option<StatusFilter>,
    /// Method, case-insensitively.
    pub method: Option<String>,
    /// Substring of the path and query.
    pub path: Option<String>,
    /// Substring of the request or the response body (as captured).
    pub body: Option<String>,
    /// Only exchanges older than this id (the cursor of the previous page).
    pub before: Option<ExchangeId>,
    /// Page size (capped at [`MAX_LIMIT`]; 0 means [`DEFAULT_LIMIT`]).
    pub limit: usize,
}

/// A page of results and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Newest first.
    pub items: Vec<T>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<ExchangeId>,
}

/// A page size as asked (0: the default), capped at [`MAX_LIMIT`].
pub(super) fn page_limit(asked: usize) -> usize {
    match asked {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows: the extra row only says another page exists.
    pub(super) fn of(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> ExchangeId) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(id)
        } else {
            None
        };
        Self { items, next }
    }
}
