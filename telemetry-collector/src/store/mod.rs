//! Storage behind one seam: `--db PATH` keeps records in a SQLite file ([`sqlite`], one
//! process), `--db postgres://…` in a PostgreSQL database that several stateless replicas
//! share ([`postgres`]). The routes, the summary and the report talk to a [`Store`] (or
//! [`summarize`] for `report`) and never know which.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::health::Health;
use crate::record::Row;
use crate::sessions::{Detail, ListQuery, Page};
use crate::span::SpanRow;
use crate::summary::{Summary, Window, build};
use postgres::{PgStore, PgUrl};

/// What one batch did: new rows and rows whose `event_id` was already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows stored by this batch.
    pub accepted: usize,
    /// Rows skipped because their `event_id` was already stored.
    pub duplicates: usize,
}

pub use crate::rollup::now_ms;

/// Where records are kept: the `--db` value. Shown without a password.
#[derive(Clone, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

impl Db {
    /// A `postgres://` or `postgresql://` URL, else a SQLite path.
    ///
    /// ```
    /// use telemetry_collector::store::Db;
    /// assert!(matches!(Db::parse("data/t.db"), Ok(Db::Sqlite(_))));
    /// let pg = Db::parse("postgresql://me:pw@db.internal/telemetry").unwrap();
    /// assert_eq!(pg.to_string(), "postgres://me:***@db.internal:5432/telemetry?sslmode=prefer");
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        if postgres::url::is_postgres_url(s) {
            Ok(Self::Postgres(PgUrl::parse(s)?))
        } else if s.is_empty() {
            Err("--db is empty: give a SQLite file or a postgres:// URL".into())
        } else {
            Ok(Self::Sqlite(PathBuf::from(s)))
        }
    }
}

impl From<PathBuf> for Db {
    fn from(p: PathBuf) -> Self {
        Self::Sqlite(p)
    }
}

impl From<&str> for Db {
    /// A path, or a PostgreSQL URL; an unparsable URL panics (tests and examples only; the
    /// CLI uses [`Db::parse`]).
    fn from(s: &str) -> Self {
        Self::parse(s).unwrap_or_else(|e| panic!("--db: {e}"))
    }
}

impl fmt::Display for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(u) => write!(f, "{u}"),
        }
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Db({self})")
    }
}

/// An open store, as `serve` uses it.
pub enum Store {
    /// The SQLite file's single writer.
    Sqlite(sqlite::Writer),
    /// This replica's connections and writer.
    Postgres(PgStore),
}

impl Store {
    /// Opens `db` for writing (SQLite: locks the file; PostgreSQL: connects and migrates).
    pub async fn open(db: &Db, max_names_per_day: usize) -> Result<Self, String> {
        match db {
            Db::Sqlite(path) => Ok(Self::Sqlite(sqlite::Writer::start_with(
                path,
                max_names_per_day,
            )?)),
            Db::Postgres(url) => Ok(Self::Postgres(PgStore::open(url, max_names_per_day).await?)),
        }
    }

    /// Stores a batch; answers once it is committed.
    pub async fn insert(&self, rows: Vec<Row>) -> Result<Counts, String> {
        match self {
            Self::Sqlite(w) => w.insert(rows).await,
            Self::Postgres(p) => p.insert(rows).await,
        }
    }

    /// Stores spans (each `(trace_id, span_id)` once) and adds the new ones to their
    /// sessions; answers once committed.
    pub async fn insert_spans(&self, spans: Vec<SpanRow>) -> Result<Counts, String> {
        match self {
            Self::Sqlite(w) => w.insert_spans(spans).await,
            Self::Postgres(p) => p.insert_spans(spans).await,
        }
    }

    /// A page of Recent sessions.
    pub async fn sessions(&self, q: ListQuery) -> Result<Page, String> {
        match self {
            Self::Sqlite(w) => w.sessions(q).await,
            Self::Postgres(p) => postgres::sessions::page(p.pool(), &q).await,
        }
    }

    /// One session's view; `None` when no span or record carries its id.
    pub async fn session(&self, id: String) -> Result<Option<Detail>, String> {
        // Stored ids never hold a NUL (ingest replaced it), and PostgreSQL refuses one.
        let id = crate::span::no_nul(&id);
        match self {
            Self::Sqlite(w) => w.session(id).await,
            Self::Postgres(p) => postgres::sessions::session(p.pool(), &id).await,
        }
    }

    /// Deletes the records of days before `today - days`: how many, or `None` when another
    /// replica is doing it right now.
    pub async fn retain(&self, days: u32) -> Result<Option<u64>, String> {
        match self {
            Self::Sqlite(w) => w.retain(days).await.map(|n| Some(n as u64)),
            Self::Postgres(p) => p.retain(days).await,
        }
    }

    /// The summary of the last `days` days, at most `top` entries per list.
    pub async fn summary(&self, days: u32, top: usize) -> Result<Summary, String> {
        let w = Window::new(days, top);
        let totals = match self {
            Self::Sqlite(wr) => {
                let path = wr.path().to_owned();
                tokio::task::spawn_blocking(move || sqlite::read::totals_file(&path, &w))
                    .await
                    .map_err(|e| format!("the summary failed: {e}"))??
            }
            Self::Postgres(p) => postgres::read::totals(p.pool(), &w).await?,
        };
        Ok(build(totals, &w))
    }

    /// The writer's and the database's state (`/healthz`).
    pub fn health(&self) -> &Arc<Health> {
        match self {
            Self::Sqlite(w) => w.health(),
            Self::Postgres(p) => p.health(),
        }
    }

    /// Checks that the database is still there to write to, and records the answer in the
    /// health: the SQLite file is still the one opened; PostgreSQL answers.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Self::Sqlite(w) => w.check_file(),
            Self::Postgres(p) => p.check().await,
        }
    }

    /// Lets queued batches commit, then stops the writer and closes the database.
    pub async fn stop(self) {
        match self {
            // Joining the writer thread blocks: do it off the async workers.
            Self::Sqlite(w) => {
                let _ = tokio::task::spawn_blocking(move || w.stop()).await;
            }
            Self::Postgres(p) => p.stop().await,
        }
    }
}

/// The summary of a database without serving it (`report --db`): the SQLite file opened
/// read-only, or PostgreSQL without migrating (an older or newer schema is refused).
pub async fn summarize(db: &Db, days: u32, top: usize) -> Result<Summary, String> {
    match db {
        Db::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::read::summarize_file(&path, days, top))
                .await
                .map_err(|e| format!("the summary failed: {e}"))?
        }
        Db::Postgres(url) => postgres::summarize(url, days, top).await,
    }
}

/// One session of a database without serving it (`report --session`): read-only, as
/// [`summarize`].
pub async fn session(db: &Db, id: &str) -> Result<Option<Detail>, String> {
    let id = &crate::span::no_nul(id);
    match db {
        Db::Sqlite(path) => {
            let (path, id) = (path.clone(), id.to_owned());
            tokio::task::spawn_blocking(move || {
                let conn = sqlite::open_read(&path)?;
                sqlite::sessions::session(&conn, &id)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
            })
            .await
            .map_err(|e| format!("the read failed: {e}"))?
        }
        Db::Postgres(url) => {
            let pool = postgres::open_current(url).await?;
            let d = postgres::sessions::session(&pool, id)
                .await
                .map_err(|e| format!("{url}: {e}"));
            pool.close();
            d
        }
    }
}
