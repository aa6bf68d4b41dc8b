//! The session page (`/sessions/{id}`): the session's totals, its waterfall drawn as inline
//! SVG (no script), and a table of the same bars for keyboards and screen readers. Every
//! client string is escaped (`html::escape`, invisible characters shown as escapes) and
//! capped, so a page stays within its size bound whatever the names.

use std::fmt::Write as _;

use super::{Bar, Layout, duration, layout};
use crate::html::{escape, thousands};
use crate::sessions::{Detail, Kind, Session, Source, Span};

/// Characters of a name in a bar's label, its hover title and the table.
const LABEL_CHARS: usize = 40;
const TITLE_CHARS: usize = 100;
const TABLE_CHARS: usize = 80;
/// Characters of an error text in the hover title and the table.
const ERROR_CHARS: usize = 160;

/// Geometry of the picture (SVG user units).
const WIDTH: f64 = 1100.0;
const ROW: f64 = 22.0;
const AXIS: f64 = 26.0;
const BARS_X0: f64 = 340.0;
const BARS_X1: f64 = 1010.0;
const INDENT: f64 = 14.0;
const MAX_INDENT_LEVELS: usize = 12;

/// The failure colour, and each kind's.
const FAILED: &str = "#e03131";
fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Session => "#7048e8",
        Kind::Tool => "#4c6ef5",
        Kind::Chat => "#12b886",
        Kind::Command => "#868e96",
    }
}

const STYLE: &str = "
.wf{width:100%;height:auto}.wf text{font-size:12px;fill:#1d2330}.wf .ax{font-size:11px;fill:#667085}
.wf .d{font-size:11px;fill:#475467}.wf .in{fill:#fff}.wf g:hover rect.b{opacity:.8}
.note{color:#667085;margin:0 0 8px}td.nm{white-space:normal;word-break:break-word}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
a.back{color:#3b5bdb;text-decoration:none}main>section{margin-bottom:16px}caption{text-align:left}
.cards.six{grid-template-columns:repeat(3,minmax(0,1fr))}
";

/// `s` cut to `n` characters, with `…` when cut.
pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
///
/// ```
/// assert_eq!(telemetry_collector::waterfall::page::utc(86_400_000 + 3_723_000), "1970-01-02 01:02:03");
/// ```
pub fn utc(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let s = ms.rem_euclid(86_400_000) / 1000;
    format!(
        "{} {:02}:{:02}:{:02}",
        crate::summary::date(day),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The path of a session's page: `/sessions/` + the id, percent-encoded.
///
/// ```
/// assert_eq!(telemetry_collector::waterfall::page::session_path("a b/é"), "/sessions/a%20b%2F%C3%A9");
/// ```
pub fn session_path(id: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "/sessions/{}",
        percent_encoding::utf8_percent_encode(id, KEEP)
    )
}

/// The whole page of one session; `sign_out` adds the sign-out button.
pub fn session_page(d: &Detail, sign_out: bool) -> String {
    let lay = layout(&d.spans);
    let mut h = String::with_capacity(64 * 1024);
    let id = escape(&clip(&d.session.id, TITLE_CHARS));
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Session {id} · Telemetry</title>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <link rel=icon href=\"data:,\"><style>{}{STYLE}</style></head><body><header>\
         <h1><a class=back href=\"/#sessions\">Telemetry</a> › Session</h1><span class=range>{id}</span>",
        crate::html::STYLE
    );
    if sign_out {
        h.push_str(
            "<form method=post action=\"/logout\" class=out><button type=submit>Sign out</button></form>",
        );
    }
    h.push_str("</header><main>");
    totals(&mut h, &d.session);
    h.push_str("<section><h2>Waterfall</h2>");
    legend(&mut h);
    if lay.grouped {
        h.push_str(
            "<p class=note>This session has many spans: consecutive calls of the same tool are \
             drawn as one bar with their count.</p>",
        );
    }
    svg(&mut h, &d.spans, &lay);
    h.push_str("</section>");
    table(&mut h, &d.spans, &lay);
    let left_out = d.left_out.saturating_add(lay.left_out as u64);
    if left_out > 0 {
        let _ = write!(
            h,
            "<p class=note>{} more spans are not shown; <a href=\"/api{}\">/api{}</a> lists up to {} of them.</p>",
            thousands(left_out),
            escape(&session_path(&d.session.id)),
            escape(&session_path(&d.session.id)),
            thousands(crate::sessions::MAX_SPANS as u64)
        );
    }
    h.push_str("</main></body></html>");
    h
}

fn totals(h: &mut String, s: &Session) {
    let card = |h: &mut String, k: &str, v: &str, sub: &str| {
        let _ = write!(
            h,
            "<div class=card><div class=k>{k}</div><div class=v>{v}</div><div class=s>{sub}</div></div>"
        );
    };
    h.push_str("<div class=\"cards six\">");
    let agent = s
        .agent
        .as_deref()
        .map_or_else(|| "–".into(), |a| escape(&clip(a, LABEL_CHARS)));
    let source = match s.source {
        Source::Traces => "from traces",
        Source::Records => "from records",
    };
    card(h, "Agent", &agent, source);
    card(
        h,
        "Duration",
        &duration(s.duration_ms.saturating_mul(1_000_000)),
        &format!("started {} UTC", utc(s.start)),
    );
    card(
        h,
        "Tool calls",
        &thousands(s.tool_calls),
        &format!("{} failed", thousands(s.failed_tool_calls)),
    );
    let (outcome, class) = if s.is_success {
        ("Succeeded", "good")
    } else {
        ("Failed", "bad")
    };
    let _ = write!(
        h,
        "<div class=card><div class=k>Outcome</div><div class=\"v {class}\">{outcome}</div><div class=s>{}</div></div>",
        escape(&clip(&s.id, LABEL_CHARS))
    );
    card(
        h,
        "Tokens",
        &thousands(s.input_tokens.saturating_add(s.output_tokens)),
        &format!(
            "{} in · {} out",
            thousands(s.input_tokens),
            thousands(s.output_tokens)
        ),
    );
    card(h, "Cost", &format!("${:.4}", s.cost), "reported by clients");
    h.push_str("</div>");
}

fn legend(h: &mut String) {
    h.push_str("<p class=legend>");
    for (k, name) in [
        (Some(Kind::Command), "command"),
        (Some(Kind::Session), "agent session"),
        (Some(Kind::Tool), "tool call"),
        (Some(Kind::Chat), "model turn"),
        (None, "failed"),
    ] {
        let c = k.map_or(FAILED, colour);
        let _ = write!(h, "<span><i style=\"background:{c}\"></i>{name}</span>");
    }
    h.push_str("</p>");
}

/// What a bar is called: the tool's name, `tool ×N`, `N spans`, or the span's name.
fn label(spans: &[Span], b: &Bar) -> String {
    let s = &spans[b.span];
    match (&b.tool, b.count) {
        (Some(tool), 1) => tool.clone(),
        (Some(tool), n) => format!("{tool} ×{n}"),
        (None, 1) => s.name.clone(),
        (None, n) => format!("{n} spans"),
    }
}

/// The text after a bar: duration, and tokens of model turns.
fn figures(b: &Bar) -> String {
    let mut t = if b.count == 1 {
        duration(b.end_ns - b.start_ns)
    } else {
        format!("{} busy", duration(b.busy_ns))
    };
    if b.kind == Kind::Chat || b.tokens != (0, 0) {
        let _ = write!(
            t,
            " · {} in / {} out tokens",
            thousands(b.tokens.0),
            thousands(b.tokens.1)
        );
    }
    if b.count > 1 && b.failed > 0 {
        let _ = write!(t, " · {} failed", thousands(b.failed as u64));
    }
    t
}

/// The hover text of a bar (escaped).
fn title(spans: &[Span], b: &Bar, t0: i64) -> String {
    let s = &spans[b.span];
    let mut t = escape(&clip(&label(spans, b), TITLE_CHARS));
    let kind = if b.count == 1 {
        s.kind.as_str()
    } else {
        "group"
    };
    let _ = write!(
        t,
        "\n{kind} · starts at +{} · {}",
        duration(b.start_ns - t0),
        figures(b)
    );
    if b.count == 1
        && let Some(c) = s.cost.filter(|c| *c > 0.0)
    {
        let _ = write!(t, " · ${c:.4}");
    }
    if b.hidden > 0 {
        let _ = write!(t, "\n{} nested spans folded in", thousands(b.hidden as u64));
    }
    if b.count == 1 && !s.is_success {
        let e = s.error.as_deref().unwrap_or("failed");
        let _ = write!(t, "\nfailed: {}", escape(&clip(e, ERROR_CHARS)));
    }
    t
}

/// The axis's tick step: 1, 2 or 5 × 10^k ns, so that there are at most 8 ticks.
fn tick_step(span_ns: i64) -> i64 {
    let mut step: i64 = 1_000;
    loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if span_ns / s <= 8 {
                return s;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn svg(h: &mut String, spans: &[Span], lay: &Layout) {
    let n = lay.bars.len();
    let height = AXIS + ROW * n as f64 + 6.0;
    let range = (lay.t1 - lay.t0).max(1);
    let x = |ns: i64| BARS_X0 + (BARS_X1 - BARS_X0) * ((ns - lay.t0) as f64 / range as f64);
    let _ = write!(
        h,
        "<svg class=wf role=img aria-label=\"Waterfall of {} bars; the table below lists them\" \
         viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        n
    );
    let step = tick_step(range);
    let mut t = 0;
    while t <= range {
        let tx = x(lay.t0 + t);
        let _ = write!(
            h,
            "<line x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{height}\" stroke=\"#eef0f3\"/>\
             <text class=ax x=\"{tx:.1}\" y=\"14\" text-anchor=middle>{}</text>",
            AXIS - 6.0,
            duration(t)
        );
        t = t.saturating_add(step);
        if t == i64::MAX {
            break;
        }
    }
    for (row, b) in lay.bars.iter().enumerate() {
        let y = AXIS + ROW * row as f64;
        let (x0, x1) = (x(b.start_ns), x(b.end_ns));
        let w = (x1 - x0).max(1.5);
        let fill = if b.failed > 0 { FAILED } else { colour(b.kind) };
        let indent = 8.0 + INDENT * b.depth.min(MAX_INDENT_LEVELS) as f64;
        let _ = write!(
            h,
            "<g><title>{}</title><text x=\"{indent}\" y=\"{:.1}\">{}</text>\
             <rect class=b x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"/>",
            title(spans, b, lay.t0),
            y + 15.0,
            escape(&clip(&label(spans, b), LABEL_CHARS)),
            y + 4.0,
            ROW - 8.0,
        );
        let fig = escape(&figures(b));
        let room = 7.0 * fig.chars().count() as f64;
        let (tx, anchor, class) = if x0 + w + 6.0 + room <= WIDTH {
            (x0 + w + 4.0, "start", "d")
        } else if w > room + 8.0 {
            (x0 + w - 4.0, "end", "d in")
        } else {
            (x0 - 4.0, "end", "d")
        };
        let _ = write!(
            h,
            "<text class=\"{class}\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor={anchor}>{fig}</text></g>",
            y + 15.0
        );
    }
    h.push_str("</svg>");
}

fn table(h: &mut String, spans: &[Span], lay: &Layout) {
    h.push_str(
        "<section><h2 id=spans>Spans</h2><table aria-describedby=spans><caption class=note>The \
         waterfall's bars in the same order: indentation shows nesting, start is from the \
         session's first span.</caption><tr><th>Span</th><th>Kind</th><th>Start</th>\
         <th>Duration</th><th>Outcome</th><th>Tokens in</th><th>Tokens out</th></tr>",
    );
    for b in &lay.bars {
        let s = &spans[b.span];
        let pad = 8 + 14 * b.depth.min(MAX_INDENT_LEVELS);
        let kind = if b.count == 1 {
            s.kind.as_str()
        } else {
            "group"
        };
        let outcome = match (b.count, b.failed) {
            (_, 0) => "<td class=good>ok</td>".to_owned(),
            (1, _) => format!(
                "<td class=\"bad nm\">failed: {}</td>",
                escape(&clip(s.error.as_deref().unwrap_or(""), ERROR_CHARS))
            ),
            (n, f) => format!("<td class=bad>{f} of {n} failed</td>"),
        };
        let dur = if b.count == 1 {
            duration(b.end_ns - b.start_ns)
        } else {
            format!("{} busy", duration(b.busy_ns))
        };
        let tokens = |t: i64| {
            if b.kind == Kind::Chat || b.tokens != (0, 0) {
                thousands(t)
            } else {
                String::new()
            }
        };
        let _ = write!(
            h,
            "<tr><td class=nm style=\"padding-left:{pad}px\">{}</td><td>{kind}</td><td>+{}</td>\
             <td>{dur}</td>{outcome}<td>{}</td><td>{}</td></tr>",
            escape(&clip(&label(spans, b), TABLE_CHARS)),
            duration(b.start_ns - lay.t0),
            tokens(b.tokens.0),
            tokens(b.tokens.1),
        );
    }
    h.push_str("</table></section>");
}

/// The page for a session id nothing carries.
pub fn not_found() -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>No such session · Telemetry</title>\
         <link rel=icon href=\"data:,\"><style>{}</style></head><body><header><h1>\
         <a class=back href=\"/#sessions\">Telemetry</a> › Session</h1></header><main><section>\
         <h2>No such session</h2><p>No span or record carries this session id (retention may \
         have deleted it).</p></section></main></body></html>",
        crate::html::STYLE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(1_000_000), 200_000);
        assert_eq!(tick_step(1_500_000_000), 200_000_000);
        assert!(tick_step(i64::MAX) > 0);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("ééé", 2), "éé…");
        assert_eq!(clip("ab", 2), "ab");
    }
}
