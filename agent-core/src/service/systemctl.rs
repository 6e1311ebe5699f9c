//! The programs `fdt service` drives: `systemctl` and `systemd-analyze`, with `--user` for user
//! services. A failure carries the command line and the program's own stderr, which says
//! what systemd objected to far better than we could.

use super::unit::Scope;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A systemd program that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SystemctlError {
    /// The program could not be started (not installed, not executable).
    #[error("running `{command}`: {source} (is systemd installed? Debian package: systemd)")]
    Spawn {
        /// The command line.
        command: CommandLine,
        /// Why it could not start.
        source: std::io::Error,
    },
    /// The program ran and exited non-zero.
    #[error("`{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        /// The command line.
        command: CommandLine,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(":\n{stderr}")
    }
}

/// A command line as shown in messages (`systemctl --user start fdt.service`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine(Vec<String>);

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// `systemctl` and `systemd-analyze` for one service manager.
#[derive(Debug, Clone)]
pub struct Systemd {
    scope: Scope,
    systemctl: PathBuf,
    analyze: PathBuf,
}

impl Systemd {
    /// The system manager's or the calling user's, with the programs found in PATH.
    pub fn new(scope: Scope) -> Self {
        Self::with_programs(scope, "systemctl", "systemd-analyze")
    }

    /// With these programs in place of `systemctl` and `systemd-analyze` (tests).
    pub fn with_programs(
        scope: Scope,
        systemctl: impl Into<PathBuf>,
        analyze: impl Into<PathBuf>,
    ) -> Self {
        Self {
            scope,
            systemctl: systemctl.into(),
            analyze: analyze.into(),
        }
    }

    /// `systemctl [--user] ARGS…`; its stdout on success.
    pub fn systemctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, SystemctlError> {
        let out = self.output(&self.systemctl, args)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `systemd-analyze [--user] verify PATH`: loads the unit as the manager would (unknown
    /// settings, missing binaries, bad quoting, bad dependencies). Warnings that did not fail
    /// the check are returned, to be shown.
    pub fn verify(&self, unit_file: &Path) -> Result<String, SystemctlError> {
        let args = [OsStr::new("verify"), unit_file.as_os_str()];
        let out = self.output(&self.analyze, &args)?;
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }

    fn output<S: AsRef<OsStr>>(
        &self,
        program: &Path,
        args: &[S],
    ) -> Result<Output, SystemctlError> {
        let mut cmd = Command::new(program);
        // Both programs take `--user` before the verb.
        if self.scope == Scope::User {
            cmd.arg("--user");
        }
        cmd.args(args);
        let command = CommandLine(
            std::iter::once(cmd.get_program())
                .chain(cmd.get_args())
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        );
        if program == self.systemctl {
            // Fail with "access denied" rather than wait for a polkit password prompt: this
            // is one step of `fdt service`, run as the user who may do it (or with sudo).
            cmd.arg("--no-ask-password");
        }
        let out = cmd.output().map_err(|source| SystemctlError::Spawn {
            command: command.clone(),
            source,
        })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(SystemctlError::Failed {
                command,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }
}
