//! Sessions from traces: which stored spans make a session's view.
//!
//! The *members* carry the session's id (`gen_ai.conversation.id`); the view adds their
//! ancestors (the command that ran the session, up to the trace's root) and their
//! descendants (spans an SDK made inside a tool call without repeating the id), so the
//! waterfall shows the session in its trace. Only members count in the totals.

use std::collections::{HashMap, HashSet};

use super::{Span, Tally};
use crate::span::{SpanRow, hex};

impl SpanRow {
    /// The span as a session's view shows it; `member`: it carries the session's id.
    pub fn to_span(&self) -> Span {
        let mut s = Span::new(hex(&self.span_id), self.kind, self.name.clone())
            .with_times(self.start_ns, self.end_ns);
        s.parent_id = self.parent_id.map(|p| hex(&p));
        s.is_success = self.is_success;
        s.error = if self.is_success {
            None
        } else {
            self.error.clone()
        };
        s.tool_name.clone_from(&self.tool_name);
        s.model.clone_from(&self.model);
        s.input_tokens = self.input_tokens;
        s.output_tokens = self.output_tokens;
        s.cost = self.cost;
        s.agent.clone_from(&self.agent);
        s.member = self.session_id.is_some();
        s
    }

    /// What the span adds to its session's totals.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.to_span())
    }
}

/// How many parents are followed up from a member at most (a hostile client may send a
/// chain or a cycle).
const MAX_DEPTH: usize = 256;

/// The spans of session `id` among `rows` (the spans of every trace holding a member).
pub fn select(id: &str, rows: &[SpanRow]) -> Vec<Span> {
    let key = |r: &SpanRow| (r.trace_id, r.span_id);
    let by_id: HashMap<([u8; 16], [u8; 8]), usize> =
        rows.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
    let mut children: HashMap<([u8; 16], [u8; 8]), Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(p) = r.parent_id {
            children.entry((r.trace_id, p)).or_default().push(i);
        }
    }
    let members: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].session_id.as_deref() == Some(id))
        .collect();
    let mut keep: HashSet<usize> = members.iter().copied().collect();
    // Descendants: breadth first from the members.
    let mut queue = members.clone();
    while let Some(i) = queue.pop() {
        for &c in children.get(&key(&rows[i])).into_iter().flatten() {
            if keep.insert(c) {
                queue.push(c);
            }
        }
    }
    // Ancestors: up from each member.
    for &m in &members {
        let mut at = m;
        for _ in 0..MAX_DEPTH {
            let Some(p) = rows[at].parent_id else { break };
            let Some(&parent) = by_id.get(&(rows[at].trace_id, p)) else {
                break;
            };
            if !keep.insert(parent) {
                break;
            }
            at = parent;
        }
    }
    let mut picked: Vec<usize> = keep.into_iter().collect();
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|i| {
            let mut s = rows[i].to_span();
            s.member = rows[i].session_id.as_deref() == Some(id);
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::Kind;

    fn row(span: u8, parent: Option<u8>, kind: Kind, session: Option<&str>) -> SpanRow {
        SpanRow {
            trace_id: [7; 16],
            span_id: [span; 8],
            parent_id: parent.map(|p| [p; 8]),
            name: format!("s{span}"),
            otel_kind: 1,
            kind,
            start_ns: i64::from(span) * 1_000_000,
            end_ns: i64::from(span) * 1_000_000 + 500_000,
            is_success: true,
            error: None,
            session_id: session.map(str::to_owned),
            agent: None,
            tool_name: None,
            model: None,
            input_tokens: None,
            output_tokens: None,
            cost: None,
            service: None,
        }
    }

    #[test]
    fn a_session_keeps_its_ancestors_and_descendants_but_not_its_siblings() {
        let rows = vec![
            row(1, None, Kind::Command, None),
            row(2, Some(1), Kind::Session, Some("a")),
            row(3, Some(2), Kind::Tool, Some("a")),
            row(4, Some(3), Kind::Command, None), // an SDK's span inside the tool
            row(5, Some(1), Kind::Session, Some("b")),
            row(6, Some(5), Kind::Tool, Some("b")),
        ];
        let names: Vec<String> = select("a", &rows).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["s1", "s2", "s3", "s4"]);
        let spans = select("a", &rows);
        let members: Vec<bool> = spans.iter().map(|s| s.member).collect();
        assert_eq!(members, [false, true, true, false]);
    }

    #[test]
    fn cycles_and_missing_parents_end_the_walk() {
        let rows = vec![
            row(1, Some(2), Kind::Command, None),
            row(2, Some(1), Kind::Command, None),
            row(3, Some(1), Kind::Tool, Some("a")),
            row(9, Some(8), Kind::Tool, Some("a")),
        ];
        assert_eq!(select("a", &rows).len(), 4);
    }
}
