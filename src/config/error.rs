//! Configuration errors. Each one names the option, the variable (or flag) it came
//! from, the offending value and what would have been accepted, so a user can fix the
//! pipeline without reading the source. None of them ever carries a token value.

use thiserror::Error;

/// Why the configuration was refused. Every variant leads to exit code 2, before any
/// network call. Options are named as the user wrote them (see [`super::spelling`]).
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// A required option was not given.
    #[error("{name} is required: {hint}")]
    Missing {
        option: &'static str,
        /// The option as the user would write it (`--registry`, `PACKAGE_PUBLISHER_REGISTRY`).
        name: String,
        hint: String,
    },

    /// An option had a value outside what it accepts.
    #[error("{origin} has the value {value}, but {accepted}")]
    Invalid {
        option: &'static str,
        /// Where the value came from, as the user wrote it (`--concurrency`,
        /// plugin option `concurrency` (`BUILDKITE_PLUGIN_CONFIGURATION`)).
        origin: String,
        value: String,
        accepted: String,
    },

    /// A key that is not one of ours.
    #[error("unknown {name}{suggestion}")]
    Unknown {
        /// The key as given, with where it was found.
        name: String,
        /// "; did you mean …?", or the list of options.
        suggestion: String,
    },

    /// A null value in the Buildkite plugin configuration.
    #[error(
        "plugin option `{option}` is null in {origin}: give it a value or remove the key \
         (a YAML key with nothing after the colon is null)"
    )]
    Null { option: String, origin: String },

    /// The configuration source itself could not be read.
    #[error("cannot read {origin}: {detail}")]
    Malformed { origin: String, detail: String },

    /// Two options contradict each other.
    #[error("{0}")]
    Conflict(String),
}

/// Quotes a user value for an error message, shortened so a pasted blob cannot flood
/// the log, and hidden when it looks like a credential.
#[must_use]
pub(crate) fn show_value(value: &str) -> String {
    let trimmed = value.trim();
    if looks_like_token(trimmed) {
        return "(a value that looks like a token, not shown)".to_owned();
    }
    let mut shown: String = trimmed.chars().take(80).collect();
    if trimmed.chars().count() > 80 {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Whether a string has the shape of a Buildkite API/registry token or a JWT.
#[must_use]
pub(crate) fn looks_like_token(value: &str) -> bool {
    value.starts_with("bkua_")
        || value.starts_with("bkpt_")
        || value.starts_with("bkct_")
        || (value.starts_with("eyJ") && value.matches('.').count() == 2)
}
