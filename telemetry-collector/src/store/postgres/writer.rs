//! The PostgreSQL writer of one replica: a task fed by a channel that groups the batches
//! waiting together into one statement (group commit, as the SQLite writer does), so
//! concurrent requests share one round trip and one commit.
//!
//! Invariants:
//! - a batch is answered only after the statement that stored it committed (PostgreSQL's
//!   `synchronous_commit` decides when that is durable; its default flushes the WAL);
//! - if a group's statement fails, each of its batches is stored on its own, so one bad
//!   batch fails only itself; a deadlock or serialization failure is retried;
//! - a batch holding the same `event_id` twice, or two batches of one group holding it,
//!   store it once: the first occurrence is the one counted as accepted.

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::ingest;
use super::names::{NAMES_LOCK, Names};
use super::schema::describe;
use crate::health::Health;
use crate::record::Row;
use crate::store::{Counts, now_ms};

/// At most this many rows share one statement (more wait for the next one).
const GROUP_ROWS: usize = 5_000;

/// Attempts of one statement that failed for a reason worth retrying (deadlock,
/// serialization failure, a lost connection).
const ATTEMPTS: usize = 3;

type Reply = oneshot::Sender<Result<Counts, String>>;

/// Groups one replica commits at the same time, each on its own connection: while one
/// waits for its commit's WAL flush, the next is already being sent and executed.
pub const WRITERS: usize = 2;

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(Vec<Row>, Reply)>>>;

/// The handle the routes use; the tasks stop when it is dropped, after the queued batches.
pub struct Writer {
    tx: mpsc::UnboundedSender<(Vec<Row>, Reply)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writer {
    /// Starts [`WRITERS`] writer tasks on the current tokio runtime; failures go to `health`.
    pub fn start(pool: Pool, max_names_per_day: usize, health: Arc<Health>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(tokio::sync::Mutex::new(rx));
        let tasks = (0..WRITERS)
            .map(|_| {
                let (pool, queue, health) = (pool.clone(), Arc::clone(&queue), Arc::clone(&health));
                tokio::spawn(run(pool, queue, max_names_per_day, health))
            })
            .collect();
        Self { tx, tasks }
    }

    /// Stores a batch; returns once it is committed.
    pub async fn insert(&self, rows: Vec<Row>) -> Result<Counts, String> {
        if rows.is_empty() {
            return Ok(Counts::default());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((rows, reply))
            .map_err(|_| "the writer stopped".to_owned())?;
        answer.await.map_err(|_| "the writer stopped".to_owned())?
    }

    /// Lets the queued batches commit, then ends the tasks.
    pub async fn stop(self) {
        let Self { tx, tasks } = self;
        drop(tx);
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Takes what waits in the queue as one group and commits it. Each group runs as its own
/// task: a panic fails only that group's batches (503), is recorded in the health, and the
/// next group is stored. Each writer keeps its own names (the database arbitrates between
/// writers as between replicas).
async fn run(pool: Pool, queue: Queue, max_names_per_day: usize, health: Arc<Health>) {
    let mut names = Names::new(max_names_per_day);
    loop {
        let group = {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut rows = first.0.len();
            let mut group = vec![first];
            while rows < GROUP_ROWS {
                match rx.try_recv() {
                    Ok(job) => {
                        rows += job.0.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        let (pool, health_) = (pool.clone(), Arc::clone(&health));
        let task = tokio::spawn(async move {
            commit_group(&pool, group, &mut names, &health_).await;
            names
        });
        names = match task.await {
            Ok(n) => n,
            Err(e) => {
                health.recovered(&format!("a commit panicked: {e}"));
                Names::new(max_names_per_day)
            }
        };
    }
}

/// Stores a group in one statement; on failure, each batch on its own.
async fn commit_group(
    pool: &Pool,
    group: Vec<(Vec<Row>, Reply)>,
    names: &mut Names,
    health: &Health,
) {
    let batches: Vec<&[Row]> = group.iter().map(|(rows, _)| rows.as_slice()).collect();
    let result = match commit(pool, &batches, names).await {
        Err(_) if group.len() > 1 => None,
        other => Some(other),
    };
    let Some(result) = result else {
        for (rows, reply) in group {
            let one = commit(pool, &[rows.as_slice()], names).await;
            if let Err(e) = &one {
                health.commit_failed(e);
            }
            let _ = reply.send(one.map(|mut c| c.remove(0)));
        }
        return;
    };
    match result {
        Ok(counts) => {
            for ((_, reply), c) in group.into_iter().zip(counts) {
                let _ = reply.send(Ok(c));
            }
        }
        Err(e) => {
            health.commit_failed(&e);
            for (_, reply) in group {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Stores the batches' rows in one statement (retried when worth it); the counts per batch.
async fn commit(pool: &Pool, batches: &[&[Row]], names: &mut Names) -> Result<Vec<Counts>, String> {
    // The first occurrence of each id, and the batch it belongs to.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&Row> = Vec::new();
    for (b, rows) in batches.iter().enumerate() {
        for r in rows.iter() {
            if let std::collections::hash_map::Entry::Vacant(v) = first.entry(&r.event_id) {
                v.insert(b);
                unique.push(r);
            }
        }
    }
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let mut client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                last = format!("storage error: cannot reach PostgreSQL: {e}");
                continue;
            }
        };
        match store(&mut client, &unique, names).await {
            Ok(stored) => {
                let stored: HashSet<String> = stored.into_iter().collect();
                let mut counts = vec![Counts::default(); batches.len()];
                for (id, b) in &first {
                    if stored.contains(*id) {
                        counts[*b].accepted += 1;
                    }
                }
                for (c, rows) in counts.iter_mut().zip(batches) {
                    c.duplicates = rows.len() - c.accepted;
                }
                return Ok(counts);
            }
            Err(e) => {
                names.forget();
                last = format!("storage error: {}", describe(&e));
                if !retryable(&e) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

/// One attempt: one statement when every name is known here, else a transaction that
/// admits the new names under the names lock and stores the rows.
async fn store(
    client: &mut deadpool_postgres::Client,
    rows: &[&Row],
    names: &mut Names,
) -> Result<Vec<String>, tokio_postgres::Error> {
    if let Some(adds) = names.fast(rows) {
        return ingest::store(&*client, rows, &adds, now_ms()).await;
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&NAMES_LOCK])
        .await?;
    let adds = names.locked(&tx, rows).await?;
    let stored = ingest::store(&tx, rows, &adds, now_ms()).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Deadlocks, serialization failures and lost connections are worth another attempt.
pub(crate) fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) => {
            *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        }
        None => e.is_closed() || e.as_db_error().is_none(),
    }
}
