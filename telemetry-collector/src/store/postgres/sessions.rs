//! PostgreSQL: spans and sessions, as the SQLite store keeps them (`store/sqlite/sessions.rs`
//! says what each table holds). Spans are stored in one statement per request: `spans`
//! takes the `(trace_id, span_id)`s that are new and the same statement adds exactly those
//! to their sessions' tallies; records add theirs inside the records' statement (`ingest.rs`
//! appends [`upsert`]). Every writer locks `sessions` rows in key order, so replicas cannot
//! deadlock each other on them.

use std::collections::HashSet;

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::types::ToSql;

use super::ingest::pg_day;
use super::schema::describe;
use crate::rollup::MS_PER_DAY;
use crate::sessions::records::SessionRecord;
use crate::sessions::{
    Cursor, Detail, Kind, ListQuery, MAX_SPANS, Page, Session, Source, Tally, detail, records,
    traces,
};
use crate::span::SpanRow;
use crate::store::{Counts, now_ms};

/// Schema version 2: the tables, their indexes, and the sessions of the records stored
/// before it (the same tallies `records.rs` makes, written in SQL once).
pub const SCHEMA: &str = r#"
CREATE TABLE spans (
    trace_id BYTEA NOT NULL,
    span_id BYTEA NOT NULL,
    parent_id BYTEA,
    name TEXT NOT NULL,
    otel_kind INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    day INTEGER NOT NULL,
    is_success BOOLEAN NOT NULL,
    error TEXT,
    session_id TEXT,
    agent TEXT,
    tool_name TEXT,
    model TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost DOUBLE PRECISION,
    service TEXT,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_day ON spans (day);
CREATE INDEX spans_session ON spans (session_id) WHERE session_id IS NOT NULL;
CREATE TABLE sessions (
    session_id TEXT COLLATE "C" NOT NULL,
    source TEXT NOT NULL,
    day INTEGER NOT NULL,
    start_ms BIGINT NOT NULL,
    agent TEXT,
    agent_from_session BOOLEAN NOT NULL,
    session_start BIGINT,
    session_end BIGINT,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    tool_calls BIGINT NOT NULL,
    failed_tool_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (session_id, source)
);
CREATE INDEX sessions_recent ON sessions (start_ms, session_id);
CREATE INDEX sessions_failed ON sessions (start_ms, session_id) WHERE failures > 0;
CREATE INDEX events_session ON events (session_id) WHERE session_id IS NOT NULL AND session_id <> '';
INSERT INTO sessions (session_id, source, day, start_ms, agent, agent_from_session,
    session_start, session_end, first_ms, last_ms, tool_calls, failed_tool_calls,
    input_tokens, output_tokens, cost, failures)
SELECT session_id, 'records', div(GREATEST(MAX(s_end), MAX(r_end)), 86400000)::INTEGER,
    COALESCE(MIN(s_start), MIN(r_start)),
    (ARRAY_AGG(agent ORDER BY is_session DESC) FILTER (WHERE agent IS NOT NULL))[1],
    COALESCE(BOOL_OR(is_session AND agent IS NOT NULL), FALSE),
    MIN(s_start), MAX(s_end), MIN(r_start), MAX(r_end),
    COUNT(*) FILTER (WHERE kind = 'tool'),
    COUNT(*) FILTER (WHERE kind = 'tool' AND is_success = FALSE),
    LEAST(COALESCE(SUM(input_tokens) FILTER (WHERE kind = 'token'), 0), 9223372036854775807)::BIGINT,
    LEAST(COALESCE(SUM(output_tokens) FILTER (WHERE kind = 'token'), 0), 9223372036854775807)::BIGINT,
    COALESCE(SUM(cost) FILTER (WHERE kind = 'token'), 0),
    COUNT(*) FILTER (WHERE is_success = FALSE)
FROM (
    SELECT session_id, kind, is_success, input_tokens, output_tokens, cost,
        kind = 'session' AS is_session,
        NULLIF(replace(json, '\u0000', '\ufffd')::json -> 'properties' ->> 'agent_name', '')
            AS agent,
        CASE WHEN action = 'start' THEN ts_ms ELSE ts_ms - COALESCE(duration_ms, 0) END AS r_start,
        ts_ms AS r_end,
        CASE WHEN kind = 'session' THEN
            CASE WHEN action = 'start' THEN ts_ms ELSE ts_ms - COALESCE(duration_ms, 0) END
        END AS s_start,
        CASE WHEN kind = 'session' THEN ts_ms END AS s_end
    FROM events WHERE session_id IS NOT NULL AND session_id <> ''
) r
GROUP BY session_id;
"#;

/// The columns (`UNNEST` names) of a tally, as [`TallyColumns`] sends them.
pub const TALLY_COLUMNS: &str = "s_session, s_agent, s_agent_session, s_start, s_end, \
    s_first, s_last, s_tools, s_failed_tools, s_input, s_output, s_cost, s_failures";

/// The `UNNEST` arguments of the tally columns, from parameter `$first` on.
pub fn tally_params(first: usize) -> String {
    let types = [
        "TEXT",
        "TEXT",
        "BOOLEAN",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "DOUBLE PRECISION",
        "BIGINT",
    ];
    types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement part that merges the tallies of the rows in `new` (a CTE with the tally
/// columns) into `sessions` of `source`: a session's rows summed first, then added to its
/// row, in key order.
pub fn upsert(source: Source) -> String {
    format!(
        "INSERT INTO sessions AS t (session_id, source, day, start_ms, agent,
            agent_from_session, session_start, session_end, first_ms, last_ms, tool_calls,
            failed_tool_calls, input_tokens, output_tokens, cost, failures)
        SELECT s_session, '{source}',
            div(GREATEST(MAX(s_end), MAX(s_last)), {MS_PER_DAY})::INTEGER,
            COALESCE(MIN(s_start), MIN(s_first)),
            (ARRAY_AGG(s_agent ORDER BY s_agent_session DESC) FILTER (WHERE s_agent IS NOT NULL))[1],
            COALESCE(BOOL_OR(s_agent_session), FALSE),
            MIN(s_start), MAX(s_end), MIN(s_first), MAX(s_last),
            LEAST(SUM(s_tools), 9223372036854775807)::BIGINT,
            LEAST(SUM(s_failed_tools), 9223372036854775807)::BIGINT,
            LEAST(SUM(s_input), 9223372036854775807)::BIGINT,
            LEAST(SUM(s_output), 9223372036854775807)::BIGINT,
            SUM(s_cost), LEAST(SUM(s_failures), 9223372036854775807)::BIGINT
        FROM new WHERE s_session IS NOT NULL GROUP BY s_session ORDER BY s_session
        ON CONFLICT (session_id, source) DO UPDATE SET
            day = GREATEST(t.day, excluded.day),
            agent = CASE WHEN excluded.agent IS NOT NULL AND (t.agent IS NULL OR
                (excluded.agent_from_session AND NOT t.agent_from_session))
                THEN excluded.agent ELSE t.agent END,
            agent_from_session = t.agent_from_session OR excluded.agent_from_session,
            session_start = LEAST(t.session_start, excluded.session_start),
            session_end = GREATEST(t.session_end, excluded.session_end),
            first_ms = LEAST(t.first_ms, excluded.first_ms),
            last_ms = GREATEST(t.last_ms, excluded.last_ms),
            start_ms = COALESCE(LEAST(t.session_start, excluded.session_start),
                LEAST(t.first_ms, excluded.first_ms)),
            tool_calls = LEAST(t.tool_calls::NUMERIC + excluded.tool_calls, 9223372036854775807)::BIGINT,
            failed_tool_calls = LEAST(t.failed_tool_calls::NUMERIC + excluded.failed_tool_calls,
                9223372036854775807)::BIGINT,
            input_tokens = LEAST(t.input_tokens::NUMERIC + excluded.input_tokens, 9223372036854775807)::BIGINT,
            output_tokens = LEAST(t.output_tokens::NUMERIC + excluded.output_tokens, 9223372036854775807)::BIGINT,
            cost = t.cost + excluded.cost,
            failures = LEAST(t.failures::NUMERIC + excluded.failures, 9223372036854775807)::BIGINT",
        source = source.as_str()
    )
}

/// Tallies as one array per column (a row without a session: `NULL` session, zeros).
#[derive(Default)]
pub struct TallyColumns {
    session: Vec<Option<String>>,
    agent: Vec<Option<String>>,
    agent_session: Vec<bool>,
    start: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    first: Vec<i64>,
    last: Vec<i64>,
    tools: Vec<i64>,
    failed: Vec<i64>,
    input: Vec<i64>,
    output: Vec<i64>,
    cost: Vec<f64>,
    failures: Vec<i64>,
}

impl TallyColumns {
    /// The tallies of records (rows without a session id get none).
    pub fn of_rows<'a>(rows: impl IntoIterator<Item = &'a crate::record::Row>) -> Self {
        let mut c = Self::default();
        for r in rows {
            match r.session_id.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => c.push(Some(s), SessionRecord::from_row(r).tally(s)),
                None => c.push(None, Tally::default()),
            }
        }
        c
    }

    /// Appends one row's tally.
    pub fn push(&mut self, session: Option<&str>, t: Tally) {
        self.session.push(session.map(str::to_owned));
        self.agent_session.push(t.agent_from_session);
        self.agent.push(t.agent);
        self.start.push(t.session_start);
        self.end.push(t.session_end);
        self.first.push(t.first);
        self.last.push(t.last);
        self.tools.push(t.tool_calls);
        self.failed.push(t.failed_tool_calls);
        self.input.push(t.input_tokens);
        self.output.push(t.output_tokens);
        self.cost.push(t.cost);
        self.failures.push(t.failures);
    }

    /// The parameters, in [`TALLY_COLUMNS`] order.
    pub fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.session,
            &self.agent,
            &self.agent_session,
            &self.start,
            &self.end,
            &self.first,
            &self.last,
            &self.tools,
            &self.failed,
            &self.input,
            &self.output,
            &self.cost,
            &self.failures,
        ]
    }
}

/// The spans statement: `$1..$19` the columns, `$20` the receive time, `$21..$33` the
/// tallies. Returns how many spans were new.
fn store_spans_sql() -> String {
    format!(
        "WITH input AS (
            SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[], $3::BYTEA[], $4::TEXT[],
                $5::INTEGER[], $6::TEXT[], $7::BIGINT[], $8::BIGINT[], $9::INTEGER[],
                $10::BOOLEAN[], $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::TEXT[], $15::TEXT[],
                $16::BIGINT[], $17::BIGINT[], $18::DOUBLE PRECISION[], $19::TEXT[], {})
            AS i(trace_id, span_id, parent_id, name, otel_kind, kind, start_ns, end_ns, day,
                is_success, error, session_id, agent, tool_name, model, input_tokens,
                output_tokens, cost, service, {TALLY_COLUMNS})
        ),
        ins AS (
            INSERT INTO spans (trace_id, span_id, parent_id, name, otel_kind, kind, start_ns,
                end_ns, day, is_success, error, session_id, agent, tool_name, model,
                input_tokens, output_tokens, cost, service, received_ms)
            SELECT trace_id, span_id, parent_id, name, otel_kind, kind, start_ns, end_ns, day,
                is_success, error, session_id, agent, tool_name, model, input_tokens,
                output_tokens, cost, service, $20
            FROM input ORDER BY trace_id, span_id
            ON CONFLICT (trace_id, span_id) DO NOTHING
            RETURNING trace_id, span_id
        ),
        new AS (SELECT input.* FROM input JOIN ins USING (trace_id, span_id)),
        ses AS ({})
        SELECT COUNT(*) FROM ins",
        tally_params(21),
        upsert(Source::Traces)
    )
}

/// Stores the spans not stored yet, in one statement; a deadlock or a lost connection is
/// retried (the statement is all or nothing).
pub async fn insert_spans(pool: &Pool, spans: &[SpanRow]) -> Result<Counts, String> {
    let mut seen = HashSet::new();
    let unique: Vec<&SpanRow> = spans
        .iter()
        .filter(|s| seen.insert((s.trace_id, s.span_id)))
        .collect();
    let sql = store_spans_sql();
    let mut last = String::new();
    for _ in 0..3 {
        let client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                last = format!("storage error: cannot reach PostgreSQL: {e}");
                continue;
            }
        };
        match store_spans(&client, &sql, &unique).await {
            Ok(new) => {
                let accepted = usize::try_from(new).unwrap_or(0);
                return Ok(Counts {
                    accepted,
                    duplicates: spans.len().saturating_sub(accepted),
                });
            }
            Err(e) => {
                last = format!("storage error: {}", describe(&e));
                if !super::writer::retryable(&e) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

async fn store_spans(
    client: &impl GenericClient,
    sql: &str,
    spans: &[&SpanRow],
) -> Result<i64, tokio_postgres::Error> {
    let bytes = |f: fn(&SpanRow) -> Vec<u8>| spans.iter().map(|s| f(s)).collect::<Vec<_>>();
    let text = |f: fn(&SpanRow) -> Option<&str>| spans.iter().map(|s| f(s)).collect::<Vec<_>>();
    let int = |f: fn(&SpanRow) -> i64| spans.iter().map(|s| f(s)).collect::<Vec<_>>();
    let opt = |f: fn(&SpanRow) -> Option<i64>| spans.iter().map(|s| f(s)).collect::<Vec<_>>();
    let trace_id = bytes(|s| s.trace_id.to_vec());
    let span_id = bytes(|s| s.span_id.to_vec());
    let parent: Vec<Option<Vec<u8>>> = spans
        .iter()
        .map(|s| s.parent_id.map(|p| p.to_vec()))
        .collect();
    let name: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let otel_kind: Vec<i32> = spans.iter().map(|s| s.otel_kind).collect();
    let kind: Vec<&str> = spans.iter().map(|s| s.kind.as_str()).collect();
    let (start, end) = (int(|s| s.start_ns), int(|s| s.end_ns));
    let day: Vec<i32> = spans.iter().map(|s| pg_day(s.day())).collect();
    let ok: Vec<bool> = spans.iter().map(|s| s.is_success).collect();
    let (error, session, agent) = (
        text(|s| s.error.as_deref()),
        text(|s| s.session_id.as_deref()),
        text(|s| s.agent.as_deref()),
    );
    let (tool, model, service) = (
        text(|s| s.tool_name.as_deref()),
        text(|s| s.model.as_deref()),
        text(|s| s.service.as_deref()),
    );
    let (input, output) = (opt(|s| s.input_tokens), opt(|s| s.output_tokens));
    let cost: Vec<Option<f64>> = spans.iter().map(|s| s.cost).collect();
    let mut tallies = TallyColumns::default();
    for s in spans {
        tallies.push(s.session_id.as_deref(), s.tally());
    }
    let received = now_ms();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &trace_id, &span_id, &parent, &name, &otel_kind, &kind, &start, &end, &day, &ok, &error,
        &session, &agent, &tool, &model, &input, &output, &cost, &service, &received,
    ];
    params.extend(tallies.params());
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.query_one(&stmt, &params).await?.get(0))
}

/// Deletes the spans of days before `cutoff`, in chunks (the `sessions` rows go with the
/// rollups, see `schema::DAY_TABLES`).
pub async fn delete_spans(
    client: &deadpool_postgres::Client,
    cutoff: i32,
) -> Result<u64, tokio_postgres::Error> {
    let chunk = client
        .prepare_cached(
            "DELETE FROM spans WHERE (trace_id, span_id) IN
             (SELECT trace_id, span_id FROM spans WHERE day < $1 LIMIT 10000)",
        )
        .await?;
    let mut total = 0;
    loop {
        let gone = client.execute(&chunk, &[&cutoff]).await?;
        total += gone;
        if gone == 0 {
            return Ok(total);
        }
    }
}

fn read_err(e: tokio_postgres::Error) -> String {
    format!("cannot read the sessions: {}", describe(&e))
}

/// One page of Recent sessions (as the SQLite store's `page`).
pub async fn page(pool: &Pool, q: &ListQuery) -> Result<Page, String> {
    let client = pool
        .get()
        .await
        .map_err(|e| format!("cannot reach PostgreSQL: {e}"))?;
    let failed = if q.failed { "AND failures > 0" } else { "" };
    let after = if q.cursor.is_some() {
        "AND (start_ms, session_id) < ($1, $2)"
    } else {
        "AND $1::BIGINT IS NULL AND $2::TEXT IS NULL"
    };
    let sql = format!(
        "SELECT session_id, source, agent, agent_from_session, session_start, session_end,
             first_ms, last_ms, tool_calls, failed_tool_calls, input_tokens, output_tokens,
             cost, failures, start_ms
         FROM sessions s
         WHERE (source = 'traces' OR NOT EXISTS (SELECT 1 FROM sessions t
                WHERE t.session_id = s.session_id AND t.source = 'traces'))
           {failed} {after}
         ORDER BY start_ms DESC, session_id DESC LIMIT $3"
    );
    let (c_start, c_id) = q
        .cursor
        .as_ref()
        .map_or((None, None), |c| (Some(c.start), Some(c.id.clone())));
    let rows = client
        .query(&sql, &[&c_start, &c_id, &(q.limit as i64 + 1)])
        .await
        .map_err(read_err)?;
    let mut list: Vec<(Session, i64)> = rows
        .iter()
        .map(|r| {
            let t = Tally {
                agent: r.get(2),
                agent_from_session: r.get(3),
                session_start: r.get(4),
                session_end: r.get(5),
                first: r.get(6),
                last: r.get(7),
                tool_calls: r.get(8),
                failed_tool_calls: r.get(9),
                input_tokens: r.get(10),
                output_tokens: r.get(11),
                cost: r.get(12),
                failures: r.get(13),
            };
            let source = Source::parse(r.get(1)).unwrap_or(Source::Records);
            (t.session(r.get(0), source), r.get(14))
        })
        .collect();
    let next = (list.len() > q.limit).then(|| {
        list.truncate(q.limit);
        list.last().map(|(s, start)| {
            Cursor {
                start: *start,
                id: s.id.clone(),
            }
            .encode()
        })
    });
    Ok(Page {
        sessions: list.into_iter().map(|(s, _)| s).collect(),
        next: next.flatten(),
    })
}

/// One session's view (as the SQLite store's `session`).
pub async fn session(pool: &Pool, id: &str) -> Result<Option<Detail>, String> {
    let client = pool
        .get()
        .await
        .map_err(|e| format!("cannot reach PostgreSQL: {e}"))?;
    let traces: Vec<Vec<u8>> = client
        .query(
            "SELECT DISTINCT trace_id FROM spans WHERE session_id = $1 LIMIT 1000",
            &[&id],
        )
        .await
        .map_err(read_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !traces.is_empty() {
        let mut rows = Vec::new();
        let mut left_out = 0u64;
        for t in &traces {
            let room = MAX_SPANS.saturating_sub(rows.len()) as i64;
            let got = client
                .query(
                    "SELECT trace_id, span_id, parent_id, name, otel_kind, kind, start_ns,
                         end_ns, is_success, error, session_id, agent, tool_name, model,
                         input_tokens, output_tokens, cost, service,
                         COUNT(*) OVER () AS n
                     FROM spans WHERE trace_id = $1 ORDER BY start_ns LIMIT $2",
                    &[t, &room],
                )
                .await
                .map_err(read_err)?;
            if let Some(first) = got.first() {
                let n: i64 = first.get(18);
                left_out += (n as u64).saturating_sub(got.len() as u64);
            }
            rows.extend(got.iter().filter_map(span_at));
        }
        return Ok(detail(
            id,
            Source::Traces,
            traces::select(id, &rows),
            left_out,
        ));
    }
    let got = client
        .query(
            "SELECT event_id, ts_ms, json FROM events WHERE session_id = $1 AND session_id <> ''
             ORDER BY ts_ms, event_id LIMIT $2",
            &[&id, &(MAX_SPANS as i64 + 1)],
        )
        .await
        .map_err(read_err)?;
    let recs: Vec<SessionRecord> = got
        .iter()
        .filter_map(|r| SessionRecord::from_json(r.get(0), r.get(1), r.get(2)))
        .collect();
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

fn span_at(r: &tokio_postgres::Row) -> Option<SpanRow> {
    let trace_id: Vec<u8> = r.get(0);
    let span_id: Vec<u8> = r.get(1);
    let parent: Option<Vec<u8>> = r.get(2);
    Some(SpanRow {
        trace_id: trace_id.as_slice().try_into().ok()?,
        span_id: span_id.as_slice().try_into().ok()?,
        parent_id: parent.and_then(|p| p.as_slice().try_into().ok()),
        name: r.get(3),
        otel_kind: r.get(4),
        kind: Kind::parse(r.get(5)),
        start_ns: r.get(6),
        end_ns: r.get(7),
        is_success: r.get(8),
        error: r.get(9),
        session_id: r.get(10),
        agent: r.get(11),
        tool_name: r.get(12),
        model: r.get(13),
        input_tokens: r.get(14),
        output_tokens: r.get(15),
        cost: r.get(16),
        service: r.get(17),
    })
}
