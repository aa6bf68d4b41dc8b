//! SQLite storage, the embedded default: the schema and its migrations, storing a batch's
//! rows, retention. The single writer thread that calls them is in `writer.rs`, the rollups'
//! tables and SQL in `rollups.rs`, exactly-once keys in `dedupe.rs`, the file's lock in
//! `dbfile.rs`, the summary's reads in `read.rs`.
//!
//! Durability: the database runs in WAL mode with `synchronous=NORMAL`. A batch is one
//! transaction and is acknowledged only after its `COMMIT` returned, so an acknowledged batch
//! survives the collector being killed. WAL with NORMAL does not fsync on every commit (only
//! at checkpoints), so an OS crash or power cut may lose the last commits before the
//! previous checkpoint's fsync; it never corrupts the database.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};

pub mod dbfile;
pub mod dedupe;
pub mod read;
pub mod rollups;
pub mod sessions;
pub mod writer;

use crate::cardinality::NameCaps;
use crate::record::Row;
use crate::rollup::MS_PER_DAY;
use crate::store::{Counts, now_ms};
use dedupe::Claim;
use rollups::{Deltas, Seen};
use sessions::Tallies;
pub use writer::Writer;

/// One schema step.
enum Step {
    Sql(&'static str),
    Rust(fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>),
}

/// The schema, one migration per version; `schema_version` holds how many have run.
/// Version 2 replaces the per-record report indexes with the daily rollups (`rollup.rs`);
/// version 3 replaces the unique text index on `event_id` with 64-bit keys (`dedupe.rs`);
/// version 4 stores `daily` in key order (`WITHOUT ROWID`), so a window is one range read.
/// version 5 adds spans and sessions (`sessions.rs`).
const MIGRATIONS: &[Step] = &[
    Step::Sql(
        r"
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    ts_ms INTEGER NOT NULL,
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    action TEXT,
    name TEXT,
    user_id TEXT,
    session_id TEXT,
    is_success INTEGER,
    duration_ms INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL,
    tool_calls INTEGER,
    error_count INTEGER,
    error TEXT,
    version TEXT,
    os TEXT,
    source TEXT,
    dropped_records INTEGER,
    received_ms INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX events_day_user ON events (day, user_id, version, os);
CREATE INDEX events_kind_day ON events (kind, day, name, duration_ms, is_success);
CREATE INDEX events_errors ON events (day, error) WHERE error IS NOT NULL;
CREATE INDEX events_dropped ON events (day, dropped_records) WHERE dropped_records > 0;
CREATE INDEX events_tokens ON events (day, name, input_tokens, output_tokens, cost)
    WHERE kind = 'token';
CREATE INDEX events_sessions ON events (day, action, session_id, tool_calls, error_count, is_success)
    WHERE kind = 'session';
",
    ),
    Step::Rust(|tx| {
        tx.execute_batch(rollups::SCHEMA)?;
        rollups::backfill(tx)
    }),
    Step::Rust(dedupe::migrate_v3),
    Step::Sql(rollups::CLUSTER_DAILY),
    Step::Rust(sessions::migrate_v5),
];

/// Opens (creating if needed) the database for writing and brings its schema up to date.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let conn = telemetry_collector::store::sqlite::open_write(&dir.path().join("t.db")).unwrap();
/// let v: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap();
/// assert!(v >= 1);
/// ```
pub fn open_write(path: &Path) -> Result<Connection, String> {
    let conn =
        Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SQLite quietly opens a file it may not write read-only; every batch would then fail.
    if conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?
    {
        return Err(format!(
            "{} is read-only: the collector must be able to write its database",
            path.display()
        ));
    }
    let setup = conn
        .pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
        // Small on purpose: SQLite scans the whole page cache at every COMMIT, which cost
        // more than the OS page cache reads a bigger cache would save (BENCHMARKS.md).
        .and_then(|()| conn.pragma_update(None, "cache_size", -8_192))
        // Checkpoints (and their fsyncs) run on the checkpointer thread; this is a backstop.
        .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", 65_536))
        .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(10)));
    setup.map_err(|e| format!("cannot set up {}: {e}", path.display()))?;
    migrate(&conn).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

/// Opens an existing, up-to-date database read-only (the report).
pub fn open_read(path: &Path) -> Result<Connection, String> {
    if !path.exists() {
        return Err(format!("no database at {}", path.display()));
    }
    let conn = Connection::open_with_flags(
        path,
        // No mutex: a `Connection` is never shared between threads (it is not `Sync`), and
        // serialized mode locked a mutex around every column the summary reads.
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    // Scans read the file through the OS page cache, without a copy per page.
    let _ = conn.pragma_update(None, "mmap_size", 1_i64 << 30);
    let _ = conn.pragma_update(None, "cache_size", -65_536);
    match schema_version(&conn) {
        Ok(v) if v == MIGRATIONS.len() as i64 => Ok(conn),
        Ok(v) if v < MIGRATIONS.len() as i64 => Err(format!(
            "{} has schema version {v}, this collector reads version {}: start `serve` on it \
             once to upgrade it",
            path.display(),
            MIGRATIONS.len()
        )),
        Ok(v) => Err(format!(
            "{} has schema version {v}, newer than this collector ({})",
            path.display(),
            MIGRATIONS.len()
        )),
        Err(e) => Err(format!(
            "{} is not a collector database: {e}",
            path.display()
        )),
    }
}

fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
}

fn migrate(conn: &Connection) -> Result<(), String> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Runs the schema steps up to version `target` (at most the latest).
fn migrate_to(conn: &Connection, target: usize) -> Result<(), String> {
    let err = |e: rusqlite::Error| e.to_string();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(err)?;
    let current: i64 = match schema_version(conn) {
        Ok(v) => v,
        Err(rusqlite::Error::QueryReturnedNoRows) => {
            conn.execute("INSERT INTO schema_version VALUES (0)", [])
                .map_err(err)?;
            0
        }
        Err(e) => return Err(e.to_string()),
    };
    if current > MIGRATIONS.len() as i64 {
        return Err(format!(
            "schema version {current} is newer than this collector ({})",
            MIGRATIONS.len()
        ));
    }
    for (i, step) in MIGRATIONS[..target]
        .iter()
        .enumerate()
        .skip(current as usize)
    {
        let tx = conn.unchecked_transaction().map_err(err)?;
        match step {
            Step::Sql(sql) => tx.execute_batch(sql),
            Step::Rust(run) => run(&tx),
        }
        .map_err(|e| format!("schema step {}: {e}", i + 1))?;
        tx.execute("UPDATE schema_version SET version = ?1", [i as i64 + 1])
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

/// Stores the rows of one batch that are new (exactly-once through `dedupe`) and adds them
/// to the transaction's rollup deltas and session tallies.
pub(crate) fn insert_rows<'a>(
    tx: &rusqlite::Transaction<'_>,
    rows: &'a [Row],
    (deltas, tallies): &mut (&mut Deltas<'a>, &mut Tallies),
    seen: &Seen,
    caps: &mut NameCaps,
) -> rusqlite::Result<Counts> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (id, event_id, ts_ms, day, kind, action, name, user_id,
         session_id, is_success, duration_ms, input_tokens, output_tokens, cost, tool_calls,
         error_count, error, version, os, source, dropped_records, received_ms, json)
         VALUES (?23, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
         ?17, ?18, ?19, ?20, ?21, ?22)",
    )?;
    // Rows get ids in insert order (what SQLite would pick), known before the insert so
    // the dedupe key can be claimed for them first.
    let mut next_row: i64 =
        tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM events", [], |r| {
            r.get(0)
        })?;
    let any_listed = dedupe::any_listed(tx)?;
    let now = now_ms();
    let mut counts = Counts::default();
    for r in rows {
        #[cfg(test)]
        writer::failpoints::on_insert(&r.event_id);
        let key = dedupe::key(&r.event_id);
        if dedupe::claim(tx, key, &r.event_id, next_row, any_listed)? == Claim::Duplicate {
            counts.duplicates += 1;
            continue;
        }
        stmt.execute(params![
            r.event_id,
            r.ts_ms,
            r.ts_ms.div_euclid(MS_PER_DAY),
            r.kind,
            r.action,
            r.name,
            r.user_id,
            r.session_id,
            r.is_success,
            r.duration_ms,
            r.input_tokens,
            r.output_tokens,
            r.cost,
            r.tool_calls,
            r.error_count,
            r.error,
            r.version,
            r.os,
            r.source,
            r.dropped_records,
            now,
            r.json,
            next_row,
        ])?;
        next_row += 1;
        deltas.add(r, seen, caps, tx)?;
        tallies.add_row(r);
        counts.accepted += 1;
    }
    Ok(counts)
}

/// Deletes in chunks so a large purge never holds the write lock for long; the rollups of
/// the deleted days go first, in one transaction.
pub(crate) fn delete_old(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    let cutoff = now_ms().div_euclid(MS_PER_DAY) - i64::from(days);
    let tx = conn.unchecked_transaction()?;
    for table in rollups::TABLES {
        tx.execute(&format!("DELETE FROM {table} WHERE day < ?1"), [cutoff])?;
    }
    tx.commit()?;
    sessions::delete_old(conn, cutoff)?;
    let mut total = 0;
    loop {
        let tx = conn.unchecked_transaction()?;
        let gone: Vec<(i64, String)> = tx
            .prepare_cached(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE day < ?1 LIMIT 10000)
                 RETURNING id, event_id",
            )?
            .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (row, event_id) in &gone {
            dedupe::forget(&tx, *row, event_id)?;
        }
        tx.commit()?;
        total += gone.len();
        if gone.is_empty() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database left at schema version 1, with records stored the v1 way.
    fn v1_database(path: &Path) {
        let conn = Connection::open(path).unwrap();
        let Step::Sql(v1) = MIGRATIONS[0] else {
            panic!("step 1 is SQL")
        };
        conn.execute_batch(&format!(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1); {v1}"
        ))
        .unwrap();
        let day = now_ms().div_euclid(MS_PER_DAY);
        let mut insert = conn
            .prepare(
                "INSERT INTO events (event_id, ts_ms, day, kind, action, name, user_id,
                 session_id, is_success, duration_ms, input_tokens, output_tokens, cost,
                 tool_calls, error_count, error, version, os, received_ms, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, 0, '{}')",
            )
            .unwrap();
        for (i, (kind, name, ok, ms)) in [
            ("command", "run", true, 1000),
            ("command", "run", false, 3000),
            ("tool", "read", true, 7),
        ]
        .into_iter()
        .enumerate()
        {
            let error = (!ok).then_some("boom");
            insert
                .execute(params![
                    format!("e{i}"),
                    day * MS_PER_DAY,
                    day,
                    kind,
                    name,
                    name,
                    format!("u{}", i % 2),
                    None::<String>,
                    ok,
                    ms,
                    None::<i64>,
                    None::<i64>,
                    None::<f64>,
                    None::<i64>,
                    None::<i64>,
                    error,
                    "1.0",
                    "linux"
                ])
                .unwrap();
        }
        insert
            .execute(params![
                "t1",
                day * MS_PER_DAY,
                day,
                "token",
                "usage",
                "m",
                "u0",
                None::<String>,
                None::<bool>,
                None::<i64>,
                10,
                2,
                0.5,
                None::<i64>,
                None::<i64>,
                None::<String>,
                "1.0",
                "linux"
            ])
            .unwrap();
    }

    /// Stores one `tool` record per id through the writer's path: (accepted, duplicates).
    fn store(conn: &Connection, ids: &[&str]) -> (usize, usize) {
        let rows: Vec<Row> = ids
            .iter()
            .map(|id| {
                let rec = serde_json::json!({"event": "tool", "event_timestamp": 1,
                    "properties": {"event_id": id, "action": "read"}});
                crate::record::to_row(rec, 0).unwrap()
            })
            .collect();
        let tx = conn.unchecked_transaction().unwrap();
        let mut deltas = Deltas::default();
        let mut caps = NameCaps::new(100);
        let mut tallies = Tallies::default();
        let mut to = (&mut deltas, &mut tallies);
        let c = insert_rows(&tx, &rows, &mut to, &Seen::default(), &mut caps).unwrap();
        deltas.flush(&tx).unwrap();
        tx.commit().unwrap();
        (c.accepted, c.duplicates)
    }

    #[test]
    fn a_v3_database_gets_the_sessions_of_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let conn = Connection::open(&path).unwrap();
        migrate_to(&conn, 3).unwrap();
        let rec = |id: &str, event: &str, props: serde_json::Value, ts: i64| {
            let mut p =
                serde_json::json!({"event_id": id, "session_id": "s1", "agent_name": "root"});
            p.as_object_mut()
                .unwrap()
                .extend(props.as_object().unwrap().clone());
            crate::record::to_row(
                serde_json::json!({"event": event, "event_timestamp": ts,
                "properties": p}),
                0,
            )
            .unwrap()
        };
        let rows = vec![
            rec("a", "session", serde_json::json!({"action": "start"}), 1000),
            rec(
                "b",
                "tool",
                serde_json::json!({"tool_name": "t", "duration_ms": 5, "is_success": false}),
                1100,
            ),
            rec(
                "c",
                "token",
                serde_json::json!({"model_name": "m", "input_tokens": 7}),
                1200,
            ),
        ];
        let tx = conn.unchecked_transaction().unwrap();
        let (mut deltas, mut tallies) = (Deltas::default(), Tallies::default());
        let mut to = (&mut deltas, &mut tallies);
        insert_rows(
            &tx,
            &rows,
            &mut to,
            &Seen::default(),
            &mut NameCaps::new(10),
        )
        .unwrap();
        deltas.flush(&tx).unwrap();
        tx.commit().unwrap();
        drop(conn);
        let conn = open_write(&path).unwrap();
        let page = sessions::page(&conn, &crate::sessions::ListQuery::default()).unwrap();
        let s = &page.sessions[0];
        assert_eq!((s.id.as_str(), s.start, s.duration_ms), ("s1", 1000, 200));
        assert_eq!(
            (s.tool_calls, s.failed_tool_calls, s.input_tokens),
            (1, 1, 7)
        );
        assert_eq!((s.agent.as_deref(), s.is_success), (Some("root"), false));
        let d = sessions::session(&conn, "s1").unwrap().unwrap();
        assert_eq!(d.session, *s, "the list and the view agree");
    }

    #[test]
    fn a_v2_database_upgrades_to_keys_and_keeps_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        v1_database(&path);
        let conn = Connection::open(&path).unwrap();
        migrate_to(&conn, 2).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
        drop(conn);
        let conn = open_write(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), MIGRATIONS.len() as i64);
        let keyed: i64 = conn
            .query_row("SELECT COUNT(*) FROM event_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keyed, 4);
        assert_eq!(store(&conn, &["e1", "e2", "fresh", "fresh"]), (1, 3));
        assert_eq!(store(&conn, &["fresh", "t1"]), (0, 2));
        let records: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(records, 5);
    }

    #[test]
    fn a_key_collision_still_stores_the_other_id_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_write(&dir.path().join("c.db")).unwrap();
        assert_eq!(store(&conn, &["a"]), (1, 0));
        // Make "b" collide: point "b"'s key at the row of "a".
        conn.execute(
            "UPDATE event_keys SET id_hash = ?1 WHERE id_hash = ?2",
            params![dedupe::key("b"), dedupe::key("a")],
        )
        .unwrap();
        assert_eq!(store(&conn, &["b", "b"]), (1, 1));
        assert_eq!(store(&conn, &["b"]), (0, 1));
        let listed: i64 = conn
            .query_row("SELECT COUNT(*) FROM event_key_collisions", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(listed, 1);
        // Retention releases both kinds of claim.
        conn.execute("UPDATE events SET day = 0", []).unwrap();
        assert_eq!(delete_old(&conn, 1).unwrap(), 2);
        assert_eq!(store(&conn, &["a", "b"]), (2, 0));
    }

    #[test]
    fn a_v1_database_upgrades_and_keeps_its_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        v1_database(&path);
        let conn = open_write(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), MIGRATIONS.len() as i64);
        let w = crate::summary::Window::new(7, 25);
        let s = crate::summary::build(read::totals(&conn, &w).unwrap(), &w);
        assert_eq!((s.records, s.installs), (4, 2));
        let run = &s.commands[0];
        assert_eq!(
            (
                run.name.as_str(),
                run.calls,
                run.failures,
                run.p50_ms,
                run.p95_ms
            ),
            ("run", 2, 1, Some(1000), Some(3000))
        );
        assert_eq!(
            (s.tools[0].name.as_str(), s.tools[0].p50_ms),
            ("read", Some(7))
        );
        assert_eq!(
            (
                s.models[0].input_tokens,
                s.models[0].output_tokens,
                s.models[0].cost
            ),
            (10, 2, 0.5)
        );
        assert_eq!((s.errors[0].text.as_str(), s.errors[0].count), ("boom", 1));
        // The upgraded file keeps exactly-once: a stored id is still claimed.
        assert_eq!(store(&conn, &["e0", "t1", "new"]), (1, 2));
        drop(conn);
        // Opening again runs nothing twice.
        let again = open_write(&path).unwrap();
        let s2 = crate::summary::build(read::totals(&again, &w).unwrap(), &w);
        assert_eq!(s2.records, 4);
    }
}
