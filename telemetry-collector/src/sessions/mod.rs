//! One agent session, seen whole: its spans and its totals, from whichever the collector has.
//!
//! A session is shown from its **traces** when the collector stored spans carrying its id
//! (`gen_ai.conversation.id`), else from its **records** (the cagent format's session
//! start/end, tool and token records carrying `session_id`), which become synthetic spans
//! ([`records`]). Both give the same [`Span`]s and the same totals ([`Tally`]), so the
//! vendor's usage stream gets the view too.
//!
//! Invariants:
//! - The totals of a session are those of its *members*: the spans (or records) carrying
//!   its id. `tool_calls` counts tool spans, tokens and cost are summed over model turns,
//!   and a session failed when any member failed (a tool, a model turn, the session itself).
//!   So a run sent as traces and the same run sent as records have equal totals.
//! - The same totals are kept incrementally at ingest (a [`Tally`] per stored span or
//!   record, merged by the store: sums, minima and maxima only, so the order spans arrive
//!   in does not matter) for the list, and recomputed from the spans for one session.

pub mod cursor;
pub mod records;
pub mod traces;
pub(crate) mod tree;

use serde::Serialize;

pub use crate::span::Kind;
pub use cursor::{Cursor, ListQuery, MAX_PAGE};
pub use tree::depths;

/// Where a session's picture comes from.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Spans sent to `/v1/traces`.
    Traces,
    /// Records (cagent format or OTLP logs) carrying the session's id.
    Records,
}

impl Source {
    /// `traces` or `records`, as stored and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Records => "records",
        }
    }

    /// The value [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "traces" => Some(Self::Traces),
            "records" => Some(Self::Records),
            _ => None,
        }
    }
}

/// One span of a session, as `/api/sessions/{id}` shows it (times in milliseconds since the
/// epoch; the nanoseconds are kept for drawing).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Span {
    /// 16 hex digits (records get a synthetic id).
    pub span_id: String,
    /// The parent's id, `null` for a root.
    pub parent_id: Option<String>,
    /// The span's name (`execute_tool read_file`, `chat gpt-4.1`, `run` ...).
    pub name: String,
    /// What the span is.
    pub kind: Kind,
    /// Start, milliseconds since the epoch.
    pub start: i64,
    /// Duration in whole milliseconds (rounded).
    pub duration_ms: i64,
    /// Whether it succeeded (OTLP: status not ERROR).
    pub is_success: bool,
    /// The (client-scrubbed) error text of a failed span.
    pub error: Option<String>,
    /// The tool of a tool span.
    pub tool_name: Option<String>,
    /// The model of a model turn.
    pub model: Option<String>,
    /// Input tokens of a model turn.
    pub input_tokens: Option<i64>,
    /// Output tokens of a model turn.
    pub output_tokens: Option<i64>,
    /// Start in nanoseconds since the epoch.
    #[serde(skip)]
    pub start_ns: i64,
    /// End in nanoseconds since the epoch (at least `start_ns`).
    #[serde(skip)]
    pub end_ns: i64,
    /// The cost of a model turn (shown in the page, not in the JSON).
    #[serde(skip)]
    pub cost: Option<f64>,
    /// The agent the span names, if any.
    #[serde(skip)]
    pub agent: Option<String>,
    /// Whether the span carries the session's id (it counts in the totals).
    #[serde(skip)]
    pub member: bool,
}

impl Span {
    /// Fills `start` and `duration_ms` from the nanosecond times (end clamped to start).
    pub fn with_times(mut self, start_ns: i64, end_ns: i64) -> Self {
        self.start_ns = start_ns;
        self.end_ns = end_ns.max(start_ns);
        self.start = start_ns.div_euclid(1_000_000);
        let d = self.end_ns.saturating_sub(start_ns);
        self.duration_ms = d / 1_000_000 + i64::from(d % 1_000_000 >= 500_000);
        self
    }

    /// A span of `kind` named `name`, with nothing else known yet.
    pub fn new(span_id: String, kind: Kind, name: String) -> Self {
        Self {
            span_id,
            parent_id: None,
            name,
            kind,
            start: 0,
            duration_ms: 0,
            is_success: true,
            error: None,
            tool_name: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            start_ns: 0,
            end_ns: 0,
            cost: None,
            agent: None,
            member: true,
        }
    }
}

/// One row of Recent sessions and `/api/sessions`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Session {
    /// The session id.
    pub id: String,
    /// The agent that ran it, when known.
    pub agent: Option<String>,
    /// Start, milliseconds since the epoch.
    pub start: i64,
    /// From start to end, milliseconds.
    pub duration_ms: i64,
    /// Tool calls.
    pub tool_calls: i64,
    /// Tool calls that failed.
    pub failed_tool_calls: i64,
    /// Input tokens of its model turns.
    pub input_tokens: i64,
    /// Output tokens of its model turns.
    pub output_tokens: i64,
    /// Cost of its model turns.
    pub cost: f64,
    /// False when any of its spans failed.
    pub is_success: bool,
    /// Spans or records.
    pub source: Source,
}

/// One session with its spans (`/api/sessions/{id}`), in start order.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Detail {
    /// The totals.
    #[serde(flatten)]
    pub session: Session,
    /// Its spans, parents before children that start with them.
    pub spans: Vec<Span>,
    /// Spans left out past [`MAX_SPANS`] (not in the JSON).
    #[serde(skip)]
    pub left_out: u64,
}

/// A page of Recent sessions: newest first, `next` the cursor of the following page.
#[derive(Serialize, Clone, Debug, PartialEq, Default)]
pub struct Page {
    /// At most the page's limit of sessions.
    pub sessions: Vec<Session>,
    /// The cursor of the next page, `null` on the last.
    pub next: Option<String>,
}

/// The most spans one session's view loads; beyond, the newest are left out (and counted).
pub const MAX_SPANS: usize = 50_000;

/// A session's totals, kept incrementally: each member span or record contributes one
/// ([`Tally::of`]) and the store merges them ([`Tally::merge`]: sums, minima, maxima).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// The agent's name, from the session span or record (else any member's).
    pub agent: Option<String>,
    /// Whether `agent` came from the session span or record itself.
    pub agent_from_session: bool,
    /// Earliest start of a session span or record, ms.
    pub session_start: Option<i64>,
    /// Latest end of a session span or end record, ms.
    pub session_end: Option<i64>,
    /// Earliest start of any member, ms.
    pub first: i64,
    /// Latest end of any member, ms.
    pub last: i64,
    /// Tool spans.
    pub tool_calls: i64,
    /// Failed tool spans.
    pub failed_tool_calls: i64,
    /// Input tokens of model turns.
    pub input_tokens: i64,
    /// Output tokens of model turns.
    pub output_tokens: i64,
    /// Cost of model turns.
    pub cost: f64,
    /// Failed members of any kind.
    pub failures: i64,
}

impl Tally {
    /// What one member span contributes.
    pub fn of(span: &Span) -> Self {
        let (start, end) = (
            span.start_ns.div_euclid(1_000_000),
            span.end_ns.div_euclid(1_000_000),
        );
        let is = |k| span.kind == k;
        let chat = is(Kind::Chat);
        let session = is(Kind::Session);
        Self {
            agent: span.agent.clone(),
            agent_from_session: session && span.agent.is_some(),
            session_start: session.then_some(start),
            session_end: session.then_some(end),
            first: start,
            last: end,
            tool_calls: i64::from(is(Kind::Tool)),
            failed_tool_calls: i64::from(is(Kind::Tool) && !span.is_success),
            input_tokens: if chat {
                span.input_tokens.unwrap_or(0)
            } else {
                0
            },
            output_tokens: if chat {
                span.output_tokens.unwrap_or(0)
            } else {
                0
            },
            cost: if chat { span.cost.unwrap_or(0.0) } else { 0.0 },
            failures: i64::from(!span.is_success),
        }
    }

    /// Both tallies as one (order does not matter).
    pub fn merge(mut self, o: &Self) -> Self {
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if o.agent.is_some()
            && (self.agent.is_none() || o.agent_from_session && !self.agent_from_session)
        {
            self.agent.clone_from(&o.agent);
            self.agent_from_session = o.agent_from_session;
        }
        self.session_start = min(self.session_start, o.session_start);
        self.session_end = match (self.session_end, o.session_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.tool_calls = self.tool_calls.saturating_add(o.tool_calls);
        self.failed_tool_calls = self.failed_tool_calls.saturating_add(o.failed_tool_calls);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cost = crate::rollup::finite_sum(self.cost, o.cost);
        self.failures = self.failures.saturating_add(o.failures);
        self
    }

    /// The tally of all member spans (`None` when there is none).
    pub fn of_members<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Option<Self> {
        spans
            .into_iter()
            .filter(|s| s.member)
            .map(Self::of)
            .reduce(|a, b| a.merge(&b))
    }

    /// The start shown: the session's own, else its first member's.
    pub fn start(&self) -> i64 {
        self.session_start.unwrap_or(self.first)
    }

    /// The row these totals make.
    pub fn session(&self, id: &str, source: Source) -> Session {
        let start = self.start();
        let end = self.session_end.map_or(self.last, |e| e.max(self.last));
        Session {
            id: id.to_owned(),
            agent: self.agent.clone(),
            start,
            duration_ms: end.saturating_sub(start).max(0),
            tool_calls: self.tool_calls,
            failed_tool_calls: self.failed_tool_calls,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost: self.cost,
            is_success: self.failures == 0,
            source,
        }
    }
}

/// A session's detail from its spans: totals over the members, spans in start order
/// (a parent before a child that starts at the same time).
pub fn detail(id: &str, source: Source, mut spans: Vec<Span>, left_out: u64) -> Option<Detail> {
    let tally = Tally::of_members(&spans)?;
    let depth = depths(&spans);
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| {
        (
            spans[i].start_ns,
            depth[i],
            std::cmp::Reverse(spans[i].end_ns),
        )
    });
    let mut sorted = Vec::with_capacity(spans.len());
    let mut taken: Vec<Option<Span>> = spans.drain(..).map(Some).collect();
    for i in order {
        if let Some(s) = taken[i].take() {
            sorted.push(s);
        }
    }
    Some(Detail {
        session: tally.session(id, source),
        spans: sorted,
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(kind: Kind, start_ms: i64, end_ms: i64, ok: bool) -> Span {
        let mut s = Span::new("0".into(), kind, "x".into())
            .with_times(start_ms * 1_000_000, end_ms * 1_000_000);
        s.is_success = ok;
        s
    }

    #[test]
    fn tallies_merge_in_any_order() {
        let mut chat = span(Kind::Chat, 20, 30, true);
        chat.input_tokens = Some(10);
        chat.output_tokens = Some(3);
        chat.cost = Some(0.25);
        let mut session = span(Kind::Session, 10, 100, true);
        session.agent = Some("root".into());
        let mut tool = span(Kind::Tool, 40, 50, false);
        tool.agent = Some("helper".into());
        let spans = [tool, chat, session];
        let a = Tally::of_members(&spans).unwrap();
        let b = Tally::of_members(spans.iter().rev()).unwrap();
        assert_eq!(a, b);
        let s = a.session("s1", Source::Traces);
        assert_eq!(
            (s.start, s.duration_ms, s.tool_calls, s.failed_tool_calls),
            (10, 90, 1, 1)
        );
        assert_eq!((s.input_tokens, s.output_tokens, s.cost), (10, 3, 0.25));
        assert_eq!(s.agent.as_deref(), Some("root"), "the session's agent wins");
        assert!(!s.is_success);
    }

    #[test]
    fn without_a_session_span_the_members_give_the_extent() {
        let spans = [span(Kind::Tool, 5, 9, true), span(Kind::Chat, 12, 12, true)];
        let s = Tally::of_members(&spans)
            .unwrap()
            .session("s", Source::Records);
        assert_eq!((s.start, s.duration_ms, s.is_success), (5, 7, true));
    }

    #[test]
    fn durations_round_to_the_nearest_millisecond() {
        let s = Span::new("a".into(), Kind::Tool, "t".into()).with_times(1_999_999, 3_500_000);
        assert_eq!((s.start, s.duration_ms), (1, 2));
        let s = Span::new("a".into(), Kind::Tool, "t".into()).with_times(10, 5);
        assert_eq!(
            (s.end_ns, s.duration_ms),
            (10, 0),
            "an end before the start is clamped"
        );
    }
}
