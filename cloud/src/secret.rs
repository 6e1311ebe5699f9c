//! [`Secret`]: a value that must not reach logs (database URLs with passwords, keys).

use serde::Deserialize;
use std::fmt;

/// Wraps a secret so that `Debug` (and therefore `{:?}` in logs and panics) prints `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value; the name makes every use easy to find in review.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("postgres://u:pw@h/db".to_owned());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "postgres://u:pw@h/db");
    }
}
