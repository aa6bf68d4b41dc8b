//! The PostgreSQL schema, all of it, and how it is migrated.
//!
//! The tables mirror the SQLite store's (`events` plus the daily rollups; from version 2
//! `spans` and `sessions`, see `sessions.rs`), in PostgreSQL's types. Differences, each for several writers on one database:
//! - `events.event_id` is the primary key: claiming an id is `INSERT … ON CONFLICT DO
//!   NOTHING`, and a concurrent claim of the same id waits for the first to commit or abort;
//! - duration histograms are rows of `daily_durations` (one per bucket) rather than a blob,
//!   so concurrent writers add to them with plain `count = count + n` upserts;
//! - sums that clients influence are `NUMERIC` where a `BIGINT` could overflow under the
//!   sum of many records, and read back clamped.
//!
//! `schema_version` holds how many [`MIGRATIONS`] have run. [`migrate`] runs the missing ones
//! in one transaction under an advisory lock, so replicas starting together migrate once;
//! a database newer than this binary is refused.

use tokio_postgres::Client;

/// The schema steps; version N is the first N of them.
pub const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    action TEXT,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    is_success BOOLEAN,
    duration_ms BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost DOUBLE PRECISION,
    tool_calls BIGINT,
    error_count BIGINT,
    error TEXT,
    version TEXT,
    os TEXT,
    source TEXT,
    dropped_records BIGINT,
    received_ms BIGINT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX events_day ON events (day);

CREATE TABLE daily (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    calls BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    input_tokens NUMERIC NOT NULL,
    output_tokens NUMERIC NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    ends BIGINT NOT NULL,
    end_failures BIGINT NOT NULL,
    tool_calls NUMERIC NOT NULL,
    error_count NUMERIC NOT NULL,
    dropped NUMERIC NOT NULL,
    PRIMARY KEY (day, kind, name)
);
CREATE TABLE daily_durations (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, kind, name, bucket)
);
CREATE TABLE daily_errors (
    day INTEGER NOT NULL,
    text TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, text)
);
CREATE TABLE daily_installs (
    day INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    version TEXT NOT NULL,
    os TEXT NOT NULL,
    PRIMARY KEY (day, user_id, version, os)
);
CREATE TABLE daily_sessions (
    day INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (day, session_id)
);
",
    super::sessions::SCHEMA,
];

/// The tables retention prunes by `day`, rollups first.
pub const DAY_TABLES: &[&str] = &[
    "daily",
    "daily_durations",
    "daily_errors",
    "daily_installs",
    "daily_sessions",
    "sessions",
];

/// The advisory lock migrations run under (any value only this collector uses).
pub const MIGRATION_LOCK: i64 = 0x7465_6c65_6d01;

/// The advisory lock retention runs under, so one replica at a time does the work.
pub const RETENTION_LOCK: i64 = 0x7465_6c65_6d02;

/// The schema version this binary writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to date: the missing steps run in one transaction under
/// [`MIGRATION_LOCK`], so of replicas starting together one migrates and the others wait
/// and find nothing to do. Returns the version. A newer database is refused.
pub async fn migrate(client: &mut Client) -> Result<i64, String> {
    let err = |e: tokio_postgres::Error| format!("cannot migrate the schema: {}", describe(&e));
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await
        .map_err(err)?;
    let current: i64 = match tx
        .query_opt("SELECT version::BIGINT FROM schema_version", &[])
        .await
        .map_err(err)?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO schema_version VALUES (0)", &[])
                .await
                .map_err(err)?;
            0
        }
    };
    check_not_newer(current)?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(step)
            .await
            .map_err(|e| format!("schema step {}: {}", i + 1, describe(&e)))?;
    }
    if current < latest() {
        tx.execute(
            "UPDATE schema_version SET version = $1",
            &[&(latest() as i32)],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(latest())
}

/// For readers (`report`): the schema must be exactly this binary's.
pub async fn check_current(client: &Client) -> Result<(), String> {
    let v: i64 = client
        .query_opt("SELECT version::BIGINT FROM schema_version", &[])
        .await
        .map_err(|e| format!("not a collector database: {}", describe(&e)))?
        .map_or(0, |r| r.get(0));
    check_not_newer(v)?;
    if v < latest() {
        return Err(format!(
            "the database has schema version {v}, this collector reads version {}: start \
             `serve` on it once to upgrade it",
            latest()
        ));
    }
    Ok(())
}

fn check_not_newer(v: i64) -> Result<(), String> {
    if v > latest() {
        return Err(format!(
            "the database has schema version {v}, newer than this collector's {}: run a \
             collector at least as new as the one that migrated it",
            latest()
        ));
    }
    Ok(())
}

/// A one-line description of a PostgreSQL error: the server's message (and its detail)
/// when there is one, else the client's.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}
