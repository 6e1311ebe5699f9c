//! Opening data streams to an agent: each QUIC stream starts with a [`StreamHeader`] naming
//! the tunnel (and, for a visitor connection, who it is), within the agent session's stream
//! limit.

use fdt_proto::{Frame, FrameKind, Proto, StreamHeader, TunnelId};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Time allowed to open a stream to the agent before the visitor gets a 502.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a stream to the agent could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The tunnel or its session has no free stream slot.
    #[error("too many concurrent streams on this tunnel")]
    Busy,
    /// The agent connection is gone or did not accept a stream in time.
    #[error("tunnel agent unreachable: {0}")]
    Offline(String),
}

/// A data stream to the agent with its stream-limit permits.
#[derive(Debug)]
pub struct AgentStream {
    /// Bytes to the agent.
    pub send: quinn::SendStream,
    /// Bytes from the agent.
    pub recv: quinn::RecvStream,
    /// Released when the stream is dropped.
    pub permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// A stream carrying many HTTP/1.1 exchanges, with its session stream slot.
#[derive(Debug)]
pub struct HttpStream {
    /// Bytes to the agent.
    pub send: quinn::SendStream,
    /// Bytes from the agent.
    pub recv: quinn::RecvStream,
    /// Session stream slot, released when the stream is dropped.
    pub permit: OwnedSemaphorePermit,
}

/// Opens streams for one tunnel on its agent's connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamOpener {
    conn: quinn::Connection,
    tunnel: TunnelId,
    proto: Proto,
    /// Concurrent streams allowed on the agent's session (shared by its tunnels).
    session_streams: Arc<Semaphore>,
}

impl StreamOpener {
    /// An opener for `tunnel` (carrying `proto`) on `conn`, within `session_streams`.
    pub fn new(
        conn: quinn::Connection,
        tunnel: TunnelId,
        proto: Proto,
        session_streams: Arc<Semaphore>,
    ) -> Self {
        Self {
            conn,
            tunnel,
            proto,
            session_streams,
        }
    }

    /// The agent's connection.
    pub fn conn(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Opens a stream that will carry many HTTP/1.1 exchanges (see
    /// [`crate::agents::upstream`]). Its header names no visitor: each request carries its own
    /// in `x-fdt-visitor`.
    pub async fn open_http(&self) -> Result<HttpStream, OpenError> {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let (send, recv, permit) = self.open(unspecified, None).await?;
        Ok(HttpStream { send, recv, permit })
    }

    /// Opens a stream for `visitor` (and the SNI it sent, for passthrough) and writes its
    /// header. Never waits for a slot: a full session answers [`OpenError::Busy`] at once.
    pub async fn open(
        &self,
        visitor: SocketAddr,
        sni: Option<String>,
    ) -> Result<(quinn::SendStream, quinn::RecvStream, OwnedSemaphorePermit), OpenError> {
        let permit = self
            .session_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::Busy)?;
        let header = StreamHeader {
            tunnel: self.tunnel,
            visitor,
            proto: self.proto,
            sni,
        };
        let bytes = Frame::to_bytes(FrameKind::StreamHeader, &header)
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        let (mut send, recv) = tokio::time::timeout(OPEN_TIMEOUT, self.conn.open_bi())
            .await
            .map_err(|_| OpenError::Offline("timed out opening a stream".into()))?
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        send.write_all(&bytes)
            .await
            .map_err(|e| OpenError::Offline(e.to_string()))?;
        Ok((send, recv, permit))
    }
}
