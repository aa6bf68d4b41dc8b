//! Storing a group of rows in PostgreSQL in one statement, so one round trip: the rows go as
//! arrays (`UNNEST`), `events` takes the ones whose `event_id` is new (`ON CONFLICT DO
//! NOTHING`), and the rollups are increased by exactly the rows it took (`RETURNING`), in
//! the same statement and so the same transaction.
//!
//! Invariants:
//! - a rollup counts exactly the rows of `events`: a duplicate, here or on another replica,
//!   adds nothing; an id claimed concurrently by another replica waits for that transaction
//!   and is a duplicate if it committed;
//! - each table is written in key order (`ORDER BY` before every insert), so two replicas
//!   writing overlapping keys lock them in the same order and cannot deadlock each other;
//! - what a row adds to the rollups (which name, failure, session end, bucket) is decided
//!   in Rust (`rollup::contribution`, as for SQLite); the SQL only sums.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::record::Row;
use crate::rollup::Contribution;

/// The statement: `$1..$20` the `events` columns, `$21` the receive time, `$22` the JSON,
/// `$23..$39` the contributions, `$40..$52` the session tallies (`sessions.rs`). Returns the
/// `event_id`s it stored. `events` reads its columns straight from the arrays, and `new`
/// only the rollup columns of the rows `events` took, so no row of the batch is copied
/// whole into a temporary set.
static STORE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    STORE_TEMPLATE
        .replace("$TALLY_PARAMS", &super::sessions::tally_params(40))
        .replace("$TALLY_COLUMNS", super::sessions::TALLY_COLUMNS)
        .replace(
            "$UPSERT_SESSIONS",
            &super::sessions::upsert(crate::sessions::Source::Records),
        )
});

const STORE_TEMPLATE: &str = r"
WITH ins AS (
    INSERT INTO events (event_id, ts_ms, day, kind, action, name, user_id, session_id,
        is_success, duration_ms, input_tokens, output_tokens, cost, tool_calls, error_count,
        error, version, os, source, dropped_records, received_ms, json)
    SELECT event_id, ts_ms, day, kind, action, name, user_id, session_id, is_success,
        duration_ms, input_tokens, output_tokens, cost, tool_calls, error_count, error,
        version, os, source, dropped_records, $21, json
    FROM UNNEST(
        $1::TEXT[], $2::BIGINT[], $3::INTEGER[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
        $7::TEXT[], $8::TEXT[], $9::BOOLEAN[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[],
        $13::DOUBLE PRECISION[], $14::BIGINT[], $15::BIGINT[], $16::TEXT[], $17::TEXT[],
        $18::TEXT[], $19::TEXT[], $20::BIGINT[], $22::TEXT[]
    ) AS i(event_id, ts_ms, day, kind, action, name, user_id, session_id, is_success,
           duration_ms, input_tokens, output_tokens, cost, tool_calls, error_count, error,
           version, os, source, dropped_records, json)
    ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
),
new AS (
    SELECT c.* FROM UNNEST(
        $1::TEXT[], $3::INTEGER[],
        $23::TEXT[], $24::TEXT[], $25::INTEGER[], $26::INTEGER[], $27::INTEGER[],
        $28::BIGINT[], $29::BIGINT[], $30::DOUBLE PRECISION[], $31::BIGINT[], $32::BIGINT[],
        $33::BIGINT[], $34::BIGINT[], $35::TEXT[], $36::TEXT[], $37::TEXT[], $38::TEXT[],
        $39::TEXT[], $TALLY_PARAMS
    ) AS c(event_id, day, r_kind, r_name, r_failed, r_end, r_end_failed, r_input, r_output,
           r_cost, r_tool_calls, r_error_count, r_dropped, r_bucket, r_error, r_user,
           r_version, r_os, r_session, $TALLY_COLUMNS)
    JOIN ins USING (event_id)
),
d AS (
    INSERT INTO daily AS t (day, kind, name, calls, failures, input_tokens, output_tokens,
        cost, ends, end_failures, tool_calls, error_count, dropped)
    SELECT day, r_kind, r_name, COUNT(*), SUM(r_failed), SUM(r_input), SUM(r_output),
        SUM(r_cost), SUM(r_end), SUM(r_end_failed), SUM(r_tool_calls), SUM(r_error_count),
        SUM(r_dropped)
    FROM new GROUP BY day, r_kind, r_name ORDER BY day, r_kind, r_name
    ON CONFLICT (day, kind, name) DO UPDATE SET
        calls = t.calls + excluded.calls, failures = t.failures + excluded.failures,
        input_tokens = t.input_tokens + excluded.input_tokens,
        output_tokens = t.output_tokens + excluded.output_tokens,
        cost = t.cost + excluded.cost, ends = t.ends + excluded.ends,
        end_failures = t.end_failures + excluded.end_failures,
        tool_calls = t.tool_calls + excluded.tool_calls,
        error_count = t.error_count + excluded.error_count,
        dropped = t.dropped + excluded.dropped
),
h AS (
    INSERT INTO daily_durations AS t (day, kind, name, bucket, count)
    SELECT day, r_kind, r_name, r_bucket, COUNT(*) FROM new WHERE r_bucket IS NOT NULL
    GROUP BY day, r_kind, r_name, r_bucket ORDER BY day, r_kind, r_name, r_bucket
    ON CONFLICT (day, kind, name, bucket) DO UPDATE SET count = t.count + excluded.count
),
e AS (
    INSERT INTO daily_errors AS t (day, text, count)
    SELECT day, r_error, COUNT(*) FROM new WHERE r_error IS NOT NULL
    GROUP BY day, r_error ORDER BY day, r_error
    ON CONFLICT (day, text) DO UPDATE SET count = t.count + excluded.count
),
u AS (
    INSERT INTO daily_installs (day, user_id, version, os)
    SELECT DISTINCT day, r_user, r_version, r_os FROM new WHERE r_user IS NOT NULL
    ORDER BY day, r_user, r_version, r_os
    ON CONFLICT DO NOTHING
),
s AS (
    INSERT INTO daily_sessions (day, session_id)
    SELECT DISTINCT day, r_session FROM new WHERE r_session IS NOT NULL
    ORDER BY day, r_session
    ON CONFLICT DO NOTHING
),
ses AS ($UPSERT_SESSIONS)
SELECT event_id FROM ins
";

/// Stores `rows` (distinct `event_id`s) with their contributions (same order) in one
/// statement; returns the `event_id`s that were new.
pub async fn store(
    client: &impl GenericClient,
    rows: &[&Row],
    adds: &[Contribution<'_>],
    received_ms: i64,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let col = |f: fn(&Row) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let int = |f: fn(&Row) -> Option<i64>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let event_id: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    let ts_ms: Vec<i64> = rows.iter().map(|r| r.ts_ms).collect();
    let day: Vec<i32> = adds.iter().map(|a| pg_day(a.day)).collect();
    let kind: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let is_success: Vec<Option<bool>> = rows.iter().map(|r| r.is_success).collect();
    let cost: Vec<Option<f64>> = rows.iter().map(|r| r.cost).collect();
    let json: Vec<&str> = rows.iter().map(|r| r.json.as_str()).collect();
    let (action, name, user_id) = (
        col(|r| r.action.as_deref()),
        col(|r| r.name.as_deref()),
        col(|r| r.user_id.as_deref()),
    );
    let (session_id, error, version) = (
        col(|r| r.session_id.as_deref()),
        col(|r| r.error.as_deref()),
        col(|r| r.version.as_deref()),
    );
    let (os, source) = (col(|r| r.os.as_deref()), col(|r| r.source.as_deref()));
    let (duration_ms, input_tokens, output_tokens) = (
        int(|r| r.duration_ms),
        int(|r| r.input_tokens),
        int(|r| r.output_tokens),
    );
    let (tool_calls, error_count, dropped) = (
        int(|r| r.tool_calls),
        int(|r| r.error_count),
        int(|r| r.dropped_records),
    );
    let c = Columns::of(adds);
    let tallies = super::sessions::TallyColumns::of_rows(rows.iter().copied());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &event_id,
        &ts_ms,
        &day,
        &kind,
        &action,
        &name,
        &user_id,
        &session_id,
        &is_success,
        &duration_ms,
        &input_tokens,
        &output_tokens,
        &cost,
        &tool_calls,
        &error_count,
        &error,
        &version,
        &os,
        &source,
        &dropped,
        &received_ms,
        &json,
        &c.kind,
        &c.name,
        &c.failed,
        &c.end,
        &c.end_failed,
        &c.input,
        &c.output,
        &c.cost,
        &c.tool_calls,
        &c.error_count,
        &c.dropped,
        &c.bucket,
        &c.error,
        &c.user,
        &c.version,
        &c.os,
        &c.session,
    ];
    params.extend(tallies.params());
    let stmt = client.prepare_cached(&STORE).await?;
    let stored = client.query(&stmt, &params).await?;
    Ok(stored.iter().map(|r| r.get(0)).collect())
}

/// The contributions as one array per column.
#[derive(Default)]
struct Columns<'a> {
    kind: Vec<&'a str>,
    name: Vec<&'a str>,
    failed: Vec<i32>,
    end: Vec<i32>,
    end_failed: Vec<i32>,
    input: Vec<i64>,
    output: Vec<i64>,
    cost: Vec<f64>,
    tool_calls: Vec<i64>,
    error_count: Vec<i64>,
    dropped: Vec<i64>,
    bucket: Vec<Option<i64>>,
    error: Vec<Option<&'a str>>,
    user: Vec<Option<&'a str>>,
    version: Vec<Option<&'a str>>,
    os: Vec<Option<&'a str>>,
    session: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(adds: &[Contribution<'a>]) -> Self {
        let mut c = Self::default();
        for a in adds {
            c.kind.push(a.kind);
            c.name.push(a.name);
            c.failed.push(i32::from(a.failed));
            c.end.push(i32::from(a.end));
            c.end_failed.push(i32::from(a.end_failed));
            c.input.push(a.input_tokens);
            c.output.push(a.output_tokens);
            c.cost.push(a.cost);
            c.tool_calls.push(a.tool_calls);
            c.error_count.push(a.error_count);
            c.dropped.push(a.dropped);
            c.bucket.push(a.bucket);
            c.error.push(a.error);
            c.user.push(a.install.map(|i| i.0));
            c.version.push(a.install.map(|i| i.1));
            c.os.push(a.install.map(|i| i.2));
            c.session.push(a.session);
        }
        c
    }
}

/// A day as PostgreSQL's `INTEGER` column holds it (days since 1970 fit until the year
/// 5.8 million; validation keeps records within a day of now).
pub fn pg_day(day: i64) -> i32 {
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}
