//! How long to wait for a registry's listing that lags behind its writes: after an
//! upload or a copy whose answer was lost, the registry may refuse it again as a
//! duplicate while no lookup shows the package yet. [`Settle`] is the schedule of those
//! lookups: waits doubling from half a second, none longer than [`MAX_WAIT`], until the
//! `settle-timeout` bound is spent. Pure: the caller sleeps (cancellably) and looks.

use std::time::Duration;

/// The first wait before looking again.
pub(crate) const FIRST_WAIT: Duration = Duration::from_millis(500);
/// The longest single wait, so a listing that catches up is seen soon after.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);

/// The waits left for one package's listing to catch up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settle {
    limit: Duration,
    waited: Duration,
    next: Duration,
}

impl Settle {
    /// A schedule that waits at most `limit` in all (`settle-timeout`).
    #[must_use]
    pub(crate) fn new(limit: Duration) -> Settle {
        Settle {
            limit,
            waited: Duration::ZERO,
            next: FIRST_WAIT,
        }
    }

    /// Whether another look may still be waited for.
    #[must_use]
    pub(crate) fn can_wait(&self) -> bool {
        self.waited < self.limit
    }

    /// The next wait (never past the bound), or `None` once the bound is spent.
    pub(crate) fn next_wait(&mut self) -> Option<Duration> {
        if !self.can_wait() {
            return None;
        }
        let wait = self.next.min(self.limit.saturating_sub(self.waited));
        self.waited += wait;
        self.next = (self.next * 2).min(MAX_WAIT);
        Some(wait)
    }

    /// The time waited so far.
    #[must_use]
    pub(crate) fn waited(&self) -> Duration {
        self.waited
    }

    /// The bound (`settle-timeout`).
    #[must_use]
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(limit: Duration) -> Vec<Duration> {
        let mut settle = Settle::new(limit);
        std::iter::from_fn(|| settle.next_wait()).collect()
    }

    #[test]
    fn waits_double_up_to_a_cap_and_add_up_to_the_bound() {
        let waits = all(Duration::from_secs(90));
        assert_eq!(
            &waits[..6],
            &[0.5, 1.0, 2.0, 4.0, 8.0, 10.0].map(Duration::from_secs_f64),
            "{waits:?}"
        );
        assert!(waits.iter().all(|w| *w <= MAX_WAIT), "{waits:?}");
        assert_eq!(waits.iter().sum::<Duration>(), Duration::from_secs(90));
    }

    #[test]
    fn the_default_bound_outlasts_an_index_a_minute_behind() {
        // A listing 60 s behind shows the package on a look made after 60 s: the
        // default bound still has such a look left.
        let default = crate::config::Opt::SettleTimeout.default();
        let limit = Duration::from_secs(default.parse().unwrap());
        let waits = all(limit);
        let mut total = Duration::ZERO;
        let looks_after_a_minute = waits
            .iter()
            .filter(|w| {
                total += **w;
                total > Duration::from_secs(60)
            })
            .count();
        assert!(looks_after_a_minute >= 2, "{waits:?}");
    }

    #[test]
    fn a_zero_bound_never_waits_and_the_last_wait_is_cut_to_the_bound() {
        assert!(all(Duration::ZERO).is_empty());
        assert!(!Settle::new(Duration::ZERO).can_wait());
        assert_eq!(
            all(Duration::from_secs(2)),
            [0.5, 1.0, 0.5].map(Duration::from_secs_f64)
        );
    }
}
