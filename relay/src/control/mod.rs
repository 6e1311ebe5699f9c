//! The relay's side of the control plane (when `cloud_url` and `relay_secret` are set): one
//! typed client ([`client`]) and the tasks that use it — heartbeats with their reports,
//! traffic-log shipping, the revocation feed, and the tunnel-definition feed of managed agents.

pub(crate) mod cert_reports;
pub(crate) mod client;
pub(crate) mod domains;
pub(crate) mod heartbeat;
pub(crate) mod identity;
pub(crate) mod managed;
pub(crate) mod report_queue;
pub(crate) mod reporter;
pub(crate) mod revocations;
pub(crate) mod traffic_log;
