//! The one flush deadline of a process, in wall time, shared by every destination of a client
//! (the usage stream and each signal of the operator's stream).
//!
//! Invariants:
//! - every flush point of the client waits, in wall time, at most what the direct sends (all
//!   destinations) left of the send budget plus one request timeout: the destinations of one
//!   flush point flush side by side and count once, and flush points count one after the other,
//!   so a destination that waits at one flush point leaves less to every other at the next;
//! - flush points open on several threads at once count once while they overlap, and none is
//!   given a deadline later than what was left when the first of them opened;
//! - once nothing is left, a flush point's deadline is now: sinks make no request and what waits
//!   stays in the outbox for a later run;
//! - each destination still bounds its own requests by its own timeout and account
//!   ([`super::budget`]); this window only ever shortens their deadline.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::DirectSpend;

/// The wall time the client's flush points may still wait, shared by its destinations.
#[derive(Debug)]
pub(crate) struct FlushWindow {
    /// The send budget plus one request timeout: all this process may wait on the network.
    whole: Duration,
    /// What direct sends (every destination) waited.
    direct: DirectSpend,
    state: Mutex<State>,
}

/// Flush points' wall time so far.
#[derive(Debug, Default)]
struct State {
    /// Wall time of flush points that are over (overlapping ones counted once).
    used: Duration,
    /// Flush points open now.
    open: usize,
    /// When the flush points open now began to overlap (set while `open > 0`).
    since: Option<Instant>,
}

impl FlushWindow {
    /// A window of `send + timeout` in all, less what `direct` records.
    pub(crate) fn new(send: Duration, timeout: Duration, direct: DirectSpend) -> Self {
        Self {
            whole: send.saturating_add(timeout),
            direct,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a flush point at `now`: its deadline is at most `most` away and no later than
    /// what is left of the process's network time (then `now` itself). The flush point's wall
    /// time is counted when the returned guard is dropped.
    pub(crate) fn open(&self, now: Instant, most: Duration) -> Open<'_> {
        let mut state = self.state();
        let running = state
            .since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        let left = self
            .whole
            .saturating_sub(self.direct.waited())
            .saturating_sub(state.used)
            .saturating_sub(running);
        if state.open == 0 {
            state.since = Some(now);
        }
        state.open += 1;
        let deadline = now.checked_add(left.min(most)).unwrap_or(now);
        Open {
            window: self,
            deadline,
        }
    }

    /// Whether nothing is left: a flush point now would make no request.
    #[cfg(test)]
    fn is_spent(&self, now: Instant) -> bool {
        self.open(now, Duration::MAX).deadline <= now
    }
}

/// An open flush point: its deadline; counted when dropped (also on a panic).
#[derive(Debug)]
pub(crate) struct Open<'a> {
    window: &'a FlushWindow,
    /// When this flush point must be over.
    pub(crate) deadline: Instant,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let mut state = self.window.state();
        state.open = state.open.saturating_sub(1);
        if state.open == 0
            && let Some(since) = state.since.take()
        {
            state.used = state.used.saturating_add(since.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn flush_points_one_after_the_other_share_one_deadline() {
        let w = FlushWindow::new(MS(100), MS(1_500), DirectSpend::default());
        let start = Instant::now();
        let first = w.open(start, MS(1_500));
        assert_eq!(first.deadline, start + MS(1_500), "at most one timeout");
        drop(first);
        // Whatever the first one took is gone for the next.
        let now = Instant::now();
        let used = now - start;
        let second = w.open(now, MS(1_500));
        assert!(second.deadline <= now + MS(1_600) - used);
        drop(second);
    }

    #[test]
    fn direct_sends_and_earlier_flushes_leave_less() {
        let direct = DirectSpend::default();
        direct.add(MS(1_400));
        let w = FlushWindow::new(MS(100), MS(1_500), direct.clone());
        let now = Instant::now();
        assert_eq!(w.open(now, MS(1_500)).deadline, now + MS(200));
        direct.add(MS(200));
        assert!(
            w.is_spent(Instant::now()),
            "the send budget and one timeout"
        );
        // A clock that would overflow gets no time, not a panic.
        let w = FlushWindow::new(Duration::MAX, Duration::MAX, DirectSpend::default());
        let now = Instant::now();
        assert!(w.open(now, Duration::MAX).deadline >= now);
    }

    #[test]
    fn overlapping_flush_points_end_no_later_than_the_first_could() {
        let w = FlushWindow::new(Duration::ZERO, MS(1_000), DirectSpend::default());
        let t0 = Instant::now();
        let a = w.open(t0, MS(5_000));
        let b = w.open(t0 + MS(300), MS(5_000));
        assert_eq!(a.deadline, t0 + MS(1_000));
        assert_eq!(b.deadline, a.deadline, "the overlap counts once");
        drop(a);
        drop(b);
        let used = w.state().used;
        assert!(!used.is_zero() && used <= t0.elapsed());
        assert_eq!(w.state().open, 0);
    }
}
