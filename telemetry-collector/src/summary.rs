//! The report's numbers for a window of days, read from the daily rollups (see
//! `rollup.rs`): the JSON of `GET /api/summary` and `report --format json`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::rollup::decode_hist;
use crate::store::{MS_PER_DAY, now_ms, open_read};
use std::path::Path;

/// Everything the report shows, for the last `days` UTC days (today included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The window, in days.
    pub days: u32,
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
    /// Per model (`model_name`), most expensive first.
    pub models: Vec<ModelStats>,
    /// Agent sessions.
    pub sessions: Sessions,
    /// The most frequent error texts of commands and tools.
    pub errors: Vec<ErrorCount>,
    /// Installs per `version`, most first.
    pub versions: Vec<Share>,
    /// Installs per `os`, most first.
    pub os: Vec<Share>,
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

/// The summary of the last `days` days (at least 1).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let conn = telemetry_collector::store::open_write(&dir.path().join("t.db")).unwrap();
/// let s = telemetry_collector::summary::summarize(&conn, 7).unwrap();
/// assert_eq!((s.records, s.installs_per_day.len()), (0, 7));
/// ```
pub fn summarize(conn: &Connection, days: u32) -> rusqlite::Result<Summary> {
    let (first, today, mut s) = window(days);
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
/// let s = telemetry_collector::summary::summarize_file(&path, 3).unwrap();
/// assert_eq!(s.days, 3);
/// ```
pub fn summarize_file(path: &Path, days: u32) -> Result<Summary, String> {
    let (first, today, s) = window(days);
    let (a, b) = (open_read(path)?, open_read(path)?);
    let err = |e: rusqlite::Error| format!("cannot read {}: {e}", path.display());
    let mut other = Summary::default();
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
    s.commands_per_day = other.commands_per_day;
    s.commands = other.commands;
    s.tools = other.tools;
    s.models = other.models;
    s.sessions = other.sessions;
    s.errors = other.errors;
    s.dropped_records = other.dropped_records;
    Ok(s)
}

fn window(days: u32) -> (i64, i64, Summary) {
    let days = days.max(1);
    let today = now_ms().div_euclid(MS_PER_DAY);
    let first = today - i64::from(days) + 1;
    let s = Summary {
        days,
        from: date(first),
        to: date(today),
        ..Summary::default()
    };
    (first, today, s)
}

/// Everything but the install scan, from the `daily*` rollups.
fn rest(conn: &Connection, first: i64, today: i64, s: &mut Summary) -> rusqlite::Result<()> {
    s.commands_per_day = per_day(
        conn,
        "SELECT day, SUM(calls) FROM daily WHERE kind = 'command' AND day >= ?1 GROUP BY day",
        first,
        today,
    )?;
    s.commands = name_stats(conn, "command", first)?;
    s.tools = name_stats(conn, "tool", first)?;
    s.models = models(conn, first)?;
    s.sessions = sessions(conn, first)?;
    s.errors = errors(conn, first)?;
    s.dropped_records = conn.query_row(
        "SELECT COALESCE(SUM(dropped), 0) FROM daily WHERE day >= ?1",
        [first],
        |r| r.get::<_, i64>(0),
    )? as u64;
    Ok(())
}

/// Records, and one ordered scan of `daily_installs` for installs, installs per day, per
/// version and per OS. Rows repeat users a lot; only changes do any hashing.
fn installs(conn: &Connection, first: i64, today: i64, s: &mut Summary) -> rusqlite::Result<()> {
    s.records = conn.query_row(
        "SELECT COALESCE(SUM(calls), 0) FROM daily WHERE day >= ?1",
        [first],
        |r| r.get::<_, i64>(0),
    )? as u64;
    let mut stmt = conn.prepare(
        "SELECT day, user_id, version, os FROM daily_installs WHERE day >= ?1 ORDER BY day, user_id",
    )?;
    let mut rows = stmt.query([first])?;
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
    s.versions = shares(versions);
    s.os = shares(oses);
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

fn shares(map: HashMap<String, HashSet<usize>>) -> Vec<Share> {
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
    out
}

fn per_day(
    conn: &Connection,
    sql: &str,
    first: i64,
    today: i64,
) -> rusqlite::Result<Vec<DayCount>> {
    let mut stmt = conn.prepare(sql)?;
    let counts = stmt
        .query_map([first], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<rusqlite::Result<BTreeMap<i64, u64>>>()?;
    Ok(fill_days(&counts, first, today))
}

fn fill_days(counts: &BTreeMap<i64, u64>, first: i64, today: i64) -> Vec<DayCount> {
    (first..=today)
        .map(|d| DayCount {
            day: date(d),
            count: counts.get(&d).copied().unwrap_or(0),
        })
        .collect()
}

/// Calls, failures and the merged duration histogram per name from `daily` (percentiles:
/// see [`percentile`]).
fn name_stats(conn: &Connection, kind: &str, first: i64) -> rusqlite::Result<Vec<NameStats>> {
    let mut stmt = conn
        .prepare("SELECT name, calls, failures, hist FROM daily WHERE kind = ?1 AND day >= ?2")?;
    let mut totals: HashMap<String, (i64, i64, BTreeMap<i64, u64>)> = HashMap::new();
    let mut rows = stmt.query(rusqlite::params![kind, first])?;
    while let Some(row) = rows.next()? {
        let name = row.get_ref(0)?.as_str()?;
        let t = match totals.get_mut(name) {
            Some(t) => t,
            None => totals.entry(name.to_owned()).or_default(),
        };
        t.0 += row.get::<_, i64>(1)?;
        t.1 += row.get::<_, i64>(2)?;
        for (lo, n) in decode_hist(row.get_ref(3)?.as_blob()?) {
            *t.2.entry(lo).or_default() += n;
        }
    }
    let mut out: Vec<NameStats> = totals
        .into_iter()
        .map(|(name, (calls, failures, hist))| {
            let h: Vec<(i64, u64)> = hist.into_iter().collect();
            let (calls, failures) = (calls as u64, failures as u64);
            NameStats {
                success_rate: (calls - failures) as f64 / calls as f64,
                p50_ms: percentile(&h, 50),
                p95_ms: percentile(&h, 95),
                name,
                calls,
                failures,
            }
        })
        .collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Nearest-rank percentile over a histogram of `(bucket lower bound, count)` sorted by bound:
/// the lower bound of the bucket holding the value of rank ⌈p·n/100⌉. Exact below 1,000 ms;
/// above, less than 1% below the exact nearest-rank value (see `rollup::bucket`).
fn percentile(hist: &[(i64, u64)], p: u64) -> Option<i64> {
    let n: u64 = hist.iter().map(|b| b.1).sum();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    let mut seen = 0;
    for &(lo, count) in hist {
        seen += count;
        if seen >= rank {
            return Some(lo);
        }
    }
    hist.last().map(|b| b.0)
}

/// Token sums per model from `daily`.
fn models(conn: &Connection, first: i64) -> rusqlite::Result<Vec<ModelStats>> {
    let mut stmt = conn.prepare(
        "SELECT name, SUM(calls), SUM(input_tokens), SUM(output_tokens), SUM(cost) FROM daily
         WHERE kind = 'token' AND day >= ?1 GROUP BY name",
    )?;
    let mut out = stmt
        .query_map([first], |r| {
            Ok(ModelStats {
                name: r.get(0)?,
                calls: r.get::<_, i64>(1)? as u64,
                input_tokens: r.get(2)?,
                output_tokens: r.get(3)?,
                cost: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<ModelStats>>>()?;
    out.sort_by(|a, b| {
        b.cost
            .total_cmp(&a.cost)
            .then_with(|| b.calls.cmp(&a.calls))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

fn sessions(conn: &Connection, first: i64) -> rusqlite::Result<Sessions> {
    let count = conn.query_row(
        "SELECT COUNT(DISTINCT session_id) FROM daily_sessions WHERE day >= ?1",
        [first],
        |r| r.get::<_, i64>(0),
    )? as u64;
    conn.query_row(
        "SELECT COALESCE(SUM(ends), 0), COALESCE(SUM(end_failures), 0),
         COALESCE(SUM(tool_calls), 0), COALESCE(SUM(error_count), 0)
         FROM daily WHERE kind = 'session' AND day >= ?1",
        [first],
        |r| {
            Ok(Sessions {
                count,
                ended: r.get::<_, i64>(0)? as u64,
                failed: r.get::<_, i64>(1)? as u64,
                tool_calls: r.get(2)?,
                errors: r.get(3)?,
            })
        },
    )
}

fn errors(conn: &Connection, first: i64) -> rusqlite::Result<Vec<ErrorCount>> {
    let mut stmt = conn.prepare(
        "SELECT text, SUM(count) AS n FROM daily_errors WHERE day >= ?1
         GROUP BY text ORDER BY n DESC, text LIMIT 10",
    )?;
    stmt.query_map([first], |r| {
        Ok(ErrorCount {
            text: r.get(0)?,
            count: r.get::<_, i64>(1)? as u64,
        })
    })?
    .collect()
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
