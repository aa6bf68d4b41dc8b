//! Exactly-once by a compact key: each stored `event_id` is claimed through a 64-bit key (the
//! first 8 bytes of its SHA-256) in the integer B-tree `event_keys`, which holds hundreds of
//! keys per page where an index on the 36-character text held about 90, so a random UUID
//! dirties far fewer pages per commit.
//!
//! Invariants, kept by [`claim`] and [`forget`] in the writer's transactions:
//! - `event_keys(id_hash, row)` maps a key to the `events.id` of the first stored record
//!   with that key;
//! - `event_key_collisions(event_id)` lists every other stored record whose key was already
//!   taken by a different `event_id` (a 64-bit collision: expected never, handled exactly).
//!
//! So an `event_id` is stored iff `event_keys` points at a row with that `event_id` or it is
//! listed in `event_key_collisions`.

use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

/// Schema version 3: `events` without the unique text index, and the key tables.
/// The column list is version 1's, so `SELECT *` copies rows unchanged.
const SCHEMA: &str = r"
CREATE TABLE events_v3 (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
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
INSERT INTO events_v3 SELECT * FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
CREATE INDEX events_day ON events (day);
CREATE TABLE event_keys (id_hash INTEGER PRIMARY KEY, row INTEGER NOT NULL);
CREATE TABLE event_key_collisions (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
";

/// The migration to version 3: rebuilds `events` and keys every stored record.
pub fn migrate_v3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(SCHEMA)?;
    let mut rows = tx.prepare("SELECT id, event_id FROM events ORDER BY id")?;
    let mut keys = tx.prepare("INSERT OR IGNORE INTO event_keys (id_hash, row) VALUES (?1, ?2)")?;
    let mut other = tx.prepare("INSERT INTO event_key_collisions (event_id) VALUES (?1)")?;
    let mut it = rows.query([])?;
    while let Some(r) = it.next()? {
        let (row, id): (i64, String) = (r.get(0)?, r.get(1)?);
        if keys.execute(params![key(&id), row])? == 0 {
            other.execute([&id])?;
        }
    }
    Ok(())
}

/// The 64-bit key of an `event_id`: the first 8 bytes of its SHA-256 (stable across builds).
///
/// ```
/// use telemetry_collector::store::sqlite::dedupe::key;
/// assert_eq!(key("e1"), key("e1"));
/// assert_ne!(key("e1"), key("e2"));
/// ```
pub fn key(event_id: &str) -> i64 {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// What [`claim`] decided for one `event_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already stored: skip the record.
    Duplicate,
    /// New: store the record with `events.id` = the `row` given to [`claim`].
    New,
}

/// Whether any id is listed in `event_key_collisions` (asked once per transaction, so
/// [`claim`] can skip that lookup while the table is empty, as it nearly always is).
pub fn any_listed(tx: &Transaction<'_>) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT 1 FROM event_key_collisions LIMIT 1")?
        .exists([])
}

/// Decides whether `event_id` (with `key == key(event_id)`) is already stored and, if it is
/// new, claims it for `row`, the `events.id` the caller then inserts it with. The common
/// case is one integer-key insert.
pub fn claim(
    tx: &Transaction<'_>,
    key: i64,
    event_id: &str,
    row: i64,
    any_listed: bool,
) -> rusqlite::Result<Claim> {
    let took = tx
        .prepare_cached("INSERT OR IGNORE INTO event_keys (id_hash, row) VALUES (?1, ?2)")?
        .execute(params![key, row])?;
    if took == 1 {
        if any_listed && listed(tx, event_id)? {
            tx.prepare_cached("DELETE FROM event_keys WHERE id_hash = ?1")?
                .execute([key])?;
            return Ok(Claim::Duplicate);
        }
        return Ok(Claim::New);
    }
    let owner: Option<String> = tx
        .prepare_cached(
            "SELECT e.event_id FROM event_keys k JOIN events e ON e.id = k.row
             WHERE k.id_hash = ?1",
        )?
        .query_row([key], |r| r.get(0))
        .optional()?;
    match owner {
        Some(stored) if stored == event_id => Ok(Claim::Duplicate),
        Some(_) => {
            let added = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO event_key_collisions (event_id) VALUES (?1)",
                )?
                .execute([event_id])?;
            Ok(if added == 1 {
                Claim::New
            } else {
                Claim::Duplicate
            })
        }
        // The key's owner row is gone (not expected: retention releases keys).
        None if listed(tx, event_id)? => Ok(Claim::Duplicate),
        None => {
            tx.prepare_cached("UPDATE event_keys SET row = ?2 WHERE id_hash = ?1")?
                .execute(params![key, row])?;
            Ok(Claim::New)
        }
    }
}

fn listed(tx: &Transaction<'_>, event_id: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT 1 FROM event_key_collisions WHERE event_id = ?1")?
        .exists([event_id])
}

/// Releases the claim of a deleted row, so its `event_id` may be stored again.
pub fn forget(tx: &Transaction<'_>, row: i64, event_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM event_keys WHERE id_hash = ?1 AND row = ?2")?
        .execute(params![key(event_id), row])?;
    tx.prepare_cached("DELETE FROM event_key_collisions WHERE event_id = ?1")?
        .execute([event_id])?;
    Ok(())
}
