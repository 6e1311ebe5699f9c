//! HTTP API stories, each run against SQLite and (when `FDT_TEST_PG_URL` is set) PostgreSQL.
#![allow(clippy::unwrap_used)]

#[macro_use]
extern crate fdt_cloud;

mod common;

mod api {
    mod admin;
    mod agent_sessions;
    mod audit;
    mod auth;
    mod authtokens;
    mod bad_input;
    mod billing;
    mod billing_checkout;
    mod billing_dunning;
    mod billing_duplicates;
    mod billing_invoices;
    mod billing_ledger;
    mod billing_orders;
    mod billing_paypal;
    mod billing_plan_change;
    mod billing_settlements;
    mod cert_events;
    mod client;
    mod console;
    mod device;
    mod domains;
    mod fleet;
    mod jwt;
    mod mailer;
    mod metrics;
    mod names;
    mod orgs;
    mod scim;
    mod sso;
    mod traffic;
    mod tunnel_configs;
}
