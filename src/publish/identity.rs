//! What publishing knows of a file's package before the registry answers. Every use of
//! the artifact's predicted name and version in `publish/` goes through
//! [`name_version`], so a richer identity can replace the prediction in one place.

use crate::artifact::Artifact;

/// The name and version the registry is expected to give the file, if known.
pub(super) fn name_version(a: &Artifact) -> Option<(&str, &str)> {
    a.predicted.as_ref().map(|(n, v)| (n.as_str(), v.as_str()))
}

/// How messages name the file's package: "name version", else the file name.
pub(super) fn describe(a: &Artifact) -> String {
    match name_version(a) {
        Some((n, v)) => format!("{n} {v}"),
        None => a.file_name.clone(),
    }
}
