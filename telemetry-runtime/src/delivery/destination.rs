//! The operator's OpenTelemetry stream as a destination: its signals, each with its own
//! sinks (HTTP delivery to the signal's endpoint with its own outbox and failure state, the
//! console, or the application's own sink), and which record goes to which.
//!
//! Invariants: every record of the stream goes to the logs signal; the traces signal gets
//! only records that are sampled spans; a flush flushes every sink of every signal side by
//! side (one round trip, not one per signal), and one signal failing never stops another.

use crate::export::Signal;
use crate::sink::Sink;
use std::fmt;
use std::sync::Arc;

/// The file name of `signal`'s outbox in the config dir.
pub(crate) fn outbox_file(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => crate::files::OTEL_TRACES_OUTBOX_FILE,
        Signal::Logs => crate::files::OTEL_LOGS_OUTBOX_FILE,
        Signal::Metrics => crate::files::OTEL_METRICS_OUTBOX_FILE,
    }
}

/// Where the operator's stream goes: the sinks of each signal.
#[derive(Default)]
pub(crate) struct OtelStream {
    /// Each signal and its sinks (a signal without a sink is not listed).
    signals: Vec<(Signal, Vec<Arc<dyn Sink>>)>,
}

impl fmt::Debug for OtelStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signals: Vec<(&str, usize)> = self
            .signals
            .iter()
            .map(|(s, sinks)| (s.var_part(), sinks.len()))
            .collect();
        f.debug_struct("OtelStream")
            .field("signals", &signals)
            .finish()
    }
}

impl OtelStream {
    /// Adds a sink to `signal`.
    pub(crate) fn add(&mut self, signal: Signal, sink: Arc<dyn Sink>) {
        match self.signals.iter_mut().find(|(s, _)| *s == signal) {
            Some((_, sinks)) => sinks.push(sink),
            None => self.signals.push((signal, vec![sink])),
        }
    }

    /// Whether no signal has a sink (the stream then has nowhere to go).
    pub(crate) fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// Offers one record (with its `trace` object) to each signal: `span` says whether it is
    /// a sampled span (the traces signal takes only those).
    pub(crate) fn record(&self, line: String, span: bool) {
        let wanted: Vec<&Arc<dyn Sink>> = self
            .signals
            .iter()
            .filter(|(signal, _)| span || *signal != Signal::Traces)
            .flat_map(|(_, sinks)| sinks)
            .collect();
        if let Some((last, rest)) = wanted.split_last() {
            for sink in rest {
                sink.record(line.clone());
            }
            last.record(line);
        }
    }

    /// Every sink of every signal, for a flush side by side with the usage stream's.
    pub(crate) fn sinks(&self) -> impl Iterator<Item = &dyn Sink> {
        self.signals
            .iter()
            .flat_map(|(_, sinks)| sinks.iter().map(|s| &**s))
    }
}
