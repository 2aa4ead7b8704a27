//! The attestation bundle sent with every package as the `attestation_bundle` part:
//! each attestation file (for example a DSSE envelope from a provenance step) must
//! parse as JSON, and is re-serialised onto one line, in sorted path order. Because
//! `serde_json` escapes control characters inside strings, no attestation can contain a
//! raw newline, so the bundle always has exactly one attestation per line.

use std::path::Path;

use anyhow::{Context, bail};
use thiserror::Error;

use crate::config::{IfNoFilesFound, Opt, Patterns};
use crate::discover::{DiscoverError, Found, discover};

/// Why no bundle could be built: the patterns (whose failures exit like the
/// `artifacts` patterns'), or a file that is not a usable attestation.
#[derive(Debug, Error)]
pub(crate) enum AttestationError {
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error("{0:#}")]
    File(anyhow::Error),
}

/// The largest attestation file accepted, in bytes.
pub(crate) const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// A bundle and the files it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    /// JSON lines, one attestation each.
    pub text: String,
    /// Relative paths of the attestation files, in bundle order.
    pub files: Vec<String>,
}

/// Builds the bundle from the files matching `patterns` under `root`; `None` when no
/// pattern is given or nothing matched (and that was allowed).
pub(crate) fn build(
    root: &Path,
    patterns: &Patterns,
    if_none: IfNoFilesFound,
) -> Result<Option<Bundle>, AttestationError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let found = discover(root, Opt::Attestations, patterns, if_none)?;
    if found.files.is_empty() {
        return Ok(None);
    }
    let mut lines = Vec::with_capacity(found.files.len());
    for Found { rel, path } in &found.files {
        lines.push(one_line(rel, path).map_err(AttestationError::File)?);
    }
    Ok(Some(Bundle {
        text: lines.join("\n") + "\n",
        files: found.files.into_iter().map(|f| f.rel).collect(),
    }))
}

fn one_line(rel: &str, path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read attestation {rel}"))?
        .len();
    if size > MAX_FILE_SIZE {
        bail!(
            "attestation {rel} is {size} bytes, over the {} MiB limit for one attestation file",
            MAX_FILE_SIZE / 1024 / 1024
        );
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read attestation {rel}"))?;
    let value: serde_json::Value = serde_json::from_slice(&text).with_context(|| {
        format!(
            "attestation {rel} is not valid JSON; each file must hold one JSON document (for example a DSSE envelope)"
        )
    })?;
    Ok(serde_json::to_string(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_with_newlines_in_strings_becomes_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), "{\n  \"payload\": \"line1\\nline2\"\n}\n").unwrap();
        std::fs::write(dir.path().join("a.json"), "[1,\n2]").unwrap();
        let b = build(
            dir.path(),
            &Patterns::parse(&["*.json"]).unwrap(),
            IfNoFilesFound::Error,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.files, ["a.json", "b.json"]);
        assert_eq!(b.text, "[1,2]\n{\"payload\":\"line1\\nline2\"}\n");
        assert_eq!(b.text.lines().count(), 2);
    }

    #[test]
    fn non_json_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), "not json").unwrap();
        let err = build(
            dir.path(),
            &Patterns::parse(&["*.json"]).unwrap(),
            IfNoFilesFound::Error,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("bad.json is not valid JSON"), "{err:#}");
    }
}
