//! GitHub Actions specifics: workflow commands with the toolkit's escaping, the job
//! summary and `$GITHUB_OUTPUT` files, and the ID token request. Escaping follows
//! actions/toolkit `command.ts`: in data `%`, CR and LF are encoded; in properties `:`
//! and `,` too. File names and server messages can therefore never start a command of
//! their own.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::secret::Secret;

/// The job summary limit per step, in bytes.
pub(crate) const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Escapes a workflow command's message.
#[must_use]
pub(crate) fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
#[must_use]
pub(crate) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error title=…::message`.
#[must_use]
pub(crate) fn error_command(title: &str, message: &str) -> String {
    format!("::error title={}::{}", escape_property(title), escape_data(message))
}

/// Tells the runner to mask `secret` in every later log line.
pub(crate) fn add_mask(secret: &Secret) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "::add-mask::{}", escape_data(secret.expose()));
}

/// Appends Markdown to the step summary file.
pub(crate) fn append_summary(path: &Path, markdown: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY {}", path.display()))?;
    file.write_all(markdown.as_bytes())
        .with_context(|| format!("cannot write GITHUB_STEP_SUMMARY {}", path.display()))
}

/// Appends step outputs in the multi-line form `name<<DELIM`, with a fresh random
/// delimiter per value that is checked not to occur in it.
pub(crate) fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> anyhow::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let delimiter = loop {
            let d = format!("ghadelimiter_{:016x}{:016x}", random_u64(), random_u64());
            if !value.contains(&d) {
                break d;
            }
        };
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open GITHUB_OUTPUT {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write GITHUB_OUTPUT {}", path.display()))
}

/// 64 random bits from the standard library's per-process random hash keys.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_cannot_start_a_new_command() {
        let cmd = error_command("pkg:a,b", "bad\n::add-mask::x\r%");
        assert_eq!(cmd, "::error title=pkg%3Aa%2Cb::bad%0A::add-mask::x%0D%25");
        assert_eq!(cmd.lines().count(), 1);
    }

    #[test]
    fn outputs_use_distinct_random_delimiters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_outputs(&path, &[("a", "1".into()), ("b", "x\ny".into())]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let delims: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once("<<").map(|(_, d)| d))
            .collect();
        assert_eq!(delims.len(), 2);
        assert_ne!(delims[0], delims[1]);
        assert!(text.contains("b<<") && text.contains("\nx\ny\n"));
    }
}
