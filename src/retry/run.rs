//! The one retry loop: a [`Retrier`] sleeps the backoff the pure [`decide`] chose, and
//! stops early when the run is cancelled; [`retry`] drives an operation with it, told
//! by a classifier which failures are worth another attempt. Loops that decide more
//! than "again or not" between attempts (one file's publish) call
//! [`Retrier::pause`] themselves.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Backoff, Class, Decision, RetryPolicy, decide};

/// Why a pause did not end in another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The failure will not fix itself, or the retries are used up.
    GiveUp,
    /// The run was cancelled before or during the wait.
    Cancelled,
}

/// How [`retry`] stopped without success, with the last failure.
#[derive(Debug)]
pub(crate) enum Stopped<E> {
    GaveUp(E),
    Cancelled(E),
}

impl<E> Stopped<E> {
    /// The last failure, however the loop stopped.
    pub(crate) fn into_inner(self) -> E {
        match self {
            Stopped::GaveUp(e) | Stopped::Cancelled(e) => e,
        }
    }
}

/// The backoff of one operation's retries, cut short by a cancellation.
pub(crate) struct Retrier<'c> {
    backoff: Backoff,
    cancel: &'c CancellationToken,
}

impl<'c> Retrier<'c> {
    #[must_use]
    pub(crate) fn new(policy: RetryPolicy, cancel: &'c CancellationToken) -> Retrier<'c> {
        Retrier {
            backoff: policy.backoff(),
            cancel,
        }
    }

    /// After a failure of `class`: waits the next delay (told to `announce` first), or
    /// says why there is no next attempt.
    pub(crate) async fn pause(&mut self, class: Class, announce: impl FnOnce(Duration)) -> Result<(), End> {
        match decide(class, self.backoff.next_delay()) {
            Decision::GiveUp => Err(End::GiveUp),
            Decision::Retry(wait) => {
                announce(wait);
                tokio::select! {
                    () = tokio::time::sleep(wait) => Ok(()),
                    () = self.cancel.cancelled() => Err(End::Cancelled),
                }
            }
        }
    }
}

/// Runs `op` (given the attempt's number, from 0) until it succeeds, `classify` calls
/// its failure permanent, the retries are used up, or `cancel` fires during a backoff.
pub(crate) async fn retry<T, E, Fut>(
    policy: RetryPolicy,
    cancel: &CancellationToken,
    classify: impl Fn(&E) -> Class,
    mut op: impl FnMut(u32) -> Fut,
) -> Result<T, Stopped<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut retrier = Retrier::new(policy, cancel);
    let mut attempt = 0;
    loop {
        let err = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        match retrier.pause(classify(&err), |_| {}).await {
            Ok(()) => attempt += 1,
            Err(End::GiveUp) => return Err(Stopped::GaveUp(err)),
            Err(End::Cancelled) => return Err(Stopped::Cancelled(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const TRANSIENT: Class = Class::Transient { server_wait: None };

    fn failing(class: Class) -> impl Fn(&u32) -> Class {
        move |_| class
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let cancel = CancellationToken::new();
        let seen = Cell::new(Vec::new());
        let result = retry(RetryPolicy { retries: 3 }, &cancel, failing(TRANSIENT), |n| {
            let mut v = seen.take();
            v.push(n);
            seen.set(v);
            async move { if n < 1 { Err(n) } else { Ok("done") } }
        })
        .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(seen.take(), vec![0, 1], "the attempt number counts up");
    }

    #[tokio::test]
    async fn permanent_failures_and_used_up_retries_give_up_with_the_last_error() {
        let cancel = CancellationToken::new();
        let permanent = retry(
            RetryPolicy { retries: 3 },
            &cancel,
            failing(Class::Permanent),
            |n| async move { Err::<(), _>(n) },
        );
        assert!(matches!(permanent.await, Err(Stopped::GaveUp(0))));
        let used_up = retry(
            RetryPolicy { retries: 2 },
            &cancel,
            failing(TRANSIENT),
            |n| async move { Err::<(), _>(n) },
        );
        assert!(
            matches!(used_up.await, Err(Stopped::GaveUp(2))),
            "three attempts in all"
        );
    }

    #[tokio::test]
    async fn a_cancellation_ends_the_backoff_at_once() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let started = std::time::Instant::now();
        let server_wait = Class::Transient {
            server_wait: Some(Duration::from_secs(60)),
        };
        let result = retry(
            RetryPolicy { retries: 3 },
            &cancel,
            failing(server_wait),
            |n| async move { Err::<(), _>(n) },
        );
        assert!(matches!(result.await, Err(Stopped::Cancelled(0))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_pause_announces_its_wait_before_sleeping() {
        let cancel = CancellationToken::new();
        let mut retrier = Retrier::new(RetryPolicy { retries: 1 }, &cancel);
        let mut announced = None;
        retrier.pause(TRANSIENT, |wait| announced = Some(wait)).await.unwrap();
        assert!(announced.is_some_and(|w| w >= crate::retry::BASE_DELAY));
        assert_eq!(retrier.pause(TRANSIENT, |_| panic!("no wait")).await, Err(End::GiveUp));
    }
}
