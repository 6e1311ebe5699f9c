//! `fdt service install|start|stop|status|uninstall`: the agent as a systemd service, like
//! `ngrok service`. `install` writes a unit running `fdt start` with a config file, checks it
//! with `systemd-analyze verify`, then enables it (it starts at boot, or with the user's
//! session for `--user`) and reloads systemd; `start`, `stop` and `status` act now, and
//! `uninstall` undoes `install`.
//!
//! The unit's text is [`unit`] (no I/O); the programs run are in [`systemctl`]; the status
//! line is [`state`]; what is read from the process and machine is [`host`]. This file decides what goes in the unit and in which order things
//! happen, and what each failure means for the exit status: 2 when the command line or the
//! config file must change, 1 when systemd or the file system failed, and for `status` 3 when
//! the service is not running and 4 when there is no such service.

mod host;
mod state;
mod systemctl;
mod unit;

use crate::config::{ConfigError, ConfigFile};
use host::{Host, default_unit_dir};
use state::{PROPERTIES, ServiceState};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use systemctl::{SystemctlError, Systemd};
use unit::{InspectStore, MARKER, Scope, ServiceName, UnitError, UnitSpec};

/// Run the agent as a systemd service: install, start, stop, status, uninstall.
///
/// The service runs `fdt start` with the config file (--config), so its tunnels are the
/// file's `[tunnels.NAME]` tables and everything else comes from the file too: the agent's
/// other flags and FDT_ variables do not reach it.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// A user service (`systemctl --user`, starts with your session) instead of a system one.
    #[arg(long, global = true)]
    user: bool,
    /// Service name: the unit is NAME.service.
    #[arg(long, global = true, default_value = "fdt", value_name = "NAME")]
    name: String,
    /// Directory of the unit file (default: /etc/systemd/system, or with --user
    /// $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user). Elsewhere, `install`
    /// links it into systemd's directory; pass the same to `uninstall`.
    #[arg(long, global = true, value_name = "DIR")]
    unit_dir: Option<PathBuf>,
    #[command(subcommand)]
    action: ServiceAction,
}

/// The `fdt service` verbs.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
enum ServiceAction {
    /// Write the unit for `fdt start` with --config (default ~/.config/fdt/fdt.toml), check
    /// it, and enable it.
    Install {
        /// Run the account's cloud-managed tunnels (`fdt start --managed`); the config file
        /// then needs `api_url`, and no tunnel of its own.
        #[arg(long)]
        managed: bool,
    },
    /// Start the service now.
    Start,
    /// Stop the service.
    Stop,
    /// Show the service's state; exit status 3 when it is not running, 4 when not installed.
    Status,
    /// Stop and disable the service and remove its unit.
    Uninstall,
}

/// Why an `fdt service` command failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No --config and no default location (HOME is not set).
    #[error("no config file location: pass --config or set HOME")]
    NoConfigPath,
    /// The config file the service would run does not exist.
    #[error(
        "config file {0} does not exist: create it (`fdt config add-authtoken TOKEN`, then add \
         [tunnels.NAME] tables) or pass --config"
    )]
    ConfigMissing(PathBuf),
    /// The config file cannot be read or parsed.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The config file defines no tunnel, so `fdt start` would exit at once.
    #[error(
        "{0} defines no tunnels: add [tunnels.NAME] tables for the service to run, or install \
         with --managed to run the account's cloud-managed tunnels"
    )]
    NoTunnels(PathBuf),
    /// `--managed` without a control plane to define the tunnels.
    #[error("{0} has no api_url: managed tunnels come from the control plane (set api_url)")]
    NoApiUrl(PathBuf),
    /// The config file has no authtoken; the service does not see FDT_AUTHTOKEN or --authtoken.
    #[error("{0} has no authtoken: run `fdt --config {0} config add-authtoken TOKEN`")]
    NoAuthtoken(PathBuf),
    /// A file the service needs is under /tmp or /var/tmp, which it cannot see.
    #[error(
        "{what} {path} is under /tmp or /var/tmp, which the service does not see \
         (PrivateTmp=yes): move it{hint}"
    )]
    HiddenByPrivateTmp {
        /// Which file.
        what: &'static str,
        /// Where it is.
        path: PathBuf,
        /// What to do instead, if there is a usual answer.
        hint: &'static str,
    },
    /// The unit cannot be written for these options.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// A user service without XDG_CONFIG_HOME or HOME has no unit directory.
    #[error("no user unit directory: set HOME (or XDG_CONFIG_HOME) or pass --unit-dir")]
    NoUnitDir,
    /// The path of the running `fdt` binary is unknown.
    #[error("finding the fdt binary's path: {0}")]
    Exe(std::io::Error),
    /// Reading or writing a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A unit of that name exists and `fdt service install` did not write it.
    #[error(
        "{0} exists and was not written by `fdt service install`; leaving it alone (pick another --name)"
    )]
    NotOurs(PathBuf),
    /// `uninstall` found no unit file.
    #[error(
        "{0} does not exist: nothing to uninstall (pass --user, --name or --unit-dir as for install)"
    )]
    NotInstalled(PathBuf),
    /// `systemd-analyze verify` rejected the unit; nothing was installed.
    #[error("the unit did not pass `systemd-analyze verify`, so it was not installed: {0}")]
    Verify(SystemctlError),
    /// A `systemctl` step failed.
    #[error(transparent)]
    Systemctl(#[from] SystemctlError),
}

impl ServiceError {
    /// 2 when the command line or the config file must change, 1 otherwise.
    fn exit_code(&self) -> u8 {
        match self {
            Self::NoConfigPath
            | Self::ConfigMissing(_)
            | Self::Config(_)
            | Self::NoTunnels(_)
            | Self::NoApiUrl(_)
            | Self::NoAuthtoken(_)
            | Self::HiddenByPrivateTmp { .. }
            | Self::Unit(_)
            | Self::NoUnitDir => 2,
            _ => 1,
        }
    }
}

/// Runs one `fdt service` command; `config` is the global `--config`. Prints what it did, and
/// errors with what to do about them.
pub fn run(args: &ServiceArgs, config: Option<&Path>) -> ExitCode {
    let host = Host::from_process(args.scope());
    match execute(args, config, &host) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fdt service: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

impl ServiceArgs {
    fn scope(&self) -> Scope {
        if self.user {
            Scope::User
        } else {
            Scope::System
        }
    }

    /// `--unit-dir`, else the manager's directory for units written by administrators and
    /// users.
    fn unit_dir(&self, host: &Host) -> Result<PathBuf, ServiceError> {
        match &self.unit_dir {
            Some(dir) => absolute(dir),
            None => default_unit_dir(
                self.scope(),
                host.xdg_config_home.clone(),
                host.home.clone(),
            )
            .ok_or(ServiceError::NoUnitDir),
        }
    }

    /// The flags that name this service again in a follow-up command (`--user --name x`).
    fn flags(&self) -> String {
        let mut out = String::new();
        if self.user {
            out += " --user";
        }
        if self.name != "fdt" {
            out += &format!(" --name {}", self.name);
        }
        out
    }
}

fn execute(
    args: &ServiceArgs,
    config: Option<&Path>,
    host: &Host,
) -> Result<ExitCode, ServiceError> {
    let name = ServiceName::parse(&args.name)?;
    let unit = name.unit();
    let systemd = &host.systemd;
    match args.action {
        ServiceAction::Install { managed } => install(args, host, name, config, managed)?,
        ServiceAction::Start => {
            systemd.systemctl(&["start", &unit])?;
            let user = if args.user { " --user" } else { "" };
            println!("Started {unit}; its log: journalctl{user} -u {unit}");
        }
        ServiceAction::Stop => {
            systemd.systemctl(&["stop", &unit])?;
            println!("Stopped {unit}");
        }
        ServiceAction::Status => {
            let shown = systemd.systemctl(&["show", "-p", PROPERTIES, &unit])?;
            let state = ServiceState::parse(&shown);
            println!("{}", state.summary(&unit));
            return Ok(state.exit_code());
        }
        ServiceAction::Uninstall => uninstall(args, host, &name)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn install(
    args: &ServiceArgs,
    host: &Host,
    name: ServiceName,
    config: Option<&Path>,
    managed: bool,
) -> Result<(), ServiceError> {
    let scope = args.scope();
    let config = config
        .map(Path::to_path_buf)
        .or_else(|| host.default_config.clone())
        .ok_or(ServiceError::NoConfigPath)?;
    let config = absolute(&config)?;
    if !config.is_file() {
        return Err(ServiceError::ConfigMissing(config));
    }
    // What `fdt start` would refuse, refused now rather than in a restart loop.
    let file = ConfigFile::load(&config)?;
    if managed && file.api_url.is_none() {
        return Err(ServiceError::NoApiUrl(config));
    }
    if file.tunnels.is_empty() && !managed {
        return Err(ServiceError::NoTunnels(config));
    }
    if file.authtoken.is_none() {
        return Err(ServiceError::NoAuthtoken(config));
    }
    let exe = match &host.exe {
        Ok(exe) => exe.clone(),
        Err(e) => {
            return Err(ServiceError::Exe(std::io::Error::new(
                e.kind(),
                e.to_string(),
            )));
        }
    };
    let inspect = inspect_store(scope, &file, host.default_db.clone())?;
    let mut needed = vec![
        (
            "the fdt binary",
            exe.clone(),
            " (e.g. to /usr/local/bin) and install from there",
        ),
        ("the config file", config.clone(), ""),
    ];
    needed.extend(file.relay_ca.clone().map(|p| ("relay_ca", p, "")));
    if let InspectStore::File(db) = &inspect {
        needed.push(("the inspection database", db.clone(), " (inspect_db_path)"));
    }
    for (what, path, hint) in needed {
        if host.hidden_by_private_tmp(&path) {
            return Err(ServiceError::HiddenByPrivateTmp { what, path, hint });
        }
    }
    let spec = UnitSpec {
        scope,
        name,
        exe,
        config,
        inspect,
        managed,
    };
    let text = unit::render(&spec)?;
    let dir = args.unit_dir(host)?;
    let path = dir.join(spec.name.unit());
    let replacing = match std::fs::read_to_string(&path) {
        Ok(old) if !old.starts_with(MARKER) => return Err(ServiceError::NotOurs(path)),
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => return Err(ServiceError::Io { path, source }),
    };
    let systemd = &host.systemd;
    let warnings = write_verified(systemd, &dir, &spec.name, &text)?;
    println!(
        "{} {}: runs `{} start` with {}",
        if replacing { "Replaced" } else { "Wrote" },
        path.display(),
        spec.exe.display(),
        spec.config.display()
    );
    println!("Checked it with systemd-analyze verify");
    if !warnings.is_empty() {
        println!("  its warnings: {warnings}");
    }
    if let InspectStore::File(db) = &spec.inspect
        && let Some(db_dir) = db.parent()
    {
        // A ReadWritePaths= entry that does not exist fails the service's start.
        create_dir(db_dir)?;
    }
    // By path: a unit outside systemd's directories (--unit-dir) is linked into them. Then
    // a reload, so that a replaced unit's new text is what the next start runs.
    systemd.systemctl(&[OsString::from("enable"), path.into_os_string()])?;
    systemd.systemctl(&["daemon-reload"])?;
    let unit = spec.name.unit();
    match scope {
        Scope::System => println!("Enabled {unit}: it starts at boot"),
        Scope::User => println!(
            "Enabled {unit}: it starts with your session (`loginctl enable-linger` starts it at boot)"
        ),
    }
    println!("Start it now: fdt service start{}", args.flags());
    Ok(())
}

fn uninstall(args: &ServiceArgs, host: &Host, name: &ServiceName) -> Result<(), ServiceError> {
    let path = args.unit_dir(host)?.join(name.unit());
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.starts_with(MARKER) => return Err(ServiceError::NotOurs(path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ServiceError::NotInstalled(path));
        }
        Err(source) => return Err(ServiceError::Io { path, source }),
    }
    let systemd = &host.systemd;
    let unit = name.unit();
    // Stop before disabling: for a unit outside systemd's directories, disabling removes the
    // link through which systemd finds it, and a unit it cannot find cannot be stopped. A
    // unit systemd has not loaded (status 5) is not running either.
    match systemd.systemctl(&["stop", &unit]) {
        Err(SystemctlError::Failed { status, .. }) if status.code() == Some(5) => {}
        result => {
            result?;
        }
    }
    systemd.systemctl(&["disable", &unit])?;
    std::fs::remove_file(&path).map_err(|source| ServiceError::Io {
        path: path.clone(),
        source,
    })?;
    systemd.systemctl(&["daemon-reload"])?;
    println!("Stopped and disabled {unit}; removed {}", path.display());
    Ok(())
}

/// Writes the unit to a staging directory next to its place, runs `systemd-analyze verify`
/// on it there and only then renames it into place: a unit that fails the check never
/// replaces a working one, and the staged copy is always removed. Returns verify's warnings.
fn write_verified(
    systemd: &Systemd,
    dir: &Path,
    name: &ServiceName,
    text: &str,
) -> Result<String, ServiceError> {
    create_dir(dir)?;
    // Verify needs the real file name (it names the unit); a directory of our own gives us
    // that without touching the live file. Same file system, so the rename is atomic.
    let stage = dir.join(format!(".{}.staging-{}", name.unit(), std::process::id()));
    std::fs::create_dir(&stage).map_err(|source| ServiceError::Io {
        path: stage.clone(),
        source,
    })?;
    let staged = stage.join(name.unit());
    let result = write_unit_file(&staged, text)
        .and_then(|()| systemd.verify(&staged).map_err(ServiceError::Verify))
        .and_then(|warnings| {
            let path = dir.join(name.unit());
            std::fs::rename(&staged, &path)
                .map(|()| warnings)
                .map_err(|source| ServiceError::Io { path, source })
        });
    // Best effort: a leftover staging directory is inert (systemd does not look into it).
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// Writes `text` to `path`, readable by all (0644) like any unit: it holds no secret.
fn write_unit_file(path: &Path, text: &str) -> Result<(), ServiceError> {
    let io = |source| ServiceError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, text).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    Ok(())
}

/// Where the service's inspection database goes: nowhere when the config turns inspection
/// off; the config's `inspect_db_path`; else, for a user service, where an interactive `fdt`
/// keeps it (`default_db`); for a system service, its state directory.
fn inspect_store(
    scope: Scope,
    file: &ConfigFile,
    default_db: Option<PathBuf>,
) -> Result<InspectStore, ServiceError> {
    if file.inspect == Some(false) {
        return Ok(InspectStore::Off);
    }
    let db = match (&file.inspect_db_path, scope) {
        (Some(p), _) => Some(p.clone()),
        (None, Scope::User) => default_db,
        (None, Scope::System) => None,
    };
    Ok(match db {
        Some(p) => InspectStore::File(absolute(&p)?),
        None => InspectStore::StateDirectory,
    })
}

fn absolute(path: &Path) -> Result<PathBuf, ServiceError> {
    std::path::absolute(path).map_err(|source| ServiceError::Io {
        path: path.to_owned(),
        source,
    })
}

fn create_dir(dir: &Path) -> Result<(), ServiceError> {
    std::fs::create_dir_all(dir).map_err(|source| ServiceError::Io {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
