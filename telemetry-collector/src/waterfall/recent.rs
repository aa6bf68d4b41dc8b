//! Recent sessions: the report page's section (newest first, at most 50 a page, all or
//! failed only), each row a link to the session's waterfall.

use std::fmt::Write as _;

use super::duration;
use super::page::{clip, session_path, utc};
use crate::html::{escape, thousands};
use crate::sessions::{ListQuery, Page, Source};

/// Characters of an agent's name or a session id in a row.
const NAME_CHARS: usize = 40;

/// The section's HTML; `report` is the report's own query (`days=7&top=25`) that every link
/// keeps.
pub fn section(p: &Page, q: &ListQuery, report: &str) -> String {
    let mut h = String::with_capacity(8 * 1024);
    let link = |failed: bool, cursor: Option<&str>| {
        let q = ListQuery {
            failed,
            cursor: None,
            ..q.clone()
        };
        let mut parts: Vec<String> = Vec::new();
        if !report.is_empty() {
            parts.push(report.to_owned());
        }
        let own = q.with_cursor(cursor);
        if !own.is_empty() {
            parts.push(own);
        }
        escape(&format!("/?{}#sessions", parts.join("&")))
    };
    let _ = write!(
        h,
        "<section id=sessions class=wide><h2>Recent sessions</h2><nav class=filter aria-label=\"Sessions shown\">\
         <a{} href=\"{}\">All</a><a{} href=\"{}\">Failed only</a></nav>",
        if q.failed {
            ""
        } else {
            " class=on aria-current=page"
        },
        link(false, None),
        if q.failed {
            " class=on aria-current=page"
        } else {
            ""
        },
        link(true, None),
    );
    if p.sessions.is_empty() {
        let what = if q.failed {
            "failed sessions"
        } else {
            "sessions"
        };
        let _ = write!(
            h,
            "<div class=empty>No {what}{}.</div>",
            if q.cursor.is_some() {
                " on this page"
            } else {
                " yet"
            }
        );
    } else {
        h.push_str(
            "<table><tr><th>Started (UTC)</th><th>Agent</th><th>Duration</th><th>Tool calls</th>\
             <th>Tokens</th><th>Cost</th><th>Outcome</th></tr>",
        );
        for s in &p.sessions {
            let outcome = if s.is_success {
                "<td class=good>ok</td>"
            } else {
                "<td class=bad>failed</td>"
            };
            let tools = if s.failed_tool_calls > 0 {
                format!(
                    "{} <span class=bad>({} failed)</span>",
                    thousands(s.tool_calls),
                    thousands(s.failed_tool_calls)
                )
            } else {
                thousands(s.tool_calls)
            };
            let source = match s.source {
                Source::Traces => "traces",
                Source::Records => "records",
            };
            let _ = write!(
                h,
                "<tr><td><a href=\"{}\" title=\"session {} (from {source})\">{}</a></td><td>{}</td>\
                 <td>{}</td><td>{tools}</td><td>{}</td><td>${:.4}</td>{outcome}</tr>",
                escape(&session_path(&s.id)),
                escape(&clip(&s.id, NAME_CHARS)),
                utc(s.start),
                s.agent
                    .as_deref()
                    .map_or_else(|| "–".into(), |a| escape(&clip(a, NAME_CHARS))),
                duration(s.duration_ms.saturating_mul(1_000_000)),
                thousands(s.input_tokens.saturating_add(s.output_tokens)),
                s.cost,
            );
        }
        h.push_str("</table>");
    }
    if let Some(next) = &p.next {
        let _ = write!(
            h,
            "<p class=pager><a href=\"{}\">Older sessions →</a></p>",
            link(q.failed, Some(next))
        );
    }
    h.push_str("</section>");
    h
}
