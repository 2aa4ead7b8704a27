//! Errors of the Packages API client, sorted into the kinds callers decide on: each
//! error knows its retry [`Class`] (transport failures, stalls and 408/429/5xx are
//! transient), whether it may have changed state on the server (ambiguous), whether the
//! server said "already exists", and whether the credentials were refused. Each error
//! names the method and URL, keeps the server's `message` and status, and for 401/403
//! says which token scope the call needs. A refused TLS certificate is its own kind,
//! never retried, and says how to trust a private CA.

use std::time::Duration;

use thiserror::Error;

use crate::retry::Class;

/// A failed API or storage call.
#[derive(Debug, Error)]
pub(crate) enum ApiError {
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
        "storage {method} {url} answered {status}: {message}; the storage host {host} refused the upload (the slot may have expired: a fresh one is requested on retry)"
    )]
    Storage {
        method: &'static str,
        url: String,
        /// The storage host, which may be an organization's own bucket.
        host: String,
        status: u16,
        message: String,
    },
    /// The server's TLS certificate was not trusted. It fails the same way on every
    /// attempt, so it is never retried, and it says how to trust a private CA.
    #[error(
        "{method} {url} failed: the TLS certificate presented for {host} is not trusted ({detail}). \
         This is a certificate problem, not a network failure, so it is not retried. If a \
         TLS-inspecting proxy or a private CA signs it, add that CA: to the system trust store \
         (for example update-ca-certificates), or set SSL_CERT_FILE to a PEM file (or SSL_CERT_DIR \
         to a directory) holding it"
    )]
    Certificate {
        method: &'static str,
        url: String,
        host: String,
        /// rustls's reason, such as `invalid peer certificate: UnknownIssuer`.
        detail: String,
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
        /// The request's time limit ran out (as opposed to a reset or a refusal).
        timed_out: bool,
    },
    /// The upload made no progress for the stall timeout; `sent`: the bytes of the
    /// file handed to the connection by then (for an upload).
    #[error("{method} {url} stalled: no progress for {secs} s (stall-timeout){}", handed_over(*sent))]
    Stalled {
        method: &'static str,
        url: String,
        secs: u64,
        sent: Option<u64>,
    },
    /// A 2xx answer whose body was not what the API documents.
    #[error("{method} {url} returned an unexpected body: {detail}")]
    Decode {
        method: &'static str,
        url: String,
        detail: String,
    },
    /// A bound this client keeps was reached: an answer too large to read, too many
    /// pages. Retrying would hit it again.
    #[error("{method} {url}: {detail}")]
    Limit {
        method: &'static str,
        url: String,
        detail: String,
    },
    /// The run was cancelled while the request waited out a rate limit: it was never
    /// sent.
    #[error("{method} {url} was not sent: the run was cancelled while it waited out the registry's rate limit")]
    Cancelled { method: &'static str, url: String },
    /// The local file could not be read: nothing was sent, and retrying will not help.
    #[error("cannot read {path}: {detail}")]
    Local { path: String, detail: String },
}

impl ApiError {
    /// The HTTP status, for status errors.
    #[must_use]
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::Storage { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the package already exists: 409, or a 422 whose
    /// message says so.
    #[must_use]
    pub(crate) fn is_already_exists(&self) -> bool {
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
    pub(crate) fn is_auth(&self) -> bool {
        matches!(self, ApiError::Status { status: 401 | 403, .. })
    }

    /// Whether the request may have reached the server and changed state.
    #[must_use]
    pub(crate) fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Transport { ambiguous, .. } => *ambiguous,
            ApiError::Status { status, .. } => *status >= 500,
            // A stall, or a 2xx whose body is not what was expected (or too large to
            // read), probably did what was asked.
            ApiError::Stalled { .. } | ApiError::Decode { .. } | ApiError::Limit { .. } => true,
            // A refused certificate stops the handshake before anything is sent.
            ApiError::Storage { .. }
            | ApiError::Local { .. }
            | ApiError::Certificate { .. }
            | ApiError::Cancelled { .. } => false,
        }
    }

    /// How the retry policy sees this error.
    #[must_use]
    pub(crate) fn retry_class(&self) -> Class {
        match self {
            ApiError::Transport { .. } | ApiError::Stalled { .. } => Class::Transient { server_wait: None },
            ApiError::Status {
                status, retry_after, ..
            } if matches!(status, 408 | 429) || *status >= 500 => Class::Transient {
                server_wait: *retry_after,
            },
            ApiError::Storage { status, .. } if matches!(status, 408 | 429) || *status >= 500 => {
                Class::Transient { server_wait: None }
            }
            ApiError::Status { .. }
            | ApiError::Storage { .. }
            | ApiError::Certificate { .. }
            | ApiError::Decode { .. }
            | ApiError::Limit { .. }
            | ApiError::Local { .. }
            | ApiError::Cancelled { .. } => Class::Permanent,
        }
    }
}

/// How much of a stalled upload had been handed to the connection (the server may
/// have received less: the rest sat in buffers on the way).
fn handed_over(sent: Option<u64>) -> String {
    sent.map_or_else(String::new, |n| {
        format!(", after {n} bytes of the file had been handed to the connection")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> ApiError {
        ApiError::Status {
            method: "POST",
            url: "http://x/".into(),
            status: code,
            message: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
            hint: String::new(),
        }
    }

    #[test]
    fn transient_statuses_and_transport_failures_are_retryable() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(status(code, None).retry_class(), Class::Transient { .. }),
                "{code}"
            );
        }
        assert_eq!(
            status(429, Some(7)).retry_class(),
            Class::Transient {
                server_wait: Some(Duration::from_secs(7))
            }
        );
        let reset = ApiError::Transport {
            method: "GET",
            url: String::new(),
            detail: String::new(),
            ambiguous: true,
            timed_out: false,
        };
        assert!(matches!(reset.retry_class(), Class::Transient { .. }));
    }

    #[test]
    fn permanent_statuses_and_local_errors_are_not() {
        for code in [400, 401, 403, 404, 409, 413, 422] {
            assert_eq!(status(code, None).retry_class(), Class::Permanent, "{code}");
        }
        let local = ApiError::Local {
            path: "dist/a.deb".into(),
            detail: "No such file or directory".into(),
        };
        assert_eq!(local.retry_class(), Class::Permanent);
        assert!(!local.is_ambiguous());
        let untrusted = ApiError::Certificate {
            method: "GET",
            url: "https://api.example/".into(),
            host: "api.example".into(),
            detail: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert_eq!(untrusted.retry_class(), Class::Permanent);
        assert!(!untrusted.is_ambiguous());
        let text = untrusted.to_string();
        assert!(
            text.contains("certificate problem") && text.contains("SSL_CERT_FILE"),
            "{text}"
        );
    }
}
