//! The summary's [`Totals`] read from a SQLite file's rollups: one pass over the window's
//! `daily` rows and the error texts on one read-only connection, the install scan on a
//! second connection and thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rusqlite::Connection;

use super::open_read;
use super::rollups::{int_at, read_daily};
use crate::summary::{Summary, Totals, Window, build};

/// The summary of `days` days (at most `top` per list) of the file at `path`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.db");
/// drop(telemetry_collector::store::sqlite::open_write(&path).unwrap());
/// let s = telemetry_collector::store::sqlite::read::summarize_file(&path, 3, 5).unwrap();
/// assert_eq!((s.days, s.records, s.installs_per_day.len()), (3, 0, 3));
/// ```
pub fn summarize_file(path: &Path, days: u32, top: usize) -> Result<Summary, String> {
    let w = Window::new(days, top);
    Ok(build(totals_file(path, &w)?, &w))
}

/// The totals of `w` from the file at `path`.
pub fn totals_file(path: &Path, w: &Window) -> Result<Totals, String> {
    let (a, b) = (open_read(path)?, open_read(path)?);
    let err = |e: rusqlite::Error| format!("cannot read {}: {e}", path.display());
    let (scan, rest) = std::thread::scope(|scope| {
        let t = scope.spawn(move || installs(&a, w));
        (t.join(), rollups(&b, w))
    });
    let installs = scan
        .map_err(|_| "the summary thread panicked".to_owned())?
        .map_err(err)?;
    let mut t = rest.map_err(err)?;
    (t.installs, t.installs_per_day, t.versions, t.os) = installs;
    Ok(t)
}

/// The totals of `w` over one connection (tests and the upgrade checks).
pub fn totals(conn: &Connection, w: &Window) -> rusqlite::Result<Totals> {
    let mut t = rollups(conn, w)?;
    (t.installs, t.installs_per_day, t.versions, t.os) = installs(conn, w)?;
    Ok(t)
}

/// Everything but the install scan: the window's `daily` rows, the error texts, the
/// distinct sessions. Sums saturate (`int_at` reads what an older collector may have
/// stored).
fn rollups(conn: &Connection, w: &Window) -> rusqlite::Result<Totals> {
    let mut t = Totals::default();
    let mut stmt = conn.prepare(
        "SELECT day, kind, name, calls, failures, input_tokens, output_tokens, cost, ends,
         end_failures, tool_calls, error_count, dropped, hist FROM daily
         WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt.query([w.first, w.today])?;
    while let Some(r) = rows.next()? {
        let d = read_daily(r, 3)?;
        t.add_daily(
            int_at(r, 0)?,
            r.get_ref(1)?.as_str()?,
            r.get_ref(2)?.as_str()?,
            &d,
        );
    }
    let mut stmt =
        conn.prepare("SELECT text, count FROM daily_errors WHERE day BETWEEN ?1 AND ?2")?;
    let mut rows = stmt.query([w.first, w.today])?;
    while let Some(r) = rows.next()? {
        t.add_error(r.get_ref(0)?.as_str()?, int_at(r, 1)?);
    }
    t.session_count = conn
        .query_row(
            "SELECT COUNT(DISTINCT session_id) FROM daily_sessions WHERE day BETWEEN ?1 AND ?2",
            [w.first, w.today],
            |r| r.get::<_, i64>(0),
        )?
        .max(0) as u64;
    Ok(t)
}

type Installs = (
    u64,
    BTreeMap<i64, u64>,
    HashMap<String, u64>,
    HashMap<String, u64>,
);

/// Distinct installs, installs per day, per version and per OS: one ordered scan of
/// `daily_installs`. Rows repeat users a lot; only changes do any hashing.
fn installs(conn: &Connection, w: &Window) -> rusqlite::Result<Installs> {
    let mut stmt = conn.prepare(
        "SELECT day, user_id, version, os FROM daily_installs WHERE day BETWEEN ?1 AND ?2
         ORDER BY day, user_id",
    )?;
    let mut rows = stmt.query([w.first, w.today])?;
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
    let count = |m: HashMap<String, HashSet<usize>>| {
        m.into_iter()
            .map(|(k, ids)| (k, ids.len() as u64))
            .collect::<HashMap<_, _>>()
    };
    Ok((users.len() as u64, per_day, count(versions), count(oses)))
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
