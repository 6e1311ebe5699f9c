//! The systemd unit `fdt service install` writes, as text: a pure function of [`UnitSpec`],
//! with the quoting systemd's unit file parser expects. Nothing here touches the file system
//! or runs a program, so every choice is checked by the tests below.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The first line of every unit `fdt service install` writes. `install` replaces and
/// `uninstall` removes only files that start with it, never someone else's unit of that name.
pub const MARKER: &str = "# Written by `fdt service install`";

/// Which service manager runs the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The system manager (`systemctl`), started at boot by `multi-user.target`.
    System,
    /// The calling user's manager (`systemctl --user`), started with their session.
    User,
}

impl Scope {
    /// The target whose `.wants/` directory `systemctl enable` links the unit into.
    fn wanted_by(self) -> &'static str {
        match self {
            Scope::System => "multi-user.target",
            Scope::User => "default.target",
        }
    }
}

/// A service name: the unit is `NAME.service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    /// Accepts letters, digits, `-`, `_` and `.` (not first); no `@`, which would make the unit
    /// a template. At most 200 bytes, well under systemd's 255-byte limit with `.service`.
    pub fn parse(name: &str) -> Result<Self, UnitError> {
        let valid = !name.is_empty()
            && name.len() <= 200
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(UnitError::BadName(name.to_owned()))
        }
    }

    /// The name as given (`fdt`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unit's file name (`fdt.service`).
    pub fn unit(&self) -> String {
        format!("{}.service", self.0)
    }
}

/// Where the agent keeps its inspection database, which decides what the sandbox lets it
/// write: `ProtectSystem=strict` leaves everything else read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectStore {
    /// Inspection is off in the config: the service writes nothing.
    Off,
    /// `StateDirectory=NAME` (`/var/lib/NAME`): what a system service gets by default, since
    /// the agent's own default (`$XDG_DATA_HOME`) means nothing without a home directory.
    StateDirectory,
    /// This database file, whose directory is the one writable path (`ReadWritePaths=`). For
    /// user services, the same database an interactive `fdt` uses.
    File(PathBuf),
}

/// Everything the unit depends on. Paths must be absolute.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    /// System or user service.
    pub scope: Scope,
    /// The service's name.
    pub name: ServiceName,
    /// The `fdt` binary.
    pub exe: PathBuf,
    /// The config file `fdt start` reads.
    pub config: PathBuf,
    /// Where the inspection database goes.
    pub inspect: InspectStore,
    /// Run the account's cloud-managed tunnels (`fdt start --managed`).
    pub managed: bool,
}

/// Why no unit can be written for these options.
#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    /// The service name has characters systemd does not allow, or would make a template.
    #[error("invalid service name {0:?}: use letters, digits, '-', '_' and '.' (not first)")]
    BadName(String),
    /// A path is relative: the service does not run in the current directory.
    #[error("{0}: the unit needs an absolute path")]
    RelativePath(PathBuf),
    /// A path is not UTF-8 or has control characters; unit files are UTF-8 text lines.
    #[error("{0:?}: a path in a unit file must be UTF-8 without control characters")]
    UnwritablePath(PathBuf),
}

/// The unit file's text.
pub fn render(spec: &UnitSpec) -> Result<String, UnitError> {
    let exe = path_text(&spec.exe)?;
    let config = path_text(&spec.config)?;
    // `--inspect-db` is always explicit: the service's environment (no HOME for a system
    // service, no XDG_DATA_HOME of the installing shell) would put it elsewhere, or nowhere.
    let (inspect_arg, writable) = match &spec.inspect {
        InspectStore::Off => (String::new(), String::new()),
        InspectStore::StateDirectory => (
            // %S is the state root (/var/lib); the directory name needs no quoting.
            format!(" --inspect-db %S/{}/inspect.db", spec.name.as_str()),
            format!(
                "StateDirectory={}\nStateDirectoryMode=0700\n",
                spec.name.as_str()
            ),
        ),
        InspectStore::File(db) => {
            let dir = db.parent().unwrap_or(Path::new("/"));
            (
                format!(" --inspect-db {}", quote_exec_arg(path_text(db)?)),
                format!("ReadWritePaths={}\n", quote_path(path_text(dir)?)),
            )
        }
    };
    let mut out = String::new();
    // Writing to a String cannot fail; the `let _` keeps that from being a panic path.
    let _ = write!(
        out,
        "{MARKER}: runs the tunnels of {config}.\n\
         # `fdt service uninstall{user}` removes it. After editing the config, restart it:\n\
         # `fdt service stop{user}` then `fdt service start{user}`.\n\
         \n\
         [Unit]\n\
         Description=FlyingDarkDevTunnel agent (fdt start)\n",
        user = if spec.scope == Scope::User {
            " --user"
        } else {
            ""
        },
    );
    if spec.scope == Scope::System {
        // The first connect should not race the network. A user manager has no such target
        // (it cannot order itself after system units), so user units go without.
        out.push_str("Wants=network-online.target\nAfter=network-online.target\n");
    }
    let _ = write!(
        out,
        "\n\
         [Service]\n\
         # exec: `systemctl start` fails when the binary cannot be started, not later.\n\
         Type=exec\n\
         ExecStart={exe} --config {config}{inspect_arg} start{managed}\n\
         # The agent retries relays itself; it exits non-zero for a bad config, a rejected\n\
         # authtoken or a relay that refuses every tunnel, so retry, but not in a tight loop.\n\
         Restart=on-failure\n\
         RestartSec=5s\n\
         # SIGTERM makes the agent close its tunnels and exit 0.\n\
         TimeoutStopSec=20s\n\
         \n\
         # Sandbox: the agent opens sockets, reads its config and writes its inspection\n\
         # database; nothing else.\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=read-only\n\
         {writable}\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectControlGroups=yes\n\
         RestrictSUIDSGID=yes\n\
         RestrictRealtime=yes\n\
         LockPersonality=yes\n\
         # No JIT anywhere in the agent.\n\
         MemoryDenyWriteExecute=yes\n\
         # IP for relays, the control plane and local services; AF_UNIX for glibc's resolver.\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
         SystemCallArchitectures=native\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        exe = quote_exec_arg(exe),
        config = quote_exec_arg(config),
        wanted_by = spec.scope.wanted_by(),
        managed = if spec.managed { " --managed" } else { "" },
    );
    Ok(out)
}

/// `path` as unit file text: absolute, UTF-8, no control characters (a newline would end the
/// setting, and systemd's C escapes for the rest are not worth the risk for a path).
fn path_text(path: &Path) -> Result<&str, UnitError> {
    if !path.is_absolute() {
        return Err(UnitError::RelativePath(path.to_owned()));
    }
    path.to_str()
        .filter(|s| !s.chars().any(char::is_control))
        .ok_or_else(|| UnitError::UnwritablePath(path.to_owned()))
}

/// One `ExecStart=` word that systemd reads back as exactly `arg`: double-quoted (spaces),
/// `\` and `"` backslash-escaped (the parser unescapes C-style), `%` doubled (specifiers are
/// expanded in each word) and `$` doubled (`$VAR` is expanded at exec time).
pub fn quote_exec_arg(arg: &str) -> String {
    quote(arg, true)
}

/// One path of a path-list setting (`ReadWritePaths=`): quoted and escaped like an
/// `ExecStart=` word, except `$`, which these settings take literally.
pub fn quote_path(path: &str) -> String {
    quote(path, false)
}

fn quote(s: &str, double_dollar: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if double_dollar => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(scope: Scope, inspect: InspectStore) -> UnitSpec {
        UnitSpec {
            scope,
            name: ServiceName::parse("fdt").unwrap(),
            exe: "/usr/bin/fdt".into(),
            config: "/etc/fdt/fdt.toml".into(),
            inspect,
            managed: false,
        }
    }

    #[test]
    fn service_managed_runs_fdt_start_managed() {
        let s = UnitSpec {
            managed: true,
            ..spec(Scope::System, InspectStore::Off)
        };
        assert_eq!(
            values(&render(&s).unwrap(), "ExecStart"),
            [r#""/usr/bin/fdt" --config "/etc/fdt/fdt.toml" start --managed"#]
        );
    }

    /// The `key=value` lines of `text` for `key`.
    fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
        text.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    }

    #[test]
    fn system_unit_runs_fdt_start_with_the_config() {
        let text = render(&spec(Scope::System, InspectStore::StateDirectory)).unwrap();
        assert!(text.starts_with(MARKER));
        assert_eq!(
            values(&text, "ExecStart"),
            [r#""/usr/bin/fdt" --config "/etc/fdt/fdt.toml" --inspect-db %S/fdt/inspect.db start"#]
        );
        assert_eq!(values(&text, "StateDirectory"), ["fdt"]);
        assert_eq!(values(&text, "After"), ["network-online.target"]);
        assert_eq!(values(&text, "Wants"), ["network-online.target"]);
        assert_eq!(values(&text, "WantedBy"), ["multi-user.target"]);
        assert_eq!(values(&text, "Restart"), ["on-failure"]);
        assert_eq!(values(&text, "ProtectSystem"), ["strict"]);
        assert_eq!(values(&text, "PrivateTmp"), ["yes"]);
        assert_eq!(values(&text, "NoNewPrivileges"), ["yes"]);
        assert!(values(&text, "ReadWritePaths").is_empty());
    }

    #[test]
    fn user_unit_is_wanted_by_default_target_without_network_online() {
        let db = PathBuf::from("/home/me/.local/share/fdt/inspect.db");
        let text = render(&spec(Scope::User, InspectStore::File(db))).unwrap();
        assert_eq!(values(&text, "WantedBy"), ["default.target"]);
        assert!(values(&text, "After").is_empty() && values(&text, "Wants").is_empty());
        assert_eq!(
            values(&text, "ReadWritePaths"),
            [r#""/home/me/.local/share/fdt""#]
        );
        assert!(
            values(&text, "ExecStart")[0]
                .ends_with(r#" --inspect-db "/home/me/.local/share/fdt/inspect.db" start"#)
        );
        assert!(values(&text, "StateDirectory").is_empty());
        assert!(text.contains("`fdt service uninstall --user`"));
    }

    #[test]
    fn inspection_off_leaves_nothing_writable() {
        let text = render(&spec(Scope::System, InspectStore::Off)).unwrap();
        assert!(!text.contains("--inspect-db"));
        assert!(values(&text, "ReadWritePaths").is_empty());
        assert!(values(&text, "StateDirectory").is_empty());
    }

    #[test]
    fn service_paths_with_spaces_and_specials_are_quoted() {
        let s = UnitSpec {
            exe: "/opt/my tools/fdt".into(),
            config: r#"/srv/a "b" \c/100%/$HOME.toml"#.into(),
            ..spec(
                Scope::User,
                InspectStore::File("/srv/data $x/50%/i.db".into()),
            )
        };
        let text = render(&s).unwrap();
        assert_eq!(
            values(&text, "ExecStart"),
            [concat!(
                r#""/opt/my tools/fdt" --config "/srv/a \"b\" \\c/100%%/$$HOME.toml""#,
                r#" --inspect-db "/srv/data $$x/50%%/i.db" start"#
            )]
        );
        // Path lists take `$` literally: only `%` is doubled.
        assert_eq!(values(&text, "ReadWritePaths"), [r#""/srv/data $x/50%%""#]);
        // The header comment shows the path as is; it is a comment, nothing parses it.
        assert!(text.lines().next().unwrap().contains("/100%/$HOME.toml"));
    }

    #[test]
    fn service_quoting_rules() {
        assert_eq!(quote_exec_arg("plain"), r#""plain""#);
        assert_eq!(quote_exec_arg(r"a\b"), r#""a\\b""#);
        assert_eq!(quote_exec_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote_exec_arg("$PATH%n"), r#""$$PATH%%n""#);
        assert_eq!(quote_path("$PATH%n"), r#""$PATH%%n""#);
        assert_eq!(quote_exec_arg("ünï côdé"), "\"ünï côdé\"");
    }

    #[test]
    fn service_paths_must_be_absolute_and_printable() {
        let relative = UnitSpec {
            config: "fdt.toml".into(),
            ..spec(Scope::System, InspectStore::Off)
        };
        assert!(matches!(render(&relative), Err(UnitError::RelativePath(_))));
        let newline = UnitSpec {
            exe: "/usr/bin/fdt\nExecStartPre=/bin/evil".into(),
            ..spec(Scope::System, InspectStore::Off)
        };
        assert!(matches!(
            render(&newline),
            Err(UnitError::UnwritablePath(_))
        ));
    }

    #[test]
    fn service_names() {
        for ok in ["fdt", "fdt-2", "my_agent.prod", "A1"] {
            assert_eq!(
                ServiceName::parse(ok).unwrap().unit(),
                format!("{ok}.service")
            );
        }
        for bad in ["", ".hidden", "fdt@x", "a b", "a/b", "fdt.service\n", "é"] {
            assert!(ServiceName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ServiceName::parse(&"x".repeat(201)).is_err());
    }
}
