//! Binding a tunnel for an authenticated agent: its name or port on this relay, the control
//! plane's consent for cloud-issued tokens, and its place in the registry.

use crate::agents::context::Agents;
use crate::agents::streams::StreamOpener;
use crate::agents::upstream::client_for;
use crate::auth::AgentClaims;
use crate::control::client::ControlClient;
use crate::edge::policy::CompiledPolicy;
use crate::edge::tcp;
use crate::registry::{SessionCommand, Tunnel};
use fdt_api::{AccountId, AuthtokenId, BindingRequest, ClientError, TunnelProto};
use fdt_proto::{ErrorCode, Proto, ProtoError, TunnelSpec};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What a bind needs of its session.
#[derive(Debug)]
pub(crate) struct Binder<'a> {
    /// The relay's handles.
    pub agents: &'a Agents,
    /// The agent's connection.
    pub conn: &'a quinn::Connection,
    /// Given to the session's tunnels, so other tasks can reach the session.
    pub commands: &'a tokio::sync::mpsc::Sender<SessionCommand>,
    /// Concurrent streams allowed on the session (shared by its tunnels).
    pub session_streams: &'a Arc<Semaphore>,
    /// The agent's software version, from its hello.
    pub agent_version: &'a str,
    /// The agent's replica group and index, from its hello.
    pub ha_group: Option<(&'a str, u8)>,
}

/// What the relay asks the control plane before binding.
#[derive(Debug, Clone)]
struct BindAsk<'a> {
    /// `sub` of the agent's token.
    account: &'a str,
    /// `atk` of the agent's token.
    authtoken: &'a str,
    /// Traffic kind.
    proto: Proto,
    /// Subdomain (http, tls).
    subdomain: Option<&'a str>,
    /// Port (tcp).
    port: Option<u16>,
    /// The relay chose the name.
    random: bool,
    /// Public URL.
    public_url: &'a str,
    /// Pooling asked for.
    pooling: bool,
    /// Agent version.
    agent_version: &'a str,
    /// Replica group and index.
    ha_group: Option<(&'a str, u8)>,
}

impl Binder<'_> {
    /// Binds `spec` for an agent authenticated with `claims` that holds `bound` tunnels:
    /// picks its name or port, asks the control plane (cloud-issued tokens), and installs it.
    pub async fn bind(
        &self,
        claims: &AgentClaims,
        bound: usize,
        spec: TunnelSpec,
    ) -> Result<Arc<Tunnel>, ProtoError> {
        if claims.max_tunnels != 0 && bound >= claims.max_tunnels as usize {
            return Err(ProtoError::new(
                ErrorCode::LimitExceeded,
                format!("online tunnel limit of {} reached", claims.max_tunnels),
            ));
        }
        let policy = CompiledPolicy::compile(&spec.policy)
            .map_err(|e| ProtoError::new(ErrorCode::InvalidPolicy, e.to_string()))?;
        let cfg = &self.agents.cfg;
        let id = self.agents.tunnels.registry.next_id();
        // Names the relay picks are tried again when the cloud says another account holds or
        // reserved them; names the agent asked for are not.
        let random = match spec.proto {
            Proto::Http | Proto::Tls => spec.subdomain.is_none(),
            Proto::Tcp => spec.remote_port.is_none(),
        };
        let mut attempts = 0;
        let (host, port, listener, public_url, cloud_id) = loop {
            attempts += 1;
            let (host, port, listener, url) = self.pick_name(&spec, claims).await?;
            let control = self.agents.control.as_ref();
            let (Some(control), Some(atk)) = (control, claims.atk.as_deref()) else {
                break (host, port, listener, url, None);
            };
            let label = host
                .as_deref()
                .and_then(|h| h.strip_suffix(&format!(".{}", cfg.base_domain)));
            let ask = BindAsk {
                account: &claims.sub,
                authtoken: atk,
                proto: spec.proto,
                subdomain: label,
                port,
                random,
                public_url: &url,
                pooling: spec.pooling,
                agent_version: self.agent_version,
                ha_group: self.ha_group,
            };
            match authorize(control, &ask).await {
                Ok(cloud_id) => break (host, port, listener, url, Some(cloud_id)),
                Err(e)
                    if random
                        && attempts < 4
                        && matches!(e.code, ErrorCode::NameInUse | ErrorCode::NameNotAllowed) => {}
                Err(e) => return Err(e),
            }
        };
        let max_header_bytes = cfg.limits.max_header_bytes;
        let is_http = spec.proto == Proto::Http;
        let usage = self.agents.usage.counters(&claims.sub);
        let opener = StreamOpener::new(
            self.conn.clone(),
            id,
            spec.proto,
            self.session_streams.clone(),
        );
        let tunnel = Arc::new(Tunnel {
            http: is_http.then(|| client_for(opener.clone(), max_header_bytes)),
            id,
            cloud_id,
            usage,
            commands: self.commands.clone(),
            log_bodies: spec.log_bodies && claims.bodies,
            browser_warning: claims.warn,
            rate: std::num::NonZeroU32::new(claims.rpm)
                .map(|rpm| governor::RateLimiter::direct(governor::Quota::per_minute(rpm))),
            name: spec.name.clone(),
            account: claims.sub.clone(),
            proto: spec.proto,
            host,
            port,
            pooling: spec.pooling,
            public_url,
            policy,
            opener,
            streams: Arc::new(Semaphore::new(cfg.limits.max_streams_per_tunnel as usize)),
            cancel: CancellationToken::new(),
        });
        if let Err(e) = self.agents.tunnels.registry.insert(tunnel.clone()) {
            // The cloud recorded it online: take that back.
            self.agents.tunnels.release(&tunnel);
            return Err(ProtoError::new(ErrorCode::NameInUse, e.to_string()));
        }
        if let Some(tcp::PortClaim::Own(l)) = listener {
            let edge = self.agents.edge.clone();
            self.agents
                .lifecycle
                .tasks
                .spawn(tcp::run_listener(edge, l, tunnel.clone()));
        }
        Ok(tunnel)
    }

    /// The host name (http, tls) or bound port (tcp) a bind gets on this relay, and its URL.
    async fn pick_name(
        &self,
        spec: &TunnelSpec,
        claims: &AgentClaims,
    ) -> Result<(Option<String>, Option<u16>, Option<tcp::PortClaim>, String), ProtoError> {
        let cfg = &self.agents.cfg;
        Ok(match spec.proto {
            Proto::Http | Proto::Tls => {
                let label = match &spec.subdomain {
                    Some(s) => s.to_ascii_lowercase(),
                    None => random_label(),
                };
                validate_label(&label)?;
                if !claims.may_bind(&label) {
                    return Err(ProtoError::new(
                        ErrorCode::NameNotAllowed,
                        format!("this token may not bind {label:?}"),
                    ));
                }
                let host = format!("{label}.{}", cfg.base_domain);
                self.agents
                    .tunnels
                    .registry
                    .check_host(&host, &claims.sub)
                    .map_err(|e| ProtoError::new(ErrorCode::NameInUse, e.to_string()))?;
                let url = self.agents.urls.for_host(spec.proto, &host);
                (Some(host), None, None, url)
            }
            Proto::Tcp => {
                if spec.pooling {
                    return Err(ProtoError::new(
                        ErrorCode::InvalidPolicy,
                        "pooling is supported for http and tls tunnels",
                    ));
                }
                if let Some(p) = spec.remote_port {
                    self.agents
                        .tunnels
                        .registry
                        .release_port_for(p, &claims.sub)
                        .map_err(|e| ProtoError::new(ErrorCode::NameInUse, e.to_string()))?;
                }
                let listener = tcp::bind_port(&self.agents.edge, spec.remote_port)
                    .await
                    .map_err(|e| ProtoError::new(ErrorCode::PortUnavailable, e.to_string()))?;
                let port = listener
                    .port()
                    .map_err(|e| ProtoError::new(ErrorCode::Internal, e.to_string()))?;
                let url = self.agents.urls.for_port(port);
                (None, Some(port), Some(listener), url)
            }
        })
    }
}

/// Asks the control plane whether the agent may bind; the cloud's tunnel ID when it may.
/// Refusals map to protocol error codes the agent understands; an unreachable cloud is
/// [`ErrorCode::Unavailable`] (the agent retries).
async fn authorize(
    control: &ControlClient,
    ask: &BindAsk<'_>,
) -> Result<fdt_api::TunnelId, ProtoError> {
    let account: AccountId = ask
        .account
        .parse()
        .map_err(|_| ProtoError::new(ErrorCode::AuthFailed, "token names no cloud account"))?;
    let authtoken: AuthtokenId = ask
        .authtoken
        .parse()
        .map_err(|_| ProtoError::new(ErrorCode::AuthFailed, "token names no authtoken"))?;
    let body = BindingRequest {
        relay_id: control.relay_id().to_owned(),
        boot_id: control.boot_id().to_owned(),
        account_id: account,
        authtoken_id: Some(authtoken),
        proto: match ask.proto {
            Proto::Http => TunnelProto::Http,
            Proto::Tls => TunnelProto::Tls,
            Proto::Tcp => TunnelProto::Tcp,
        },
        subdomain: ask.subdomain.map(str::to_owned),
        port: ask.port,
        random: ask.random,
        public_url: ask.public_url.to_owned(),
        pooling: ask.pooling,
        agent_version: ask.agent_version.chars().take(128).collect(),
        ha_group: ask.ha_group.map(|(g, _)| g.to_owned()),
        ha_replica: ask.ha_group.map_or(0, |(_, r)| r),
    };
    match control.bind(&body).await {
        Ok(granted) => Ok(granted.tunnel_id),
        Err(e) => Err(refusal(e)),
    }
}

/// The protocol error an agent gets for a bind the control plane did not grant.
fn refusal(e: ClientError) -> ProtoError {
    let unavailable =
        |m: String| ProtoError::new(ErrorCode::Unavailable, format!("control plane: {m}"));
    let status = e.status();
    let (code, message) = match &e {
        ClientError::Api { body, .. } => (
            body.error.code.as_str().to_owned(),
            body.error.message.clone(),
        ),
        ClientError::UnexpectedStatus { status, .. } => (String::new(), format!("HTTP {status}")),
        // No answer, or one that could not be read.
        _ => return unavailable(e.to_string()),
    };
    match code.as_str() {
        "name_in_use" => ProtoError::new(ErrorCode::NameInUse, message),
        "name_reserved" => ProtoError::new(ErrorCode::NameNotAllowed, message),
        // Final for the agent: retrying cannot help until an operator acts.
        "account_suspended" | "forbidden" => ProtoError::new(ErrorCode::AuthFailed, message),
        // The token names an account the cloud no longer has.
        "not_found" => ProtoError::new(ErrorCode::AuthFailed, message),
        "limit_exceeded" => ProtoError::new(ErrorCode::LimitExceeded, message),
        "validation_failed" | "invalid_body" => ProtoError::new(ErrorCode::InvalidName, message),
        _ if status.is_some_and(|s| s >= 500 || s == 401) => unavailable(message),
        _ => ProtoError::new(ErrorCode::Internal, format!("control plane: {message}")),
    }
}

/// A random 10-character name for tunnels that did not ask for one.
fn random_label() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..10)
        .map(|_| ALPHABET[rand::random::<u32>() as usize % ALPHABET.len()] as char)
        .collect()
}

/// A subdomain must be one DNS label: 1–63 of `a-z 0-9 -`, not starting or ending with `-`.
fn validate_label(label: &str) -> Result<(), ProtoError> {
    fdt_api::validate::check_label("subdomain", label).map_err(|_| {
        ProtoError::new(
            ErrorCode::InvalidName,
            format!("{label:?} is not a valid subdomain (a-z, 0-9 and '-', at most 63)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_validated() {
        assert!(validate_label("my-app1").is_ok());
        for bad in ["", "-a", "a-", "a.b", "A", "ünï", &"x".repeat(64)] {
            assert!(validate_label(bad).is_err(), "{bad:?}");
        }
        let r = random_label();
        assert!(validate_label(&r).is_ok(), "{r}");
    }
}
