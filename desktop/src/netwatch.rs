//! Notices what makes live QUIC sessions stale without either end saying so: the computer
//! slept (the wall clock jumped ahead of the monotonic one, which stops during suspend) or the
//! network changed (the local address of the default route changed). Either one reconnects
//! the tunnels at once instead of after the 30 s idle timeout.
//!
//! [`Detector`] decides from samples (no I/O); [`sample`] takes one.

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// How often a sample is taken.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// A wall-clock lead over the monotonic clock bigger than this means the computer slept.
const SLEEP_THRESHOLD: Duration = Duration::from_secs(10);

/// One observation.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Wall clock.
    pub wall: SystemTime,
    /// Monotonic clock.
    pub mono: Instant,
    /// Local address the default route would use; `None` when offline.
    pub local_ip: Option<IpAddr>,
}

/// Why the tunnels should reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The computer was suspended for about this long.
    Resumed(Duration),
    /// The default route's local address changed (or came back).
    NetworkChanged,
}

/// Compares each sample with the previous one.
#[derive(Debug, Default)]
pub struct Detector {
    last: Option<Sample>,
}

impl Detector {
    /// Feeds a sample; says whether to reconnect.
    pub fn observe(&mut self, now: Sample) -> Option<Wake> {
        let prev = self.last.replace(now)?;
        let mono = now.mono.saturating_duration_since(prev.mono);
        let wall = now.wall.duration_since(prev.wall).unwrap_or_default();
        if wall > mono + SLEEP_THRESHOLD {
            return Some(Wake::Resumed(wall - mono));
        }
        match (prev.local_ip, now.local_ip) {
            (a, Some(b)) if a != Some(b) => Some(Wake::NetworkChanged),
            _ => None,
        }
    }
}

/// Takes a sample. Finding the route's local address sends nothing: connecting a UDP socket
/// only asks the kernel which source address it would use.
pub fn sample() -> Sample {
    let local_ip = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified());
    Sample {
        wall: SystemTime::now(),
        mono: Instant::now(),
        local_ip,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(base: (SystemTime, Instant), wall: u64, mono: u64, ip: Option<[u8; 4]>) -> Sample {
        Sample {
            wall: base.0 + Duration::from_secs(wall),
            mono: base.1 + Duration::from_secs(mono),
            local_ip: ip.map(IpAddr::from),
        }
    }

    #[test]
    fn sleep_and_network_changes_are_noticed_once() {
        let base = (SystemTime::now(), Instant::now());
        let ip = Some([192, 168, 1, 5]);
        let mut d = Detector::default();
        assert_eq!(d.observe(at(base, 0, 0, ip)), None);
        assert_eq!(d.observe(at(base, 5, 5, ip)), None);
        // Slept for an hour between two samples.
        assert_eq!(
            d.observe(at(base, 3610, 10, ip)),
            Some(Wake::Resumed(Duration::from_secs(3600)))
        );
        assert_eq!(d.observe(at(base, 3615, 15, ip)), None);
        // Offline, then back on another network.
        assert_eq!(d.observe(at(base, 3620, 20, None)), None);
        assert_eq!(
            d.observe(at(base, 3625, 25, Some([10, 0, 0, 7]))),
            Some(Wake::NetworkChanged)
        );
        assert_eq!(d.observe(at(base, 3630, 30, Some([10, 0, 0, 7]))), None);
        // A wall clock set backwards is not a sleep.
        assert_eq!(d.observe(at(base, 100, 35, Some([10, 0, 0, 7]))), None);
    }
}
