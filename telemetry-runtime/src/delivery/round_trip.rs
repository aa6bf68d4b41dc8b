//! The round trip to a destination's endpoint, remembered from one run to the next in a small
//! file beside the destination's outbox (`<outbox>.round-trip`, see [`crate::outbox`]), so a
//! run that knows its collector is slow queues at once and pays one round trip at its flush
//! point instead of one per direct send.
//!
//! Invariants:
//! - read once, when the delivery is made; written at flush points only (never per record),
//!   and only when this process's fastest answered request took a different number of whole
//!   milliseconds (rounded up) than what the file holds (the fastest: the collector's distance,
//!   not a moment of load on this machine);
//! - only answered requests count (any status): a refused connection or a timeout measures
//!   no round trip;
//! - without a config dir nothing is remembered and every run behaves as the first one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::outbox::Outbox;

/// No value on disk.
const NONE: u64 = u64::MAX;

/// One destination's round trip: what the file said, what this process measured.
#[derive(Debug)]
pub(super) struct RoundTrip {
    /// Whole milliseconds on disk (read when made, or last written); [`NONE`] when none.
    on_disk: AtomicU64,
    /// The fastest answered request's round trip in this process, in nanoseconds; `u64::MAX`: none.
    answered: AtomicU64,
}

impl RoundTrip {
    /// Reads what an earlier run remembered beside `outbox`.
    pub(super) fn load(outbox: Option<&Outbox>) -> Self {
        let ms = outbox
            .and_then(Outbox::round_trip)
            .map_or(NONE, |d| u64::try_from(d.as_millis()).unwrap_or(NONE));
        Self {
            on_disk: AtomicU64::new(ms),
            answered: AtomicU64::new(u64::MAX),
        }
    }

    /// The round trip an earlier run measured, if any.
    pub(super) fn remembered(&self) -> Option<Duration> {
        match self.on_disk.load(Ordering::Relaxed) {
            NONE => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Notes the round trip of a request that was answered.
    pub(super) fn answered(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.answered
            .fetch_min(ns.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// At a flush point: the whole milliseconds (rounded up) to write beside the outbox, when
    /// this process measured a round trip that differs from what is there.
    pub(super) fn to_save(&self) -> Option<u64> {
        let ns = self.answered.load(Ordering::Relaxed);
        if ns == u64::MAX {
            return None;
        }
        let ms = ns.div_ceil(1_000_000);
        (self.on_disk.load(Ordering::Relaxed) != ms).then_some(ms)
    }

    /// Notes that `ms` is now on disk.
    pub(super) fn saved(&self, ms: u64) {
        self.on_disk.store(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_measurement_is_written_in_whole_milliseconds_rounded_up() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path(), "app");
        let rt = RoundTrip::load(Some(&outbox));
        assert_eq!(rt.remembered(), None);
        assert_eq!(rt.to_save(), None, "nothing answered yet");
        rt.answered(Duration::from_micros(50_300));
        assert_eq!(rt.to_save(), Some(51));
        outbox.set_round_trip(51).unwrap();
        rt.saved(51);
        assert_eq!(rt.to_save(), None, "the same value is not written again");
        rt.answered(Duration::from_millis(80));
        assert_eq!(
            rt.to_save(),
            None,
            "a slower answer (this machine's load) changes nothing"
        );
        rt.answered(Duration::from_micros(300));
        assert_eq!(rt.to_save(), Some(1), "loopback is 1 ms, not 0");

        let next_run = RoundTrip::load(Some(&outbox));
        assert_eq!(next_run.remembered(), Some(Duration::from_millis(51)));
        assert_eq!(RoundTrip::load(None).remembered(), None);
    }
}
