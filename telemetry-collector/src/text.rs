//! The summary as terminal tables (`report --format text`).

use std::fmt::Write as _;

use crate::html::thousands;
use crate::summary::{NameStats, Summary};

/// Renders a summary as plain-text tables.
///
/// ```
/// let s = telemetry_collector::summary::Summary::default();
/// assert!(telemetry_collector::text::render(&s).contains("Installs"));
/// ```
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Telemetry report, {} to {} (UTC, {} days)\n",
        s.from, s.to, s.days
    );
    let _ = writeln!(
        out,
        "Installs {}   Records {}   Dropped by clients {}",
        thousands(s.installs as i64),
        thousands(s.records as i64),
        thousands(s.dropped_records as i64)
    );
    let _ = writeln!(
        out,
        "Sessions {}   ended {}   failed {}   tool calls {}   errors {}\n",
        s.sessions.count,
        s.sessions.ended,
        s.sessions.failed,
        s.sessions.tool_calls,
        s.sessions.errors
    );
    names(&mut out, "Commands", &s.commands);
    names(&mut out, "Tools", &s.tools);
    let models: Vec<Vec<String>> = s
        .models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                thousands(m.calls as i64),
                thousands(m.input_tokens),
                thousands(m.output_tokens),
                format!("{:.4}", m.cost),
            ]
        })
        .collect();
    table(
        &mut out,
        "Models",
        &["model", "calls", "input", "output", "cost"],
        &models,
    );
    let errors: Vec<Vec<String>> = s
        .errors
        .iter()
        .map(|e| vec![e.text.clone(), thousands(e.count as i64)])
        .collect();
    table(&mut out, "Top errors", &["error", "count"], &errors);
    for (title, rows) in [("Versions", &s.versions), ("OS", &s.os)] {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![r.name.clone(), thousands(r.installs as i64)])
            .collect();
        table(&mut out, title, &["name", "installs"], &rows);
    }
    out
}

fn names(out: &mut String, title: &str, rows: &[NameStats]) {
    let ms = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |d| d.to_string());
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                thousands(r.calls as i64),
                thousands(r.failures as i64),
                format!("{:.1}%", 100.0 * r.success_rate),
                ms(r.p50_ms),
                ms(r.p95_ms),
            ]
        })
        .collect();
    table(
        out,
        title,
        &["name", "calls", "failures", "success", "p50 ms", "p95 ms"],
        &rows,
    );
}

/// A left-aligned first column and right-aligned others, one space-padded line per row.
fn table(out: &mut String, title: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "{title}");
    if rows.is_empty() {
        let _ = writeln!(out, "  (none)\n");
        return;
    }
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(60));
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let cell: String = cell.chars().take(60).collect();
            if i == 0 {
                let _ = write!(l, " {cell:<w$}");
            } else {
                let _ = write!(l, "  {cell:>w$}");
            }
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(head.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    out.push('\n');
}
