//! The records inspection keeps — HTTP exchanges (with their WebSocket or SSE timeline) and
//! raw TCP/TLS connections — are the local API's own types ([`fdt_agent_api`]), shared with
//! the inspector page; this adds what only the agent needs: the [`Record`] the capture hands
//! to the store's writer.

pub use fdt_agent_api::{
    BadExchangeId, CapturedBody, Direction, ExchangeId, HttpExchange, SseFields, TcpConnection,
    TimelineEvent, TimelineKind, Timings, header,
};

/// What the capture hands to the writer task.
#[derive(Debug, Clone)]
pub enum Record {
    /// A finished HTTP exchange.
    Http(Box<HttpExchange>),
    /// A TCP/TLS connection that opened or closed (the same id is written twice).
    Tcp(TcpConnection),
}

impl Record {
    /// Captured bytes the record carries (bodies and timeline payloads), for queue limits.
    pub fn captured_bytes(&self) -> usize {
        match self {
            Record::Http(ex) => {
                ex.request_body.data.len()
                    + ex.response_body.data.len()
                    + ex.timeline
                        .iter()
                        .filter_map(|e| e.payload.as_ref())
                        .map(|p| p.data.len())
                        .sum::<usize>()
            }
            Record::Tcp(_) => 0,
        }
    }
}
