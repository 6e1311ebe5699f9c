//! The types of the agent's local API (`http://127.0.0.1:4040/api/…`): what the agent serves
//! and stores, and what the inspector page and the desktop window read. One definition for
//! both sides, so a field renamed here is renamed in the agent and the UI at compile time.
//!
//! Plain data with serde only (and base64 for binary bodies): the crate builds for
//! `wasm32-unknown-unknown`. Readers are tolerant where a field may be missing — records and
//! pages default absent fields — so a page still shows an agent a version apart.

mod exchange;
mod lists;
mod replay;

pub use exchange::{
    BadExchangeId, CapturedBody, Direction, ExchangeId, ExchangeSummary, HttpExchange, SseFields,
    TcpConnection, TimelineEvent, TimelineKind, Timings, header,
};
pub use lists::{ExchangeList, HTTP_LIST_PATH, TCP_LIST_PATH, TcpList};
pub use replay::{BodyEdit, HeaderEdits, ReplayAnswer, ReplayModify, ReplayOutcome, ReplayRequest};
