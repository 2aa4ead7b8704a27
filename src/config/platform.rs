//! Which CI system a run is on, from its environment. Configuration needs it (which
//! source to read, how booleans are written, whether `download` is possible), and so
//! does the CI adapter, which re-exports it; it lives here so that validating the
//! configuration never depends on the adapter.

use std::collections::BTreeMap;

/// The CI system the binary runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Buildkite,
    GitHub,
    Local,
}

impl Platform {
    /// `BUILDKITE=true` or `GITHUB_ACTIONS=true`; anything else is a local run.
    #[must_use]
    pub(crate) fn detect(vars: &BTreeMap<String, String>) -> Platform {
        if vars.get("BUILDKITE").is_some_and(|v| v == "true") {
            Platform::Buildkite
        } else if vars.get("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            Platform::GitHub
        } else {
            Platform::Local
        }
    }
}
