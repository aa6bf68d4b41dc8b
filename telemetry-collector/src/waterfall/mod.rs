//! A session's spans laid out as a waterfall: one bar per span, in parent order (each span
//! followed by its children, siblings by start), each indented under its parent, on one
//! time axis. The page ([`page`]) and the terminal ([`text`]) draw the same [`Layout`].
//!
//! Bounds: past [`GROUP_AT`] bars, consecutive calls of the same tool under one parent
//! become one bar with a count (their children folded in); if that still leaves more than
//! [`MAX_BARS`], runs of consecutive siblings are folded into bars of a few spans each; what
//! remains past [`MAX_BARS`] is left out and counted. So a session of any size draws at most
//! [`MAX_BARS`] bars.

pub mod page;
pub mod recent;
pub mod text;

use crate::sessions::tree::Tree;
use crate::sessions::{Kind, Span};

/// Above this many spans, consecutive calls of the same tool are grouped.
pub const GROUP_AT: usize = 300;

/// The most bars drawn.
pub const MAX_BARS: usize = 400;

/// One bar: a span, or several consecutive sibling spans folded into one.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Nesting depth (0 for a root).
    pub depth: usize,
    /// The span it draws (the first of a group).
    pub span: usize,
    /// Spans it stands for: 1, or the group's size (their descendants not counted).
    pub count: usize,
    /// Descendants folded into it (not drawn).
    pub hidden: usize,
    /// How many of the spans it stands for failed.
    pub failed: usize,
    /// What the bar is.
    pub kind: Kind,
    /// Earliest start, ns.
    pub start_ns: i64,
    /// Latest end, ns.
    pub end_ns: i64,
    /// Sum of the durations of the spans it stands for, ns.
    pub busy_ns: i64,
    /// A group of one tool: its name; a fold of mixed spans: `None`.
    pub tool: Option<String>,
    /// Input and output tokens of the model turns it stands for.
    pub tokens: (i64, i64),
}

/// What the waterfall draws.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Layout {
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
    /// Start of the time axis (the earliest span), ns.
    pub t0: i64,
    /// End of the time axis (the latest end), ns.
    pub t1: i64,
    /// Spans not drawn at all (past [`MAX_BARS`]).
    pub left_out: usize,
    /// Whether bars were grouped.
    pub grouped: bool,
}

/// How siblings are folded.
#[derive(Clone, Copy, PartialEq)]
enum Fold {
    None,
    SameTool,
    Chunks(usize),
}

/// Lays `spans` out (any order).
pub fn layout(spans: &[Span]) -> Layout {
    let tree = Tree::new(spans);
    let order = tree.walk(spans.len());
    let sizes = tree.sizes(&order, spans.len());
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end_ns).max().unwrap_or(t0);
    let mut fold = if spans.len() > GROUP_AT {
        Fold::SameTool
    } else {
        Fold::None
    };
    let mut bars = bars(spans, &tree, &order, &sizes, fold);
    if bars.len() > MAX_BARS {
        fold = Fold::Chunks(bars.len().div_ceil(MAX_BARS - MAX_BARS / 8) + 1);
        bars = self::bars(spans, &tree, &order, &sizes, fold);
    }
    let mut left_out = 0;
    if bars.len() > MAX_BARS {
        left_out = bars[MAX_BARS..].iter().map(|b| b.count + b.hidden).sum();
        bars.truncate(MAX_BARS);
    }
    Layout {
        bars,
        t0,
        t1,
        left_out,
        grouped: fold != Fold::None,
    }
}

/// The bars of the whole tree under `fold`: depth first over sibling lists, each list cut
/// into units (one span, or a run folded into one bar).
fn bars(
    spans: &[Span],
    tree: &Tree,
    order: &[(usize, usize)],
    sizes: &[usize],
    fold: Fold,
) -> Vec<Bar> {
    // The top list: the roots, then one span of each parent cycle no root reaches.
    let top: Vec<usize> = order
        .iter()
        .filter(|(_, d)| *d == 0)
        .map(|&(i, _)| i)
        .collect();
    let list =
        |parent: Option<usize>| parent.map_or(top.as_slice(), |p| tree.children[p].as_slice());
    let mut seen = vec![false; spans.len()];
    let mut out = Vec::new();
    let mut stack: Vec<(Option<usize>, usize, usize)> = vec![(None, 0, 0)];
    while let Some((parent, at, depth)) = stack.pop() {
        let siblings = list(parent);
        let Some(&first) = siblings.get(at) else {
            continue;
        };
        if seen[first] {
            stack.push((parent, at + 1, depth));
            continue;
        }
        let unit = unit_at(spans, siblings, at, fold);
        stack.push((parent, at + unit, depth));
        if unit == 1 {
            seen[first] = true;
            out.push(single(spans, first, depth));
            stack.push((Some(first), 0, depth + 1));
            continue;
        }
        let members = &siblings[at..at + unit];
        let mut bar = single(spans, first, depth);
        (bar.count, bar.busy_ns, bar.tokens, bar.failed) = (0, 0, (0, 0), 0);
        for &m in members {
            seen[m] = true;
            let s = &spans[m];
            bar.count += 1;
            bar.hidden += sizes[m];
            bar.failed += usize::from(!s.is_success);
            bar.start_ns = bar.start_ns.min(s.start_ns);
            bar.end_ns = bar.end_ns.max(s.end_ns);
            bar.busy_ns = bar.busy_ns.saturating_add(s.end_ns - s.start_ns);
            bar.tokens.0 = bar.tokens.0.saturating_add(s.input_tokens.unwrap_or(0));
            bar.tokens.1 = bar.tokens.1.saturating_add(s.output_tokens.unwrap_or(0));
            if s.kind != bar.kind || tool_of(s) != bar.tool.as_deref() {
                bar.tool = None;
                bar.kind = Kind::Command;
            }
        }
        mark_descendants(tree, members, &mut seen);
        out.push(bar);
    }
    out
}

/// Marks every descendant of `members` as drawn (folded into their bar).
fn mark_descendants(tree: &Tree, members: &[usize], seen: &mut [bool]) {
    let mut q: Vec<usize> = members
        .iter()
        .flat_map(|&m| tree.children[m].clone())
        .collect();
    while let Some(i) = q.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            q.extend(&tree.children[i]);
        }
    }
}

/// How many siblings from `at` make the next bar.
fn unit_at(spans: &[Span], list: &[usize], at: usize, fold: Fold) -> usize {
    let same_tool = |from: usize| {
        let Some(tool) = tool_of(&spans[list[from]]) else {
            return 1;
        };
        list[from..]
            .iter()
            .take_while(|&&i| tool_of(&spans[i]) == Some(tool))
            .count()
    };
    match fold {
        Fold::None => 1,
        Fold::SameTool => same_tool(at),
        // Only long sibling lists are cut into chunks: a few siblings keep their own bars.
        Fold::Chunks(k) if list.len() > MAX_BARS / 8 => same_tool(at).max(k.min(list.len() - at)),
        Fold::Chunks(_) => 1,
    }
}

/// The tool a span calls, if it is a tool span.
fn tool_of(s: &Span) -> Option<&str> {
    (s.kind == Kind::Tool).then(|| s.tool_name.as_deref().unwrap_or(&s.name))
}

fn single(spans: &[Span], i: usize, depth: usize) -> Bar {
    let s = &spans[i];
    Bar {
        depth,
        span: i,
        count: 1,
        hidden: 0,
        failed: usize::from(!s.is_success),
        kind: s.kind,
        start_ns: s.start_ns,
        end_ns: s.end_ns,
        busy_ns: s.end_ns - s.start_ns,
        tool: tool_of(s).map(str::to_owned),
        tokens: (s.input_tokens.unwrap_or(0), s.output_tokens.unwrap_or(0)),
    }
}

/// A duration for people: `0.42 ms`, `12 ms`, `1.25 s`, `2 min 3 s`, `5 h 2 min`.
///
/// ```
/// use telemetry_collector::waterfall::duration;
/// assert_eq!(duration(420_000), "0.42 ms");
/// assert_eq!(duration(12_400_000), "12 ms");
/// assert_eq!(duration(1_250_000_000), "1.25 s");
/// assert_eq!(duration(123_000_000_000), "2 min 3 s");
/// ```
pub fn duration(ns: i64) -> String {
    let ns = ns.max(0);
    let ms = ns as f64 / 1e6;
    if ns == 0 {
        "0 ms".into()
    } else if ms < 10.0 {
        let s = format!("{ms:.2}");
        format!("{} ms", s.trim_end_matches('0').trim_end_matches('.'))
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0).round() as i64;
        format!("{} min {} s", s / 60, s % 60)
    } else {
        let m = (ms / 60_000.0).round() as i64;
        format!("{} h {} min", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests;
