//! Errors of the Packages API client, sorted into the kinds callers decide on: the
//! retry policy looks at transport failures, stalls and retryable statuses; publishing
//! looks for "already exists"; the exit code looks for refused credentials. Each error
//! names the method and URL, keeps the server's `message` and status, and for 401/403
//! says which token scope the call needs.

use std::time::Duration;

use thiserror::Error;

/// A failed API or storage call.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The server answered with a non-2xx status.
    #[error("{method} {url} answered {status}: {message}{hint}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        /// The server's `message`, or the start of its body.
        message: String,
        /// Wait the server asked for (`Retry-After`, `RateLimit-Reset`).
        retry_after: Option<Duration>,
        /// A sentence on how to fix it, starting with "; ".
        hint: String,
    },
    /// Object storage refused the presigned upload (its body is usually S3's XML).
    #[error(
        "storage {method} {url} answered {status}: {message}; the storage refused the upload (the slot may have expired: a fresh one is requested on retry)"
    )]
    Storage {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// The request did not complete: no connection, a reset, a timeout.
    #[error("{method} {url} failed: {detail}")]
    Transport {
        method: &'static str,
        url: String,
        detail: String,
        /// True when the request may have reached the server (it must be checked
        /// before sending again); false when it certainly did not (connect failed).
        ambiguous: bool,
    },
    /// The upload made no progress for the stall timeout.
    #[error("{method} {url} stalled: no progress for {secs} s (stall-timeout)")]
    Stalled {
        method: &'static str,
        url: String,
        secs: u64,
    },
    /// A 2xx answer whose body was not what the API documents.
    #[error("{method} {url} returned an unexpected body: {detail}")]
    Decode {
        method: &'static str,
        url: String,
        detail: String,
    },
}

impl ApiError {
    /// The HTTP status, for status errors.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::Storage { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the package already exists: 409, or a 422 whose
    /// message says so.
    #[must_use]
    pub fn is_already_exists(&self) -> bool {
        match self {
            ApiError::Status { status: 409, .. } => true,
            ApiError::Status {
                status: 422, message, ..
            } => {
                let m = message.to_ascii_lowercase();
                m.contains("already exists") || m.contains("already been taken") || m.contains("already published")
            }
            _ => false,
        }
    }

    /// Whether the credentials were refused (401 or 403).
    #[must_use]
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Status { status: 401 | 403, .. })
    }

    /// Whether the request may have reached the server and changed state.
    #[must_use]
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Transport { ambiguous, .. } => *ambiguous,
            ApiError::Stalled { .. } => true,
            ApiError::Status { status, .. } => *status >= 500,
            // A 2xx whose body is not what was expected probably did what was asked.
            ApiError::Decode { .. } => true,
            ApiError::Storage { .. } => false,
        }
    }
}
