//! Upload slots: how many requests are in flight at once. A file holds a slot only
//! while a request of its own is on the wire, never while it waits out a backoff. A
//! 429 gives up one slot (at most once per [`SHRINK_WINDOW`], never the last one);
//! once the server's rate-limit window has passed without another 429, successes win
//! the slots back one per [`GROW_EVERY`] up to `concurrency`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// At most one reduction per this window: a burst of 429s from one rate-limit window
/// lowers concurrency once, not once per request.
pub(crate) const SHRINK_WINDOW: Duration = Duration::from_secs(5);
/// How long after the server's reset (or a 429 without one) the rate is taken as calm.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);
/// At most one slot comes back per this interval.
pub(crate) const GROW_EVERY: Duration = Duration::from_secs(1);

/// The upload slots of a run.
pub(crate) struct Slots {
    permits: Semaphore,
    max: usize,
    capacity: AtomicUsize,
    clock: Mutex<Clock>,
}

#[derive(Default)]
struct Clock {
    last_shrink: Option<Instant>,
    last_grow: Option<Instant>,
    calm_after: Option<Instant>,
}

impl Slots {
    /// `concurrency` slots (at least one).
    #[must_use]
    pub(crate) fn new(concurrency: usize) -> Slots {
        let max = concurrency.max(1);
        Slots {
            permits: Semaphore::new(max),
            max,
            capacity: AtomicUsize::new(max),
            clock: Mutex::new(Clock::default()),
        }
    }

    /// Waits for a free slot.
    pub(crate) async fn acquire(&self) -> SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the semaphore is never closed")
    }

    /// Slots in use now (for messages).
    #[must_use]
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity.load(Ordering::SeqCst)
    }

    /// After a 429: gives up `permit`'s slot for now unless one was given up within
    /// [`SHRINK_WINDOW`] or it is the last. Returns the new capacity when it shrank.
    pub(crate) fn rate_limited(&self, permit: SemaphorePermit<'_>, server_wait: Option<Duration>) -> Option<usize> {
        let now = Instant::now();
        let mut clock = self.clock.lock().expect("slots lock");
        let calm = now + server_wait.unwrap_or_default() + SETTLE;
        clock.calm_after = Some(clock.calm_after.map_or(calm, |c| c.max(calm)));
        if clock
            .last_shrink
            .is_some_and(|at| now.duration_since(at) < SHRINK_WINDOW)
        {
            return None;
        }
        let cap = self.capacity.load(Ordering::SeqCst);
        if cap <= 1 {
            return None;
        }
        clock.last_shrink = Some(now);
        self.capacity.store(cap - 1, Ordering::SeqCst);
        permit.forget();
        Some(cap - 1)
    }

    /// After a request the server accepted: wins one slot back when the rate limit
    /// has calmed. Returns the new capacity when it grew.
    pub(crate) fn succeeded(&self) -> Option<usize> {
        let cap = self.capacity.load(Ordering::SeqCst);
        if cap >= self.max {
            return None;
        }
        let now = Instant::now();
        let mut clock = self.clock.lock().expect("slots lock");
        if clock.calm_after.is_some_and(|c| now < c)
            || clock.last_grow.is_some_and(|g| now.duration_since(g) < GROW_EVERY)
        {
            return None;
        }
        clock.last_grow = Some(now);
        self.capacity.store(cap + 1, Ordering::SeqCst);
        self.permits.add_permits(1);
        Some(cap + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_429_gives_up_one_slot_per_window_and_never_the_last() {
        let slots = Slots::new(3);
        let p = slots.acquire().await;
        assert_eq!(slots.rate_limited(p, None), Some(2));
        let p = slots.acquire().await;
        assert_eq!(slots.rate_limited(p, None), None, "same window");
        assert_eq!(slots.capacity(), 2);
        let one = Slots::new(1);
        let p = one.acquire().await;
        assert_eq!(one.rate_limited(p, None), None);
    }

    #[tokio::test]
    async fn slots_come_back_once_the_rate_limit_calmed() {
        let slots = Slots::new(2);
        let p = slots.acquire().await;
        assert_eq!(slots.rate_limited(p, Some(Duration::ZERO)), Some(1));
        assert_eq!(slots.succeeded(), None, "still inside the settle time");
        tokio::time::sleep(SETTLE + Duration::from_millis(50)).await;
        assert_eq!(slots.succeeded(), Some(2));
        assert_eq!(slots.succeeded(), None, "already full");
        let a = slots.acquire().await;
        let b = slots.acquire().await;
        drop((a, b));
    }
}
