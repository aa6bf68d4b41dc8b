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

use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::cardinality::{Dim, NameCaps};
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

/// Adds `(bucket, count)` pairs into a histogram, saturating.
pub fn add_hist(into: &mut BTreeMap<i64, u64>, pairs: impl IntoIterator<Item = (i64, u64)>) {
    for (lo, n) in pairs {
        let c = into.entry(lo).or_default();
        *c = c.saturating_add(n);
    }
}

/// An integer column read whatever SQLite stored: a REAL (an older collector let sums
/// overflow into floats) is clamped, NULL or text counts as 0.
pub fn int_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<i64> {
    Ok(match row.get_ref(i)? {
        ValueRef::Integer(n) => n,
        // `as` saturates, and NaN becomes 0.
        ValueRef::Real(f) => f as i64,
        _ => 0,
    })
}

/// A REAL column read the same way: a non-finite value or NULL counts as 0.
pub fn real_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(match row.get_ref(i)? {
        ValueRef::Integer(n) => n as f64,
        ValueRef::Real(f) if f.is_finite() => f,
        _ => 0.0,
    })
}

/// Sums of one (day, kind, name); every addition saturates, so a sum never wraps or fails.
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

impl Daily {
    /// The stored row (columns in `daily`'s order from `calls`).
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let blob = match r.get_ref(10)? {
            ValueRef::Blob(b) => b,
            _ => &[],
        };
        Ok(Self {
            calls: int_at(r, 0)?,
            failures: int_at(r, 1)?,
            input_tokens: int_at(r, 2)?,
            output_tokens: int_at(r, 3)?,
            cost: real_at(r, 4)?,
            ends: int_at(r, 5)?,
            end_failures: int_at(r, 6)?,
            tool_calls: int_at(r, 7)?,
            error_count: int_at(r, 8)?,
            dropped: int_at(r, 9)?,
            hist: decode_hist(blob).into_iter().collect(),
        })
    }

    fn add(&mut self, d: &Daily) {
        self.calls = self.calls.saturating_add(d.calls);
        self.failures = self.failures.saturating_add(d.failures);
        self.input_tokens = self.input_tokens.saturating_add(d.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(d.output_tokens);
        self.cost = finite_sum(self.cost, d.cost);
        self.ends = self.ends.saturating_add(d.ends);
        self.end_failures = self.end_failures.saturating_add(d.end_failures);
        self.tool_calls = self.tool_calls.saturating_add(d.tool_calls);
        self.error_count = self.error_count.saturating_add(d.error_count);
        self.dropped = self.dropped.saturating_add(d.dropped);
        add_hist(&mut self.hist, d.hist.iter().map(|(&lo, &n)| (lo, n)));
    }

    fn add_row(&mut self, r: &Row) {
        let failed = r.is_success == Some(false);
        let one = Daily {
            calls: 1,
            failures: i64::from(failed),
            input_tokens: r.input_tokens.unwrap_or(0),
            output_tokens: r.output_tokens.unwrap_or(0),
            cost: r.cost.unwrap_or(0.0),
            dropped: r.dropped_records.unwrap_or(0),
            ..Daily::default()
        };
        self.add(&one);
        if r.action.as_deref() == Some("end") {
            self.ends = self.ends.saturating_add(1);
            self.end_failures = self.end_failures.saturating_add(i64::from(failed));
            self.tool_calls = self.tool_calls.saturating_add(r.tool_calls.unwrap_or(0));
            self.error_count = self.error_count.saturating_add(r.error_count.unwrap_or(0));
        }
        if let Some(ms) = r.duration_ms {
            add_hist(&mut self.hist, [(bucket(ms), 1)]);
        }
    }
}

/// `a + b`, kept finite (`f64::MAX` at most): a rollup's cost is never NaN or infinite.
pub fn finite_sum(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s.is_finite() {
        s
    } else if s.is_nan() {
        a
    } else {
        f64::MAX.copysign(s)
    }
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
    /// Adds one stored row; its names are folded by `caps` (names past the day's bound
    /// count under [`crate::limits::OTHER`]).
    pub fn add(
        &mut self,
        r: &'a Row,
        seen: &Seen,
        caps: &mut NameCaps,
        tx: &Transaction<'_>,
    ) -> rusqlite::Result<()> {
        let day = r.ts_ms.div_euclid(MS_PER_DAY);
        let load = |day: i64, dim: Dim<'_>| stored_names(tx, day, dim);
        let kind = caps.fold(day, Dim::Kind, r.kind.as_str(), load)?;
        let name = r.name.as_deref().unwrap_or(NO_NAME);
        let name = caps.fold(day, Dim::Name(kind), name, load)?;
        self.daily.entry((day, kind, name)).or_default().add_row(r);
        if let Some(e) = r.error.as_deref() {
            let e = caps.fold(day, Dim::Error, e, load)?;
            let n = self.errors.entry((day, e)).or_default();
            *n = n.saturating_add(1);
        }
        if let Some(user) = r.user_id.as_deref() {
            let v = caps.fold(day, Dim::Version, r.version.as_deref().unwrap_or(""), load)?;
            let o = caps.fold(day, Dim::Os, r.os.as_deref().unwrap_or(""), load)?;
            let install = (day, user.to_owned(), v.to_owned(), o.to_owned());
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
        Ok(())
    }

    /// Writes the deltas in the transaction that stored their rows: each `daily` row is read,
    /// added to in Rust (saturating) and written back whole, so no sum is computed in SQL.
    pub fn flush(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut read = tx.prepare_cached(
            "SELECT calls, failures, input_tokens, output_tokens, cost, ends, end_failures,
             tool_calls, error_count, dropped, hist FROM daily
             WHERE day = ?1 AND kind = ?2 AND name = ?3",
        )?;
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO daily
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for ((day, kind, name), d) in &self.daily {
            let mut total = read
                .query_row(params![day, kind, name], Daily::read)
                .optional()?
                .unwrap_or_default();
            total.add(d);
            let hist: Vec<(i64, u64)> = total.hist.into_iter().collect();
            stmt.execute(params![
                day,
                kind,
                name,
                total.calls,
                total.failures,
                total.input_tokens,
                total.output_tokens,
                total.cost,
                total.ends,
                total.end_failures,
                total.tool_calls,
                total.error_count,
                total.dropped,
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

/// The names the rollups hold for a day and dimension (what [`NameCaps`] starts from).
fn stored_names(tx: &Transaction<'_>, day: i64, dim: Dim<'_>) -> rusqlite::Result<Vec<String>> {
    let (sql, kind) = match dim {
        Dim::Kind => ("SELECT DISTINCT kind FROM daily WHERE day = ?1", None),
        Dim::Name(kind) => (
            "SELECT name FROM daily WHERE day = ?1 AND kind = ?2",
            Some(kind),
        ),
        Dim::Error => ("SELECT text FROM daily_errors WHERE day = ?1", None),
        Dim::Version => (
            "SELECT DISTINCT version FROM daily_installs WHERE day = ?1",
            None,
        ),
        Dim::Os => (
            "SELECT DISTINCT os FROM daily_installs WHERE day = ?1",
            None,
        ),
    };
    let mut stmt = tx.prepare_cached(sql)?;
    match kind {
        Some(k) => stmt.query_map(params![day, k], |r| r.get(0))?.collect(),
        None => stmt.query_map(params![day], |r| r.get(0))?.collect(),
    }
}

/// Schema step 2: fills the rollups from the rows already stored (chunks of 50,000 rows),
/// names bounded as at ingest with the default `--max-names-per-day`.
pub fn backfill(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let caps = &mut NameCaps::new(crate::limits::DEFAULT_MAX_NAMES_PER_DAY);
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
            deltas.add(row, &seen, caps, tx)?;
        }
        deltas.flush(tx)?;
    }
}
