//! The run's one rate-limit gate. A rate limit belongs to the organization, not to the
//! request that met it: once an answer says the limit is reached (a 429 with
//! `Retry-After` / `RateLimit-Reset`, or `RateLimit-Remaining: 0`), no request of the
//! run leaves before the reset, whichever file, lookup, copy or deletion it is for.
//! When the API says only a few requests remain in its window, requests are paced
//! so the window is not emptied before it resets. The gate holds only Buildkite API
//! requests: the storage leg goes to another host with limits of its own. After the
//! run is cancelled, a request that would have to wait at the gate never leaves.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest hold one answer can impose (the retry policy's own cap).
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(120);
/// A 429 that names no reset holds the run this long.
pub(crate) const DEFAULT_HOLD: Duration = Duration::from_secs(1);
/// Below this many remaining requests, requests are spread over what is left of the
/// window instead of spent at once.
pub(crate) const PACE_BELOW: u64 = 10;

/// The gate every API request passes.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    open_at: Mutex<Option<Instant>>,
    cancel: Mutex<Option<CancellationToken>>,
}

/// A request was not sent: the run was cancelled while it waited at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled;

impl Gate {
    /// Makes waits end (without sending) when `cancel` fires.
    pub(crate) fn cancel_with(&self, cancel: CancellationToken) {
        *self.cancel.lock().expect("gate lock") = Some(cancel);
    }

    /// Waits until the gate is open. The opening time may move later while waiting
    /// (another answer met the limit), so this checks again after each wait.
    pub(crate) async fn wait(&self) -> Result<(), Cancelled> {
        let cancel = self.cancel.lock().expect("gate lock").clone().unwrap_or_default();
        // Each round waits for a later opening; the holds are capped, so a handful of
        // rounds is all a real run sees. The cap keeps the loop bounded regardless.
        for _ in 0..1000 {
            let open_at = *self.open_at.lock().expect("gate lock");
            match open_at {
                // A cancelled run still finds out what its last uploads did (those
                // lookups pass an open gate), but nothing waits out a rate limit.
                Some(at) if at > Instant::now() && cancel.is_cancelled() => return Err(Cancelled),
                Some(at) if at > Instant::now() => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = cancel.cancelled() => return Err(Cancelled),
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Learns from an answer's status and rate-limit headers.
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        if let Some(hold) = hold_for(status, headers) {
            self.hold(hold);
        }
    }

    /// Keeps the gate shut for `hold` from now (never shortening a longer hold).
    pub(crate) fn hold(&self, hold: Duration) {
        let until = Instant::now() + hold.min(MAX_HOLD);
        let mut open_at = self.open_at.lock().expect("gate lock");
        if open_at.is_none_or(|at| at < until) {
            *open_at = Some(until);
        }
    }
}

/// How long an answer shuts the gate: a 429 until its reset (or [`DEFAULT_HOLD`]); an
/// exhausted window until its reset; a nearly exhausted one for an even share of
/// what is left of the window. A pure decision, tested directly.
#[must_use]
pub(crate) fn hold_for(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_HOLD.as_secs_f64())))
    };
    let reset = ["retry-after", "ratelimit-reset", "ratelimit-user-reset"]
        .iter()
        .filter_map(|h| seconds(h))
        .max();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some(reset.unwrap_or(DEFAULT_HOLD));
    }
    let remaining = ["ratelimit-remaining", "ratelimit-user-remaining"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<u64>().ok())
        .min()?;
    let reset = reset?;
    match remaining {
        0 => Some(reset),
        n if n < PACE_BELOW => Some(reset / u32::try_from(n + 1).unwrap_or(u32::MAX)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_429_holds_until_its_reset_and_an_empty_window_likewise() {
        let ok = StatusCode::OK;
        let limited = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            hold_for(limited, &headers(&[("ratelimit-reset", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            hold_for(limited, &headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(hold_for(limited, &HeaderMap::new()), Some(DEFAULT_HOLD));
        assert_eq!(hold_for(limited, &headers(&[("retry-after", "99999")])), Some(MAX_HOLD));
        let empty = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "4")]);
        assert_eq!(hold_for(ok, &empty), Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_nearly_empty_window_is_paced_and_a_full_one_is_not() {
        let ok = StatusCode::OK;
        let few = headers(&[("ratelimit-remaining", "3"), ("ratelimit-reset", "8")]);
        assert_eq!(hold_for(ok, &few), Some(Duration::from_secs(2)));
        let many = headers(&[("ratelimit-remaining", "500"), ("ratelimit-reset", "8")]);
        assert_eq!(hold_for(ok, &many), None);
        assert_eq!(
            hold_for(ok, &headers(&[("ratelimit-remaining", "0")])),
            None,
            "no reset, no hold"
        );
        assert_eq!(hold_for(ok, &HeaderMap::new()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_keeps_every_waiter_until_it_ends_and_a_cancel_ends_the_wait() {
        let gate = Gate::default();
        gate.hold(Duration::from_secs(2));
        gate.hold(Duration::from_millis(500));
        let start = Instant::now();
        gate.wait().await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(2),
            "a shorter hold never shortens a longer one"
        );

        let cancel = CancellationToken::new();
        gate.cancel_with(cancel.clone());
        gate.hold(Duration::from_secs(60));
        let waiting = gate.wait();
        cancel.cancel();
        assert_eq!(waiting.await, Err(Cancelled));
    }
}
