//! The summary as terminal tables (`report --format text`). Text from clients reaches a
//! terminal here: every control, bidirectional or invisible character is shown escaped
//! (`html::visible`), so a name can neither move the cursor nor pass for another.

use std::fmt::Write as _;

use crate::html::{thousands, visible};
use crate::summary::{NameStats, Rest, Summary};

/// A client's text for a table cell.
fn cell(s: &str) -> String {
    visible(s).into_owned()
}

/// The "12,345 more" row of a list that left entries out; `cells` are its other columns.
fn more_row(rows: &mut Vec<Vec<String>>, rest: &Rest, cells: Vec<String>) {
    if rest.entries > 0 {
        let mut row = vec![format!("{} more", thousands(rest.entries))];
        row.extend(cells);
        rows.push(row);
    }
}

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
        thousands(s.installs),
        thousands(s.records),
        thousands(s.dropped_records)
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
    names(&mut out, "Commands", &s.commands, &s.more.commands);
    names(&mut out, "Tools", &s.tools, &s.more.tools);
    let mut models: Vec<Vec<String>> = s
        .models
        .iter()
        .map(|m| {
            vec![
                cell(&m.name),
                thousands(m.calls),
                thousands(m.input_tokens),
                thousands(m.output_tokens),
                format!("{:.4}", m.cost),
            ]
        })
        .collect();
    let rest = &s.more.models;
    more_row(
        &mut models,
        rest,
        vec![
            thousands(rest.records),
            thousands(rest.input_tokens),
            thousands(rest.output_tokens),
            format!("{:.4}", rest.cost),
        ],
    );
    table(
        &mut out,
        "Models",
        &["model", "calls", "input", "output", "cost"],
        &models,
    );
    let mut errors: Vec<Vec<String>> = s
        .errors
        .iter()
        .map(|e| vec![cell(&e.text), thousands(e.count)])
        .collect();
    more_row(
        &mut errors,
        &s.more.errors,
        vec![thousands(s.more.errors.records)],
    );
    table(&mut out, "Top errors", &["error", "count"], &errors);
    for (title, rows, rest) in [
        ("Versions", &s.versions, &s.more.versions),
        ("OS", &s.os, &s.more.os),
    ] {
        let mut rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![cell(&r.name), thousands(r.installs)])
            .collect();
        more_row(&mut rows, rest, vec![String::new()]);
        table(&mut out, title, &["name", "installs"], &rows);
    }
    out
}

fn names(out: &mut String, title: &str, rows: &[NameStats], rest: &Rest) {
    let ms = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |d| d.to_string());
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                cell(&r.name),
                thousands(r.calls),
                thousands(r.failures),
                format!("{:.1}%", 100.0 * r.success_rate),
                ms(r.p50_ms),
                ms(r.p95_ms),
            ]
        })
        .collect();
    more_row(
        &mut rows,
        rest,
        vec![
            thousands(rest.records),
            thousands(rest.failures),
            String::new(),
            String::new(),
            String::new(),
        ],
    );
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
