//! A token wrapper whose `Debug` and `Display` never show the value, so a `Config` or an
//! error can be logged without leaking credentials. The value is reachable only through
//! [`Secret::expose`], which the HTTP client calls when it sets the `Authorization`
//! header and the CI adapters call when they mask or redact it.

use std::fmt;

/// A credential that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value; surrounding whitespace (a trailing newline from a file or a
    /// command) is dropped because no token contains it.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().trim().to_owned())
    }

    /// The raw value, for the one place that must send it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the wrapped value is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Replaces every occurrence of each secret in `text` with `[redacted]`: the last line
/// of defence for text that came back from a server or a subprocess.
#[must_use]
pub fn redact(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.expose().len() >= 4 {
            out = out.replace(secret.expose(), "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("bkua_supersecret\n");
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "bkua_supersecret");
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let s = Secret::new("abcd1234");
        assert_eq!(redact("x abcd1234 y abcd1234", &[s]), "x [redacted] y [redacted]");
    }
}
