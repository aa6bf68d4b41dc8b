//! The operator's OpenTelemetry stream as a destination: its signals, each with its own
//! sinks (HTTP delivery to the signal's endpoint with its own outbox and failure state, the
//! console, or the application's own sink), and which record goes to which.
//!
//! Invariants: every record of the stream goes to the logs signal; the traces signal gets
//! only records that are sampled spans; a flush flushes every sink of every signal side by
//! side (one round trip, not one per signal), and one signal failing never stops another.

use crate::sink::Sink;
use std::fmt;
use std::sync::Arc;

/// One signal of the operator's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Spans: `/v1/traces`, `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_TRACES_*`.
    Traces,
    /// Log records: `/v1/logs`, `OTEL_LOGS_EXPORTER`, `OTEL_EXPORTER_OTLP_LOGS_*`.
    Logs,
}

impl Signal {
    /// Every signal, in the order the status shows them.
    pub(crate) const ALL: [Self; 2] = [Self::Traces, Self::Logs];

    /// `traces`, `logs`: the name in paths and in the status.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Logs => "logs",
        }
    }

    /// `TRACES`, `LOGS`: the name in the per-signal variables.
    pub(crate) fn upper(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Logs => "LOGS",
        }
    }

    /// The file name of the signal's outbox in the config dir.
    pub(crate) fn outbox_file(self) -> &'static str {
        match self {
            Self::Traces => crate::files::OTEL_TRACES_OUTBOX_FILE,
            Self::Logs => crate::files::OTEL_LOGS_OUTBOX_FILE,
        }
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
            .map(|(s, sinks)| (s.name(), sinks.len()))
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
