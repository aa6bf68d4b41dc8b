//! How long this process may still wait on the network outside flushes, and the async rule.
//!
//! Invariants:
//! - the budget only shrinks: each direct send adds the time it waited;
//! - a send is started only while the budget lasts and the last round trip measured fits in
//!   what is left; a send once started is never cut short by the budget (a collector may have
//!   stored a request cut short, and sending it again would deliver it twice), so the budget
//!   is passed by at most one request, itself bounded by the request timeout;
//! - while [`queue_only`] runs on a thread, nothing on that thread waits on the network.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::config::DEFAULT_SEND_BUDGET;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Time spent waiting on the network by direct sends, against the budget.
#[derive(Debug)]
pub(crate) struct Budget {
    total: u64,
    spent: AtomicU64,
    /// The latest round trip measured (direct send or flush), in nanoseconds.
    last_round_trip: AtomicU64,
}

impl Budget {
    pub(crate) fn new(total: Duration) -> Self {
        Self {
            total: nanos(total),
            spent: AtomicU64::new(0),
            last_round_trip: AtomicU64::new(0),
        }
    }

    /// The budget, as configured.
    pub(crate) fn total(&self) -> Duration {
        Duration::from_nanos(self.total)
    }

    /// Whether a direct send may start now.
    pub(crate) fn allows_a_send(&self) -> bool {
        let left = self
            .total
            .saturating_sub(self.spent.load(Ordering::Relaxed));
        left > 0 && left >= self.last_round_trip.load(Ordering::Relaxed)
    }

    /// Counts a direct send's wait.
    pub(crate) fn spend(&self, waited: Duration) {
        self.spent.fetch_add(nanos(waited), Ordering::Relaxed);
        self.measured(waited);
    }

    /// Remembers a round trip (direct or in a flush).
    pub(crate) fn measured(&self, round_trip: Duration) {
        self.last_round_trip
            .store(nanos(round_trip), Ordering::Relaxed);
    }

    /// The latest round trip measured (zero before the first).
    pub(crate) fn last_round_trip(&self) -> Duration {
        Duration::from_nanos(self.last_round_trip.load(Ordering::Relaxed))
    }
}

thread_local! {
    static QUEUE_ONLY: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f` with network waits forbidden on this thread: records made meanwhile go to the
/// outbox, flush points are skipped. Used while a tracked future is polled (async code must
/// never block its executor). Nests; the previous state is back when `f` returns or panics.
pub(crate) fn queue_only<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            QUEUE_ONLY.with(|q| q.set(q.get().saturating_sub(1)));
        }
    }
    QUEUE_ONLY.with(|q| q.set(q.get().saturating_add(1)));
    let _leave = Leave;
    f()
}

/// Whether this thread is inside [`queue_only`].
pub(crate) fn is_queue_only() -> bool {
    QUEUE_ONLY.with(|q| q.get() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_sends_while_a_round_trip_fits() {
        let b = Budget::new(Duration::from_millis(100));
        assert!(b.allows_a_send());
        b.spend(Duration::from_millis(40));
        assert!(b.allows_a_send(), "60 ms left, 40 ms expected");
        b.spend(Duration::from_millis(40));
        assert!(!b.allows_a_send(), "20 ms left, 40 ms expected");
        assert!(!Budget::new(Duration::ZERO).allows_a_send());
    }

    #[test]
    fn queue_only_nests_and_unwinds() {
        assert!(!is_queue_only());
        queue_only(|| {
            queue_only(|| assert!(is_queue_only()));
            assert!(is_queue_only());
        });
        assert!(!is_queue_only());
        let _ = std::panic::catch_unwind(|| queue_only(|| panic!("inside")));
        assert!(!is_queue_only());
    }
}
