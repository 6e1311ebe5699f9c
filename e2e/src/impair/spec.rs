//! The impairment a proxy applies, and its text form `delay=25ms,loss=1%,jitter=2ms,...`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Longest delay or jitter a spec may ask for: a longer one is almost surely a typo, and the
/// queues a proxy needs grow with the delay.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// What the path does to traffic, the same in each direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Impairment {
    /// One-way delay added to every datagram or chunk in each direction (RTT grows by twice it).
    pub delay: Duration,
    /// Each datagram's delay varies uniformly within ±`jitter` (never below zero); datagrams may
    /// then overtake each other, as with netem.
    pub jitter: Duration,
    /// Probability (0..=1) that a datagram is lost, independently in each direction.
    pub loss: f64,
    /// Probability (0..=1) that a datagram that is not lost arrives twice, as netem's
    /// `duplicate` (datagrams only: a TCP stream cannot repeat bytes).
    pub duplicate: f64,
    /// Link rate in each direction, in bytes per second; `None` is unlimited.
    pub rate_bytes_per_sec: Option<u64>,
    /// Seed of the random decisions, so that a run can be replayed.
    pub seed: u64,
}

/// Why a spec string is not an [`Impairment`]; each variant holds the offending item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// An item is not of the form `key=value`.
    #[error("`{0}` is not key=value")]
    NotKeyValue(String),
    /// A key that no impairment has.
    #[error("unknown key in `{0}` (known: delay, jitter, loss, dup, rate, seed)")]
    UnknownKey(String),
    /// A key given twice, where the second value would silently win.
    #[error("`{0}`: key given more than once")]
    DuplicateKey(String),
    /// A value whose number does not parse.
    #[error("`{0}`: not a number")]
    BadNumber(String),
    /// A value with a missing or unknown unit; the second field lists the units allowed.
    #[error("`{0}`: unit must be one of {1}")]
    BadUnit(String, &'static str),
    /// A number outside what its key allows (e.g. loss outside 0–100 %); the second field is the
    /// allowed range.
    #[error("`{0}` is outside {1}")]
    OutOfRange(String, &'static str),
}

const DURATION_UNITS: &str = "us, ms, s";
const RATE_UNITS: &str = "bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s)";

impl FromStr for Impairment {
    type Err = SpecError;

    /// Parses `key=value` items separated by commas; the empty string is no impairment.
    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let mut imp = Impairment::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(SpecError::NotKeyValue(item.to_owned()));
            };
            let (key, value) = (key.trim(), value.trim());
            if seen.contains(&key) {
                return Err(SpecError::DuplicateKey(item.to_owned()));
            }
            match key {
                "delay" => imp.delay = duration(item, value)?,
                "jitter" => imp.jitter = duration(item, value)?,
                "loss" => imp.loss = percent(item, value)?,
                "dup" => imp.duplicate = percent(item, value)?,
                "rate" => imp.rate_bytes_per_sec = Some(rate(item, value)?),
                "seed" => {
                    imp.seed = value
                        .parse()
                        .map_err(|_| SpecError::BadNumber(item.to_owned()))?
                }
                _ => return Err(SpecError::UnknownKey(item.to_owned())),
            }
            seen.push(key);
        }
        Ok(imp)
    }
}

/// The canonical text form, which parses back to the same impairment (loss to a millionth of a
/// percent).
impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "delay={},", DurationText(self.delay))?;
        write!(f, "jitter={},", DurationText(self.jitter))?;
        // Rounded, so that 7 % prints as `7%` and not as `7.000000000000001%`.
        let percent = (self.loss * 100.0 * 1e6).round() / 1e6;
        write!(f, "loss={percent}%,")?;
        if self.duplicate > 0.0 {
            let percent = (self.duplicate * 100.0 * 1e6).round() / 1e6;
            write!(f, "dup={percent}%,")?;
        }
        if let Some(rate) = self.rate_bytes_per_sec {
            write!(f, "rate={rate}bps,")?;
        }
        write!(f, "seed={}", self.seed)
    }
}

/// A duration in whole milliseconds when it is one, else in (fractional) microseconds.
struct DurationText(Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1000) {
            write!(f, "{}us", nanos / 1000)
        } else {
            // Spec durations are at most 60 s, well within f64's exact integers.
            write!(f, "{}us", nanos as f64 / 1000.0)
        }
    }
}

/// Splits `25ms` into 25.0 and `ms`. The sign is part of the number so that `-1%` is reported
/// as out of range rather than as gibberish.
fn number_and_unit<'v>(item: &str, value: &'v str) -> Result<(f64, &'v str), SpecError> {
    let end = value
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(value.len(), |(i, _)| i);
    let number: f64 = value[..end]
        .parse()
        .map_err(|_| SpecError::BadNumber(item.to_owned()))?;
    // Only digits, one sign and dots reach `parse`, so this is finite; the check keeps it so.
    if !number.is_finite() {
        return Err(SpecError::BadNumber(item.to_owned()));
    }
    Ok((number, value[end..].trim()))
}

fn duration(item: &str, value: &str) -> Result<Duration, SpecError> {
    let (n, unit) = number_and_unit(item, value)?;
    let nanos_per_unit = match unit.to_ascii_lowercase().as_str() {
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        // A bare zero is unambiguous; any other bare number could mean ms or s.
        "" if n == 0.0 => 0.0,
        _ => return Err(SpecError::BadUnit(item.to_owned(), DURATION_UNITS)),
    };
    let nanos = n * nanos_per_unit;
    if !(0.0..=MAX_DELAY.as_nanos() as f64).contains(&nanos) {
        return Err(SpecError::OutOfRange(item.to_owned(), "0 to 60 s"));
    }
    // Whole nanoseconds rounded, not `from_secs_f64`, so that 0.3s is not 299.999999 ms.
    Ok(Duration::from_nanos(nanos.round() as u64))
}

fn percent(item: &str, value: &str) -> Result<f64, SpecError> {
    let (n, unit) = number_and_unit(item, value)?;
    // A bare `loss=1` could mean 1 % or 100 %: insist on the sign.
    if unit != "%" {
        return Err(SpecError::BadUnit(item.to_owned(), "% (e.g. loss=1%)"));
    }
    if !(0.0..=100.0).contains(&n) {
        return Err(SpecError::OutOfRange(item.to_owned(), "0–100 %"));
    }
    Ok(n / 100.0)
}

fn rate(item: &str, value: &str) -> Result<u64, SpecError> {
    let (n, unit) = number_and_unit(item, value)?;
    // Decimal multiples, as tc reads them.
    let bytes_per_unit = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0 / 8.0,
        "kbit" => 1e3 / 8.0,
        "mbit" => 1e6 / 8.0,
        "gbit" => 1e9 / 8.0,
        "bps" => 1.0,
        "kbps" => 1e3,
        "mbps" => 1e6,
        "gbps" => 1e9,
        _ => return Err(SpecError::BadUnit(item.to_owned(), RATE_UNITS)),
    };
    let bytes = (n * bytes_per_unit).round();
    // `as` saturates, so an absurdly large rate is simply unlimited in practice.
    if bytes < 1.0 {
        return Err(SpecError::OutOfRange(
            item.to_owned(),
            "at least 8bit (1 byte/s)",
        ));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests;
