//! The layout's order, grouping and bounds, and what the page and the terminal make of it.

use super::*;
use crate::sessions::{Source, detail};

fn span(id: u32, parent: Option<u32>, kind: Kind, name: &str, start_ms: i64, end_ms: i64) -> Span {
    let mut s = Span::new(format!("{id:016x}"), kind, name.to_owned())
        .with_times(start_ms * 1_000_000, end_ms * 1_000_000);
    s.parent_id = parent.map(|p| format!("{p:016x}"));
    if kind == Kind::Tool {
        s.tool_name = name.strip_prefix("execute_tool ").map(str::to_owned);
    }
    s
}

/// A command, its session, and `n` children of the session: alternating model turns and
/// tool calls (`tools` names, in turn), every 7th tool failing.
fn session_of(n: u32, tools: &[&str]) -> Vec<Span> {
    let mut spans = vec![
        span(1, None, Kind::Command, "run", 0, i64::from(n) * 10 + 10),
        span(
            2,
            Some(1),
            Kind::Session,
            "invoke_agent root",
            1,
            i64::from(n) * 10 + 5,
        ),
    ];
    for i in 0..n.saturating_sub(2) {
        let t = i64::from(i) * 10 + 2;
        let mut s = if i % 2 == 0 {
            let mut c = span(i + 3, Some(2), Kind::Chat, "chat m", t, t + 4);
            (c.input_tokens, c.output_tokens) = (Some(100), Some(20));
            c
        } else {
            let tool = tools[(i as usize / 2) % tools.len()];
            span(
                i + 3,
                Some(2),
                Kind::Tool,
                &format!("execute_tool {tool}"),
                t,
                t + 6,
            )
        };
        if i % 14 == 13 {
            s.is_success = false;
            s.error = Some("not found".into());
        }
        spans.push(s);
    }
    spans
}

fn accounted(l: &Layout) -> usize {
    l.bars.iter().map(|b| b.count + b.hidden).sum::<usize>() + l.left_out
}

#[test]
fn bars_follow_parent_order_whatever_order_spans_come_in() {
    let mut spans = vec![
        span(5, Some(2), Kind::Tool, "execute_tool b", 30, 40),
        span(4, Some(3), Kind::Tool, "execute_tool nested", 12, 14),
        span(3, Some(2), Kind::Tool, "execute_tool a", 10, 20),
        span(2, Some(1), Kind::Session, "invoke_agent root", 5, 50),
        span(1, None, Kind::Command, "run", 0, 60),
        span(6, Some(2), Kind::Chat, "chat m", 25, 28),
    ];
    spans.reverse();
    let l = layout(&spans);
    let order: Vec<(&str, usize)> = l
        .bars
        .iter()
        .map(|b| (spans[b.span].name.as_str(), b.depth))
        .collect();
    assert_eq!(
        order,
        [
            ("run", 0),
            ("invoke_agent root", 1),
            ("execute_tool a", 2),
            ("execute_tool nested", 3),
            ("chat m", 2),
            ("execute_tool b", 2),
        ]
    );
    assert!(!l.grouped);
    assert_eq!((l.t0, l.t1), (0, 60_000_000));
}

#[test]
fn parent_cycles_and_unknown_parents_still_draw_every_span_once() {
    let spans = vec![
        span(1, Some(2), Kind::Command, "a", 0, 1),
        span(2, Some(1), Kind::Command, "b", 0, 1),
        span(3, Some(3), Kind::Command, "self", 0, 1),
        span(4, Some(99), Kind::Tool, "execute_tool orphan", 0, 1),
    ];
    let l = layout(&spans);
    assert_eq!(l.bars.len(), 4);
    let mut drawn: Vec<usize> = l.bars.iter().map(|b| b.span).collect();
    drawn.sort_unstable();
    assert_eq!(drawn, [0, 1, 2, 3]);
}

#[test]
fn a_few_hundred_spans_keep_one_bar_each() {
    let spans = session_of(GROUP_AT as u32, &["read_file"]);
    let l = layout(&spans);
    assert_eq!(l.bars.len(), spans.len());
    assert!(!l.grouped);
}

#[test]
fn beyond_a_few_hundred_consecutive_calls_of_one_tool_become_one_bar() {
    let mut spans = vec![span(1, None, Kind::Session, "invoke_agent root", 0, 5000)];
    for i in 0..400 {
        let tool = if i < 250 { "read_file" } else { "write_file" };
        let mut s = span(
            i + 2,
            Some(1),
            Kind::Tool,
            &format!("execute_tool {tool}"),
            i64::from(i) * 10,
            i64::from(i) * 10 + 5,
        );
        s.is_success = i != 7;
        spans.push(s);
        // A child inside each call is folded into its group.
        spans.push(span(
            i + 10_000,
            Some(i + 2),
            Kind::Command,
            "http",
            i64::from(i) * 10,
            i64::from(i) * 10 + 1,
        ));
    }
    let l = layout(&spans);
    assert!(l.grouped);
    assert_eq!(l.bars.len(), 3, "{:#?}", l.bars);
    let read = &l.bars[1];
    assert_eq!(
        (read.tool.as_deref(), read.count, read.failed, read.hidden),
        (Some("read_file"), 250, 1, 250)
    );
    assert_eq!(read.busy_ns, 250 * 5_000_000);
    assert_eq!(
        (l.bars[2].tool.as_deref(), l.bars[2].count),
        (Some("write_file"), 150)
    );
    assert_eq!(accounted(&l), spans.len());
}

#[test]
fn ten_thousand_interleaved_spans_fold_into_at_most_max_bars_and_lose_none() {
    let spans = session_of(10_000, &["read_file", "list_directory", "shell"]);
    let l = layout(&spans);
    assert!(l.bars.len() <= MAX_BARS, "{}", l.bars.len());
    assert!(l.bars.len() > MAX_BARS / 2, "{}", l.bars.len());
    assert_eq!(l.left_out, 0);
    assert_eq!(accounted(&l), 10_000);
    assert!(l.bars.iter().any(|b| b.failed > 0));
    // The command and the session keep their own bars at the top.
    assert_eq!((l.bars[0].count, l.bars[1].count), (1, 1));
}

#[test]
fn a_ten_thousand_span_session_page_stays_under_a_megabyte() {
    let spans = session_of(10_000, &["read_file", "list_directory", "shell"]);
    let d = detail("s1", Source::Traces, spans, 0).unwrap();
    let html = page::session_page(&d, true);
    assert!(html.len() <= 1_000_000, "{} bytes", html.len());
    let text = text::render(&d);
    assert!(text.lines().count() <= MAX_BARS + 5);
}

#[test]
fn hostile_names_are_escaped_capped_and_bounded() {
    let evil = format!(
        "<script>x</script>\u{202e}gnp.exe\u{200b}{}",
        "&\"<".repeat(400)
    );
    let mut spans = session_of(10_000, &["read_file"]);
    for (i, s) in spans.iter_mut().enumerate() {
        s.name = format!("{evil}{i}");
        if let Some(t) = &mut s.tool_name {
            *t = format!("{evil}{}", i % 2);
        }
        s.error = Some(evil.clone());
        s.is_success = i % 3 != 0;
    }
    let d = detail(&evil, Source::Traces, spans, 0).unwrap();
    let html = page::session_page(&d, false);
    assert!(html.len() <= 1_000_000, "{} bytes", html.len());
    assert!(!html.contains("<script>"));
    assert!(!html.contains('\u{202e}') && !html.contains('\u{200b}'));
    assert!(html.contains("\\u202egnp.exe\\u200b"));
    let text = text::render(&d);
    assert!(!text.contains('\u{202e}') && text.contains("\\u202e"));
    assert!(text.lines().all(|l| l.chars().count() < 400));
}

#[test]
fn tool_bars_show_name_and_duration_and_failed_bars_their_error() {
    let mut failed = span(4, Some(2), Kind::Tool, "execute_tool read_file", 20, 30);
    failed.is_success = false;
    failed.error = Some("not found".into());
    let mut chat = span(5, Some(2), Kind::Chat, "chat gpt-4.1", 31, 40);
    (chat.input_tokens, chat.output_tokens) = (Some(1234), Some(56));
    let spans = vec![
        span(2, None, Kind::Session, "invoke_agent root", 0, 50),
        span(3, Some(2), Kind::Tool, "execute_tool read_file", 5, 17),
        failed,
        chat,
    ];
    let d = detail("s1", Source::Traces, spans, 0).unwrap();
    let html = page::session_page(&d, false);
    assert_eq!(html.matches("<rect class=b").count(), 4);
    assert!(html.contains(">read_file</text>"));
    assert!(html.contains(">12 ms</text>"));
    assert!(html.contains("fill=\"#e03131\""));
    assert!(html.contains("failed: not found</title>"));
    assert!(html.contains("1,234 in / 56 out tokens"));
    assert_eq!(
        html.matches("<tr>").count(),
        5,
        "a header and a row per bar"
    );
    let text = text::render(&d);
    assert!(text.contains("tool read_file  FAILED: not found"), "{text}");
    assert!(
        text.contains("chat gpt-4.1  [1,234 in / 56 out tokens]"),
        "{text}"
    );
    assert!(
        text.contains("    tool read_file"),
        "indented under the session: {text}"
    );
}

#[test]
fn durations_read_well() {
    assert_eq!(duration(0), "0 ms");
    assert_eq!(duration(1_000_000), "1 ms");
    assert_eq!(duration(1_500_000), "1.5 ms");
    assert_eq!(duration(999_000_000), "999 ms");
    assert_eq!(duration(7_200_000_000_000), "2 h 0 min");
    assert_eq!(duration(-5), "0 ms");
}
