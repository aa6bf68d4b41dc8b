//! Flush points: where what waits is delivered (every destination side by side, within the
//! process's one deadline), and where the operator's metrics are reported.

use std::time::Instant;

use super::Client;
use crate::delivery::OtelStream;
use crate::sink::Sink;

/// Flushes its client when dropped. Made by [`Client::flush_guard`].
///
/// ```
/// use telemetry_runtime::{Client, Env, FlushGuard};
/// let client = Client::builder().env(Env::empty()).build();
/// let guard: FlushGuard = client.flush_guard();
/// drop(guard); // a flush point
/// ```
#[derive(Debug)]
#[must_use = "the flush happens when the guard is dropped"]
pub struct FlushGuard(Client);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.last_flush_point();
    }
}

impl Client {
    /// A flush point: delivers what waits (records queued while the send budget was spent, in
    /// async code, or by an earlier run) in batches, every destination (both streams) side by
    /// side, within one deadline for the whole flush: the request timeout. All flush points of
    /// the process share one deadline too: with the direct sends, they wait at most the send
    /// budget plus one timeout. What cannot be delivered in time stays in the outbox for a
    /// later run. Without an endpoint, or when disabled, does nothing; when nothing waits,
    /// returns at once.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().env(Env::empty()).build();
    /// client.flush(); // nothing waits: returns at once
    /// ```
    pub fn flush(&self) {
        // At most one timeout, and no later than what is left of the process's network time
        // (every destination's direct sends and every earlier flush point count): a flush
        // point after it is spent sends nothing, and what waits stays in the outbox.
        let open = self
            .inner
            .flush_window
            .open(Instant::now(), self.inner.flush_timeout);
        let deadline = open.deadline;
        let usage = self
            .inner
            .sink
            .as_deref()
            .filter(|_| self.inner.consent.enabled);
        let otel = self.inner.otel_stream.iter().flat_map(OtelStream::sinks);
        let metrics = self
            .inner
            .metrics
            .iter()
            .flat_map(|m| m.sinks.iter().map(|s| &**s));
        let sinks: Vec<&dyn Sink> = usage.into_iter().chain(otel).chain(metrics).collect();
        // The two streams flush side by side: one deadline, one round trip.
        crate::sink::flush_side_by_side(&sinks, deadline);
    }

    /// The flush point of a program without `#[track_command]`: call it once at the end of
    /// `main` (or hold a [`flush_guard`](Self::flush_guard)). The client stays usable; later
    /// records are delivered as before.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().env(Env::empty()).build();
    /// client.track_command("run", ["--fast"]);
    /// client.shutdown();
    /// ```
    pub fn shutdown(&self) {
        self.report_metrics();
        self.flush();
    }

    /// A guard that flushes when dropped (at the end of `main`, on an early return or a
    /// panic): the flush point of a program without `#[track_command]`.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().env(Env::empty()).build();
    /// let _flush = client.flush_guard();
    /// client.track_command("run", Vec::<String>::new());
    /// // `_flush` goes out of scope here and delivers what waits.
    /// ```
    pub fn flush_guard(&self) -> FlushGuard {
        FlushGuard(self.clone())
    }

    /// The last flush point of a program (the outermost command returned, the flush guard
    /// dropped): the operator's metrics are reported, then what waits is flushed.
    pub(crate) fn last_flush_point(&self) {
        self.report_metrics();
        self.flush_point();
    }

    /// Writes the operator's metrics recorded since the last report as their record(s), to
    /// the metrics destination; nothing when none were recorded or there is none.
    fn report_metrics(&self) {
        if let Some(m) = &self.inner.metrics {
            let scrub = |s: &str| self.scrub(s);
            for line in m.metrics.report(&self.inner.app, &scrub) {
                if let Some((last, rest)) = m.sinks.split_last() {
                    for sink in rest {
                        sink.record(line.clone());
                    }
                    last.record(line);
                }
            }
        }
    }

    /// A flush point of the program (the outermost command returned, a session ended); skipped
    /// while a tracked future is polled (async code never waits on the network).
    pub(crate) fn flush_point(&self) {
        if !crate::delivery::is_queue_only() {
            self.flush();
        }
    }

    /// Whether the operator's metrics are aggregated (the operator's stream is on and has a
    /// metrics destination).
    pub(crate) fn has_metrics(&self) -> bool {
        self.inner.metrics.is_some()
    }
}
