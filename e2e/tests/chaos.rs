//! The chaos drill: faults injected into a real fleet (a control plane, `fdt-relay` processes,
//! agents, visitors through curl and reqwest), each scenario asserting what users must see.
//!
//! - `sigterm`: a relay stopped gracefully under 100 requests in flight;
//! - `sigkill`: a relay killed; the agent serves on the next region's relay (timed per run);
//! - `lossy`: 5 % loss and 100 ms delay each way on the agent's path (p50/p99 reported, no
//!   reconnect: the agent's short idle timeout raises no false alarm);
//! - `partition`: agent and relays cut apart, then healed: one session again, no task or file
//!   descriptor left behind;
//! - `cloud_down`: the control plane SIGKILLed and restarted: tunnels keep serving, and the
//!   relay's usage reports arrive afterwards, each request counted once.
//!
//! Faults on the agent's path come from the in-repo impairment proxy (`fdt_e2e::impair`),
//! which the relays advertise to the cloud as their agent address.
//!
//! How long faults last is a profile (`FDT_CHAOS_PROFILE`): `ci` (the default, about two
//! minutes of faults, run by the test command) or `full` (`e2e/chaos/drill.sh`, ten failover
//! runs and longer faults). Each scenario prints `chaos| scenario | figures` rows, also
//! appended to `$FDT_CHAOS_REPORT` when set, which the drill script turns into its table.
//! Timings are reported, never asserted here; the drill script checks the 2 s failover target.
//!
//! Needs the `fdt-relay` and `fdt-cloud` binaries: `cargo build --bins` first.

mod cloud_down;
mod lossy;
mod partition;
mod sigkill;
mod sigterm;

use std::io::Write;
use std::time::Duration;

/// How long each fault lasts and how often failover is repeated.
#[derive(Debug, Clone, Copy)]
struct Profile {
    /// `ci` or `full`.
    name: &'static str,
    /// Times the relay is killed (a new fleet each time).
    failover_runs: usize,
    /// Traffic through the lossy path.
    lossy_traffic: Duration,
    /// Then quiet on the lossy path (only keep-alives: where a false alarm would show).
    lossy_idle: Duration,
    /// Agent and relays cut apart.
    partition: Duration,
    /// Control plane down.
    cloud_down: Duration,
}

impl Profile {
    const CI: Self = Self {
        name: "ci",
        failover_runs: 1,
        lossy_traffic: Duration::from_secs(15),
        lossy_idle: Duration::from_secs(15),
        partition: Duration::from_secs(30),
        cloud_down: Duration::from_secs(20),
    };
    const FULL: Self = Self {
        name: "full",
        failover_runs: 10,
        lossy_traffic: Duration::from_secs(60),
        lossy_idle: Duration::from_secs(60),
        partition: Duration::from_secs(30),
        cloud_down: Duration::from_secs(60),
    };

    /// The profile `FDT_CHAOS_PROFILE` names (`ci` when unset); panics on an unknown name, so
    /// a typo cannot silently run the short drill.
    fn current() -> Self {
        match std::env::var("FDT_CHAOS_PROFILE").as_deref() {
            Err(_) | Ok("") | Ok("ci") => Self::CI,
            Ok("full") => Self::FULL,
            Ok(other) => panic!("FDT_CHAOS_PROFILE={other}: expected ci or full"),
        }
    }
}

/// Reports one row of the drill: printed, and appended to `$FDT_CHAOS_REPORT` when set.
fn report(scenario: &str, figures: &str) {
    let line = format!("chaos| {scenario} | {figures}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("FDT_CHAOS_REPORT")
        && !path.is_empty()
    {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        writeln!(file, "{line}").unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

/// The `q`-quantile (0..=1) of `sorted` (nearest rank), in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// What each file descriptor of this process points at (`socket:[…]`, a path), sorted: shown
/// when a count differs, to say what was left open.
fn own_fd_targets() -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    targets.sort();
    targets
}
