//! The retry policy, as a pure decision: given what went wrong and how many retries
//! were already made, retry after some delay or give up. No I/O happens here, so the
//! rules are unit-tested directly. Delays come from `backon`'s jittered exponential
//! backoff; a server's own `Retry-After` / `RateLimit-Reset` is honoured up to a cap.
//! Never retried: 4xx other than 408 and 429 (a 401/403/404/409/422 will not fix
//! itself), and answers that were 2xx but malformed.

use std::time::Duration;

use backon::BackoffBuilder;

use crate::api::ApiError;

/// The longest a server-requested wait is honoured before retrying anyway.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(120);
/// The first backoff delay.
pub const BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest backoff delay between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(20);

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Stop and report the error.
    GiveUp,
}

impl RetryPolicy {
    /// A fresh sequence of jittered exponential delays, one per allowed retry.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        Backoff(
            backon::ExponentialBuilder::default()
                .with_min_delay(BASE_DELAY)
                .with_max_delay(MAX_DELAY)
                .with_factor(2.0)
                .with_jitter()
                .with_max_times(self.retries as usize)
                .build(),
        )
    }
}

/// The delays of one operation's retries.
pub struct Backoff(backon::ExponentialBackoff);

impl Backoff {
    /// The next delay; `None` once the retries are used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

/// Whether an error is worth another attempt at all.
#[must_use]
pub fn is_transient(err: &ApiError) -> bool {
    match err {
        ApiError::Transport { .. } | ApiError::Stalled { .. } => true,
        ApiError::Status { status, .. } | ApiError::Storage { status, .. } => {
            matches!(status, 408 | 429) || *status >= 500
        }
        ApiError::Decode { .. } => false,
    }
}

/// Decides what to do after `err`, given the next backoff delay (`None` when the
/// retries are used up). A server-requested wait replaces the backoff but keeps its
/// jitter, so many clients told "reset in 10 s" do not all return at once.
#[must_use]
pub fn decide(err: &ApiError, next_backoff: Option<Duration>) -> Decision {
    let Some(backoff) = next_backoff else {
        return Decision::GiveUp;
    };
    if !is_transient(err) {
        return Decision::GiveUp;
    }
    match err {
        ApiError::Status {
            retry_after: Some(wait),
            ..
        } => Decision::Retry((*wait).min(MAX_SERVER_WAIT) + backoff.min(Duration::from_secs(1))),
        _ => Decision::Retry(backoff),
    }
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

    const B: Option<Duration> = Some(Duration::from_millis(300));

    #[test]
    fn transient_statuses_are_retried_with_backoff() {
        for code in [408, 500, 502, 503, 504] {
            assert_eq!(
                decide(&status(code, None), B),
                Decision::Retry(Duration::from_millis(300))
            );
        }
    }

    #[test]
    fn permanent_statuses_give_up() {
        for code in [400, 401, 403, 404, 409, 413, 422] {
            assert_eq!(decide(&status(code, None), B), Decision::GiveUp, "{code}");
        }
    }

    #[test]
    fn server_wait_is_honoured_capped_and_jittered() {
        assert_eq!(
            decide(&status(429, Some(7)), B),
            Decision::Retry(Duration::from_millis(7300))
        );
        assert_eq!(
            decide(&status(429, Some(100_000)), B),
            Decision::Retry(MAX_SERVER_WAIT + Duration::from_millis(300))
        );
    }

    #[test]
    fn no_retries_left_gives_up() {
        assert_eq!(decide(&status(503, None), None), Decision::GiveUp);
    }

    #[test]
    fn backoff_yields_exactly_the_allowed_retries() {
        let mut b = RetryPolicy { retries: 3 }.backoff();
        let delays: Vec<_> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(delays.len(), 3);
        assert!(delays.iter().all(|d| *d <= MAX_DELAY * 2));
        assert_eq!(RetryPolicy { retries: 0 }.backoff().next_delay(), None);
    }
}
