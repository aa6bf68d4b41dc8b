//! Sessions from records alone: the cagent format's session start and end records, and the
//! tool and token records that carry a `session_id`, become synthetic spans.
//!
//! A record is made when what it measures ended, so a tool record's span is
//! `[event_timestamp − duration_ms, event_timestamp]`; a token record without a duration is
//! a zero-length model turn at its timestamp. The session's start and end records make one
//! `invoke_agent` span, parent of all the others (records carry no parent). Span ids are the
//! first 8 bytes of SHA-256 over the record's `event_id` (the session span's: over its
//! session id), so they are stable however often the view is drawn.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Kind, Span, Tally};
use crate::record::Row;

/// What a session's view needs of one record.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// The record's identity.
    pub event_id: String,
    /// `event`: `session`, `tool`, `token`, or another kind.
    pub kind: String,
    /// `properties.action` (`start`, `end`, `call`, `usage` ...).
    pub action: Option<String>,
    /// `event_timestamp`, ms.
    pub ts_ms: i64,
    /// `duration_ms`.
    pub duration_ms: Option<i64>,
    /// `is_success`.
    pub is_success: Option<bool>,
    /// `error`: the text, or a session end's list joined with `; `.
    pub error: Option<String>,
    /// `tool_name` or `model_name` (or the action of another kind).
    pub name: Option<String>,
    /// `agent_name`.
    pub agent: Option<String>,
    /// `input_tokens`.
    pub input_tokens: Option<i64>,
    /// `output_tokens`.
    pub output_tokens: Option<i64>,
    /// `cost`.
    pub cost: Option<f64>,
}

impl SessionRecord {
    /// From a row being stored.
    pub fn from_row(r: &Row) -> Self {
        Self {
            event_id: r.event_id.clone(),
            kind: r.kind.clone(),
            action: r.action.clone(),
            ts_ms: r.ts_ms,
            duration_ms: r.duration_ms,
            is_success: r.is_success,
            error: r.error.clone(),
            name: if r.kind == "session" {
                None
            } else {
                r.name.clone()
            },
            agent: r.agent.clone(),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost: r.cost,
        }
    }

    /// From a stored record's JSON (as `record::to_row` kept it); `None` if it is not an
    /// object with `properties`.
    pub fn from_json(event_id: &str, ts_ms: i64, json: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(json).ok()?;
        let p = v.get("properties")?.as_object()?;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let int = |k: &str| p.get(k).and_then(Value::as_f64).map(|f| f as i64);
        let kind = v.get("event")?.as_str()?.to_owned();
        let error = match p.get("error") {
            Some(Value::String(e)) => Some(e.clone()),
            Some(Value::Array(list)) => {
                let texts: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                (!texts.is_empty()).then(|| texts.join("; "))
            }
            _ => None,
        };
        let name = match kind.as_str() {
            "tool" => s("tool_name"),
            "token" => s("model_name"),
            "session" => None,
            _ => s("action"),
        };
        Some(Self {
            event_id: event_id.to_owned(),
            action: s("action"),
            ts_ms,
            duration_ms: int("duration_ms").map(|d| d.max(0)),
            is_success: p.get("is_success").and_then(Value::as_bool),
            error,
            name,
            agent: s("agent_name")
                .filter(|a| !a.is_empty())
                .map(|a| crate::span::no_nul(&a)),
            input_tokens: int("input_tokens"),
            output_tokens: int("output_tokens"),
            cost: p.get("cost").and_then(Value::as_f64),
            kind,
        })
    }

    /// This record as a span of session `session_id` (a session record: a part of the one
    /// session span).
    pub fn span(&self, session_id: &str) -> Span {
        let kind = match self.kind.as_str() {
            "session" => Kind::Session,
            "tool" => Kind::Tool,
            "token" => Kind::Chat,
            _ => Kind::Command,
        };
        let name = match kind {
            Kind::Session => prefixed("invoke_agent", self.agent.as_deref()),
            Kind::Tool => prefixed("execute_tool", self.name.as_deref()),
            Kind::Chat => prefixed("chat", self.name.as_deref()),
            Kind::Command => self.name.clone().unwrap_or_else(|| self.kind.clone()),
        };
        let id = if kind == Kind::Session {
            session_span_id(session_id)
        } else {
            synthetic_id(self.event_id.as_bytes())
        };
        let end_ms = self.ts_ms;
        let start_ms = if self.action.as_deref() == Some("start") {
            end_ms
        } else {
            end_ms.saturating_sub(self.duration_ms.unwrap_or(0))
        };
        let mut span = Span::new(id, kind, name).with_times(
            start_ms.saturating_mul(1_000_000),
            end_ms.saturating_mul(1_000_000),
        );
        if kind != Kind::Session {
            span.parent_id = Some(session_span_id(session_id));
        }
        span.is_success = self.is_success != Some(false);
        span.error = (!span.is_success).then(|| self.error.clone()).flatten();
        span.agent = self.agent.clone();
        match kind {
            Kind::Tool => span.tool_name.clone_from(&self.name),
            Kind::Chat => {
                span.model.clone_from(&self.name);
                span.input_tokens = self.input_tokens;
                span.output_tokens = self.output_tokens;
                span.cost = self.cost;
            }
            _ => {}
        }
        span
    }

    /// What this record adds to its session's totals.
    pub fn tally(&self, session_id: &str) -> Tally {
        Tally::of(&self.span(session_id))
    }
}

fn prefixed(op: &str, what: Option<&str>) -> String {
    match what.filter(|w| !w.is_empty()) {
        Some(w) => format!("{op} {w}"),
        None => op.to_owned(),
    }
}

/// 16 hex digits: the first 8 bytes of SHA-256 over `bytes`.
pub fn synthetic_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The synthetic id of a session's own span.
pub fn session_span_id(session_id: &str) -> String {
    synthetic_id(format!("session\u{0}{session_id}").as_bytes())
}

/// The spans of a session's records: its start and end records merged into one session
/// span (or, with neither, one spanning the others, which counts in no total), every other
/// record a child of it.
pub fn spans(session_id: &str, records: &[SessionRecord]) -> Vec<Span> {
    let mut session: Option<Span> = None;
    let mut out = Vec::with_capacity(records.len() + 1);
    for r in records {
        let span = r.span(session_id);
        if span.kind != Kind::Session {
            out.push(span);
            continue;
        }
        session = Some(match session {
            None => span,
            Some(mut s) => {
                let (start, end) = (s.start_ns.min(span.start_ns), s.end_ns.max(span.end_ns));
                if s.agent.is_none() {
                    s.agent = span.agent;
                    s.name = span.name;
                }
                if !span.is_success {
                    s.is_success = false;
                    s.error = s.error.or(span.error);
                }
                s.with_times(start, end)
            }
        });
    }
    let first = out.iter().map(|s| s.start_ns).min();
    let last = out.iter().map(|s| s.end_ns).max();
    let session = match session {
        // As the totals have it: its own start, its end or the last member's, the later.
        Some(s) => {
            let (start, end) = (s.start_ns, s.end_ns.max(last.unwrap_or(s.end_ns)));
            s.with_times(start, end)
        }
        None => {
            let agent = out.iter().find_map(|s| s.agent.as_deref());
            let mut s = Span::new(
                session_span_id(session_id),
                Kind::Session,
                prefixed("invoke_agent", agent),
            );
            s.member = false;
            s.agent = agent.map(str::to_owned);
            s.with_times(first.unwrap_or(0), last.unwrap_or(0))
        }
    };
    out.insert(0, session);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> SessionRecord {
        let ts = v["event_timestamp"].as_i64().unwrap();
        SessionRecord::from_json(
            v["properties"]["event_id"].as_str().unwrap(),
            ts,
            &v.to_string(),
        )
        .unwrap()
    }

    fn run() -> Vec<SessionRecord> {
        let p = |extra: Value| {
            let mut base = json!({"session_id": "s1", "agent_name": "root"});
            base.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            base
        };
        vec![
            rec(json!({"event": "session", "event_timestamp": 1000,
                "properties": p(json!({"event_id": "a", "action": "start"}))})),
            rec(json!({"event": "tool", "event_timestamp": 1100,
                "properties": p(json!({"event_id": "b", "action": "call", "tool_name": "read_file",
                "duration_ms": 40, "is_success": true}))})),
            rec(json!({"event": "tool", "event_timestamp": 1300,
                "properties": p(json!({"event_id": "c", "action": "call", "tool_name": "read_file",
                "duration_ms": 10, "is_success": false, "error": "not found"}))})),
            rec(json!({"event": "token", "event_timestamp": 1350,
                "properties": p(json!({"event_id": "d", "action": "usage", "model_name": "m",
                "input_tokens": 100, "output_tokens": 7, "cost": 0.5}))})),
            rec(json!({"event": "session", "event_timestamp": 1500,
                "properties": p(json!({"event_id": "e", "action": "end", "duration_ms": 500,
                "tool_calls": 2, "is_success": false, "error": ["not found"]}))})),
        ]
    }

    #[test]
    fn records_become_one_session_span_and_its_children() {
        let spans = spans("s1", &run());
        assert_eq!(spans.len(), 4);
        let session = &spans[0];
        assert_eq!(
            (
                session.kind,
                session.name.as_str(),
                session.start,
                session.duration_ms
            ),
            (Kind::Session, "invoke_agent root", 1000, 500)
        );
        assert_eq!(session.error.as_deref(), Some("not found"));
        let tool = &spans[1];
        assert_eq!(
            (tool.name.as_str(), tool.start, tool.duration_ms),
            ("execute_tool read_file", 1060, 40)
        );
        assert_eq!(tool.parent_id.as_deref(), Some(session.span_id.as_str()));
        assert_eq!(spans[2].error.as_deref(), Some("not found"));
        assert_eq!(
            (spans[3].kind, spans[3].input_tokens, spans[3].duration_ms),
            (Kind::Chat, Some(100), 0)
        );
        assert_eq!(spans[1].span_id, synthetic_id(b"b"), "stable ids");
    }

    #[test]
    fn the_tallies_of_the_records_equal_the_tally_of_their_spans() {
        let records = run();
        let by_record = records
            .iter()
            .map(|r| r.tally("s1"))
            .reduce(|a, b| a.merge(&b))
            .unwrap()
            .session("s1", super::super::Source::Records);
        let by_spans = Tally::of_members(&spans("s1", &records))
            .unwrap()
            .session("s1", super::super::Source::Records);
        assert_eq!(by_record, by_spans);
        assert_eq!(
            (
                by_spans.tool_calls,
                by_spans.failed_tool_calls,
                by_spans.start,
                by_spans.duration_ms
            ),
            (2, 1, 1000, 500)
        );
        assert!(!by_spans.is_success);
    }

    #[test]
    fn without_session_records_a_span_covers_the_others_and_counts_in_nothing() {
        let records: Vec<_> = run().into_iter().filter(|r| r.kind != "session").collect();
        let spans = spans("s1", &records);
        assert!(!spans[0].member);
        assert_eq!((spans[0].start, spans[0].duration_ms), (1060, 290));
        let s = Tally::of_members(&spans)
            .unwrap()
            .session("s1", super::super::Source::Records);
        assert_eq!((s.start, s.duration_ms, s.tool_calls), (1060, 290, 2));
    }
}
