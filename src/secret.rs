//! A token wrapper whose `Debug` and `Display` never show the value, so a `Config` or an
//! error can be logged without leaking credentials. The value is reachable only through
//! [`Secret::expose`], which the HTTP client calls when it sets the `Authorization`
//! header and the CI adapters call when they mask or redact it.

use std::fmt;

/// A credential that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a value; surrounding whitespace (a trailing newline from a file or a
    /// command) is dropped because no token contains it.
    #[must_use]
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into().trim().to_owned())
    }

    /// The raw value, for the one place that must send it.
    #[must_use]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the wrapped value is empty.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
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

/// The shortest start of a secret that counts as the secret when text was cut right
/// after it.
const MIN_PARTIAL: usize = 6;

/// Replaces every occurrence of each secret in `text` with `[redacted]`: the last line
/// of defence for text that came back from a server or a subprocess. Text may have been
/// shortened before it got here, so the start of a secret right before a cut (an `…`
/// or the end of the text) is redacted too.
#[must_use]
pub(crate) fn redact(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        if value.len() >= 4 {
            out = out.replace(value, "[redacted]");
        }
        if value.len() > MIN_PARTIAL {
            out = redact_cut(&out, value);
        }
    }
    out
}

/// Redacts a partial `secret` that ends where the text was cut.
fn redact_cut(text: &str, secret: &str) -> String {
    let cuts: Vec<usize> = text
        .match_indices('…')
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for cut in cuts {
        let before = &text[from..cut];
        let partial = (MIN_PARTIAL..secret.len())
            .rev()
            .find(|&k| secret.is_char_boundary(k) && before.ends_with(&secret[..k]));
        match partial {
            Some(k) => {
                out.push_str(&before[..before.len() - k]);
                out.push_str("[redacted]");
            }
            None => out.push_str(before),
        }
        from = cut;
    }
    out.push_str(&text[from..]);
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
    fn a_secret_cut_short_is_still_redacted() {
        let s = Secret::new("bkua_0123456789abcdef0123456789abcdef01");
        let cut = "token bkua_0123456789abcdef0123456789abcdef0…";
        assert_eq!(redact(cut, std::slice::from_ref(&s)), "token [redacted]…");
        assert_eq!(
            redact("ends with bkua_0123", std::slice::from_ref(&s)),
            "ends with [redacted]"
        );
        // A short common start is not taken for the secret.
        assert_eq!(redact("the bkua_ prefix…", &[s]), "the bkua_ prefix…");
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let s = Secret::new("abcd1234");
        assert_eq!(redact("x abcd1234 y abcd1234", &[s]), "x [redacted] y [redacted]");
    }
}
