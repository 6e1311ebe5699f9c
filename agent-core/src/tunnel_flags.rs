//! `fdt http|tcp|tls`'s tunnel flags, read into a [`TunnelConfig`] as a config file's table is.

use crate::config::TunnelConfig;
use fdt_proto::Proto;
use ipnet::IpNet;

/// The flags of `fdt http|tcp|tls` that shape one tunnel (the keys of a `[tunnels.NAME]`
/// table, on the command line).
#[derive(clap::Args, Debug, Default)]
pub struct TunnelFlags {
    /// Name of this tunnel (for the API and logs).
    #[arg(long)]
    name: Option<String>,
    /// Subdomain to ask for.
    #[arg(long)]
    subdomain: Option<String>,
    /// Require HTTP basic auth user:pass (repeatable).
    #[arg(long = "basic-auth")]
    basic_auth: Vec<String>,
    /// Allow only these visitor networks (repeatable).
    #[arg(long = "cidr-allow")]
    cidr_allow: Vec<IpNet>,
    /// Refuse these visitor networks (repeatable).
    #[arg(long = "cidr-deny")]
    cidr_deny: Vec<IpNet>,
    /// `rewrite` to send the local address as Host, or a literal host.
    #[arg(long)]
    host_header: Option<String>,
    /// Add a request header `Name: value` (repeatable).
    #[arg(long = "request-header-add")]
    request_header_add: Vec<String>,
    /// Remove a request header (repeatable).
    #[arg(long = "request-header-remove")]
    request_header_remove: Vec<String>,
    /// Add a response header `Name: value` (repeatable).
    #[arg(long = "response-header-add")]
    response_header_add: Vec<String>,
    /// Remove a response header (repeatable).
    #[arg(long = "response-header-remove")]
    response_header_remove: Vec<String>,
    /// Do not verify an https:// upstream's certificate.
    #[arg(long)]
    upstream_insecure: bool,
    /// Keep HTTP request and response bodies (up to 64 KiB each) in the cloud traffic log,
    /// when your plan includes it; metadata is logged either way.
    #[arg(long)]
    log_bodies: bool,
}

impl TunnelFlags {
    /// The tunnel these flags describe, of `proto` to `addr`, and its name (`--name`, else
    /// the proto's).
    pub fn into_config(
        self,
        proto: Proto,
        addr: String,
        remote_port: Option<u16>,
        pooling_enabled: bool,
    ) -> (String, TunnelConfig) {
        let name = self.name.unwrap_or_else(|| proto.as_str().to_string());
        let cfg = TunnelConfig {
            proto,
            addr,
            subdomain: self.subdomain,
            remote_port,
            basic_auth: self.basic_auth,
            cidr_allow: self.cidr_allow,
            cidr_deny: self.cidr_deny,
            host_header: self.host_header,
            request_header_add: self.request_header_add,
            request_header_remove: self.request_header_remove,
            response_header_add: self.response_header_add,
            response_header_remove: self.response_header_remove,
            upstream_insecure: self.upstream_insecure,
            pooling_enabled,
            log_bodies: self.log_bodies,
        };
        (name, cfg)
    }
}
