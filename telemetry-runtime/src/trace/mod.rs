//! Trace context for the operator's OpenTelemetry stream: ids, the parent process's context
//! (`TRACEPARENT`), the current span, and the `trace` object a record carries.
//!
//! Spans are not recorded separately: they are derived from records. A record made while the
//! operator's stream is on carries a `trace` object after its `source`:
//!
//! ```text
//! {"event":"tool",...,"source":"app","trace":{"trace_id":"<32 hex>","span_id":"<16 hex>",
//!   "parent_span_id":"<16 hex>","start_ns":N,"end_ns":N,"sampled":false,"state":"..",
//!   "provider":"..","tool_type":"..","tool_call_id":"..","error":".."}}
//! ```
//!
//! `parent_span_id` is left out for a root span; `start_ns`/`end_ns` (Unix nanoseconds) are
//! present exactly when the record is a span (command, tool, model turn, session end);
//! `sampled` only when false; `state` (the parent process's `TRACESTATE`) only on spans of its
//! trace; `provider` (model turns, sessions), `tool_type`/`tool_call_id` (tools) and `error`
//! (a session that itself failed, not just counted errors) only when known. The outbox keeps this object with the record, so a
//! span survives a crash or an outage like any record. The usage stream never sees it.
//!
//! Invariants: ids are random and never all zero; the times of one process come from one
//! monotonic clock anchored once to the wall clock, so a child's span lies within its
//! parent's whenever it ran within it; every string in the object except the ids and the
//! parent's `TRACESTATE` (validated) was scrubbed by the client.

mod ids;
mod propagation;
mod scope;

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::limits::MAX_TRACE_BYTES;

pub(crate) use ids::{SpanId, TraceId};
pub(crate) use propagation::{
    RemoteParent, format_traceparent, parse_traceparent, parse_tracestate,
};
pub(crate) use scope::{Frame, in_span, innermost, within};

/// The identity of one span: its trace, its id, and whether it is sampled (exported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SpanContext {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
}

/// A span that was opened: its context, its parent's id (`None`: a root), and its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanStart {
    pub(crate) cx: SpanContext,
    pub(crate) parent: Option<SpanId>,
    pub(crate) start: Instant,
}

impl SpanStart {
    /// A new span under `parent` (its trace and sampling), or the root of a new trace.
    pub(crate) fn child_of(parent: Option<SpanContext>, start: Instant) -> Self {
        let (trace_id, sampled, parent) = match parent {
            Some(p) => (p.trace_id, p.sampled, Some(p.span_id)),
            None => (TraceId::random(), true, None),
        };
        Self {
            cx: SpanContext {
                trace_id,
                span_id: SpanId::random(),
                sampled,
            },
            parent,
            start,
        }
    }

    /// This span, ending at `end` (not before its start).
    pub(crate) fn ended(self, end: Instant) -> SpanEnd {
        SpanEnd {
            end: end.max(self.start),
            span: self,
        }
    }

    /// How children see this span.
    pub(crate) fn frame(&self) -> Frame {
        Frame {
            cx: self.cx,
            started: self.start,
        }
    }
}

/// A span that ended: a record that is this span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanEnd {
    pub(crate) span: SpanStart,
    pub(crate) end: Instant,
}

impl SpanEnd {
    /// Start and end in Unix nanoseconds.
    pub(crate) fn times(&self) -> (u64, u64) {
        (unix_nanos(self.span.start), unix_nanos(self.end))
    }
}

/// Unix nanoseconds of a monotonic instant: the wall clock read once per process, plus the
/// monotonic time since. Saturates instead of overflowing.
pub(crate) fn unix_nanos(at: Instant) -> u64 {
    static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();
    let &(wall, mono) = ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        (wall, Instant::now())
    });
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    match at.checked_duration_since(mono) {
        Some(after) => wall.saturating_add(nanos(after)),
        None => wall.saturating_sub(nanos(mono.saturating_duration_since(at))),
    }
}

/// What a record carries in its `trace` object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TraceFields<'a> {
    /// The record's span: its own when it is a span, else the span it was made in.
    pub(crate) cx: SpanContext,
    pub(crate) parent: Option<SpanId>,
    /// Start and end in Unix nanoseconds: present exactly when the record is a span.
    pub(crate) times: Option<(u64, u64)>,
    /// The parent process's `TRACESTATE`, on spans of its trace.
    pub(crate) state: Option<&'a str>,
    /// `provider`, `tool_type`, `tool_call_id`, `error` when known, scrubbed.
    pub(crate) attrs: &'a [(&'static str, &'a str)],
}

impl TraceFields<'_> {
    /// Adds the `trace` object to a record's JSON text (which ends with its closing brace),
    /// within [`MAX_TRACE_BYTES`]: the optional strings that would pass it are left out.
    pub(crate) fn append_to(&self, record: &mut String) {
        if record.ends_with('}') {
            record.pop();
        }
        let start = record.len();
        record.push_str(",\"trace\":{\"trace_id\":\"");
        record.push_str(&self.cx.trace_id.to_hex());
        record.push_str("\",\"span_id\":\"");
        record.push_str(&self.cx.span_id.to_hex());
        record.push('"');
        if let Some(p) = self.parent {
            record.push_str(",\"parent_span_id\":\"");
            record.push_str(&p.to_hex());
            record.push('"');
        }
        if let Some((start, end)) = self.times {
            record.push_str(&format!(",\"start_ns\":{start},\"end_ns\":{end}"));
        }
        if !self.cx.sampled {
            record.push_str(",\"sampled\":false");
        }
        let strings = self.state.map(|s| ("state", s)).into_iter();
        for (k, v) in strings.chain(self.attrs.iter().copied()) {
            let member = format!(",\"{k}\":{}", serde_json::Value::from(v));
            // Room is kept for the closing braces.
            if record.len() - start + member.len() + 2 <= MAX_TRACE_BYTES {
                record.push_str(&member);
            }
        }
        record.push_str("}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_trace_object_is_the_records_last_member() {
        let record = r#"{"event":"tool","properties":{"a":"b"},"source":"x"}"#;
        let cx = SpanContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            sampled: false,
        };
        let parent = SpanId::random();
        let mut line = record.to_owned();
        TraceFields {
            cx,
            parent: Some(parent),
            times: Some((1, 2)),
            state: Some("k=v"),
            attrs: &[("provider", "open\"ai"), ("tool_call_id", "c1")],
        }
        .append_to(&mut line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let t = &v["trace"];
        assert_eq!(t["trace_id"], cx.trace_id.to_hex());
        assert_eq!(t["span_id"], cx.span_id.to_hex());
        assert_eq!(t["parent_span_id"], parent.to_hex());
        assert_eq!(
            (t["start_ns"].as_u64(), t["end_ns"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(
            (t["sampled"].as_bool(), t["state"].as_str()),
            (Some(false), Some("k=v"))
        );
        assert_eq!(t["provider"], "open\"ai");
        assert!(line.starts_with(&record[..record.len() - 1]));
        let huge = "é\u{1}".repeat(200);
        let mut line = record.to_owned();
        let attrs = [
            ("provider", huge.as_str()),
            ("tool_type", "function"),
            ("error", huge.as_str()),
        ];
        let fields = TraceFields {
            cx,
            parent: Some(parent),
            times: Some((1, 2)),
            state: Some(&huge),
            attrs: &attrs,
        };
        fields.append_to(&mut line);
        assert!(
            line.len() - (record.len() - 1) <= MAX_TRACE_BYTES,
            "{}",
            line.len()
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["trace"]["tool_type"], "function", "what fits is kept");
    }

    #[test]
    fn children_share_the_trace_and_sampling_of_their_parent() {
        let root = SpanStart::child_of(None, Instant::now());
        assert!(root.parent.is_none() && root.cx.sampled);
        let child = SpanStart::child_of(Some(root.cx), Instant::now());
        assert_eq!(child.cx.trace_id, root.cx.trace_id);
        assert_eq!(child.parent, Some(root.cx.span_id));
        assert_ne!(child.cx.span_id, root.cx.span_id);
    }

    #[test]
    fn unix_nanos_follow_the_monotonic_clock() {
        let a = Instant::now();
        let b = a + Duration::from_millis(5);
        assert_eq!(unix_nanos(b) - unix_nanos(a), 5_000_000);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(unix_nanos(Instant::now()).abs_diff(wall) < 1_000_000_000);
    }
}
