//! The header that opens every data stream.

use crate::{Proto, TunnelId};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// First frame on a relay-opened data stream: which tunnel the bytes belong to and who sent them.
///
/// For `http` tunnels the rest of the stream is one HTTP/1.1 connection (relay as client); for
/// `tcp` and `tls` it is the visitor's raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHeader {
    /// The tunnel this stream belongs to.
    pub tunnel: TunnelId,
    /// The visitor's socket address as seen by the relay.
    pub visitor: SocketAddr,
    /// Traffic kind.
    pub proto: Proto,
    /// SNI of the visitor's TLS ClientHello, when there was one.
    #[serde(default)]
    pub sni: Option<String>,
}
