//! The waterfall in a terminal (`report --session ID`): the session's totals, then one line
//! per bar with its start, duration, a bar on a shared time track, and its name indented
//! under its parent. Text from clients is shown with invisible characters escaped
//! (`html::visible`) and capped, so a name can neither move the cursor nor pass for another.

use std::fmt::Write as _;

use super::{Bar, duration, layout};
use crate::html::{thousands, visible};
use crate::sessions::{Detail, Kind, Session, Span};
use crate::waterfall::page::{clip, utc};

/// Columns of the time track.
const TRACK: usize = 32;
/// Characters of a name, and of an error.
const NAME_CHARS: usize = 60;
const ERROR_CHARS: usize = 120;

/// A client's text for one line.
fn line_text(s: &str, n: usize) -> String {
    clip(&visible(s), n)
}

/// The session's totals as one line.
pub fn headline(s: &Session) -> String {
    format!(
        "Session {} · agent {} · {} UTC · {} · {} tool calls ({} failed) · {} in / {} out tokens · ${:.4} · {} · from {}",
        line_text(&s.id, NAME_CHARS),
        s.agent
            .as_deref()
            .map_or_else(|| "-".into(), |a| line_text(a, NAME_CHARS)),
        utc(s.start),
        duration(s.duration_ms.saturating_mul(1_000_000)),
        thousands(s.tool_calls),
        thousands(s.failed_tool_calls),
        thousands(s.input_tokens),
        thousands(s.output_tokens),
        s.cost,
        if s.is_success { "succeeded" } else { "FAILED" },
        s.source.as_str()
    )
}

/// The whole waterfall as text.
///
/// ```
/// use telemetry_collector::sessions::{Kind, Source, Span, detail};
/// let s = Span::new("00000000000000aa".into(), Kind::Tool, "execute_tool read_file".into())
///     .with_times(0, 12_000_000);
/// let d = detail("s1", Source::Traces, vec![s], 0).unwrap();
/// let text = telemetry_collector::waterfall::text::render(&d);
/// assert!(text.contains("execute_tool read_file") && text.contains("12 ms"));
/// ```
pub fn render(d: &Detail) -> String {
    let lay = layout(&d.spans);
    let mut out = headline(&d.session);
    out.push_str("\n\n");
    let _ = writeln!(
        out,
        "  {:>10}  {:>12}  {:<w$}  span",
        "start",
        "duration",
        "",
        w = TRACK + 2
    );
    let range = (lay.t1 - lay.t0).max(1);
    let col = |ns: i64| {
        let f = (ns - lay.t0) as f64 / range as f64;
        ((f * TRACK as f64) as usize).min(TRACK - 1)
    };
    for b in &lay.bars {
        let (a, z) = (col(b.start_ns), col(b.end_ns).max(col(b.start_ns)));
        let mut track = String::with_capacity(TRACK + 2);
        track.push('|');
        for c in 0..TRACK {
            track.push(if (a..=z).contains(&c) { '=' } else { ' ' });
        }
        track.push('|');
        let _ = writeln!(
            out,
            "  {:>10}  {:>12}  {track}  {}{}",
            format!("+{}", duration(b.start_ns - lay.t0)),
            bar_duration(b),
            "  ".repeat(b.depth.min(12)),
            describe(&d.spans, b)
        );
    }
    let left_out = d.left_out.saturating_add(lay.left_out as u64);
    if left_out > 0 {
        let _ = writeln!(out, "\n  ... {} more spans not shown", thousands(left_out));
    }
    out
}

fn bar_duration(b: &Bar) -> String {
    if b.count == 1 {
        duration(b.end_ns - b.start_ns)
    } else {
        format!("{} busy", duration(b.busy_ns))
    }
}

/// The bar's name and notes: tokens, failures, errors.
fn describe(spans: &[Span], b: &Bar) -> String {
    let s = &spans[b.span];
    let mut t = match (&b.tool, b.count) {
        (Some(tool), 1) => format!("{} {}", s.kind.as_str(), line_text(tool, NAME_CHARS)),
        (Some(tool), n) => format!("tool {} ×{n}", line_text(tool, NAME_CHARS)),
        (None, 1) => line_text(&s.name, NAME_CHARS),
        (None, n) => format!("{n} spans"),
    };
    if b.kind == Kind::Chat || b.tokens != (0, 0) {
        let _ = write!(
            t,
            "  [{} in / {} out tokens]",
            thousands(b.tokens.0),
            thousands(b.tokens.1)
        );
    }
    if b.hidden > 0 {
        let _ = write!(t, "  (+{} nested)", thousands(b.hidden as u64));
    }
    match (b.count, b.failed) {
        (_, 0) => {}
        (1, _) => {
            let e = s.error.as_deref().unwrap_or("");
            let _ = write!(t, "  FAILED: {}", line_text(e, ERROR_CHARS));
        }
        (n, f) => {
            let _ = write!(t, "  {f} of {n} FAILED");
        }
    }
    t
}
