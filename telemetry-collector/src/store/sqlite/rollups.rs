//! The SQLite side of the daily rollups: their tables (schema version 2), the writer's
//! in-memory deltas of one transaction and how they are written, the names already stored
//! (what the names bound starts from), and the backfill of an upgraded file. What a row
//! adds is `rollup::contribution`; this module only stores it.
//!
//! `daily.hist` is the duration histogram as a blob of LEB128 varint pairs (bucket, count),
//! sorted by bucket (`rollup::encode_hist`), read-modified-written once per commit.

use std::collections::{HashMap, HashSet};

use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::cardinality::{Dim, NameCaps};
use crate::record::Row;
use crate::rollup::{Daily, MS_PER_DAY, NO_NAME, contribution, day_of, decode_hist, encode_hist};

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

/// Schema version 4: `daily` clustered on its key. As a rowid table, reading a window went
/// through the key index and then looked up every row in the table (most of a summary's
/// time with thousands of names a day); now the window's rows are read in one range.
pub const CLUSTER_DAILY: &str = r"
CREATE TABLE daily_v4 (
    day INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    calls INTEGER NOT NULL, failures INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost REAL NOT NULL,
    ends INTEGER NOT NULL, end_failures INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL, error_count INTEGER NOT NULL, dropped INTEGER NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (day, kind, name)
) WITHOUT ROWID;
INSERT INTO daily_v4 SELECT day, kind, name, calls, failures, input_tokens, output_tokens,
    cost, ends, end_failures, tool_calls, error_count, dropped, hist FROM daily;
DROP TABLE daily;
ALTER TABLE daily_v4 RENAME TO daily;
";

/// The rollup tables retention prunes by day.
pub const TABLES: &[&str] = &["daily", "daily_errors", "daily_installs", "daily_sessions"];

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

/// A stored `daily` row whose columns, in `daily`'s order from `calls` to `hist`, start at
/// column `at`.
pub(crate) fn read_daily(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Daily> {
    let blob = match r.get_ref(at + 10)? {
        ValueRef::Blob(b) => b,
        _ => &[],
    };
    Ok(Daily {
        calls: int_at(r, at)?,
        failures: int_at(r, at + 1)?,
        input_tokens: int_at(r, at + 2)?,
        output_tokens: int_at(r, at + 3)?,
        cost: real_at(r, at + 4)?,
        ends: int_at(r, at + 5)?,
        end_failures: int_at(r, at + 6)?,
        tool_calls: int_at(r, at + 7)?,
        error_count: int_at(r, at + 8)?,
        dropped: int_at(r, at + 9)?,
        hist: decode_hist(blob).into_iter().collect(),
    })
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
        let day = day_of(r.ts_ms);
        let load = |day: i64, dim: Dim<'_>| stored_names(tx, day, dim);
        let kind = caps.fold(day, Dim::Kind, r.kind.as_str(), load)?;
        let name = r.name.as_deref().unwrap_or(NO_NAME);
        let name = caps.fold(day, Dim::Name(kind), name, load)?;
        let error = match r.error.as_deref() {
            Some(e) => Some(caps.fold(day, Dim::Error, e, load)?),
            None => None,
        };
        let install = match r.user_id.as_deref() {
            Some(user) => {
                let v = caps.fold(day, Dim::Version, r.version.as_deref().unwrap_or(""), load)?;
                let o = caps.fold(day, Dim::Os, r.os.as_deref().unwrap_or(""), load)?;
                Some((user, v, o))
            }
            None => None,
        };
        let c = contribution(r, kind, name, error, install);
        self.daily.entry((day, kind, name)).or_default().add_one(&c);
        if let Some(e) = c.error {
            let n = self.errors.entry((day, e)).or_default();
            *n = n.saturating_add(1);
        }
        if let Some((user, v, o)) = c.install {
            let install = (day, user.to_owned(), v.to_owned(), o.to_owned());
            if !seen.installs.contains(&install) {
                self.installs.insert(install);
            }
        }
        if let Some(s) = c.session {
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
                .query_row(params![day, kind, name], |r| read_daily(r, 0))
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
                        agent: None,
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
