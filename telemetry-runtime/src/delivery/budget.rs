//! How long this process may still wait on the network, and the async rule.
//!
//! Invariants:
//! - one account per process: every direct send's wait, to any destination of the client
//!   (both streams, every signal), is counted in one [`DirectSpend`] the deliveries share;
//!   each delivery adds its own flush requests' waits; both only grow;
//! - a direct send starts only while what is left of the send budget holds two round trips
//!   (its own and the one flush that sends whatever must wait): with a steady round trip, a
//!   command's direct sends and its flush fit in the send budget together. The round trip
//!   expected is the fastest measured in this process (the collector's distance: a request
//!   slowed by this machine's load says nothing about it), else the one an earlier run
//!   measured (remembered beside the outbox), else none (the first run on a machine sends its
//!   first record at once). A run that knows its collector is slow therefore queues at once
//!   and pays one round trip, at its flush point;
//! - a send once started is never cut short by the budget (a collector may have stored a
//!   request cut short, and sending it again would deliver it twice), so the send budget is
//!   passed by at most one request per sending thread, itself bounded by the request timeout;
//! - a remembered round trip only ever decides direct sends: flushes go by what this process
//!   measured, so no value in a file can keep records from leaving;
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
    /// The latest round trip measured in this process (direct send or flush), in nanoseconds;
    /// zero before the first.
    last_round_trip: AtomicU64,
    /// The fastest round trip measured in this process, in nanoseconds; `u64::MAX` before the
    /// first.
    fastest: AtomicU64,
    /// The round trip an earlier run measured, in nanoseconds; zero when none.
    remembered: u64,
}

/// Why a direct send may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSend {
    /// Nothing is left of the send budget.
    Spent,
    /// What is left does not hold two round trips of the collector (`round_trip`, measured in
    /// this process unless `remembered`): the record waits for the flush point.
    Slow {
        round_trip: Duration,
        remembered: bool,
        left: Duration,
    },
}

impl Budget {
    /// A budget of `send` for direct sends (counted in `direct`, shared with the client's
    /// other destinations), and `send + timeout` in all; `remembered`: the round trip an
    /// earlier run measured to this destination, if any.
    pub(crate) fn new(
        send: Duration,
        timeout: Duration,
        direct: DirectSpend,
        remembered: Option<Duration>,
    ) -> Self {
        let send = nanos(send);
        Self {
            send,
            total: send.saturating_add(nanos(timeout)),
            direct,
            flushes: AtomicU64::new(0),
            last_round_trip: AtomicU64::new(0),
            fastest: AtomicU64::new(u64::MAX),
            remembered: remembered.map_or(0, nanos),
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

    /// Whether a direct send may start now: `Ok`, or why not.
    pub(crate) fn direct_send(&self) -> Result<(), NoSend> {
        let left = self.send.saturating_sub(self.spent());
        if left == 0 {
            return Err(NoSend::Spent);
        }
        let (round_trip, remembered) = match self.fastest.load(Ordering::Relaxed) {
            u64::MAX => (self.remembered, true),
            measured => (measured, false),
        };
        if left >= round_trip.saturating_mul(2) {
            return Ok(());
        }
        Err(NoSend::Slow {
            round_trip: Duration::from_nanos(round_trip),
            remembered,
            left: Duration::from_nanos(left),
        })
    }

    /// Whether a direct send may start now.
    #[cfg(test)]
    fn allows_a_send(&self) -> bool {
        self.direct_send().is_ok()
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
        let ns = nanos(round_trip);
        self.last_round_trip.store(ns, Ordering::Relaxed);
        self.fastest
            .fetch_min(ns.min(u64::MAX - 1), Ordering::Relaxed);
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
    fn the_budget_allows_sends_while_two_round_trips_fit() {
        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default(), None);
        assert!(b.allows_a_send(), "nothing measured: the first send starts");
        b.spend(MS(20));
        assert!(b.allows_a_send(), "80 ms left, 2 x 20 ms expected");
        b.spend(MS(20));
        b.spend(MS(20));
        assert!(b.allows_a_send(), "40 ms left: this send and the flush fit");
        b.spend(MS(20));
        assert_eq!(
            b.direct_send(),
            Err(NoSend::Slow {
                round_trip: MS(20),
                remembered: false,
                left: MS(20)
            }),
            "20 ms left: the flush would pass the budget"
        );
        b.spend(MS(20));
        assert_eq!(b.direct_send(), Err(NoSend::Spent));
        let zero = Budget::new(Duration::ZERO, MS(1_500), DirectSpend::default(), None);
        assert_eq!(zero.direct_send(), Err(NoSend::Spent));
    }

    #[test]
    fn one_slow_answer_among_fast_ones_does_not_stop_direct_sends() {
        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default(), None);
        b.spend(MS(2));
        b.spend(MS(40)); // a moment of load on this machine, not the collector's distance
        assert!(b.allows_a_send(), "58 ms left, 2 x 2 ms expected");
        assert_eq!(
            b.last_round_trip(),
            MS(40),
            "flushes still go by the latest"
        );
    }

    #[test]
    fn a_remembered_round_trip_decides_until_this_process_measures_one() {
        // The collector was 51 ms away last run: 100 ms cannot hold a send and the flush.
        let slow = Budget::new(MS(100), MS(1_500), DirectSpend::default(), Some(MS(51)));
        assert_eq!(
            slow.direct_send(),
            Err(NoSend::Slow {
                round_trip: MS(51),
                remembered: true,
                left: MS(100)
            })
        );
        // The flush is not held back by the remembered value.
        assert_eq!(slow.reserve(MS(1_500)), Some(MS(1_500)));
        slow.settle(MS(1_500), MS(2));
        assert!(slow.allows_a_send(), "this process measured 2 ms since");

        let fast = Budget::new(MS(100), MS(1_500), DirectSpend::default(), Some(MS(1)));
        assert!(fast.allows_a_send());
        // A remembered value as long as any timeout never stops a flush.
        let huge = Budget::new(MS(100), MS(1_500), DirectSpend::default(), Some(MS(60_000)));
        assert!(!huge.allows_a_send());
        assert!(!huge.is_spent());
        assert_eq!(huge.reserve(MS(1_500)), Some(MS(1_500)));
    }

    #[test]
    fn flushes_share_one_deadline_with_the_direct_sends() {
        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default(), None);
        assert_eq!(b.whole(), MS(1_600));
        // A direct send that took 1.4 s (started within the budget, never cut short).
        b.spend(MS(1_400));
        assert!(!b.allows_a_send());
        // 200 ms are left in all, less than the last round trip: no flush request.
        assert_eq!(b.reserve(MS(1_500)), None);
        assert!(b.is_spent());

        let b = Budget::new(MS(100), MS(1_500), DirectSpend::default(), None);
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
        let usage = Budget::new(MS(100), MS(1_500), shared.clone(), None);
        let traces = Budget::new(MS(100), MS(1_500), shared, None);
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
        let b = Budget::new(Duration::MAX, Duration::MAX, DirectSpend::default(), None);
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
