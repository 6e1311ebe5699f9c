//! The console's pages and their URLs. The server and the browser parse the same path into
//! the same [`Page`], so navigation is plain links (every page is server-rendered).

/// A page of the admin panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminPage {
    /// Accounts: search, suspend, plan.
    Users,
    /// Live tunnels of every account: force close.
    Tunnels,
    /// The relay fleet: health, load, drain.
    Relays,
    /// What operators did.
    Audit,
    /// The age of each signing key and relay secret.
    Secrets,
    /// Every account's custom domains and the certificate events, with replay.
    Domains,
    /// Reconciliation incidents, webhook events, dunning, invoices, settlements.
    Billing,
}

/// A page of the web console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Sign in.
    Login,
    /// Create an account.
    Signup,
    /// Live tunnels and reserved names (also `/`).
    Tunnels,
    /// Cloud-managed tunnel definitions.
    Managed,
    /// Authtokens.
    Authtokens,
    /// Custom domains.
    Domains,
    /// The traffic log.
    Traffic,
    /// One logged request, with replay.
    Request(String),
    /// Plan, limits and usage over time.
    Usage,
    /// Plans, checkout, subscriptions.
    Billing,
    /// Account settings.
    Settings,
    /// Approve a device's sign-in by its user code.
    Device,
    /// The admin panel.
    Admin(AdminPage),
    /// Anything else.
    NotFound,
}

impl Page {
    /// The page at `path`.
    pub fn parse(path: &str) -> Self {
        let path = path.trim_end_matches('/');
        match path {
            "" | "/tunnels" => Self::Tunnels,
            "/managed" => Self::Managed,
            "/login" => Self::Login,
            "/signup" => Self::Signup,
            "/authtokens" => Self::Authtokens,
            "/domains" => Self::Domains,
            "/traffic" => Self::Traffic,
            "/usage" => Self::Usage,
            "/billing" => Self::Billing,
            "/settings" => Self::Settings,
            "/device" => Self::Device,
            "/admin" | "/admin/users" => Self::Admin(AdminPage::Users),
            "/admin/tunnels" => Self::Admin(AdminPage::Tunnels),
            "/admin/relays" => Self::Admin(AdminPage::Relays),
            "/admin/audit" => Self::Admin(AdminPage::Audit),
            "/admin/secrets" => Self::Admin(AdminPage::Secrets),
            "/admin/domains" => Self::Admin(AdminPage::Domains),
            "/admin/billing" => Self::Admin(AdminPage::Billing),
            _ => match path.strip_prefix("/traffic/") {
                Some(id) if is_id(id) => Self::Request(id.to_owned()),
                _ => Self::NotFound,
            },
        }
    }

    /// Whether the page needs a signed-in user.
    pub fn needs_login(&self) -> bool {
        !matches!(self, Self::Login | Self::Signup | Self::NotFound)
    }

    /// Whether only admins may see it (the server enforces it).
    pub fn admin_only(&self) -> bool {
        matches!(self, Self::Admin(_))
    }

    /// The document title.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Login => "Sign in",
            Self::Signup => "Create your account",
            Self::Tunnels => "Tunnels",
            Self::Managed => "Managed tunnels",
            Self::Authtokens => "Authtokens",
            Self::Domains => "Custom domains",
            Self::Traffic => "Traffic log",
            Self::Request(_) => "Request",
            Self::Usage => "Plan and usage",
            Self::Billing => "Billing",
            Self::Settings => "Settings",
            Self::Device => "Sign in a device",
            Self::Admin(AdminPage::Users) => "Admin · Users",
            Self::Admin(AdminPage::Tunnels) => "Admin · Tunnels",
            Self::Admin(AdminPage::Relays) => "Admin · Relays",
            Self::Admin(AdminPage::Audit) => "Admin · Audit log",
            Self::Admin(AdminPage::Secrets) => "Admin · Secrets",
            Self::Admin(AdminPage::Domains) => "Admin · Domains",
            Self::Admin(AdminPage::Billing) => "Admin · Billing",
            Self::NotFound => "Not found",
        }
    }
}

/// The console's paths that [`Page::parse`] knows, for the server's route table.
pub const CONSOLE_PATHS: &[&str] = &[
    "/",
    "/tunnels",
    "/managed",
    "/login",
    "/signup",
    "/authtokens",
    "/domains",
    "/traffic",
    "/traffic/{id}",
    "/usage",
    "/billing",
    "/settings",
    "/device",
    "/admin",
    "/admin/users",
    "/admin/tunnels",
    "/admin/relays",
    "/admin/audit",
    "/admin/secrets",
    "/admin/domains",
    "/admin/billing",
];

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(Page::parse("/"), Page::Tunnels);
        assert_eq!(Page::parse("/admin/"), Page::Admin(AdminPage::Users));
        assert_eq!(
            Page::parse("/traffic/req_abc"),
            Page::Request("req_abc".into())
        );
        assert_eq!(Page::parse("/traffic/../x"), Page::NotFound);
        assert_eq!(Page::parse("/nope"), Page::NotFound);
        assert!(Page::parse("/admin/relays").admin_only());
        assert!(!Page::parse("/login").needs_login());
        for p in CONSOLE_PATHS {
            let concrete = p.replace("{id}", "req_1");
            assert_ne!(Page::parse(&concrete), Page::NotFound, "{p}");
        }
    }
}
