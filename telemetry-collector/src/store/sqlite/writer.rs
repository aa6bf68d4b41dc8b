//! The one connection that writes, on its own thread, fed by a channel.
//!
//! Invariants:
//! - Batches waiting together are committed in one transaction (group commit) and each is
//!   answered only after that commit. If the group fails, each of its batches is committed
//!   on its own, so one bad batch fails only itself.
//! - A panic while committing is caught: the transaction rolls back, the batches it held
//!   are answered 503, the writer's caches are dropped and the next batch is stored
//!   (`Health::recovered`). If the thread ends any other way than by [`Writer::stop`], the
//!   health turns to failing and the server stops with an error.
//! - Before each commit the database file is checked to still be the one opened; a deleted
//!   or replaced file fails ingest with 503 instead of writing into an unlinked file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::dbfile::DbFile;
use super::rollups::{Deltas, Seen};
use super::sessions::{Tallies, insert_spans};
use super::{delete_old, insert_rows, open_write};
use crate::cardinality::NameCaps;
use crate::health::Health;
use crate::limits::DEFAULT_MAX_NAMES_PER_DAY;
use crate::record::Row;
use crate::span::SpanRow;
use crate::store::{Counts, now_ms};

type Reply<T> = oneshot::Sender<Result<T, String>>;

/// What one request stores: records, or spans.
pub(crate) enum Batch {
    Rows(Vec<Row>),
    Spans(Vec<SpanRow>),
}

enum Job {
    Insert(Batch, Reply<Counts>),
    Retain(u32, Reply<usize>),
}

/// The writer: a thread owning the write connection, and the checkpointer thread.
pub struct Writer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    path: PathBuf,
    file: Arc<DbFile>,
    health: Arc<Health>,
}

/// What the writer thread owns besides its connection.
struct State {
    seen: Seen,
    caps: NameCaps,
    file: Arc<DbFile>,
    health: Arc<Health>,
}

impl Writer {
    /// Locks and opens the database and starts the writer with the default
    /// `--max-names-per-day`.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("t.db");
    /// let writer = telemetry_collector::store::sqlite::Writer::start(&path).unwrap();
    /// assert!(telemetry_collector::store::sqlite::Writer::start(&path).is_err(), "one writer per file");
    /// writer.stop();
    /// ```
    pub fn start(path: &Path) -> Result<Self, String> {
        Self::start_with(path, DEFAULT_MAX_NAMES_PER_DAY)
    }

    /// Takes the database's exclusive lock (a second server on the same file is refused),
    /// opens it for writing and starts the writer thread.
    pub fn start_with(path: &Path, max_names_per_day: usize) -> Result<Self, String> {
        let mut file = DbFile::lock(path)?;
        let mut conn = open_write(path)?;
        file.identify()?;
        let file = Arc::new(file);
        let health = Arc::new(Health::default());
        let mut state = State {
            seen: Seen::default(),
            caps: NameCaps::new(max_names_per_day),
            file: Arc::clone(&file),
            health: Arc::clone(&health),
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("collector-writer".into())
            .spawn(move || {
                let ended = catch_unwind(AssertUnwindSafe(|| run(&mut conn, &rx, &mut state)));
                if let Err(panic) = ended {
                    state.health.writer_stopped(&panic_text(&*panic));
                }
            })
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let cp_path = path.to_owned();
        let checkpointer = std::thread::Builder::new()
            .name("collector-checkpoint".into())
            .spawn(move || run_checkpointer(&cp_path, &stopped))
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            checkpointer: Some((stop, checkpointer)),
            path: path.to_owned(),
            file,
            health,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's and the database's state.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Checks that the database file is still the one opened, and records the answer in
    /// the health.
    pub fn check_file(&self) -> Result<(), String> {
        let state = self.file.check();
        self.health.set_storage(state.clone().err());
        state
    }

    /// Stores a batch in one transaction; returns once it is committed.
    pub async fn insert(&self, rows: Vec<Row>) -> Result<Counts, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Insert(Batch::Rows(rows), reply))?;
        answer.await.map_err(|_| "the writer stopped".to_owned())?
    }

    /// Stores spans (each `(trace_id, span_id)` once) in one transaction; returns once it
    /// is committed.
    pub async fn insert_spans(&self, spans: Vec<SpanRow>) -> Result<Counts, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Insert(Batch::Spans(spans), reply))?;
        answer.await.map_err(|_| "the writer stopped".to_owned())?
    }

    /// Deletes the records of days before `today - days`; returns how many.
    pub async fn retain(&self, days: u32) -> Result<usize, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Retain(days, reply))?;
        answer.await.map_err(|_| "the writer stopped".to_owned())?
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let tx = self.tx.as_ref().ok_or("the writer stopped")?;
        tx.send(job).map_err(|_| "the writer stopped".to_owned())
    }

    /// Lets queued batches commit, then stops the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Copies the WAL back into the database every 250 ms with PASSIVE checkpoints, which never
/// block the writer, so no batch waits on a checkpoint's fsync; truncates the WAL on stop.
fn run_checkpointer(path: &Path, stopped: &mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
    let tick = std::time::Duration::from_millis(250);
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// At most this many queued batches share one transaction.
const GROUP_COMMIT: usize = 64;

/// The thread's loop; returns when every sender is gone (the server stopped).
fn run(conn: &mut Connection, rx: &mpsc::Receiver<Job>, state: &mut State) {
    while let Ok(first) = rx.recv() {
        let mut inserts = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Insert(rows, reply) => inserts.push((rows, reply)),
                Job::Retain(days, reply) => {
                    state.seen.clear();
                    state.caps.clear();
                    let _ = reply.send(delete_old(conn, days).map_err(|e| e.to_string()));
                }
            }
            if inserts.len() < GROUP_COMMIT {
                next = rx.try_recv().ok();
            }
        }
        #[cfg(test)]
        failpoints::on_group(&inserts);
        commit_isolated(conn, inserts, state);
    }
}

/// Commits a group of batches in one transaction; if that fails, each batch on its own.
fn commit_isolated(conn: &mut Connection, group: Vec<(Batch, Reply<Counts>)>, st: &mut State) {
    if group.is_empty() {
        return;
    }
    if let Err(why) = st.file.check() {
        st.health.set_storage(Some(why.clone()));
        for (_, reply) in group {
            let _ = reply.send(Err(why.clone()));
        }
        return;
    }
    let batches: Vec<&Batch> = group.iter().map(|(batch, _)| batch).collect();
    match commit(conn, &batches, st) {
        Ok(counts) => {
            for ((_, reply), c) in group.into_iter().zip(counts) {
                let _ = reply.send(Ok(c));
            }
        }
        Err(_) if group.len() > 1 => {
            for (batch, reply) in group {
                let alone = commit(conn, &[&batch], st);
                let _ = reply.send(alone.map(|c| c.into_iter().next().unwrap_or_default()));
            }
        }
        Err(e) => {
            for (_, reply) in group {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// One transaction over `batches`; the rollup keys it wrote join `seen` only once it
/// committed. A panic is caught and becomes an error: the transaction is rolled back and
/// the caches, which it may have left half-updated, are dropped.
fn commit(
    conn: &mut Connection,
    batches: &[&Batch],
    st: &mut State,
) -> Result<Vec<Counts>, String> {
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let tx = conn.transaction()?;
        let mut counts = Vec::with_capacity(batches.len());
        let mut deltas = Deltas::default();
        let mut tallies = Tallies::default();
        for batch in batches {
            counts.push(match batch {
                Batch::Rows(rows) => {
                    let mut to = (&mut deltas, &mut tallies);
                    insert_rows(&tx, rows, &mut to, &st.seen, &mut st.caps)?
                }
                Batch::Spans(spans) => insert_spans(&tx, spans, &mut tallies, now_ms())?,
            });
        }
        deltas.flush(&tx)?;
        tallies.flush(&tx)?;
        tx.commit()?;
        st.seen.extend(deltas);
        Ok::<_, rusqlite::Error>(counts)
    }));
    match attempt {
        Ok(Ok(counts)) => Ok(counts),
        Ok(Err(e)) => {
            let why = format!("storage error: {e}");
            st.health.commit_failed(&why);
            Err(why)
        }
        Err(panic) => {
            let why = format!("internal error: {}", panic_text(&*panic));
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            st.seen.clear();
            st.caps.clear();
            st.health.recovered(&why);
            Err(why)
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Test-only ways to make the writer fail, keyed by `event_id`s no client would send.
#[cfg(test)]
pub(crate) mod failpoints {
    use super::*;

    /// A row with this id panics while being inserted (inside the commit).
    pub const PANIC_IN_COMMIT: &str = "failpoint:panic-in-commit";
    /// A batch holding a row with this id panics the writer's loop (outside any commit).
    pub const PANIC_IN_LOOP: &str = "failpoint:panic-in-loop";

    pub fn on_insert(event_id: &str) {
        assert_ne!(event_id, PANIC_IN_COMMIT, "failpoint reached");
    }

    pub fn on_group(group: &[(Batch, Reply<Counts>)]) {
        let hit = group
            .iter()
            .filter_map(|(batch, _)| match batch {
                Batch::Rows(rows) => Some(rows),
                Batch::Spans(_) => None,
            })
            .flatten()
            .any(|r| r.event_id == PANIC_IN_LOOP);
        assert!(!hit, "failpoint reached in the writer's loop");
    }
}

#[cfg(test)]
mod tests {
    //! The writer's failure paths, through a real server on 127.0.0.1 and a real file; the
    //! failures themselves come from the test-only failpoints above.

    use super::failpoints::{PANIC_IN_COMMIT, PANIC_IN_LOOP};
    use crate::{BackgroundServer, Config};
    use serde_json::{Value, json};

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn track(server: &BackgroundServer, ids: &[&str]) -> (u16, String) {
        let records: Vec<Value> = ids
            .iter()
            .map(|id| json!({"event": "command", "properties": {"event_id": id, "action": "run"}}))
            .collect();
        let mut resp = agent()
            .post(&server.url("/events/v1/track"))
            .header("Content-Type", "application/json")
            .send(json!({ "records": records }).to_string())
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }

    fn health(server: &BackgroundServer) -> (u16, Value) {
        let mut resp = agent().get(&server.url("/healthz")).call().unwrap();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&body).unwrap())
    }

    #[test]
    fn a_panic_in_a_commit_fails_that_batch_only_and_the_next_batch_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let server = BackgroundServer::start(Config::new(dir.path().join("p.db"))).unwrap();
        let (status, text) = track(&server, &["before", PANIC_IN_COMMIT]);
        assert_eq!(status, 503, "{text}");
        assert!(text.contains("internal error"), "{text}");
        assert_eq!(track(&server, &["after"]).0, 200, "the writer recovered");
        let (status, h) = health(&server);
        assert_eq!(status, 200, "{h}");
        assert_eq!(
            (h["writer"].as_str(), h["writer_recoveries"].as_u64()),
            (Some("running"), Some(1))
        );
        assert!(
            h["last_writer_error"]
                .as_str()
                .unwrap()
                .contains("failpoint"),
            "{h}"
        );
        // Concurrent batches sharing a group with the panicking one still commit.
        let ids: Vec<String> = (0..40).map(|n| format!("g{n}")).collect();
        let answers: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .iter()
                .map(|id| {
                    let server = &server;
                    scope.spawn(move || track(server, &[id.as_str()]).0)
                })
                .chain(std::iter::once(
                    scope.spawn(|| track(&server, &[PANIC_IN_COMMIT]).0),
                ))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            answers.iter().filter(|s| **s == 200).count(),
            40,
            "{answers:?}"
        );
        assert_eq!(answers.last(), Some(&503));
        server.stop().unwrap();
        let conn = crate::store::sqlite::open_read(&dir.path().join("p.db")).unwrap();
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 41, "after + g0..g39; nothing of the failed batches");
    }

    #[test]
    fn a_writer_that_stops_for_good_ends_the_server_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let server = BackgroundServer::start(Config::new(dir.path().join("s.db"))).unwrap();
        let (status, text) = track(&server, &[PANIC_IN_LOOP]);
        assert_eq!(status, 503, "{text}");
        let err = server.stop().unwrap_err();
        assert!(err.contains("the writer stopped"), "{err}");
    }
}
