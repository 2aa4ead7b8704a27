//! The retry policy, as a pure decision: given the kind of failure and the next delay
//! of the backoff, retry after some delay or give up. No I/O happens in this file and
//! nothing here knows about HTTP: callers describe a failure as a [`Class`] (the API client's
//! errors know their own class), so the rules are unit-tested directly. Delays come
//! from `backon`'s jittered exponential backoff; a server's own `Retry-After` /
//! `RateLimit-Reset` is honoured up to a cap. The loop that sleeps these delays, and
//! stops when the run is cancelled, is [`run::Retrier`]: every retry loop goes through it.
//! How long to wait for a lagging listing is [`settle::Settle`].

use std::time::Duration;

use backon::BackoffBuilder;

pub(crate) mod run;
pub(crate) mod settle;

/// The longest a server-requested wait is honoured before retrying anyway.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(120);
/// The first backoff delay.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest backoff delay between attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(20);

/// How often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
}

/// What kind of failure happened, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Worth another attempt (a 5xx, 408, 429, a reset, a timeout, a stall), after at
    /// least the wait the server asked for, if any.
    Transient { server_wait: Option<Duration> },
    /// Will not fix itself (a 4xx, a malformed answer, a local file error).
    Permanent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Stop and report the error.
    GiveUp,
}

impl RetryPolicy {
    /// A fresh sequence of jittered exponential delays, one per allowed retry.
    #[must_use]
    pub(crate) fn backoff(self) -> Backoff {
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
pub(crate) struct Backoff(backon::ExponentialBackoff);

impl Backoff {
    /// The next delay; `None` once the retries are used up.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        self.0.next()
    }
}

/// Decides what to do after a failure of `class`, given the next backoff delay (`None`
/// when the retries are used up). A server-requested wait replaces the backoff but
/// keeps some jitter, so many clients told "reset in 10 s" do not all return at once.
#[must_use]
pub(crate) fn decide(class: Class, next_backoff: Option<Duration>) -> Decision {
    let Some(backoff) = next_backoff else {
        return Decision::GiveUp;
    };
    match class {
        Class::Permanent => Decision::GiveUp,
        Class::Transient {
            server_wait: Some(wait),
        } => Decision::Retry(wait.min(MAX_SERVER_WAIT) + backoff.min(Duration::from_secs(1))),
        Class::Transient { server_wait: None } => Decision::Retry(backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Option<Duration> = Some(Duration::from_millis(300));
    const TRANSIENT: Class = Class::Transient { server_wait: None };

    #[test]
    fn transient_failures_are_retried_with_backoff() {
        assert_eq!(decide(TRANSIENT, B), Decision::Retry(Duration::from_millis(300)));
    }

    #[test]
    fn permanent_failures_give_up() {
        assert_eq!(decide(Class::Permanent, B), Decision::GiveUp);
    }

    #[test]
    fn server_wait_is_honoured_capped_and_jittered() {
        let wait = |s| Class::Transient {
            server_wait: Some(Duration::from_secs(s)),
        };
        assert_eq!(decide(wait(7), B), Decision::Retry(Duration::from_millis(7300)));
        assert_eq!(
            decide(wait(100_000), B),
            Decision::Retry(MAX_SERVER_WAIT + Duration::from_millis(300))
        );
    }

    #[test]
    fn no_retries_left_gives_up() {
        assert_eq!(decide(TRANSIENT, None), Decision::GiveUp);
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
