//! The report page: one self-contained HTML document (inline CSS, SVG charts drawn here, no
//! script), and the login form. Every value from clients is escaped.

use std::fmt::Write as _;

use crate::summary::{DayCount, NameStats, Rest, Share, Summary};

/// Escapes text for HTML element content and double-quoted attributes; characters that are
/// invisible or reorder text are shown as escapes (see [`visible`]).
///
/// ```
/// assert_eq!(telemetry_collector::html::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// assert_eq!(telemetry_collector::html::escape("a\u{202e}b"), "a\\u202eb");
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if hidden(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Whether a character is invisible or changes how the text around it is ordered or read:
/// control characters, bidirectional controls and marks, zero-width and other format
/// characters, line and paragraph separators, variation selectors, tag characters. Shown
/// raw, they let a name pass for another (`exe.gnp` written to look like `png.exe`).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// `\u202e` for a character of the Basic Multilingual Plane, `\u{e0041}` above it.
fn push_escaped(out: &mut String, c: char) {
    let n = u32::from(c);
    if n <= 0xFFFF {
        let _ = write!(out, "\\u{n:04x}");
    } else {
        let _ = write!(out, "\\u{{{n:x}}}");
    }
}

/// Text with every [`hidden`] character shown as an escape, for a terminal or a page.
///
/// ```
/// use telemetry_collector::html::visible;
/// assert_eq!(visible("evil\u{202e}gnp.exe"), "evil\\u202egnp.exe");
/// assert_eq!(visible("zero\u{200b}width\u{e0041}"), "zero\\u200bwidth\\u{e0041}");
/// assert_eq!(visible("plain ünïcode"), "plain ünïcode");
/// ```
pub fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `1234567` → `1,234,567` (any integer type up to 64 bits).
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The report's CSS, shared by the session page.
pub const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f6f7f9;color:#1d2330}
header{background:#fff;border-bottom:1px solid #e3e6eb;padding:14px 28px;display:flex;align-items:center;gap:18px;flex-wrap:wrap}
header h1{font-size:18px;margin:0;font-weight:650}header .range{color:#667085}
nav a{color:#3b5bdb;text-decoration:none;padding:4px 10px;border-radius:6px;margin-right:4px;border:1px solid #d0d5dd;background:#fff}
nav a.on{background:#3b5bdb;color:#fff;border-color:#3b5bdb}
main{padding:20px 28px;max-width:1240px;margin:0 auto}
.cards{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:12px;margin-bottom:18px}
@media(max-width:700px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}}
.card{background:#fff;border:1px solid #e3e6eb;border-radius:10px;padding:12px 14px}
.card .k{color:#667085;font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:24px;font-weight:650;margin-top:2px}
.card .s{color:#667085;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;margin-bottom:16px}
section{background:#fff;border:1px solid #e3e6eb;border-radius:10px;padding:14px 16px;overflow:auto}
section h2{font-size:14px;margin:0 0 10px;font-weight:650}
table{border-collapse:collapse;width:100%}th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #f0f1f4;white-space:nowrap}
th{color:#667085;font-weight:550;font-size:12px}th:first-child,td:first-child{text-align:left;white-space:normal;word-break:break-word}
td.bar{width:30%}td.bar div{height:8px;background:#91a7ff;border-radius:4px}
.bad{color:#c92a2a}.good{color:#2b8a3e}.empty{color:#98a2b3;padding:8px 0}svg text{font-size:11px;fill:#667085}
tr.more td{color:#667085;font-style:italic}section.wide{margin-bottom:16px}nav.filter{margin:0 0 10px}.pager{margin:8px 0 0}.pager a,td a{color:#3b5bdb}form.out{margin-left:auto}form.out button{padding:4px 10px;border:1px solid #d0d5dd;border-radius:6px;background:#fff;color:#3b5bdb}
";

/// "12,345 more" when a list left entries out.
fn more_label(rest: &Rest) -> Option<String> {
    (rest.entries > 0).then(|| format!("{} more", thousands(rest.entries)))
}

/// The report for a summary; `sign_out` adds the sign-out button (an admin token is set).
pub fn report_page(s: &Summary, sign_out: bool) -> String {
    report_page_with(s, sign_out, "")
}

/// [`report_page`] with `sessions` (the Recent sessions section's HTML) after the charts.
pub fn report_page_with(s: &Summary, sign_out: bool, sessions: &str) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Telemetry report</title>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <link rel=icon href=\"data:,\"><style>{STYLE}</style></head><body><header>\
         <h1>Telemetry</h1><span class=range>{} → {} (UTC)</span><nav>",
        escape(&s.from),
        escape(&s.to)
    );
    for d in [1, 7, 30, 90] {
        let on = if d == s.days { " class=on" } else { "" };
        let _ = write!(h, "<a{on} href=\"/?days={d}\">{d}d</a>");
    }
    h.push_str("</nav>");
    if sign_out {
        h.push_str(
            "<form method=post action=\"/logout\" class=out><button type=submit>Sign out</button></form>",
        );
    }
    h.push_str("</header><main>");
    cards(&mut h, s);
    h.push_str("<div class=grid>");
    chart_section(&mut h, "Installs per day", &s.installs_per_day, "#4c6ef5");
    chart_section(&mut h, "Commands per day", &s.commands_per_day, "#12b886");
    h.push_str("</div>");
    h.push_str(sessions);
    h.push_str("<div class=grid>");
    name_table(&mut h, "Commands", &s.commands, &s.more.commands);
    name_table(&mut h, "Tools", &s.tools, &s.more.tools);
    h.push_str("</div><div class=grid>");
    models_table(&mut h, s);
    errors_table(&mut h, s);
    h.push_str("</div><div class=grid>");
    share_table(&mut h, "Versions", &s.versions, &s.more.versions);
    share_table(&mut h, "Operating systems", &s.os, &s.more.os);
    h.push_str("</div></main></body></html>");
    h
}

fn card(h: &mut String, key: &str, value: &str, sub: &str) {
    let _ = write!(
        h,
        "<div class=card><div class=k>{key}</div><div class=v>{value}</div><div class=s>{sub}</div></div>"
    );
}

/// Totals over a list and what it left out: (calls, failures), saturating.
fn totals(rows: &[NameStats], rest: &Rest) -> (u64, u64) {
    rows.iter()
        .fold((rest.records, rest.failures), |(c, f), r| {
            (c.saturating_add(r.calls), f.saturating_add(r.failures))
        })
}

fn cards(h: &mut String, s: &Summary) {
    let (calls, failures) = totals(&s.commands, &s.more.commands);
    let rate = if calls == 0 {
        "–".to_owned()
    } else {
        let ok = calls.saturating_sub(failures);
        format!("{:.1}%", 100.0 * ok as f64 / calls as f64)
    };
    let rest = &s.more.models;
    let (input, output, cost) = s.models.iter().fold(
        (rest.input_tokens, rest.output_tokens, rest.cost),
        |(i, o, c), m| {
            (
                i.saturating_add(m.input_tokens),
                o.saturating_add(m.output_tokens),
                crate::rollup::finite_sum(c, m.cost),
            )
        },
    );
    let (tool_calls, tool_failures) = totals(&s.tools, &s.more.tools);
    h.push_str("<div class=cards>");
    card(
        h,
        "Installs",
        &thousands(s.installs),
        "distinct anonymous ids",
    );
    card(
        h,
        "Commands",
        &thousands(calls),
        &format!("{} failed", thousands(failures)),
    );
    card(h, "Success rate", &rate, "of commands");
    card(
        h,
        "Sessions",
        &thousands(s.sessions.count),
        &format!("{} failed", s.sessions.failed),
    );
    card(
        h,
        "Tool calls",
        &thousands(tool_calls),
        &format!("{} failed", thousands(tool_failures)),
    );
    card(
        h,
        "Tokens",
        &thousands(input.saturating_add(output)),
        &format!("{} in · {} out", thousands(input), thousands(output)),
    );
    card(h, "Cost", &format!("${cost:.2}"), "reported by clients");
    card(
        h,
        "Records",
        &thousands(s.records),
        &format!("{} dropped by clients", thousands(s.dropped_records)),
    );
    h.push_str("</div>");
}

fn chart_section(h: &mut String, title: &str, days: &[DayCount], color: &str) {
    let _ = write!(h, "<section><h2>{title}</h2>");
    h.push_str(&bar_chart(days, color));
    h.push_str("</section>");
}

/// A bar per day with a hover title, the maximum on the y axis, first and last day below.
fn bar_chart(days: &[DayCount], color: &str) -> String {
    let (w, ht, left, bottom) = (600.0_f64, 170.0_f64, 40.0_f64, 20.0_f64);
    let max = days.iter().map(|d| d.count).max().unwrap_or(0).max(1);
    let plot_h = ht - bottom - 8.0;
    let slot = (w - left) / days.len().max(1) as f64;
    let mut svg = format!(
        "<svg role=img aria-label=\"bar chart\" viewBox=\"0 0 {w} {ht}\" width=\"100%\" preserveAspectRatio=\"none\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"8\" x2=\"{w}\" y2=\"8\" stroke=\"#eef0f3\"/>\
         <line x1=\"{left}\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#d0d5dd\"/>\
         <text x=\"{tx}\" y=\"12\" text-anchor=end>{}</text><text x=\"{tx}\" y=\"{y}\" text-anchor=end>0</text>",
        thousands(max),
        y = 8.0 + plot_h,
        tx = left - 6.0
    );
    for (i, d) in days.iter().enumerate() {
        let bh = plot_h * d.count as f64 / max as f64;
        let x = left + i as f64 * slot + slot * 0.15;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" rx=\"2\" fill=\"{color}\"><title>{}: {}</title></rect>",
            8.0 + plot_h - bh,
            (slot * 0.7).max(1.0),
            escape(&d.day),
            d.count
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{ht}\" dy=\"-4\">{}</text><text x=\"{w}\" y=\"{ht}\" dy=\"-4\" text-anchor=end>{}</text>",
            escape(&first.day),
            escape(&last.day)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "–".into(), |d| format!("{} ms", thousands(d)))
}

fn name_table(h: &mut String, title: &str, rows: &[NameStats], rest: &Rest) {
    let _ = write!(h, "<section><h2>{title}</h2>");
    if rows.is_empty() {
        h.push_str("<div class=empty>No records in this window.</div></section>");
        return;
    }
    h.push_str("<table><tr><th>Name</th><th>Calls</th><th>Failures</th><th>Success</th><th>p50</th><th>p95</th></tr>");
    for r in rows {
        let class = if r.success_rate < 0.9 { "bad" } else { "good" };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class={class}>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            escape(&r.name),
            thousands(r.calls),
            thousands(r.failures),
            100.0 * r.success_rate,
            ms(r.p50_ms),
            ms(r.p95_ms)
        );
    }
    if let Some(label) = more_label(rest) {
        let _ = write!(
            h,
            "<tr class=more><td>{label}</td><td>{}</td><td>{}</td><td></td><td></td><td></td></tr>",
            thousands(rest.records),
            thousands(rest.failures)
        );
    }
    h.push_str("</table></section>");
}

fn models_table(h: &mut String, s: &Summary) {
    h.push_str("<section><h2>Tokens and cost per model</h2>");
    if s.models.is_empty() {
        h.push_str("<div class=empty>No token usage in this window.</div></section>");
        return;
    }
    h.push_str(
        "<table><tr><th>Model</th><th>Calls</th><th>Input</th><th>Output</th><th>Cost</th></tr>",
    );
    for m in &s.models {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>${:.4}</td></tr>",
            escape(&m.name),
            thousands(m.calls),
            thousands(m.input_tokens),
            thousands(m.output_tokens),
            m.cost
        );
    }
    let rest = &s.more.models;
    if let Some(label) = more_label(rest) {
        let _ = write!(
            h,
            "<tr class=more><td>{label}</td><td>{}</td><td>{}</td><td>{}</td><td>${:.4}</td></tr>",
            thousands(rest.records),
            thousands(rest.input_tokens),
            thousands(rest.output_tokens),
            rest.cost
        );
    }
    let _ = write!(
        h,
        "</table><p class=s>Sessions: {} started · {} ended · {} failed · {} tool calls · {} errors</p></section>",
        thousands(s.sessions.count),
        thousands(s.sessions.ended),
        thousands(s.sessions.failed),
        thousands(s.sessions.tool_calls),
        thousands(s.sessions.errors)
    );
}

fn errors_table(h: &mut String, s: &Summary) {
    h.push_str("<section><h2>Top errors</h2>");
    if s.errors.is_empty() {
        h.push_str("<div class=empty>No errors in this window.</div></section>");
        return;
    }
    h.push_str("<table><tr><th>Error</th><th>Count</th></tr>");
    for e in &s.errors {
        let _ = write!(
            h,
            "<tr><td class=bad>{}</td><td>{}</td></tr>",
            escape(&e.text),
            thousands(e.count)
        );
    }
    if let Some(label) = more_label(&s.more.errors) {
        let _ = write!(
            h,
            "<tr class=more><td>{label}</td><td>{}</td></tr>",
            thousands(s.more.errors.records)
        );
    }
    h.push_str("</table></section>");
}

fn share_table(h: &mut String, title: &str, rows: &[Share], rest: &Rest) {
    let _ = write!(h, "<section><h2>{title}</h2>");
    if rows.is_empty() {
        h.push_str("<div class=empty>No records in this window.</div></section>");
        return;
    }
    let max = rows.iter().map(|r| r.installs).max().unwrap_or(1).max(1);
    h.push_str("<table><tr><th>Name</th><th>Installs</th><th></th></tr>");
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=bar><div style=\"width:{:.0}%\"></div></td></tr>",
            escape(&r.name),
            thousands(r.installs),
            100.0 * r.installs as f64 / max as f64
        );
    }
    if let Some(label) = more_label(rest) {
        let _ = write!(h, "<tr class=more><td>{label}</td><td></td><td></td></tr>");
    }
    h.push_str("</table></section>");
}

/// The login form (`POST /login`, field `token`); `wait` says the address must wait after
/// too many wrong tokens.
pub fn login_page(wait: Option<std::time::Duration>) -> String {
    let note = match wait {
        Some(w) => format!(
            "<p class=bad>Too many wrong tokens from your address: try again in {} s.</p>",
            w.as_secs().max(1)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Telemetry report: sign in</title>\
         <link rel=icon href=\"data:,\"><style>{STYLE}form{{max-width:360px;margin:80px auto;background:#fff;\
         border:1px solid #e3e6eb;border-radius:10px;padding:20px}}input{{width:100%;padding:8px;margin:8px 0;\
         border:1px solid #d0d5dd;border-radius:6px}}button{{padding:8px 14px;border:0;border-radius:6px;\
         background:#3b5bdb;color:#fff}}</style></head><body><form method=post action=\"/login\">\
         <h1>Telemetry report</h1><p>Enter the admin token.</p>{note}\
         <input type=password name=token autocomplete=current-password autofocus required>\
         <button type=submit>Sign in</button></form></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_charts() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        let days = [DayCount {
            day: "2026-01-01".into(),
            count: 3,
        }];
        let svg = bar_chart(&days, "#000");
        assert!(svg.starts_with("<svg") && svg.contains("<title>2026-01-01: 3</title>"));
    }
}
