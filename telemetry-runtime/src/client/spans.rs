//! Spans of the operator's stream, derived from records: which span is current, which span a
//! new one hangs off, the parent process's context, and the `trace` object of each record.
//!
//! Invariants: nothing here runs unless the operator's stream has somewhere to go
//! ([`Client::is_tracing`]); the parent of a new span is the newest open span that can see it
//! (the innermost span of this thread or future, or the current session's span), else the
//! parent process's span (`TRACEPARENT`), else none: a new trace.

use std::time::{Duration, Instant};

use super::Client;
use crate::trace::{self, Frame, SpanContext, SpanEnd, SpanStart, TraceFields};

/// Known extras of a span, scrubbed: `provider`, `tool_type`, `tool_call_id`.
pub(crate) type SpanAttrs<'a> = [(&'static str, &'a str)];

/// A record's place in the trace.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecordTrace<'a> {
    /// Made in the current span (an event that is no span of its own).
    Current,
    /// Made in this span, which goes on (a session's start).
    In(Option<SpanStart>),
    /// The record is this span, which ended, with its extras.
    Ends(Option<SpanEnd>, &'a SpanAttrs<'a>),
}

impl RecordTrace<'_> {
    /// How long the span the record is lasted, in nanoseconds, when it is one.
    pub(crate) fn span_nanos(&self) -> Option<u64> {
        match self {
            Self::Ends(Some(end), _) => {
                let d = end.end.saturating_duration_since(end.span.start);
                Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            }
            _ => None,
        }
    }

    /// A known extra of the span the record is (`provider`, ...).
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        match self {
            Self::Ends(_, attrs) => attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            _ => None,
        }
    }
}

impl Client {
    /// Whether records carry trace context: the operator's stream is on and has somewhere to
    /// go (its metrics too: a model turn's duration is its span's).
    pub(crate) fn is_tracing(&self) -> bool {
        self.inner.otel_stream.is_some() || self.has_metrics()
    }

    /// The span new spans hang off: the newest of this thread's innermost open span and the
    /// current session's span, else the parent process's span.
    fn parent_cx(&self) -> Option<SpanContext> {
        self.parent_between(trace::innermost(), self.session_frame())
    }

    /// The newer of two open spans, else the parent process's span.
    pub(super) fn parent_between(
        &self,
        local: Option<Frame>,
        session: Option<Frame>,
    ) -> Option<SpanContext> {
        let newest = match (local, session) {
            (Some(l), Some(s)) => Some(if s.started > l.started { s } else { l }),
            (l, s) => l.or(s),
        };
        newest
            .map(|f| f.cx)
            .or_else(|| self.inner.remote.as_ref().map(|r| r.cx))
    }

    /// Opens a span that started at `start` under the current span (see [`parent_cx`]);
    /// `None` when not tracing.
    ///
    /// [`parent_cx`]: Self::parent_cx
    pub(crate) fn open_span(&self, start: Instant) -> Option<SpanStart> {
        self.is_tracing()
            .then(|| SpanStart::child_of(self.parent_cx(), start))
    }

    /// A span that ends now and lasted `duration` (recorded after the fact).
    pub(crate) fn span_ending_now(&self, duration: Duration) -> Option<SpanEnd> {
        let now = Instant::now();
        let start = now.checked_sub(duration).unwrap_or(now);
        self.open_span(start).map(|s| s.ended(now))
    }

    /// The `traceparent` a child process should get in its environment (`TRACEPARENT`), so
    /// that its spans join this trace: the current span (a tool or command running on this
    /// thread or in this future, or the current session, the newest of them), else the
    /// parent process's own `TRACEPARENT` when it was valid. `None` when the operator's
    /// OpenTelemetry stream is off (or has nowhere to go) or no span is current.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, testing::Records};
    /// let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let env = Env::from_pairs([("TELEMETRY_OTEL", "1"), ("TRACEPARENT", parent)]);
    /// let client = Client::builder().env(env).otel_sink(Records::default()).build();
    /// assert_eq!(client.traceparent().as_deref(), Some(parent));
    /// let mut child = std::process::Command::new("mytool");
    /// if let Some(tp) = client.traceparent() {
    ///     child.env("TRACEPARENT", tp);
    /// }
    /// assert_eq!(Client::builder().env(Env::empty()).build().traceparent(), None);
    /// ```
    #[must_use]
    pub fn traceparent(&self) -> Option<String> {
        if !self.is_tracing() {
            return None;
        }
        self.parent_cx().map(|cx| trace::format_traceparent(&cx))
    }

    /// The `tracestate` a child process should get with [`traceparent`](Self::traceparent):
    /// the parent process's valid `TRACESTATE`, while the current span is in its trace.
    #[must_use]
    pub fn tracestate(&self) -> Option<String> {
        let remote = self.inner.remote.as_ref()?;
        let cx = self.is_tracing().then(|| self.parent_cx()).flatten()?;
        (cx.trace_id == remote.cx.trace_id)
            .then(|| remote.state.clone())
            .flatten()
    }

    /// `line` with its `trace` object, when there is a span to place it in.
    pub(super) fn traced(&self, mut line: String, trace: RecordTrace<'_>) -> String {
        match trace {
            RecordTrace::Current => {
                if let Some(cx) = self.parent_cx() {
                    self.append_trace(&mut line, cx, None, None, &[]);
                }
            }
            RecordTrace::In(Some(span)) => {
                self.append_trace(&mut line, span.cx, span.parent, None, &[]);
            }
            RecordTrace::Ends(Some(end), attrs) => {
                let span = end.span;
                self.append_trace(&mut line, span.cx, span.parent, Some(end.times()), attrs);
            }
            RecordTrace::In(None) | RecordTrace::Ends(None, _) => {}
        }
        line
    }

    /// Adds a `trace` object to `line`.
    fn append_trace(
        &self,
        line: &mut String,
        cx: SpanContext,
        parent: Option<trace::SpanId>,
        times: Option<(u64, u64)>,
        attrs: &SpanAttrs<'_>,
    ) {
        let state = self
            .inner
            .remote
            .as_ref()
            .filter(|r| r.cx.trace_id == cx.trace_id)
            .and_then(|r| r.state.as_deref());
        TraceFields {
            cx,
            parent,
            times,
            state,
            attrs,
        }
        .append_to(line);
    }
}
