//! Cloud-managed tunnels: the definitions the relay pushes (`TunnelDefinitions`), read with
//! the agent's own config code, as tunnels for the [`super::tunnels::TunnelSet`].

use crate::config::{ResolvedTunnel, TunnelConfig};
use fdt_proto::ManagedTunnel;

/// Why a pushed definition could not be used; the control plane checks definitions with the
/// same code, so this means a definition from a newer control plane (a key this agent does not
/// know) or a corrupt one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("managed tunnel {name:?} ({id}): {message}")]
pub struct DefinitionError {
    /// The definition's ID.
    pub id: String,
    /// The tunnel's name.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

/// Reads one definition as the agent reads a `[tunnels.NAME]` table.
pub fn resolve(t: &ManagedTunnel) -> Result<ResolvedTunnel, DefinitionError> {
    let error = |message: String| DefinitionError {
        id: t.id.clone(),
        name: t.name.clone(),
        message,
    };
    let config: TunnelConfig = serde_json::from_value(serde_json::Value::Object(t.config.clone()))
        .map_err(|e| error(e.to_string()))?;
    let mut resolved = config.resolve(&t.name).map_err(|e| error(e.to_string()))?;
    resolved.managed_id = Some(t.id.clone());
    Ok(resolved)
}

/// The enabled definitions as tunnels to run, and the errors of those that cannot run.
pub fn enabled(tunnels: &[ManagedTunnel]) -> (Vec<ResolvedTunnel>, Vec<DefinitionError>) {
    let mut run = Vec::new();
    let mut errors = Vec::new();
    for t in tunnels.iter().filter(|t| t.enabled) {
        match resolve(t) {
            Ok(r) => run.push(r),
            Err(e) => errors.push(e),
        }
    }
    (run, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, name: &str, enabled: bool, config: &str) -> ManagedTunnel {
        ManagedTunnel {
            id: id.into(),
            name: name.into(),
            enabled,
            config: serde_json::from_str(config).unwrap_or_default(),
        }
    }

    #[test]
    fn enabled_definitions_run_and_bad_ones_are_named() {
        let (run, errors) = enabled(&[
            def(
                "tcf_1",
                "web",
                true,
                r#"{"proto":"http","addr":"8080","subdomain":"web"}"#,
            ),
            def("tcf_2", "off", false, r#"{"proto":"http","addr":"8081"}"#),
            def(
                "tcf_3",
                "new",
                true,
                r#"{"proto":"http","addr":"1","from_the_future":1}"#,
            ),
            def("tcf_4", "zero", true, r#"{"proto":"tcp","addr":"0"}"#),
        ]);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].spec.name, "web");
        assert_eq!(run[0].spec.subdomain.as_deref(), Some("web"));
        assert_eq!(run[0].managed_id.as_deref(), Some("tcf_1"));
        let ids: Vec<&str> = errors.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["tcf_3", "tcf_4"]);
        assert!(
            errors[0].message.contains("from_the_future"),
            "{}",
            errors[0]
        );
    }
}
