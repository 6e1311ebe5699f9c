//! Forwarding between relays: a visitor who reaches a relay that does not hold their tunnel is
//! served over a QUIC connection to a relay that does.
//!
//! - [`placement`]: which relays hold a name, asked of the control plane and cached briefly;
//! - [`feed`]: the control plane's feed of names bound since the relay last asked, whose
//!   cached answers are then dropped;
//! - [`client`]: connections to peers, opened with this relay's identity (a token the control
//!   plane signs into every heartbeat answer, renewed on open connections);
//! - the holder's side is on the agent endpoint (`agents::peer_conn`): identities checked,
//!   each forwarded stream served by the holder's own edge as if the visitor had come to it,
//!   marked so it is never forwarded again (one hop at most);
//! - [`wire`]: the bytes on those connections, without I/O.
//!
//! The tunnel's policy (addresses, basic auth, rate, browser warning) is enforced once, by the
//! holder, which has it from the agent's bind; the forwarding relay applies its edge's own
//! limits (connections per address, header sizes and times) as to any visitor.

pub mod client;
pub mod feed;
pub mod placement;
pub mod wire;

use fdt_api::{PlacedRelay, TunnelProto};
use std::sync::Arc;

/// What the edge needs to forward visitors: where names are, and the connections to get there.
#[derive(Debug)]
pub struct Peers {
    /// Which relays hold which names.
    pub placement: Arc<placement::Placements>,
    /// Connections to them, opened with this relay's identity.
    pub client: client::PeerClient,
}

impl Peers {
    /// A relay other than this one holding `name` for `proto`, other than `except` (one
    /// that just failed) and not one this relay failed to reach moments ago.
    pub async fn holder(
        &self,
        name: placement::Name<'_>,
        proto: TunnelProto,
        except: Option<&str>,
    ) -> Option<PlacedRelay> {
        self.placement
            .find(name, proto, |r| {
                except != Some(r.relay_id.as_str()) && !self.client.recently_failed(&r.relay_id)
            })
            .await
    }
}
