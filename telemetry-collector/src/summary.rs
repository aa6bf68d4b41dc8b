//! The report's numbers for a window of days: the JSON of `GET /api/summary` and `report
//! --format json`. A store reads its rollups into [`Totals`] (`store::sqlite::read`,
//! `store::postgres::read`); [`build`] turns them into the [`Summary`], the same way for
//! both, so the two stores answer alike field by field.
//!
//! The window is the last `days` UTC days up to today: nothing dated after today counts.
//! Every list holds at most `top` entries, most called first; what it leaves out is summed in
//! [`Summary::more`]. Every sum saturates instead of overflowing, so the summary always
//! answers.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::rollup::{Daily, add_hist, day_of, finite_sum, now_ms};

/// Everything the report shows, for the last `days` UTC days (today included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The window, in days.
    pub days: u32,
    /// The longest list (`?top=N`).
    pub top: usize,
    /// First day of the window, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day of the window (today), `YYYY-MM-DD` (UTC).
    pub to: String,
    /// Records stored in the window.
    pub records: u64,
    /// Distinct anonymous ids (`user_uuid`) in the window.
    pub installs: u64,
    /// Sum of `dropped_records`: records clients reported dropping before sending.
    pub dropped_records: u64,
    /// Distinct installs per day, every day of the window.
    pub installs_per_day: Vec<DayCount>,
    /// Command records per day, every day of the window.
    pub commands_per_day: Vec<DayCount>,
    /// Per command (`action`), most called first.
    pub commands: Vec<NameStats>,
    /// Per tool (`tool_name`), most called first.
    pub tools: Vec<NameStats>,
    /// Per model (`model_name`), most called first (then most expensive).
    pub models: Vec<ModelStats>,
    /// Agent sessions.
    pub sessions: Sessions,
    /// The most frequent error texts of commands and tools.
    pub errors: Vec<ErrorCount>,
    /// Installs per `version`, most first.
    pub versions: Vec<Share>,
    /// Installs per `os`, most first.
    pub os: Vec<Share>,
    /// What each capped list left out.
    pub more: More,
}

/// What the lists of a [`Summary`] left out (past `top`), per list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct More {
    /// Commands not listed.
    pub commands: Rest,
    /// Tools not listed.
    pub tools: Rest,
    /// Models not listed.
    pub models: Rest,
    /// Error texts not listed.
    pub errors: Rest,
    /// Versions not listed.
    pub versions: Rest,
    /// Operating systems not listed.
    pub os: Rest,
}

/// The entries a list left out, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rest {
    /// How many entries were left out.
    pub entries: u64,
    /// Their records: calls of commands, tools and models, occurrences of errors (0 for
    /// versions and OSes, whose installs overlap).
    pub records: u64,
    /// Their failed calls (commands and tools).
    pub failures: u64,
    /// Their input tokens (models).
    pub input_tokens: i64,
    /// Their output tokens (models).
    pub output_tokens: i64,
    /// Their cost (models).
    pub cost: f64,
}

/// A count on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The count.
    pub count: u64,
}

/// Calls, failures and durations of one command or tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameStats {
    /// The command's action or the tool's name.
    pub name: String,
    /// Records.
    pub calls: u64,
    /// Records with `is_success` false.
    pub failures: u64,
    /// `(calls - failures) / calls`.
    pub success_rate: f64,
    /// Median `duration_ms` (nearest rank), if any record had one.
    pub p50_ms: Option<i64>,
    /// 95th percentile `duration_ms` (nearest rank).
    pub p95_ms: Option<i64>,
}

/// Token usage of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// `model_name`.
    pub name: String,
    /// Token records.
    pub calls: u64,
    /// Sum of `input_tokens`.
    pub input_tokens: i64,
    /// Sum of `output_tokens`.
    pub output_tokens: i64,
    /// Sum of `cost`.
    pub cost: f64,
}

/// Agent sessions in the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Distinct `session_id`s of session records.
    pub count: u64,
    /// Session end records.
    pub ended: u64,
    /// Session ends with `is_success` false.
    pub failed: u64,
    /// Sum of `tool_calls` over session ends.
    pub tool_calls: i64,
    /// Sum of `error_count` over session ends.
    pub errors: i64,
}

/// One error text and how often it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The (client-scrubbed, capped) error text.
    pub text: String,
    /// Records carrying it.
    pub count: u64,
}

/// Installs using one value (a version or an OS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// The value.
    pub name: String,
    /// Distinct installs that sent a record with it.
    pub installs: u64,
}

/// List length when none is asked for (`?top=N`, `report --top N`).
pub const DEFAULT_TOP: usize = 25;

/// The longest list that may be asked for.
pub const MAX_TOP: usize = 200;

/// The window of a summary: the last `days` UTC days up to today, at most `top` per list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Days in the window (at least 1).
    pub days: u32,
    /// The longest list (1 to [`MAX_TOP`]).
    pub top: usize,
    /// The first UTC day (days since 1970-01-01).
    pub first: i64,
    /// Today (UTC), the last day.
    pub today: i64,
}

impl Window {
    /// The last `days` days up to now, `top` clamped to 1..=[`MAX_TOP`].
    ///
    /// ```
    /// let w = telemetry_collector::summary::Window::new(0, 1000);
    /// assert_eq!((w.days, w.top, w.first), (1, 200, w.today));
    /// ```
    pub fn new(days: u32, top: usize) -> Self {
        let days = days.max(1);
        let today = day_of(now_ms());
        Self {
            days,
            top: top.clamp(1, MAX_TOP),
            first: today - i64::from(days) + 1,
            today,
        }
    }
}

/// Calls, failures and the merged duration histogram of one command or tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calls {
    /// Records.
    pub calls: i64,
    /// Failed records.
    pub failures: i64,
    /// Duration histogram: bucket → count.
    pub hist: BTreeMap<i64, u64>,
}

/// Token sums of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tokens {
    /// Records.
    pub calls: i64,
    /// Sum of `input_tokens`.
    pub input: i64,
    /// Sum of `output_tokens`.
    pub output: i64,
    /// Sum of `cost`.
    pub cost: f64,
}

/// What a store reads from its rollups for a [`Window`]: the summary's numbers before they
/// are sorted, capped and turned into percentiles. Every sum saturates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Records.
    pub records: i64,
    /// Sum of `dropped_records`.
    pub dropped: i64,
    /// Command records per day.
    pub commands_per_day: BTreeMap<i64, u64>,
    /// Per command.
    pub commands: HashMap<String, Calls>,
    /// Per tool.
    pub tools: HashMap<String, Calls>,
    /// Per model.
    pub models: HashMap<String, Tokens>,
    /// Session ends, failed ends, their `tool_calls` and their `error_count`.
    pub session_ends: [i64; 4],
    /// Distinct session ids.
    pub session_count: u64,
    /// Occurrences per error text.
    pub errors: HashMap<String, i64>,
    /// Distinct installs.
    pub installs: u64,
    /// Distinct installs per day.
    pub installs_per_day: BTreeMap<i64, u64>,
    /// Distinct installs per version.
    pub versions: HashMap<String, u64>,
    /// Distinct installs per OS.
    pub os: HashMap<String, u64>,
}

impl Totals {
    /// Adds the rollup of one (day, kind, name).
    pub fn add_daily(&mut self, day: i64, kind: &str, name: &str, d: &Daily) {
        self.records = self.records.saturating_add(d.calls);
        self.dropped = self.dropped.saturating_add(d.dropped);
        match kind {
            "command" | "tool" => {
                if kind == "command" {
                    let n = self.commands_per_day.entry(day).or_default();
                    *n = n.saturating_add(d.calls.max(0) as u64);
                }
                let c = self.calls_of(kind, name);
                c.calls = c.calls.saturating_add(d.calls);
                c.failures = c.failures.saturating_add(d.failures);
                add_hist(&mut c.hist, d.hist.iter().map(|(&b, &n)| (b, n)));
            }
            "token" => {
                let t = entry(&mut self.models, name);
                t.calls = t.calls.saturating_add(d.calls);
                t.input = t.input.saturating_add(d.input_tokens);
                t.output = t.output.saturating_add(d.output_tokens);
                t.cost = finite_sum(t.cost, d.cost);
            }
            "session" => {
                let add = [d.ends, d.end_failures, d.tool_calls, d.error_count];
                for (sum, n) in self.session_ends.iter_mut().zip(add) {
                    *sum = sum.saturating_add(n);
                }
            }
            _ => {}
        }
    }

    /// The totals of a command (`kind` "command") or a tool (any other kind).
    pub fn calls_of(&mut self, kind: &str, name: &str) -> &mut Calls {
        let map = if kind == "command" {
            &mut self.commands
        } else {
            &mut self.tools
        };
        entry(map, name)
    }

    /// Adds `n` occurrences of an error text.
    pub fn add_error(&mut self, text: &str, n: i64) {
        let e = entry(&mut self.errors, text);
        *e = e.saturating_add(n);
    }
}

fn entry<'m, T: Default>(map: &'m mut HashMap<String, T>, name: &str) -> &'m mut T {
    if !map.contains_key(name) {
        map.insert(name.to_owned(), T::default());
    }
    map.get_mut(name).expect("inserted above")
}

/// The summary of `w` from a store's [`Totals`].
pub fn build(t: Totals, w: &Window) -> Summary {
    let mut s = Summary {
        days: w.days,
        top: w.top,
        from: date(w.first),
        to: date(w.today),
        records: t.records.max(0) as u64,
        installs: t.installs,
        dropped_records: t.dropped.max(0) as u64,
        installs_per_day: fill_days(&t.installs_per_day, w.first, w.today),
        commands_per_day: fill_days(&t.commands_per_day, w.first, w.today),
        sessions: Sessions {
            count: t.session_count,
            ended: t.session_ends[0].max(0) as u64,
            failed: t.session_ends[1].max(0) as u64,
            tool_calls: t.session_ends[2],
            errors: t.session_ends[3],
        },
        ..Summary::default()
    };
    (s.commands, s.more.commands) = name_stats(t.commands, w.top);
    (s.tools, s.more.tools) = name_stats(t.tools, w.top);
    (s.models, s.more.models) = model_stats(t.models, w.top);
    (s.errors, s.more.errors) = errors(t.errors, w.top);
    (s.versions, s.more.versions) = shares(t.versions, w.top);
    (s.os, s.more.os) = shares(t.os, w.top);
    s
}

/// Puts the `top` first entries by `cmp` in front, in order; the rest stays behind them in
/// no particular order (linear time: sorting every one of 100,000 made-up names cost more
/// than the rest of the summary).
fn top_first<T>(v: &mut [T], top: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if v.len() > top && top > 0 {
        v.select_nth_unstable_by(top - 1, &cmp);
    }
    let n = top.min(v.len());
    v[..n].sort_by(&cmp);
}

/// The `top` values with most installs, and how many more there are.
fn shares(map: HashMap<String, u64>, top: usize) -> (Vec<Share>, Rest) {
    let mut out: Vec<Share> = map
        .into_iter()
        .map(|(name, installs)| Share { name, installs })
        .collect();
    top_first(&mut out, top, |a, b| {
        b.installs
            .cmp(&a.installs)
            .then_with(|| a.name.cmp(&b.name))
    });
    let rest = Rest {
        entries: out.len().saturating_sub(top) as u64,
        ..Rest::default()
    };
    out.truncate(top);
    (out, rest)
}

/// The `top` most frequent error texts, and the rest summed (`records`: their occurrences).
fn errors(counts: HashMap<String, i64>, top: usize) -> (Vec<ErrorCount>, Rest) {
    let mut all: Vec<ErrorCount> = counts
        .into_iter()
        .map(|(text, n)| ErrorCount {
            text,
            count: n.max(0) as u64,
        })
        .collect();
    top_first(&mut all, top, |a, b| {
        b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text))
    });
    let mut rest = Rest::default();
    for e in all.iter().skip(top) {
        rest.entries += 1;
        rest.records = rest.records.saturating_add(e.count);
    }
    all.truncate(top);
    (all, rest)
}

fn fill_days(counts: &BTreeMap<i64, u64>, first: i64, today: i64) -> Vec<DayCount> {
    (first..=today)
        .map(|d| DayCount {
            day: date(d),
            count: counts.get(&d).copied().unwrap_or(0),
        })
        .collect()
}

/// The `top` most called names with their percentiles (see [`percentile`]), and the rest
/// summed.
fn name_stats(totals: HashMap<String, Calls>, top: usize) -> (Vec<NameStats>, Rest) {
    let mut all: Vec<(String, Calls)> = totals.into_iter().collect();
    top_first(&mut all, top, |a, b| {
        b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(&b.0))
    });
    let mut rest = Rest::default();
    for (_, c) in all.iter().skip(top) {
        rest.entries += 1;
        rest.records = rest.records.saturating_add(c.calls.max(0) as u64);
        rest.failures = rest.failures.saturating_add(c.failures.max(0) as u64);
    }
    all.truncate(top);
    let out = all
        .into_iter()
        .map(|(name, c)| {
            let h: Vec<(i64, u64)> = c.hist.into_iter().collect();
            let calls = c.calls.max(0) as u64;
            let failures = (c.failures.max(0) as u64).min(calls);
            NameStats {
                success_rate: if calls == 0 {
                    1.0
                } else {
                    (calls - failures) as f64 / calls as f64
                },
                p50_ms: percentile(&h, 50),
                p95_ms: percentile(&h, 95),
                name,
                calls,
                failures,
            }
        })
        .collect();
    (out, rest)
}

/// Nearest-rank percentile over a histogram of `(bucket lower bound, count)` sorted by bound:
/// the lower bound of the bucket holding the value of rank ⌈p·n/100⌉. Exact below 1,000 ms;
/// above, less than 1% below the exact nearest-rank value (see `rollup::bucket`).
fn percentile(hist: &[(i64, u64)], p: u64) -> Option<i64> {
    let n = hist.iter().fold(0u64, |n, b| n.saturating_add(b.1));
    if n == 0 {
        return None;
    }
    let rank = ((u128::from(p) * u128::from(n)).div_ceil(100) as u64).max(1);
    let mut seen = 0u64;
    for &(lo, count) in hist {
        seen = seen.saturating_add(count);
        if seen >= rank {
            return Some(lo);
        }
    }
    hist.last().map(|b| b.0)
}

/// The `top` most called models (then most expensive), and the rest summed.
fn model_stats(totals: HashMap<String, Tokens>, top: usize) -> (Vec<ModelStats>, Rest) {
    let mut out: Vec<ModelStats> = totals
        .into_iter()
        .map(|(name, t)| ModelStats {
            name,
            calls: t.calls.max(0) as u64,
            input_tokens: t.input,
            output_tokens: t.output,
            cost: t.cost,
        })
        .collect();
    top_first(&mut out, top, |a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| b.cost.total_cmp(&a.cost))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut rest = Rest::default();
    for m in out.iter().skip(top) {
        rest.entries += 1;
        rest.records = rest.records.saturating_add(m.calls);
        rest.input_tokens = rest.input_tokens.saturating_add(m.input_tokens);
        rest.output_tokens = rest.output_tokens.saturating_add(m.output_tokens);
        rest.cost = finite_sum(rest.cost, m.cost);
    }
    out.truncate(top);
    (out, rest)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (proleptic Gregorian, UTC).
pub fn date(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_percentiles() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_454), "2026-01-01");
        assert_eq!(date(11_016), "2000-02-29");
        let v: Vec<(i64, u64)> = (1..=100).map(|d| (d, 1)).collect();
        assert_eq!(
            (percentile(&v, 50), percentile(&v, 95)),
            (Some(50), Some(95))
        );
        assert_eq!(percentile(&[(7, 3)], 95), Some(7));
        assert_eq!(percentile(&[(1, 94), (9, 6)], 95), Some(9));
        assert_eq!(percentile(&[], 50), None);
    }
}
