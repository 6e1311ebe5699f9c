//! Proving control of a domain: its `_fdt-challenge` TXT record must carry the row's own token,
//! read through hickory-resolver from the configured name servers (or the system's).

use crate::config::DomainsConfig;
use crate::store::CheckResult;
use fdt_api::domains::{challenge_name, challenge_value};
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use std::time::Duration;

/// Most TXT strings looked at per lookup (a name with thousands of records is not ours).
const MAX_TXT_VALUES: usize = 64;
/// Longest message kept from a failed lookup.
const MAX_ERROR_BYTES: usize = 200;

/// Builds a resolver for `cfg`: its name servers (UDP then TCP each), or the system's. Answers
/// are not cached, so a record just created is seen at the next check.
pub fn resolver(cfg: &DomainsConfig) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if cfg.nameservers.is_empty() {
        Resolver::builder(provider).map_err(|e| format!("system resolver: {e}"))?
    } else {
        let servers = cfg
            .nameservers
            .iter()
            .map(|addr| {
                let conn = |p| {
                    let mut c = ConnectionConfig::new(p);
                    c.port = addr.port();
                    c
                };
                NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![conn(ProtocolConfig::Udp), conn(ProtocolConfig::Tcp)],
                )
            })
            .collect();
        Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], servers), provider)
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    builder.build().map_err(|e| format!("resolver: {e}"))
}

/// Reads `_fdt-challenge.<domain>` and says whether one of its values is `token`'s.
pub async fn check_txt(resolver: &TokioResolver, domain: &str, token: &str) -> CheckResult {
    let name = format!("{}.", challenge_name(domain));
    let want = challenge_value(token);
    match resolver.txt_lookup(name.as_str()).await {
        Ok(lookup) => {
            let values: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .take(MAX_TXT_VALUES)
                .collect();
            if values.iter().any(|v| v == &want) {
                CheckResult::Found
            } else if values.is_empty() {
                CheckResult::Missing(format!("no TXT record at {name}"))
            } else {
                // Another account's token (or anything else): say so without echoing it.
                CheckResult::Missing(format!(
                    "the TXT record at {name} does not carry this domain's token"
                ))
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
            CheckResult::Missing(format!("no TXT record at {name}"))
        }
        Err(e) => {
            let msg = e.to_string();
            CheckResult::Missing(format!(
                "looking up {name} failed: {}",
                fdt_api::validate::cut(&msg, MAX_ERROR_BYTES)
            ))
        }
    }
}
