//! The whole-system stories, one module per topic, in one test binary: every story links the
//! same relay, agent and control plane, so one binary links them once. Nextest still runs each
//! test in its own process; a story is named by its module, e.g. `http::…`, `inspect::replay::…`
//! (`cargo nextest run -p fdt-e2e inspect::`).
//!
//! The desktop app on Tauri's mock runtime is its own binary (`tests/desktop.rs`): it is the
//! only story that links Tauri, GTK and WebKitGTK, which every other story's process would
//! otherwise load too.

#![allow(clippy::unwrap_used)]

mod adversarial;
mod billing_console;
mod chaos;
mod cloud;
mod console;
mod desktop_app;
mod device_login;
mod domains;
mod errors;
mod failover;
mod forwarding;
mod ha;
mod hold;
mod http;
mod inspect;
mod inspector_ui;
mod interstitial;
mod lifecycle;
mod live_tunnels;
mod managed_tunnels;
mod metrics;
mod monitoring;
mod operators;
mod orgs_console;
mod policy;
mod pooling;
mod quic_edge;
mod replicas;
mod rules;
mod scim;
mod sso;
mod streaming;
mod tcp_forwarding;
mod tcp_tls;
mod topology;
mod traffic_log;
