//! Inspection through a real relay and agent: every kind of capture (HTTP with bodies,
//! WebSocket messages both ways, SSE events, TCP connections), the local API's filters and
//! paging over HTTP, replay as is and edited (reaching the local service, and refused when it
//! would go anywhere else), and HAR/cURL export.

mod capture;
mod query;
mod replay;

use fdt_agent_core::InspectConfig;
use fdt_agent_core::config::TunnelConfig;
use fdt_e2e::inspect::{InspectedAgent, inspected_agent};
use fdt_e2e::{HttpOrigin, Stack, StackOptions};
use fdt_proto::Proto;
use serde_json::Value;

fn http_tunnel(name: &str, origin: &HttpOrigin) -> TunnelConfig {
    let mut t = TunnelConfig::new(Proto::Http, origin.addr.to_string());
    t.subdomain = Some(name.to_string());
    t
}

/// What the origin's `/echo` saw, from a captured exchange's response body.
fn echo_of(ex: &Value) -> Value {
    serde_json::from_str(ex["response_body"]["data"].as_str().unwrap()).unwrap()
}

async fn setup(names: &[&str], cfg: InspectConfig) -> (Stack, HttpOrigin, InspectedAgent) {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let origin = HttpOrigin::start().await.unwrap();
    let tunnels = names
        .iter()
        .map(|n| (*n, http_tunnel(n, &origin)))
        .collect();
    let agent = inspected_agent(&stack, tunnels, cfg).await.unwrap();
    (stack, origin, agent)
}
