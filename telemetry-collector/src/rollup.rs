//! Daily rollups, maintained by the writer in the transaction that stores the records, so the
//! report reads a few thousand rollup rows instead of every record.
//!
//! Invariant: a rollup counts exactly the rows of `events` (only rows whose `INSERT OR IGNORE`
//! stored something are added, in the same transaction), so a replayed batch changes nothing.
//!
//! Durations are kept as a histogram per (day, kind, name), in `daily.hist`: the bucket of
//! `d` ms is `d` cut to its 3 most significant decimal digits ([`bucket`]), so durations under
//! 1,000 ms (and round ones such as 3,000) are exact and any other is less than 1% above its
//! bucket's lower bound. The histogram is a blob of LEB128 varint pairs (bucket, count),
//! sorted by bucket: at most 900 buckets per decade, read-modified-written once per commit.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use crate::record::Row;
use crate::store::MS_PER_DAY;

/// The rollup tables (schema version 2).
pub const SCHEMA: &str = r"
CREATE TABLE daily (
    day INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    calls INTEGER NOT NULL, failures INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost REAL NOT NULL,
    ends INTEGER NOT NULL, end_failures INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL, error_count INTEGER NOT NULL, dropped INTEGER NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (day, kind, name)
);
CREATE TABLE daily_errors (
    day INTEGER NOT NULL, text TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, text)
) WITHOUT ROWID;
CREATE TABLE daily_installs (
    day INTEGER NOT NULL, user_id TEXT NOT NULL, version TEXT NOT NULL, os TEXT NOT NULL,
    PRIMARY KEY (day, user_id, version, os)
) WITHOUT ROWID;
CREATE TABLE daily_sessions (
    day INTEGER NOT NULL, session_id TEXT NOT NULL,
    PRIMARY KEY (day, session_id)
) WITHOUT ROWID;
DROP INDEX events_day_user;
DROP INDEX events_kind_day;
DROP INDEX events_errors;
DROP INDEX events_dropped;
DROP INDEX events_tokens;
DROP INDEX events_sessions;
CREATE INDEX events_day ON events (day);
";

/// The rollup tables retention prunes by day.
pub const TABLES: &[&str] = &["daily", "daily_errors", "daily_installs", "daily_sessions"];

/// The name a record without one is grouped under.
pub const NO_NAME: &str = "(none)";

/// The histogram bucket (its lower bound, in ms) of a duration: `d` cut to its 3 most
/// significant decimal digits.
///
/// ```
/// use telemetry_collector::rollup::bucket;
/// assert_eq!((bucket(999), bucket(3000), bucket(1234), bucket(98_765)), (999, 3000, 1230, 98_700));
/// ```
pub fn bucket(d: i64) -> i64 {
    let mut d = d.max(0);
    let mut scale = 1;
    while d >= 1000 {
        d /= 10;
        scale *= 10;
    }
    d * scale
}

/// A histogram blob's `(bucket, count)` pairs, sorted by bucket; a damaged blob reads as far
/// as it is well-formed.
///
/// ```
/// use telemetry_collector::rollup::{decode_hist, encode_hist};
/// let h = vec![(5, 2), (3000, 1)];
/// assert_eq!(decode_hist(&encode_hist(&h)), h);
/// ```
pub fn decode_hist(blob: &[u8]) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(lo), Some(n)) = (varint(blob, &mut at), varint(blob, &mut at)) {
        out.push((lo as i64, n));
    }
    out
}

/// The blob of sorted `(bucket, count)` pairs (buckets are never negative).
pub fn encode_hist(hist: &[(i64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hist.len() * 4);
    for &(lo, n) in hist {
        put_varint(&mut out, lo.max(0) as u64);
        put_varint(&mut out, n);
    }
    out
}

fn varint(blob: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *blob.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Adds sorted histogram `b` into sorted histogram `a`.
fn merge(a: &[(i64, u64)], b: &BTreeMap<i64, u64>) -> Vec<(i64, u64)> {
    let mut all: BTreeMap<i64, u64> = a.iter().copied().collect();
    for (&lo, &n) in b {
        *all.entry(lo).or_default() += n;
    }
    all.into_iter().collect()
}

/// Sums of one (day, kind, name).
#[derive(Default)]
struct Daily {
    calls: i64,
    failures: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost: f64,
    ends: i64,
    end_failures: i64,
    tool_calls: i64,
    error_count: i64,
    dropped: i64,
    hist: BTreeMap<i64, u64>,
}

type Key<'a> = (i64, &'a str, &'a str);

/// The rollup deltas of the rows one transaction stored.
#[derive(Default)]
pub struct Deltas<'a> {
    daily: HashMap<Key<'a>, Daily>,
    errors: HashMap<(i64, &'a str), i64>,
    installs: HashSet<Install>,
    sessions: HashSet<(i64, String)>,
}

/// One `daily_installs` row: day, user, version, os (`""` when absent).
pub type Install = (i64, String, String, String);

/// Keys already in `daily_installs` / `daily_sessions`, so repeated ones cost no SQL. Filled
/// only after a commit; cleared by retention and when it grows past its bound.
#[derive(Default)]
pub struct Seen {
    installs: HashSet<Install>,
    sessions: HashSet<(i64, String)>,
}

/// Entries [`Seen`] holds before it starts over.
const SEEN_MAX: usize = 200_000;

impl Seen {
    /// Forgets everything (after retention deleted rows).
    pub fn clear(&mut self) {
        self.installs.clear();
        self.sessions.clear();
    }

    /// Remembers what a committed transaction wrote.
    pub fn extend(&mut self, d: Deltas<'_>) {
        if self.installs.len() + self.sessions.len() > SEEN_MAX {
            self.clear();
        }
        self.installs.extend(d.installs);
        self.sessions.extend(d.sessions);
    }
}

impl<'a> Deltas<'a> {
    /// Adds one stored row.
    pub fn add(&mut self, r: &'a Row, seen: &Seen) {
        let day = r.ts_ms.div_euclid(MS_PER_DAY);
        let key = (day, r.kind.as_str(), r.name.as_deref().unwrap_or(NO_NAME));
        let d = self.daily.entry(key).or_default();
        let failed = r.is_success == Some(false);
        let end = r.action.as_deref() == Some("end");
        d.calls += 1;
        d.failures += i64::from(failed);
        d.input_tokens += r.input_tokens.unwrap_or(0);
        d.output_tokens += r.output_tokens.unwrap_or(0);
        d.cost += r.cost.unwrap_or(0.0);
        d.dropped += r.dropped_records.unwrap_or(0);
        if end {
            d.ends += 1;
            d.end_failures += i64::from(failed);
            d.tool_calls += r.tool_calls.unwrap_or(0);
            d.error_count += r.error_count.unwrap_or(0);
        }
        if let Some(ms) = r.duration_ms {
            *d.hist.entry(bucket(ms)).or_default() += 1;
        }
        if let Some(e) = r.error.as_deref() {
            *self.errors.entry((day, e)).or_default() += 1;
        }
        if let Some(user) = r.user_id.as_deref() {
            let (v, o) = (r.version.as_deref(), r.os.as_deref());
            let install = (day, user.to_owned(), own(v), own(o));
            if !seen.installs.contains(&install) {
                self.installs.insert(install);
            }
        }
        if let (Some(s), "session") = (r.session_id.as_deref(), r.kind.as_str()) {
            let session = (day, s.to_owned());
            if !seen.sessions.contains(&session) {
                self.sessions.insert(session);
            }
        }
    }

    /// Writes the deltas in the transaction that stored their rows.
    pub fn flush(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut read =
            tx.prepare_cached("SELECT hist FROM daily WHERE day = ?1 AND kind = ?2 AND name = ?3")?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO daily VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT DO UPDATE SET calls = calls + ?4, failures = failures + ?5,
             input_tokens = input_tokens + ?6, output_tokens = output_tokens + ?7,
             cost = cost + ?8, ends = ends + ?9, end_failures = end_failures + ?10,
             tool_calls = tool_calls + ?11, error_count = error_count + ?12,
             dropped = dropped + ?13, hist = ?14",
        )?;
        for ((day, kind, name), d) in &self.daily {
            let old: Option<Vec<u8>> = read
                .query_row(params![day, kind, name], |r| r.get(0))
                .optional()?;
            let hist = merge(&decode_hist(old.as_deref().unwrap_or_default()), &d.hist);
            stmt.execute(params![
                day,
                kind,
                name,
                d.calls,
                d.failures,
                d.input_tokens,
                d.output_tokens,
                d.cost,
                d.ends,
                d.end_failures,
                d.tool_calls,
                d.error_count,
                d.dropped,
                encode_hist(&hist)
            ])?;
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO daily_errors VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET count = count + ?3",
        )?;
        for ((day, text), n) in &self.errors {
            stmt.execute(params![day, text, n])?;
        }
        let mut stmt =
            tx.prepare_cached("INSERT OR IGNORE INTO daily_installs VALUES (?1, ?2, ?3, ?4)")?;
        for (day, user, version, os) in &self.installs {
            stmt.execute(params![day, user, version, os])?;
        }
        let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO daily_sessions VALUES (?1, ?2)")?;
        for (day, session) in &self.sessions {
            stmt.execute(params![day, session])?;
        }
        Ok(())
    }
}

fn own(s: Option<&str>) -> String {
    s.unwrap_or_default().to_owned()
}

/// Schema step 2: fills the rollups from the rows already stored (chunks of 50,000 rows).
pub fn backfill(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut after = i64::MIN;
    loop {
        let mut stmt = tx.prepare(
            "SELECT id, ts_ms, kind, action, name, user_id, session_id, is_success, duration_ms,
             input_tokens, output_tokens, cost, tool_calls, error_count, error, version, os,
             dropped_records, day FROM events WHERE id > ?1 ORDER BY id LIMIT 50000",
        )?;
        let rows: Vec<(i64, Row)> = stmt
            .query_map([after], |r| {
                let day: i64 = r.get(18)?;
                Ok((
                    r.get(0)?,
                    Row {
                        event_id: String::new(),
                        // Only the day matters to the rollups; keep the stored one.
                        ts_ms: day * MS_PER_DAY,
                        kind: r.get(2)?,
                        action: r.get(3)?,
                        name: r.get(4)?,
                        user_id: r.get(5)?,
                        session_id: r.get(6)?,
                        is_success: r.get(7)?,
                        duration_ms: r.get(8)?,
                        input_tokens: r.get(9)?,
                        output_tokens: r.get(10)?,
                        cost: r.get(11)?,
                        tool_calls: r.get(12)?,
                        error_count: r.get(13)?,
                        error: r.get(14)?,
                        version: r.get(15)?,
                        os: r.get(16)?,
                        source: None,
                        dropped_records: r.get::<_, Option<i64>>(17)?.filter(|d| *d > 0),
                        json: String::new(),
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = *last;
        let mut deltas = Deltas::default();
        let seen = Seen::default();
        for (_, row) in &rows {
            deltas.add(row, &seen);
        }
        deltas.flush(tx)?;
    }
}
