//! `fdt service` against stand-in `systemctl` and `systemd-analyze` scripts that log their
//! arguments and answer what a test sets; installers/service-test.sh runs the real ones.

#![allow(clippy::unwrap_used)]
use super::*;
use clap::{Args, FromArgMatches};
use std::fs;

/// A scratch directory with a config file, fake programs and the `Host` that uses them.
struct Fixture {
    dir: tempfile::TempDir,
    host: Host,
}

const CONFIG: &str = "authtoken = \"tok\"\n[tunnels.web]\nproto = \"http\"\naddr = \"8000\"\n";

impl Fixture {
    fn new(scope: Scope) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("fdt.toml"), CONFIG).unwrap();
        for program in ["systemctl", "systemd-analyze"] {
            // Logs `program args`, prints `program.out`, writes `program.err` to stderr and
            // exits with `program.rc` (0 when absent).
            let script = format!(
                "#!/bin/sh\nd='{d}'\necho \"{program} $*\" >> \"$d/calls\"\n\
                 cat \"$d/{program}.out\" 2>/dev/null\ncat \"$d/{program}.err\" >&2 2>/dev/null\n\
                 exit \"$(cat \"$d/{program}.rc\" 2>/dev/null || echo 0)\"\n",
                d = root.display()
            );
            let path = root.join(program);
            fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let host = Host {
            systemd: Systemd::with_programs(
                scope,
                root.join("systemctl"),
                root.join("systemd-analyze"),
            ),
            exe: Ok("/opt/fdt tools/fdt".into()),
            xdg_config_home: Some(root.join("xdg").into()),
            home: Some(root.join("home").into()),
            default_config: Some(root.join("fdt.toml")),
            default_db: Some(root.join("data/fdt/inspect.db")),
            // The scratch directory is in /tmp: stand in another directory for the check.
            private_tmp: vec![root.join("private-tmp")],
        };
        Self { dir, host }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Makes `program` print `out`, then `err` on stderr, and exit with `rc`.
    fn answer(&self, program: &str, rc: u8, out: &str, err: &str) {
        fs::write(self.path(&format!("{program}.rc")), rc.to_string()).unwrap();
        fs::write(self.path(&format!("{program}.out")), out).unwrap();
        fs::write(self.path(&format!("{program}.err")), err).unwrap();
    }

    /// The fake programs' invocations so far, one per line, and forgets them.
    fn calls(&self) -> String {
        let calls = fs::read_to_string(self.path("calls")).unwrap_or_default();
        let _ = fs::remove_file(self.path("calls"));
        calls
    }

    fn run(&self, argv: &[&str], config: Option<&Path>) -> Result<ExitCode, ServiceError> {
        execute(&parse(argv), config, &self.host)
    }
}

fn parse(argv: &[&str]) -> ServiceArgs {
    let cmd = ServiceArgs::augment_args(clap::Command::new("service"));
    let matches = cmd
        .try_get_matches_from(std::iter::once("service").chain(argv.iter().copied()))
        .unwrap();
    ServiceArgs::from_arg_matches(&matches).unwrap()
}

#[test]
fn service_install_verifies_then_enables_and_uninstall_undoes_it() {
    let f = Fixture::new(Scope::User);
    let units = f.path("xdg/systemd/user");
    assert_eq!(
        f.run(&["install", "--user"], None).unwrap(),
        ExitCode::SUCCESS
    );
    let unit = units.join("fdt.service");
    let text = fs::read_to_string(&unit).unwrap();
    assert!(text.starts_with(unit::MARKER));
    let db = f.path("data/fdt/inspect.db");
    assert!(text.contains(&format!(
        "ExecStart=\"/opt/fdt tools/fdt\" --config \"{}\" --inspect-db \"{}\" start\n",
        f.path("fdt.toml").display(),
        db.display()
    )));
    // The database's directory exists: a missing ReadWritePaths= fails the start.
    assert!(db.parent().unwrap().is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&unit).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let staged = units.join(format!(".fdt.service.staging-{}", std::process::id()));
    assert_eq!(
        f.calls(),
        format!(
            "systemd-analyze --user verify {}\n\
             systemctl --user enable {} --no-ask-password\n\
             systemctl --user daemon-reload --no-ask-password\n",
            staged.join("fdt.service").display(),
            unit.display()
        )
    );
    assert!(!staged.exists(), "the staging directory is removed");

    // Again: replaced in place.
    f.run(&["install", "--user"], None).unwrap();
    assert_eq!(fs::read_to_string(&unit).unwrap(), text);
    f.calls();

    assert_eq!(
        f.run(&["uninstall", "--user"], None).unwrap(),
        ExitCode::SUCCESS
    );
    assert!(!unit.exists());
    assert_eq!(
        f.calls(),
        "systemctl --user stop fdt.service --no-ask-password\n\
         systemctl --user disable fdt.service --no-ask-password\n\
         systemctl --user daemon-reload --no-ask-password\n"
    );
    let e = f.run(&["uninstall", "--user"], None).unwrap_err();
    assert!(matches!(e, ServiceError::NotInstalled(_)), "{e}");
}

#[test]
fn service_install_system_unit_with_name_and_unit_dir() {
    let f = Fixture::new(Scope::System);
    let dir = f.path("units");
    let dir_arg = dir.to_str().unwrap();
    let config = f.path("fdt.toml");
    f.run(
        &["install", "--name", "edge", "--unit-dir", dir_arg],
        Some(&config),
    )
    .unwrap();
    let text = fs::read_to_string(dir.join("edge.service")).unwrap();
    assert!(text.contains(" --inspect-db %S/edge/inspect.db start\n"));
    assert!(text.contains("StateDirectory=edge\n"));
    assert!(text.contains("WantedBy=multi-user.target\n"));
    // Outside systemd's directories: enabled by path, which links it.
    assert!(f.calls().contains(&format!(
        "systemctl enable {} --no-ask-password\n",
        dir.join("edge.service").display()
    )));
}

#[test]
fn service_install_keeps_nothing_when_verify_fails() {
    let f = Fixture::new(Scope::User);
    let unit = f.path("xdg/systemd/user/fdt.service");
    f.run(&["install", "--user"], None).unwrap();
    let good = fs::read_to_string(&unit).unwrap();
    f.calls();

    f.answer(
        "systemd-analyze",
        1,
        "",
        "fdt.service: Command /opt/fdt is not executable",
    );
    let e = f
        .run(&["install", "--user", "--name", "other"], None)
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let message = e.to_string();
    assert!(
        message.contains("did not pass `systemd-analyze verify`"),
        "{message}"
    );
    assert!(message.contains("is not executable"), "{message}");
    assert!(!f.path("xdg/systemd/user/other.service").exists());
    // A failed re-install leaves the installed unit as it was, and systemd untouched.
    f.run(&["install", "--user"], None).unwrap_err();
    assert_eq!(fs::read_to_string(&unit).unwrap(), good);
    assert!(!f.calls().contains("systemctl"));
    let left: Vec<_> = fs::read_dir(f.path("xdg/systemd/user"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["fdt.service"], "no staging directory is left");
}

#[test]
fn service_install_refuses_unusable_configs_with_status_2() {
    let f = Fixture::new(Scope::User);
    let missing = f.path("nope.toml");
    let e = f.run(&["install", "--user"], Some(&missing)).unwrap_err();
    assert!(matches!(e, ServiceError::ConfigMissing(_)), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("nope.toml does not exist"));

    let cases = [
        ("bad.toml", "nonsense = 1\n", "parsing"),
        ("empty.toml", "authtoken = \"t\"\n", "defines no tunnels"),
        (
            "anon.toml",
            "[tunnels.web]\nproto = \"http\"\naddr = \"80\"\n",
            "no authtoken",
        ),
    ];
    for (name, text, says) in cases {
        let path = f.path(name);
        fs::write(&path, text).unwrap();
        let e = f.run(&["install", "--user"], Some(&path)).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains(says), "{name}: {e}");
    }
    let e = f.run(&["install", "--name", "a b"], None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    // Nothing ran.
    assert_eq!(f.calls(), "");
}

#[test]
fn service_install_refuses_files_private_tmp_hides() {
    let mut f = Fixture::new(Scope::User);
    let hidden = f.path("private-tmp/fdt.toml");
    fs::create_dir_all(hidden.parent().unwrap()).unwrap();
    fs::write(&hidden, CONFIG).unwrap();
    let e = f.run(&["install", "--user"], Some(&hidden)).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("PrivateTmp=yes"), "{e}");

    // Through a symbolic link too.
    let link = f.path("linked.toml");
    std::os::unix::fs::symlink(&hidden, &link).unwrap();
    assert!(f.run(&["install", "--user"], Some(&link)).is_err());

    // The binary itself (cargo's target directory is often under /var/tmp).
    f.host.exe = Ok(f.path("private-tmp/target/debug/fdt"));
    let e = f.run(&["install", "--user"], None).unwrap_err();
    assert!(e.to_string().contains("the fdt binary"), "{e}");
    assert!(e.to_string().contains("/usr/local/bin"), "{e}");
    assert_eq!(f.calls(), "");
}

#[test]
fn service_install_leaves_foreign_units_alone() {
    let f = Fixture::new(Scope::User);
    let unit = f.path("xdg/systemd/user/fdt.service");
    fs::create_dir_all(unit.parent().unwrap()).unwrap();
    fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();
    let e = f.run(&["install", "--user"], None).unwrap_err();
    assert!(matches!(e, ServiceError::NotOurs(_)), "{e}");
    let e = f.run(&["uninstall", "--user"], None).unwrap_err();
    assert!(matches!(e, ServiceError::NotOurs(_)), "{e}");
    assert_eq!(
        fs::read_to_string(&unit).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    assert_eq!(f.calls(), "");
}

#[test]
fn service_status_exit_codes() {
    let f = Fixture::new(Scope::User);
    f.answer(
        "systemctl",
        0,
        "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=7\n",
        "",
    );
    assert_eq!(
        f.run(&["status", "--user"], None).unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        f.calls(),
        format!("systemctl --user show -p {PROPERTIES} fdt.service --no-ask-password\n")
    );
    f.answer(
        "systemctl",
        0,
        "LoadState=loaded\nActiveState=inactive\nSubState=dead\n",
        "",
    );
    assert_eq!(f.run(&["status"], None).unwrap(), ExitCode::from(3));
    f.answer(
        "systemctl",
        0,
        "LoadState=not-found\nActiveState=inactive\n",
        "",
    );
    assert_eq!(
        f.run(&["status", "--name", "x"], None).unwrap(),
        ExitCode::from(4)
    );
}

#[test]
fn service_systemctl_failures_carry_its_stderr() {
    let f = Fixture::new(Scope::System);
    f.answer(
        "systemctl",
        5,
        "",
        "Failed to start fdt.service: Unit fdt.service not found.\n",
    );
    let e = f.run(&["start"], None).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let message = e.to_string();
    // The fake is shown by its path; the real program is plain `systemctl`.
    assert!(
        message.contains("/systemctl start fdt.service` failed"),
        "{message}"
    );
    assert!(message.contains("exit status: 5"), "{message}");
    assert!(message.contains("Unit fdt.service not found."), "{message}");

    let missing = Host {
        systemd: Systemd::with_programs(Scope::System, f.path("none"), f.path("none")),
        ..Fixture::new(Scope::System).host
    };
    let e = execute(&parse(&["stop"]), None, &missing).unwrap_err();
    assert!(e.to_string().contains("is systemd installed?"), "{e}");
}

#[test]
fn service_unit_dirs() {
    let home = Some(OsString::from("/home/me"));
    assert_eq!(
        default_unit_dir(Scope::System, None, None).unwrap(),
        Path::new("/etc/systemd/system")
    );
    assert_eq!(
        default_unit_dir(Scope::User, Some("/cfg".into()), home.clone()).unwrap(),
        Path::new("/cfg/systemd/user")
    );
    // systemd ignores a relative XDG_CONFIG_HOME, and so do we.
    assert_eq!(
        default_unit_dir(Scope::User, Some("rel".into()), home).unwrap(),
        Path::new("/home/me/.config/systemd/user")
    );
    assert_eq!(default_unit_dir(Scope::User, None, None), None);
}

#[test]
fn service_inspect_store_choices() {
    let file = |text: &str| -> ConfigFile { toml::from_str(text).unwrap() };
    let default_db = Some(PathBuf::from("/home/me/.local/share/fdt/inspect.db"));
    assert_eq!(
        inspect_store(Scope::System, &file(""), default_db.clone()).unwrap(),
        InspectStore::StateDirectory
    );
    assert_eq!(
        inspect_store(Scope::User, &file(""), default_db.clone()).unwrap(),
        InspectStore::File(default_db.clone().unwrap())
    );
    assert_eq!(
        inspect_store(Scope::User, &file("inspect = false"), default_db.clone()).unwrap(),
        InspectStore::Off
    );
    assert_eq!(
        inspect_store(
            Scope::System,
            &file("inspect_db_path = \"/srv/i.db\""),
            None
        )
        .unwrap(),
        InspectStore::File("/srv/i.db".into())
    );
}
