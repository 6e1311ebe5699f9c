//! The tunnel form's text, to and from [`TunnelInput`]: one entry per line, trimmed, blank
//! lines dropped, and only the fields the chosen protocol uses (a subdomain for http and tls,
//! basic auth for http), so a value left in a hidden field is never sent.

use fdt_desktop_ipc::TunnelInput;

/// The protocols a tunnel can use, as the form offers them.
pub const PROTOCOLS: [&str; 3] = ["http", "tcp", "tls"];

/// The form's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelFields {
    /// Id of the tunnel being edited; `None` when adding one.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// `http`, `tcp` or `tls`.
    pub proto: String,
    /// Local address.
    pub addr: String,
    /// Subdomain (empty: a random one).
    pub subdomain: String,
    /// `user:pass` lines.
    pub basic_auth: String,
    /// Allowed CIDR lines.
    pub cidr_allow: String,
    /// Denied CIDR lines.
    pub cidr_deny: String,
}

impl TunnelFields {
    /// An empty form for a new http tunnel.
    pub fn new_tunnel() -> Self {
        Self {
            proto: "http".into(),
            ..Self::default()
        }
    }

    /// The fields of an existing definition (`id` kept for saving it back).
    pub fn from_input(t: &TunnelInput) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            proto: t.proto.clone(),
            addr: t.addr.clone(),
            subdomain: t.subdomain.clone().unwrap_or_default(),
            basic_auth: t.basic_auth.join("\n"),
            cidr_allow: t.cidr_allow.join("\n"),
            cidr_deny: t.cidr_deny.join("\n"),
        }
    }

    /// The definition to save. The app checks the values (and names the wrong one).
    pub fn to_input(&self) -> TunnelInput {
        let proto = self.proto.trim().to_ascii_lowercase();
        let subdomain = self.subdomain.trim();
        TunnelInput {
            id: self.id.clone(),
            name: self.name.trim().to_owned(),
            addr: self.addr.trim().to_owned(),
            subdomain: (uses_subdomain(&proto) && !subdomain.is_empty())
                .then(|| subdomain.to_owned()),
            basic_auth: if uses_basic_auth(&proto) {
                lines(&self.basic_auth)
            } else {
                Vec::new()
            },
            cidr_allow: lines(&self.cidr_allow),
            cidr_deny: lines(&self.cidr_deny),
            proto,
        }
    }
}

/// Whether `proto` takes a subdomain (http, tls).
pub fn uses_subdomain(proto: &str) -> bool {
    matches!(proto, "http" | "tls")
}

/// Whether `proto` takes basic auth (http).
pub fn uses_basic_auth(proto: &str) -> bool {
    proto == "http"
}

/// The non-blank lines of `text`, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_fields() -> TunnelFields {
        TunnelFields {
            id: None,
            name: "  web ".into(),
            proto: "http".into(),
            addr: " 3000 ".into(),
            subdomain: " demo ".into(),
            basic_auth: "alice:secret\n\n  bob:pw  \n".into(),
            cidr_allow: "10.0.0.0/8\r\n \n192.168.1.0/24".into(),
            cidr_deny: "".into(),
        }
    }

    #[test]
    fn lines_are_trimmed_and_blanks_dropped() {
        let t = http_fields().to_input();
        assert_eq!(t.name, "web");
        assert_eq!(t.addr, "3000");
        assert_eq!(t.subdomain.as_deref(), Some("demo"));
        assert_eq!(t.basic_auth, vec!["alice:secret", "bob:pw"]);
        assert_eq!(t.cidr_allow, vec!["10.0.0.0/8", "192.168.1.0/24"]);
        assert!(t.cidr_deny.is_empty());
        assert_eq!(t.id, None);
    }

    #[test]
    fn an_empty_subdomain_asks_for_a_random_one() {
        let mut f = http_fields();
        f.subdomain = "   ".into();
        assert_eq!(f.to_input().subdomain, None);
    }

    #[test]
    fn hidden_fields_are_not_sent_for_other_protocols() {
        let mut f = http_fields();
        f.proto = "tcp".into();
        let t = f.to_input();
        assert_eq!((t.subdomain, t.basic_auth.len()), (None, 0));
        assert_eq!(t.cidr_allow.len(), 2, "every protocol takes CIDR rules");
        f.proto = "TLS".into();
        let t = f.to_input();
        assert_eq!(t.proto, "tls");
        assert_eq!(t.subdomain.as_deref(), Some("demo"));
        assert!(t.basic_auth.is_empty());
    }

    #[test]
    fn editing_round_trips_a_definition() {
        let mut f = http_fields();
        f.id = Some("t1".into());
        let saved = f.to_input();
        let again = TunnelFields::from_input(&saved).to_input();
        assert_eq!(again, saved);
        assert_eq!(again.id.as_deref(), Some("t1"));
    }
}
