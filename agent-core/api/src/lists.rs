//! The list endpoints' pages: newest first, with the cursor of the next (older) page.

use crate::exchange::{ExchangeId, ExchangeSummary, TcpConnection};
use serde::{Deserialize, Serialize};

/// Path of the HTTP exchange list (`GET`), of one exchange below it, and of replays (`POST`).
pub const HTTP_LIST_PATH: &str = "/api/requests/http";
/// Path of the TCP/TLS connection list.
pub const TCP_LIST_PATH: &str = "/api/requests/tcp";

/// `GET /api/requests/http`: a page of exchange summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExchangeList {
    /// The list's own path ([`HTTP_LIST_PATH`]).
    pub uri: String,
    /// The exchanges, newest first.
    pub requests: Vec<ExchangeSummary>,
    /// Cursor of the next (older) page; `None` on the last page.
    pub next: Option<ExchangeId>,
}

/// `GET /api/requests/tcp`: a page of connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpList {
    /// The list's own path ([`TCP_LIST_PATH`]).
    pub uri: String,
    /// The connections, newest first.
    pub connections: Vec<TcpConnection>,
    /// Cursor of the next (older) page; `None` on the last page.
    pub next: Option<ExchangeId>,
}
