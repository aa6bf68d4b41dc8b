//! SQLite: spans and sessions. The `spans` table (each `(trace_id, span_id)` once), the
//! `sessions` table (each session's [`Tally`] per source, kept in the writer's transaction
//! from exactly the spans and records it stored), their migration, retention, and the reads
//! behind Recent sessions and one session's view.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::rollup::MS_PER_DAY;
use crate::sessions::records::SessionRecord;
use crate::sessions::{
    Detail, Kind, ListQuery, MAX_SPANS, Page, Source, Tally, detail, records, traces,
};
use crate::span::SpanRow;
use crate::store::Counts;

/// The tables and indexes (schema version 5).
pub const SCHEMA: &str = r"
CREATE TABLE spans (
    id INTEGER PRIMARY KEY,
    trace_id BLOB NOT NULL,
    span_id BLOB NOT NULL,
    parent_id BLOB,
    name TEXT NOT NULL,
    otel_kind INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    day INTEGER NOT NULL,
    is_success INTEGER NOT NULL,
    error TEXT,
    session_id TEXT,
    agent TEXT,
    tool_name TEXT,
    model TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL,
    service TEXT,
    received_ms INTEGER NOT NULL,
    UNIQUE (trace_id, span_id)
);
CREATE INDEX spans_day ON spans (day);
CREATE INDEX spans_session ON spans (session_id) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
    session_id TEXT NOT NULL,
    source TEXT NOT NULL,
    day INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    agent TEXT,
    agent_from_session INTEGER NOT NULL,
    session_start INTEGER,
    session_end INTEGER,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL,
    failed_tool_calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (session_id, source)
) WITHOUT ROWID;
CREATE INDEX sessions_recent ON sessions (start_ms, session_id);
CREATE INDEX sessions_failed ON sessions (start_ms, session_id) WHERE failures > 0;
CREATE INDEX events_session ON events (session_id) WHERE session_id IS NOT NULL AND session_id <> '';
";

/// The migration to version 5: the tables, then the sessions of the records already stored.
pub fn migrate_v5(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(SCHEMA)?;
    let mut tallies = Tallies::default();
    let mut after = i64::MIN;
    loop {
        let batch: Vec<(i64, String, SessionRecord)> = tx
            .prepare(
                "SELECT id, session_id, event_id, ts_ms, json FROM events
                 WHERE session_id IS NOT NULL AND session_id <> '' AND id > ?1
                 ORDER BY id LIMIT 20000",
            )?
            .query_map([after], |r| {
                let (id, session, event_id, ts, json): (i64, String, String, i64, String) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                Ok((id, session, SessionRecord::from_json(&event_id, ts, &json)))
            })?
            .filter_map(|r| match r {
                Ok((id, s, Some(rec))) => Some(Ok((id, s, rec))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        for (_, session, rec) in &batch {
            tallies.add(session, Source::Records, rec.tally(session));
        }
    }
    tallies.flush(tx)
}

/// The session tallies of one transaction, merged per session and source, written once.
#[derive(Default)]
pub struct Tallies(HashMap<(String, Source), Tally>);

impl Tallies {
    /// Adds what one stored span or record contributes.
    pub fn add(&mut self, session: &str, source: Source, t: Tally) {
        match self.0.get_mut(&(session.to_owned(), source)) {
            Some(have) => *have = std::mem::take(have).merge(&t),
            None => {
                self.0.insert((session.to_owned(), source), t);
            }
        }
    }

    /// Adds a stored record, if it belongs to a session.
    pub fn add_row(&mut self, r: &crate::record::Row) {
        if let Some(s) = r.session_id.as_deref().filter(|s| !s.is_empty()) {
            self.add(s, Source::Records, SessionRecord::from_row(r).tally(s));
        }
    }

    /// Merges every tally into its row of `sessions`.
    pub fn flush(self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO sessions (session_id, source, day, start_ms, agent, agent_from_session,
                 session_start, session_end, first_ms, last_ms, tool_calls, failed_tool_calls,
                 input_tokens, output_tokens, cost, failures)
             VALUES (?1, ?2, ?3, COALESCE(?7, ?9), ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16)
             ON CONFLICT (session_id, source) DO UPDATE SET
                 day = MAX(day, excluded.day),
                 agent = CASE WHEN excluded.agent IS NOT NULL AND (agent IS NULL OR
                     (excluded.agent_from_session AND NOT agent_from_session))
                     THEN excluded.agent ELSE agent END,
                 agent_from_session = MAX(agent_from_session, excluded.agent_from_session),
                 session_start = COALESCE(MIN(session_start, excluded.session_start),
                     session_start, excluded.session_start),
                 session_end = COALESCE(MAX(session_end, excluded.session_end),
                     session_end, excluded.session_end),
                 first_ms = MIN(first_ms, excluded.first_ms),
                 last_ms = MAX(last_ms, excluded.last_ms),
                 start_ms = COALESCE(MIN(session_start, excluded.session_start),
                     session_start, excluded.session_start, MIN(first_ms, excluded.first_ms)),
                 tool_calls = MIN(tool_calls + excluded.tool_calls, 9223372036854775807),
                 failed_tool_calls = MIN(failed_tool_calls + excluded.failed_tool_calls, 9223372036854775807),
                 input_tokens = MIN(input_tokens + excluded.input_tokens, 9223372036854775807),
                 output_tokens = MIN(output_tokens + excluded.output_tokens, 9223372036854775807),
                 cost = cost + excluded.cost,
                 failures = MIN(failures + excluded.failures, 9223372036854775807)",
        )?;
        let mut tallies: Vec<_> = self.0.into_iter().collect();
        tallies.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        for ((session, source), t) in tallies {
            stmt.execute(params![
                session,
                source.as_str(),
                t.session_end
                    .unwrap_or(t.last)
                    .max(t.last)
                    .div_euclid(MS_PER_DAY),
                None::<i64>,
                t.agent,
                t.agent_from_session,
                t.session_start,
                t.session_end,
                t.first,
                t.last,
                t.tool_calls,
                t.failed_tool_calls,
                t.input_tokens,
                t.output_tokens,
                t.cost,
                t.failures,
            ])?;
        }
        Ok(())
    }
}

/// Stores the spans not stored yet (each `(trace_id, span_id)` once) and adds them to the
/// transaction's session tallies.
pub fn insert_spans(
    tx: &Transaction<'_>,
    spans: &[SpanRow],
    tallies: &mut Tallies,
    now_ms: i64,
) -> rusqlite::Result<Counts> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO spans (trace_id, span_id, parent_id, name, otel_kind, kind, start_ns,
             end_ns, day, is_success, error, session_id, agent, tool_name, model, input_tokens,
             output_tokens, cost, service, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20)
         ON CONFLICT (trace_id, span_id) DO NOTHING",
    )?;
    let mut counts = Counts::default();
    for s in spans {
        let stored = stmt.execute(params![
            &s.trace_id[..],
            &s.span_id[..],
            s.parent_id.as_ref().map(|p| &p[..]),
            s.name,
            s.otel_kind,
            s.kind.as_str(),
            s.start_ns,
            s.end_ns,
            s.day(),
            s.is_success,
            s.error,
            s.session_id,
            s.agent,
            s.tool_name,
            s.model,
            s.input_tokens,
            s.output_tokens,
            s.cost,
            s.service,
            now_ms,
        ])?;
        if stored == 0 {
            counts.duplicates += 1;
            continue;
        }
        counts.accepted += 1;
        if let Some(session) = &s.session_id {
            tallies.add(session, Source::Traces, s.tally());
        }
    }
    Ok(counts)
}

/// Deletes the spans and sessions of days before `cutoff` (a UTC day number), in chunks.
pub fn delete_old(conn: &Connection, cutoff: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM sessions WHERE day < ?1", [cutoff])?;
    let mut total = 0;
    loop {
        let gone = conn.execute(
            "DELETE FROM spans WHERE id IN (SELECT id FROM spans WHERE day < ?1 LIMIT 10000)",
            [cutoff],
        )?;
        total += gone;
        if gone == 0 {
            return Ok(total);
        }
    }
}

const COLUMNS: &str = "session_id, source, agent, agent_from_session, session_start,
    session_end, first_ms, last_ms, tool_calls, failed_tool_calls, input_tokens, output_tokens,
    cost, failures";

fn tally_at(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Source, Tally)> {
    let source: String = r.get(1)?;
    Ok((
        r.get(0)?,
        Source::parse(&source).unwrap_or(Source::Records),
        Tally {
            agent: r.get(2)?,
            agent_from_session: r.get(3)?,
            session_start: r.get(4)?,
            session_end: r.get(5)?,
            first: r.get(6)?,
            last: r.get(7)?,
            tool_calls: r.get(8)?,
            failed_tool_calls: r.get(9)?,
            input_tokens: r.get(10)?,
            output_tokens: r.get(11)?,
            cost: r.get(12)?,
            failures: r.get(13)?,
        },
    ))
}

/// One page of Recent sessions: newest first, a session's traces preferred to its records.
pub fn page(conn: &Connection, q: &ListQuery) -> rusqlite::Result<Page> {
    let failed = if q.failed { "AND failures > 0" } else { "" };
    // A row-value range, so the index starts at the cursor instead of scanning to it.
    let after = if q.cursor.is_some() {
        "AND (start_ms, session_id) < (?1, ?2)"
    } else {
        "AND ?1 IS NULL AND ?2 IS NULL"
    };
    let sql = format!(
        "SELECT {COLUMNS}, start_ms FROM sessions s
         WHERE (source = 'traces' OR NOT EXISTS (SELECT 1 FROM sessions t
                WHERE t.session_id = s.session_id AND t.source = 'traces'))
           {failed} {after}
         ORDER BY start_ms DESC, session_id DESC LIMIT ?3"
    );
    let (c_start, c_id) = q
        .cursor
        .as_ref()
        .map_or((None, None), |c| (Some(c.start), Some(c.id.as_str())));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<(crate::sessions::Session, i64)> = stmt
        .query_map(params![c_start, c_id, q.limit as i64 + 1], |r| {
            let (id, source, t) = tally_at(r)?;
            Ok((t.session(&id, source), r.get(14)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let next = if rows.len() > q.limit {
        rows.truncate(q.limit);
        rows.last().map(|(s, start)| {
            crate::sessions::Cursor {
                start: *start,
                id: s.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page {
        sessions: rows.into_iter().map(|(s, _)| s).collect(),
        next,
    })
}

/// One session's view: from its spans when any carry its id, else from its records.
pub fn session(conn: &Connection, id: &str) -> rusqlite::Result<Option<Detail>> {
    let traces: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT DISTINCT trace_id FROM spans WHERE session_id = ?1 LIMIT 1000")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !traces.is_empty() {
        let (rows, left_out) = spans_of(conn, &traces)?;
        return Ok(detail(
            id,
            Source::Traces,
            traces::select(id, &rows),
            left_out,
        ));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, ts_ms, json FROM events WHERE session_id = ?1 AND session_id <> ''
         ORDER BY ts_ms, id LIMIT ?2",
    )?;
    let recs: Vec<SessionRecord> = stmt
        .query_map(params![id, MAX_SPANS as i64 + 1], |r| {
            let (event_id, ts, json): (String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(SessionRecord::from_json(&event_id, ts, &json))
        })?
        .filter_map(Result::transpose)
        .collect::<rusqlite::Result<_>>()?;
    let left_out = recs.len().saturating_sub(MAX_SPANS) as u64;
    let recs = &recs[..recs.len().min(MAX_SPANS)];
    if recs.is_empty() {
        return Ok(None);
    }
    Ok(detail(
        id,
        Source::Records,
        records::spans(id, recs),
        left_out,
    ))
}

/// The spans of `traces`, at most [`MAX_SPANS`] in all, and how many were left out.
fn spans_of(conn: &Connection, traces: &[Vec<u8>]) -> rusqlite::Result<(Vec<SpanRow>, u64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT trace_id, span_id, parent_id, name, otel_kind, kind, start_ns, end_ns,
             is_success, error, session_id, agent, tool_name, model, input_tokens,
             output_tokens, cost, service
         FROM spans WHERE trace_id = ?1 ORDER BY start_ns LIMIT ?2",
    )?;
    let mut rows = Vec::new();
    let mut left_out = 0u64;
    for t in traces {
        let room = MAX_SPANS.saturating_sub(rows.len());
        let got: Vec<SpanRow> = stmt
            .query_map(params![t, room as i64], span_at)?
            .filter_map(Result::transpose)
            .collect::<rusqlite::Result<_>>()?;
        rows.extend(got);
        if rows.len() >= MAX_SPANS {
            let all: i64 = conn
                .query_row("SELECT COUNT(*) FROM spans WHERE trace_id = ?1", [t], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(0);
            left_out += (all as u64).saturating_sub(room as u64);
        }
    }
    Ok((rows, left_out))
}

/// A stored span; `None` for a row whose ids are not the stored sizes.
fn span_at(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<SpanRow>> {
    let id = |i: usize| -> rusqlite::Result<Option<Vec<u8>>> { r.get(i) };
    let (Ok(trace_id), Ok(span_id)) = (
        <[u8; 16]>::try_from(id(0)?.unwrap_or_default().as_slice()),
        <[u8; 8]>::try_from(id(1)?.unwrap_or_default().as_slice()),
    ) else {
        return Ok(None);
    };
    let kind: String = r.get(5)?;
    Ok(Some(SpanRow {
        trace_id,
        span_id,
        parent_id: id(2)?.and_then(|p| <[u8; 8]>::try_from(p.as_slice()).ok()),
        name: r.get(3)?,
        otel_kind: r.get(4)?,
        kind: Kind::parse(&kind),
        start_ns: r.get(6)?,
        end_ns: r.get(7)?,
        is_success: r.get(8)?,
        error: r.get(9)?,
        session_id: r.get(10)?,
        agent: r.get(11)?,
        tool_name: r.get(12)?,
        model: r.get(13)?,
        input_tokens: r.get(14)?,
        output_tokens: r.get(15)?,
        cost: r.get(16)?,
        service: r.get(17)?,
    }))
}

/// Reads on a read-only connection of the file at `path`, off the async workers.
async fn read<T: Send + 'static>(
    path: std::path::PathBuf,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || {
        let conn = super::open_read(&path)?;
        f(&conn).map_err(|e| format!("cannot read {}: {e}", path.display()))
    })
    .await
    .map_err(|e| format!("the read failed: {e}"))?
}

impl super::Writer {
    /// A page of Recent sessions.
    pub async fn sessions(&self, q: ListQuery) -> Result<Page, String> {
        read(self.path().to_owned(), move |c| page(c, &q)).await
    }

    /// One session's view, `None` when no span or record carries its id.
    pub async fn session(&self, id: String) -> Result<Option<Detail>, String> {
        read(self.path().to_owned(), move |c| session(c, &id)).await
    }
}
