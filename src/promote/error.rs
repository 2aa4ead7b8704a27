//! Why one package's promotion into one registry failed, as a type: the run's exit
//! status asks [`PromoteError::is_auth`] whether the credentials were refused, and the
//! report shows its message.

use thiserror::Error;

use crate::api::ApiError;
use crate::auth::AuthError;

/// A failed promotion of one package into one destination.
#[derive(Debug, Error)]
pub(crate) enum PromoteError {
    /// The entry has no package id (it was not published).
    #[error("no package id to copy from")]
    NoId,
    /// No token for the source registry could be had.
    #[error("{0}")]
    Token(AuthError),
    /// The copy failed (after its retries).
    #[error("{0}")]
    Copy(ApiError),
    /// The destination could not be looked at.
    #[error("{0}")]
    Lookup(ApiError),
    /// The destination registry does not exist.
    #[error("registry {dest:?} was not found in organization {org:?} ({err})")]
    NoDestination {
        dest: String,
        org: String,
        err: Box<ApiError>,
    },
    /// The copy answered 404: the destination or the package is not there.
    #[error(
        "{err} (is {dest:?} a registry of organization {org:?}, and does package {id} still exist in {source_registry:?}?)"
    )]
    Gone {
        err: Box<ApiError>,
        dest: String,
        org: String,
        id: String,
        source_registry: String,
    },
    /// The copy's digest is not the package's.
    #[error("the copy in {dest:?} reports sha256 {remote}, but the package's sha256 is {local}")]
    Corrupted {
        dest: String,
        remote: String,
        local: String,
    },
    /// The destination holds the name and version with other content.
    #[error(
        "{name} {version} is already in {dest:?} with different content (destination sha256 {theirs}, source sha256 {ours})"
    )]
    Different {
        name: String,
        version: String,
        dest: String,
        theirs: String,
        ours: String,
    },
    /// The run was cancelled while the copy was under way or waiting to be retried.
    #[error("cancelled while copying: the copy may or may not have been made; check the destination")]
    Cancelled,
    /// A copy that may have been made (its answer was lost) could not be confirmed: the
    /// promotion is `unverified`, not failed.
    #[error(
        "a copy of {name} {version} to {dest:?} may have been made but could not be confirmed: {why}; re-run the promotion (a copy already there counts as done), or check {dest:?}"
    )]
    Unverified {
        name: String,
        version: String,
        dest: String,
        why: String,
    },
}

impl PromoteError {
    /// Whether the credentials were refused (or could not be had), which makes the
    /// run exit 4 when nothing was written.
    #[must_use]
    pub(crate) fn is_auth(&self) -> bool {
        match self {
            PromoteError::Token(_) => true,
            PromoteError::Copy(err) | PromoteError::Lookup(err) => err.is_auth(),
            _ => false,
        }
    }

    /// How the retry loop sees this failure: only a failed copy may be worth another.
    #[must_use]
    pub(crate) fn retry_class(&self) -> crate::retry::Class {
        match self {
            PromoteError::Copy(err) => err.retry_class(),
            _ => crate::retry::Class::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Class;

    fn status(code: u16) -> ApiError {
        ApiError::Status {
            method: "POST",
            url: "http://x/copy".into(),
            status: code,
            message: "no".into(),
            retry_after: None,
            hint: String::new(),
        }
    }

    #[test]
    fn refused_credentials_are_auth_failures() {
        assert!(PromoteError::Copy(status(403)).is_auth());
        assert!(PromoteError::Copy(status(401)).is_auth());
        assert!(PromoteError::Token(AuthError::NoCredentials("none".into())).is_auth());
        assert!(!PromoteError::Copy(status(422)).is_auth());
        assert!(!PromoteError::Cancelled.is_auth());
    }

    #[test]
    fn only_a_failed_copy_is_retried() {
        assert!(matches!(
            PromoteError::Copy(status(503)).retry_class(),
            Class::Transient { .. }
        ));
        assert_eq!(PromoteError::Lookup(status(503)).retry_class(), Class::Permanent);
        assert_eq!(PromoteError::NoId.retry_class(), Class::Permanent);
    }
}
