//! The summary's [`Totals`] read from a SQLite file's rollups: one pass over the window's
//! `daily` rows and the error texts on one read-only connection, the install scan and the
//! session scan on two more connections and threads.

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
    let (a, b, c) = (open_read(path)?, open_read(path)?, open_read(path)?);
    let err = |e: rusqlite::Error| format!("cannot read {}: {e}", path.display());
    let (scan, sessions, rest) = std::thread::scope(|scope| {
        let t = scope.spawn(move || installs(&a, w));
        let u = scope.spawn(move || sessions(&c, w));
        (t.join(), u.join(), rollups(&b, w))
    });
    let panicked = |_| "a summary thread panicked".to_owned();
    let installs = scan.map_err(panicked)?.map_err(err)?;
    let sessions = sessions.map_err(panicked)?.map_err(err)?;
    let mut t = rest.map_err(err)?;
    (t.installs, t.installs_per_day, t.versions, t.os) = installs;
    t.session_count = sessions;
    Ok(t)
}

/// The totals of `w` over one connection (tests and the upgrade checks).
pub fn totals(conn: &Connection, w: &Window) -> rusqlite::Result<Totals> {
    let mut t = rollups(conn, w)?;
    (t.installs, t.installs_per_day, t.versions, t.os) = installs(conn, w)?;
    t.session_count = sessions(conn, w)?;
    Ok(t)
}

/// Everything but the install and session scans: the window's `daily` rows and the error
/// texts. Sums saturate (`int_at` reads what an older collector may have stored).
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
    Ok(t)
}

type Installs = (
    u64,
    BTreeMap<i64, u64>,
    HashMap<String, u64>,
    HashMap<String, u64>,
);

/// Distinct installs, installs per day, per version and per OS: one ordered scan of
/// `daily_installs`. Rows come by day and user, so only a change of either looks a user up;
/// users and values are numbered as first seen, and a value's installs are counted through
/// a set of (value, user) number pairs: one hash of a `u64` per row, no string kept twice.
fn installs(conn: &Connection, w: &Window) -> rusqlite::Result<Installs> {
    let mut stmt = conn.prepare(
        "SELECT day, user_id, version, os FROM daily_installs WHERE day BETWEEN ?1 AND ?2
         ORDER BY day, user_id",
    )?;
    let mut rows = stmt.query([w.first, w.today])?;
    let mut users: HashMap<Box<str>, u32> = HashMap::new();
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let (mut versions, mut oses) = (Shares::default(), Shares::default());
    let (mut last_day, mut last_user, mut uid) = (i64::MIN, String::new(), 0u32);
    while let Some(row) = rows.next()? {
        let day = row.get_ref(0)?.as_i64()?;
        let user = row.get_ref(1)?.as_str()?;
        if day != last_day || user != last_user {
            uid = match users.get(user) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(users.len()).unwrap_or(u32::MAX);
                    users.insert(user.into(), id);
                    id
                }
            };
            *per_day.entry(day).or_default() += 1;
            last_day = day;
            last_user.clear();
            last_user.push_str(user);
        }
        // An absent version or OS is stored as "".
        versions.add(row.get_ref(2)?.as_str()?, uid);
        oses.add(row.get_ref(3)?.as_str()?, uid);
    }
    Ok((
        users.len() as u64,
        per_day,
        versions.counts(),
        oses.counts(),
    ))
}

/// Distinct installs per value.
#[derive(Default)]
struct Shares {
    ids: HashMap<Box<str>, u32>,
    installs: Vec<u64>,
    seen: HashSet<u64>,
}

impl Shares {
    fn add(&mut self, value: &str, uid: u32) {
        if value.is_empty() {
            return;
        }
        let vid = match self.ids.get(value) {
            Some(&v) => v,
            None => {
                let v = u32::try_from(self.installs.len()).unwrap_or(u32::MAX);
                self.ids.insert(value.into(), v);
                self.installs.push(0);
                v
            }
        };
        if self.seen.insert(u64::from(vid) << 32 | u64::from(uid))
            && let Some(n) = self.installs.get_mut(vid as usize)
        {
            *n += 1;
        }
    }

    fn counts(self) -> HashMap<String, u64> {
        let installs = self.installs;
        self.ids
            .into_iter()
            .map(|(name, v)| (name.into(), installs.get(v as usize).copied().unwrap_or(0)))
            .collect()
    }
}

/// Distinct session ids of session records in the window (counted here: SQLite's
/// `COUNT(DISTINCT)` built a temporary index of every id first).
fn sessions(conn: &Connection, w: &Window) -> rusqlite::Result<u64> {
    let mut stmt =
        conn.prepare("SELECT session_id FROM daily_sessions WHERE day BETWEEN ?1 AND ?2")?;
    let mut rows = stmt.query([w.first, w.today])?;
    let mut ids: HashSet<Box<str>> = HashSet::new();
    while let Some(r) = rows.next()? {
        let id = r.get_ref(0)?.as_str()?;
        if !ids.contains(id) {
            ids.insert(id.into());
        }
    }
    Ok(ids.len() as u64)
}
