//! What `fdt service status` reports: the properties `systemctl show` prints, parsed and
//! summed up in one line with an LSB-style exit status. Pure, like [`super::unit`].

use std::process::ExitCode;

/// The `systemctl show -p …` properties [`ServiceState::parse`] reads.
pub const PROPERTIES: &str = "LoadState,ActiveState,SubState,MainPID,Result,UnitFileState";

/// A service's state as systemd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceState {
    /// `loaded`, `not-found`, `masked`…
    pub load: String,
    /// `active`, `inactive`, `failed`, `activating`…
    pub active: String,
    /// The unit type's own state: `running`, `dead`, `auto-restart`…
    pub sub: String,
    /// The main process, when one runs.
    pub main_pid: Option<u32>,
    /// How the last run ended: `success`, `exit-code`, `signal`…
    pub result: String,
    /// `enabled`, `disabled`, `linked`…
    pub unit_file: String,
}

impl ServiceState {
    /// Reads `Key=Value` lines; unknown keys are ignored and missing ones stay empty.
    pub fn parse(show_output: &str) -> Self {
        let mut s = Self::default();
        for line in show_output.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().to_owned();
            match key {
                "LoadState" => s.load = value,
                "ActiveState" => s.active = value,
                "SubState" => s.sub = value,
                // systemd shows 0 when no process runs.
                "MainPID" => s.main_pid = value.parse().ok().filter(|&p| p != 0),
                "Result" => s.result = value,
                "UnitFileState" => s.unit_file = value,
                _ => {}
            }
        }
        s
    }

    /// Running (or reloading): what `systemctl is-active` accepts.
    pub fn is_active(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading")
    }

    /// systemd knows no such unit (never installed, or removed).
    pub fn is_missing(&self) -> bool {
        self.load == "not-found"
    }

    /// One line for people: `fdt.service: active (running), main PID 42, enabled`.
    pub fn summary(&self, unit: &str) -> String {
        if self.is_missing() {
            return format!("{unit}: not installed (systemd has no such unit)");
        }
        let mut line = format!("{unit}: {} ({})", self.active, self.sub);
        if let Some(pid) = self.main_pid {
            line += &format!(", main PID {pid}");
        }
        if !self.is_active() && !self.result.is_empty() && self.result != "success" {
            line += &format!(", last run ended with {}", self.result);
        }
        if !self.unit_file.is_empty() {
            line += &format!(", {}", self.unit_file);
        }
        line
    }

    /// 0 when active, 3 when not (LSB "program is not running", as `systemctl status`), 4 when
    /// there is no such unit (LSB "status is unknown").
    pub fn exit_code(&self) -> ExitCode {
        if self.is_missing() {
            ExitCode::from(4)
        } else if self.is_active() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_state_running() {
        let s = ServiceState::parse(
            "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\n\
             Result=success\nUnitFileState=enabled\n",
        );
        assert!(s.is_active());
        assert_eq!(
            s.summary("fdt.service"),
            "fdt.service: active (running), main PID 4242, enabled"
        );
        assert_eq!(s.exit_code(), ExitCode::SUCCESS);
    }

    #[test]
    fn service_state_stopped_and_failed_exit_3() {
        let stopped = ServiceState::parse(
            "MainPID=0\nActiveState=inactive\nSubState=dead\nLoadState=loaded\nResult=success\n\
             UnitFileState=disabled",
        );
        assert_eq!(stopped.main_pid, None);
        assert_eq!(
            stopped.summary("fdt.service"),
            "fdt.service: inactive (dead), disabled"
        );
        assert_eq!(stopped.exit_code(), ExitCode::from(3));
        let failed = ServiceState::parse(
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\n",
        );
        assert_eq!(
            failed.summary("x.service"),
            "x.service: failed (failed), last run ended with exit-code"
        );
        assert_eq!(failed.exit_code(), ExitCode::from(3));
    }

    #[test]
    fn service_state_unknown_unit_exits_4() {
        let s = ServiceState::parse("LoadState=not-found\nActiveState=inactive\nSubState=dead\n");
        assert_eq!(
            s.summary("fdt.service"),
            "fdt.service: not installed (systemd has no such unit)"
        );
        assert_eq!(s.exit_code(), ExitCode::from(4));
    }
}
