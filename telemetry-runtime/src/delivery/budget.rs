//! How long this process may still wait on the network, and the async rule.
//!
//! Invariants:
//! - one account per process: every direct send's wait, to any destination of the client
//!   (both streams, every signal), is counted in one [`DirectSpend`] the deliveries share;
//!   each delivery adds its own flush requests' waits; both only grow;
//! - a direct send starts only while the send budget lasts and the last round trip measured
//!   fits in what is left of it; a send once started is never cut short by the budget (a
//!   collector may have stored a request cut short, and sending it again would deliver it
//!   twice), so the send budget is passed by at most one request per sending thread, itself
//!   bounded by the request timeout;
//! - flushes share one deadline per process and destination: together with the direct sends
//!   they wait at most the send budget plus one request timeout (the destinations of a client
//!   flush side by side, so in wall time the bound holds for the process) ([`Budget::reserve`] grants each flush
//!   request at most what is left of that, reserved before the request starts, so the bound
//!   holds across threads); once it is spent, flush points leave what waits in the outbox;
//! - while [`queue_only`] runs on a thread, nothing on that thread waits on the network.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::config::DEFAULT_SEND_BUDGET;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds every destination of one client waited in direct sends: the one send budget
/// of the process is spent from it. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectSpend(Arc<AtomicU64>);

impl DirectSpend {
    /// What direct sends of every destination waited so far.
    pub(crate) fn waited(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Counts a direct send's wait (tests of the flush window).
    #[cfg(test)]
    pub(crate) fn add(&self, waited: Duration) {
        add(&self.0, nanos(waited));
    }
}

/// Time spent waiting on the network by this process, against its two limits.
#[derive(Debug)]
pub(crate) struct Budget {
    /// The send budget: direct sends start only while `spent` is below it.
    send: u64,
    /// The send budget plus one request timeout: no request waits past it, flushes included.
    total: u64,
    /// Nanoseconds direct sends of every destination of the client waited.
    direct: DirectSpend,
    /// Nanoseconds this destination's flush requests waited, plus what those in flight
    /// reserved.
    flushes: AtomicU64,
    /// The latest round trip measured (direct send or flush), in nanoseconds.
    last_round_trip: AtomicU64,
}

impl Budget {
    /// A budget of `send` for direct sends (counted in `direct`, shared with the client's
    /// other destinations), and `send + timeout` in all.
    pub(crate) fn new(send: Duration, timeout: Duration, direct: DirectSpend) -> Self {
        let send = nanos(send);
        Self {
            send,
            total: send.saturating_add(nanos(timeout)),
            direct,
            flushes: AtomicU64::new(0),
            last_round_trip: AtomicU64::new(0),
        }
    }

    /// Everything counted so far: direct sends (all destinations) and this one's flushes.
    fn spent(&self) -> u64 {
        self.direct
            .0
            .load(Ordering::Relaxed)
            .saturating_add(self.flushes.load(Ordering::Relaxed))
    }

    /// The send budget, as configured.
    pub(crate) fn total(&self) -> Duration {
        Duration::from_nanos(self.send)
    }

    /// What is left of `limit` when the last round trip fits in it.
    fn left_of(&self, limit: u64, spent: u64) -> Option<u64> {
        let left = limit.saturating_sub(spent);
        (left > 0 && left >= self.last_round_trip.load(Ordering::Relaxed)).then_some(left)
    }

    /// Whether a direct send may start now.
    pub(crate) fn allows_a_send(&self) -> bool {
        self.left_of(self.send, self.spent()).is_some()
    }

    /// Counts a direct send's wait.
    pub(crate) fn spend(&self, waited: Duration) {
        add(&self.direct.0, nanos(waited));
        self.measured(waited);
    }

    /// Reserves the time of one flush request: at most `most`, at most what is left of the
    /// process's whole budget; `None` when nothing is left or the last round trip no longer
    /// fits. The caller gives the reservation back with [`settle`](Self::settle).
    pub(crate) fn reserve(&self, most: Duration) -> Option<Duration> {
        let mut granted = 0;
        self.flushes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |flushes| {
                let direct = self.direct.0.load(Ordering::Relaxed);
                granted = self
                    .left_of(self.total, direct.saturating_add(flushes))?
                    .min(nanos(most));
                Some(flushes.saturating_add(granted))
            })
            .ok()?;
        Some(Duration::from_nanos(granted))
    }

    /// Settles a reservation of `granted` for a request that waited `waited`.
    pub(crate) fn settle(&self, granted: Duration, waited: Duration) {
        let (granted, waited_ns) = (nanos(granted), nanos(waited));
        if waited_ns >= granted {
            add(&self.flushes, waited_ns - granted);
        } else {
            let unused = granted - waited_ns;
            let _ = self
                .flushes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    Some(s.saturating_sub(unused))
                });
        }
        self.measured(waited);
    }

    /// Remembers a round trip (direct or in a flush).
    fn measured(&self, round_trip: Duration) {
        self.last_round_trip
            .store(nanos(round_trip), Ordering::Relaxed);
    }

    /// The latest round trip measured (zero before the first).
    pub(crate) fn last_round_trip(&self) -> Duration {
        Duration::from_nanos(self.last_round_trip.load(Ordering::Relaxed))
    }

    /// Whether the whole budget of this process is spent (flushes make no more requests).
    pub(crate) fn is_spent(&self) -> bool {
        self.left_of(self.total, self.spent()).is_none()
    }

    /// The send budget plus one request timeout: all this process may wait on the network.
    pub(crate) fn whole(&self) -> Duration {
        Duration::from_nanos(self.total)
    }
}

/// Adds to a counter without wrapping.
fn add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
        Some(c.saturating_add(n))
    });
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

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_budget_allows_sends_while_a_round_trip_fits() {
        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default());
        assert!(b.allows_a_send());
        b.spend(MS(40));
        assert!(b.allows_a_send(), "60 ms left, 40 ms expected");
        b.spend(MS(40));
        assert!(!b.allows_a_send(), "20 ms left, 40 ms expected");
        assert!(!Budget::new(Duration::ZERO, MS(1_500), DirectSpend::default()).allows_a_send());
    }

    #[test]
    fn flushes_share_one_deadline_with_the_direct_sends() {
        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default());
        assert_eq!(b.whole(), MS(1_600));
        // A direct send that took 1.4 s (started within the budget, never cut short).
        b.spend(MS(1_400));
        assert!(!b.allows_a_send());
        // 200 ms are left in all, less than the last round trip: no flush request.
        assert_eq!(b.reserve(MS(1_500)), None);
        assert!(b.is_spent());

        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default());
        let granted = b.reserve(MS(1_500)).unwrap();
        assert_eq!(granted, MS(1_500), "at most one timeout per request");
        assert_eq!(b.reserve(MS(1_500)), Some(MS(100)), "the rest, reserved");
        assert_eq!(
            b.reserve(MS(1)),
            None,
            "nothing left while both are in flight"
        );
        b.settle(granted, MS(300));
        b.settle(MS(100), MS(100));
        // 400 ms waited, last round trip 100 ms: 1.2 s left.
        assert_eq!(b.reserve(MS(5_000)), Some(MS(1_200)));
        b.settle(MS(1_200), MS(1_250));
        assert!(b.is_spent(), "a late answer counts in full");
        assert_eq!(b.reserve(MS(1)), None);
    }

    #[test]
    fn destinations_share_the_send_budget_and_each_flushes_on_its_own_account() {
        let shared = DirectSpend::default();
        let usage = Budget::new(MS(100), MS(1_500), shared.clone());
        let traces = Budget::new(MS(100), MS(1_500), shared);
        usage.spend(MS(100));
        assert!(
            !traces.allows_a_send(),
            "the usage stream spent the one budget"
        );
        // Flushing side by side: each destination gets its own request time.
        assert_eq!(usage.reserve(MS(1_500)), Some(MS(1_500)));
        assert_eq!(traces.reserve(MS(1_500)), Some(MS(1_500)));
        assert_eq!(
            traces.reserve(MS(1)),
            None,
            "each one timeout beyond the budget"
        );
    }

    #[test]
    fn huge_durations_saturate() {
        let b = Budget::new(Duration::MAX, Duration::MAX, DirectSpend::default());
        assert!(b.allows_a_send());
        b.spend(Duration::MAX);
        b.spend(Duration::MAX);
        assert!(!b.allows_a_send());
        assert_eq!(b.reserve(Duration::MAX), None);
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
