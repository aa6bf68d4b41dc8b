//! The report's numbers for a window of days, read from the daily rollups (see
//! `rollup.rs`): the JSON of `GET /api/summary` and `report --format json`.
//!
//! The window is the last `days` UTC days up to today: nothing dated after today counts.
//! Every list holds at most `top` entries, most called first; what it leaves out is summed in
//! [`Summary::more`]. Every sum saturates instead of overflowing, so the summary always
//! answers.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};

use crate::rollup::{add_hist, decode_hist, finite_sum, int_at, real_at};
use crate::store::{MS_PER_DAY, now_ms, open_read};

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

/// The summary of the last `days` days (at least 1, today included, nothing after now),
/// with at most `top` entries per list.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let conn = telemetry_collector::store::open_write(&dir.path().join("t.db")).unwrap();
/// let s = telemetry_collector::summary::summarize(&conn, 7, 10).unwrap();
/// assert_eq!((s.records, s.installs_per_day.len(), s.top), (0, 7, 10));
/// ```
pub fn summarize(conn: &Connection, days: u32, top: usize) -> rusqlite::Result<Summary> {
    let (first, today, mut s) = window(days, top);
    installs(conn, first, today, &mut s)?;
    rest(conn, first, today, &mut s)?;
    Ok(s)
}

/// [`summarize`] over a database file, the install scan and the other queries on two
/// threads with a read-only connection each.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.db");
/// drop(telemetry_collector::store::open_write(&path).unwrap());
/// let s = telemetry_collector::summary::summarize_file(&path, 3, 5).unwrap();
/// assert_eq!(s.days, 3);
/// ```
pub fn summarize_file(path: &Path, days: u32, top: usize) -> Result<Summary, String> {
    let (first, today, s) = window(days, top);
    let (a, b) = (open_read(path)?, open_read(path)?);
    let err = |e: rusqlite::Error| format!("cannot read {}: {e}", path.display());
    let mut other = Summary {
        top: s.top,
        ..Summary::default()
    };
    let (scan, queries) = std::thread::scope(|scope| {
        let t = scope.spawn(move || {
            let mut s = s;
            installs(&a, first, today, &mut s).map(|()| s)
        });
        let queries = rest(&b, first, today, &mut other);
        (t.join(), queries)
    });
    let mut s = scan
        .map_err(|_| "the summary thread panicked".to_owned())?
        .map_err(err)?;
    queries.map_err(err)?;
    s.records = other.records;
    s.commands_per_day = other.commands_per_day;
    s.commands = other.commands;
    s.tools = other.tools;
    s.models = other.models;
    s.sessions = other.sessions;
    s.errors = other.errors;
    s.dropped_records = other.dropped_records;
    s.more.commands = other.more.commands;
    s.more.tools = other.more.tools;
    s.more.models = other.more.models;
    s.more.errors = other.more.errors;
    Ok(s)
}

fn window(days: u32, top: usize) -> (i64, i64, Summary) {
    let days = days.max(1);
    let today = now_ms().div_euclid(MS_PER_DAY);
    let first = today - i64::from(days) + 1;
    let s = Summary {
        days,
        top: top.clamp(1, MAX_TOP),
        from: date(first),
        to: date(today),
        ..Summary::default()
    };
    (first, today, s)
}

/// Calls, failures and the merged duration histogram of one command or tool.
#[derive(Default)]
struct Calls {
    calls: i64,
    failures: i64,
    hist: BTreeMap<i64, u64>,
}

/// Token sums of one model.
#[derive(Default)]
struct Tokens {
    calls: i64,
    input: i64,
    output: i64,
    cost: f64,
}

/// Everything but the install scan: one pass over the window's `daily` rows, then the
/// error texts. Every sum saturates (see `rollup::int_at` for values an older collector
/// may have stored).
fn rest(conn: &Connection, first: i64, today: i64, s: &mut Summary) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT day, kind, name, calls, failures, input_tokens, output_tokens, cost, ends,
         end_failures, tool_calls, error_count, dropped, hist FROM daily
         WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt.query([first, today])?;
    let (mut records, mut dropped) = (0i64, 0i64);
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut commands: HashMap<String, Calls> = HashMap::new();
    let mut tools: HashMap<String, Calls> = HashMap::new();
    let mut models: HashMap<String, Tokens> = HashMap::new();
    let mut sessions = [0i64; 4];
    while let Some(r) = rows.next()? {
        let calls = int_at(r, 3)?;
        records = records.saturating_add(calls);
        dropped = dropped.saturating_add(int_at(r, 12)?);
        let kind = r.get_ref(1)?.as_str()?;
        let name = r.get_ref(2)?.as_str()?;
        match kind {
            "command" | "tool" => {
                let map = if kind == "tool" {
                    &mut tools
                } else {
                    &mut commands
                };
                if kind == "command" {
                    let d = per_day.entry(int_at(r, 0)?).or_default();
                    *d = d.saturating_add(calls.max(0) as u64);
                }
                let c = entry(map, name);
                c.calls = c.calls.saturating_add(calls);
                c.failures = c.failures.saturating_add(int_at(r, 4)?);
                if let ValueRef::Blob(b) = r.get_ref(13)? {
                    add_hist(&mut c.hist, decode_hist(b));
                }
            }
            "token" => {
                let t = entry(&mut models, name);
                t.calls = t.calls.saturating_add(calls);
                t.input = t.input.saturating_add(int_at(r, 5)?);
                t.output = t.output.saturating_add(int_at(r, 6)?);
                t.cost = finite_sum(t.cost, real_at(r, 7)?);
            }
            "session" => {
                for (i, col) in [8, 9, 10, 11].into_iter().enumerate() {
                    sessions[i] = sessions[i].saturating_add(int_at(r, col)?);
                }
            }
            _ => {}
        }
    }
    s.records = records.max(0) as u64;
    s.dropped_records = dropped.max(0) as u64;
    s.commands_per_day = fill_days(&per_day, first, today);
    (s.commands, s.more.commands) = name_stats(commands, s.top);
    (s.tools, s.more.tools) = name_stats(tools, s.top);
    (s.models, s.more.models) = model_stats(models, s.top);
    s.sessions = Sessions {
        count: session_count(conn, first, today)?,
        ended: sessions[0].max(0) as u64,
        failed: sessions[1].max(0) as u64,
        tool_calls: sessions[2],
        errors: sessions[3],
    };
    (s.errors, s.more.errors) = errors(conn, first, today, s.top)?;
    Ok(())
}

fn entry<'m, T: Default>(map: &'m mut HashMap<String, T>, name: &str) -> &'m mut T {
    if !map.contains_key(name) {
        map.insert(name.to_owned(), T::default());
    }
    map.get_mut(name).expect("inserted above")
}

/// Distinct installs, installs per day, per version and per OS: one ordered scan of
/// `daily_installs`. Rows repeat users a lot; only changes do any hashing.
fn installs(conn: &Connection, first: i64, today: i64, s: &mut Summary) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT day, user_id, version, os FROM daily_installs WHERE day BETWEEN ?1 AND ?2
         ORDER BY day, user_id",
    )?;
    let mut rows = stmt.query([first, today])?;
    let mut users: HashMap<String, usize> = HashMap::new();
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut versions: HashMap<String, HashSet<usize>> = HashMap::new();
    let mut oses: HashMap<String, HashSet<usize>> = HashMap::new();
    let (mut last_day, mut last_user, mut uid) = (i64::MIN, String::new(), 0usize);
    while let Some(row) = rows.next()? {
        let day = row.get_ref(0)?.as_i64()?;
        let user = row.get_ref(1)?.as_str()?;
        if day != last_day || user != last_user {
            let next = users.len();
            uid = match users.get(user) {
                Some(&id) => id,
                None => *users.entry(user.to_owned()).or_insert(next),
            };
            *per_day.entry(day).or_default() += 1;
            last_day = day;
            last_user.clear();
            last_user.push_str(user);
        }
        // An absent version or OS is stored as "".
        let version = row.get_ref(2)?.as_str()?;
        if !version.is_empty() {
            add_share(&mut versions, version, uid);
        }
        let os = row.get_ref(3)?.as_str()?;
        if !os.is_empty() {
            add_share(&mut oses, os, uid);
        }
    }
    s.installs = users.len() as u64;
    s.installs_per_day = fill_days(&per_day, first, today);
    (s.versions, s.more.versions) = shares(versions, s.top);
    (s.os, s.more.os) = shares(oses, s.top);
    Ok(())
}

fn add_share(map: &mut HashMap<String, HashSet<usize>>, value: &str, uid: usize) {
    match map.get_mut(value) {
        Some(ids) => {
            ids.insert(uid);
        }
        None => {
            map.insert(value.to_owned(), HashSet::from([uid]));
        }
    }
}

/// The `top` values with most installs, and how many more there are.
fn shares(map: HashMap<String, HashSet<usize>>, top: usize) -> (Vec<Share>, Rest) {
    let mut out: Vec<Share> = map
        .into_iter()
        .map(|(name, ids)| Share {
            name,
            installs: ids.len() as u64,
        })
        .collect();
    out.sort_by(|a, b| {
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
    all.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(&b.0)));
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
    out.sort_by(|a, b| {
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

fn session_count(conn: &Connection, first: i64, today: i64) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(DISTINCT session_id) FROM daily_sessions WHERE day BETWEEN ?1 AND ?2",
        [first, today],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// The `top` most frequent error texts, and the rest summed (`records`: their occurrences).
fn errors(
    conn: &Connection,
    first: i64,
    today: i64,
    top: usize,
) -> rusqlite::Result<(Vec<ErrorCount>, Rest)> {
    let mut stmt =
        conn.prepare("SELECT text, count FROM daily_errors WHERE day BETWEEN ?1 AND ?2")?;
    let mut rows = stmt.query([first, today])?;
    let mut counts: HashMap<String, i64> = HashMap::new();
    while let Some(r) = rows.next()? {
        let n = entry(&mut counts, r.get_ref(0)?.as_str()?);
        *n = n.saturating_add(int_at(r, 1)?);
    }
    let mut all: Vec<ErrorCount> = counts
        .into_iter()
        .map(|(text, n)| ErrorCount {
            text,
            count: n.max(0) as u64,
        })
        .collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    let mut rest = Rest::default();
    for e in all.iter().skip(top) {
        rest.entries += 1;
        rest.records = rest.records.saturating_add(e.count);
    }
    all.truncate(top);
    Ok((all, rest))
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
