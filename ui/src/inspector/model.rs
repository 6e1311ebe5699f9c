//! The agent's local API as the inspector reads it: the agent's own types from
//! [`fdt_agent_api`] (one definition for the agent that writes the JSON and the page that
//! reads it). The inspector's view logic stays in this crate ([`super::logic`]).

pub use fdt_agent_api::{
    BodyEdit, CapturedBody, Direction, ExchangeList, ExchangeSummary, HTTP_LIST_PATH, HeaderEdits,
    HttpExchange, ReplayAnswer, ReplayModify, ReplayRequest, SseFields, TCP_LIST_PATH,
    TcpConnection, TcpList, TimelineEvent, TimelineKind, header,
};
